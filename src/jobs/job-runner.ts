/**
 * The worker loop of one node: claim a job, run its handler while a timer keeps the lease
 * alive, then record the outcome. A lost lease (expired, reclaimed or cancelled) aborts the
 * handler through its signal and records nothing: the job is someone else's now.
 */
import { type ErrorCode, IngotError } from '../core/errors.js';
import type { JobQueue } from './job-queue.js';
import type { Job, JobProgress } from './types.js';

export interface JobContext {
  /** Remembered and written with the next heartbeat, so calling it often is cheap. */
  progress(done: number, total: number): void;
  /** Aborted when the lease is lost or the runner stops with `abort`. */
  signal: AbortSignal;
}

// biome-ignore lint/suspicious/noExplicitAny: handlers narrow their own payload.
export type JobHandler = (job: Job<any>, ctx: JobContext) => Promise<unknown>;

export type JobOutcome = 'succeeded' | 'failed' | 'retrying' | 'lost' | 'released';

export interface JobRunnerLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface JobRunnerOptions {
  queue: JobQueue;
  /** Unique per process, e.g. `${hostname()}:${pid}`. */
  owner: string;
  handlers: Record<string, JobHandler>;
  pollMs?: number;
  leaseMs?: number;
  /** Defaults to a third of the lease, so two missed beats still leave it alive. */
  heartbeatMs?: number;
  logger?: JobRunnerLogger;
  /** Called as each job ends; `result` is what its handler answered when it succeeded. */
  onFinished?: (job: Job, outcome: JobOutcome, result?: unknown) => void;
  /** Jobs run at once by this node (a long transfer must not hold up the rest). */
  concurrency?: number;
  /** While true, claims nothing new and lets the jobs in hand finish (a drained node). */
  paused?: () => boolean;
  /** Kinds of singleton work (gc) that only the leader claims; the rest run on any node. */
  leaderOnly?: { readonly kinds: readonly string[]; readonly leader: () => boolean };
}

export interface JobRunner {
  /** Stops claiming and waits for the job in hand; `abort` cancels it and gives it back. */
  stop(opts?: { abort?: boolean }): Promise<void>;
  /** Skips the rest of the current poll wait (e.g. right after an enqueue). */
  wake(): void;
}

/** Codes that describe the request, not the moment: retrying cannot help. */
const PERMANENT: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'INVALID_ARGUMENT',
  'INVALID_NAME',
  'INVALID_MANIFEST',
  'UNSAFE_PATH',
  'PATH_NOT_FOUND',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'READ_ONLY',
  'FORBIDDEN',
  'UNAUTHENTICATED',
  'PAYLOAD_TOO_LARGE',
  'LIMIT_EXCEEDED',
  'UNSUPPORTED_MEDIA_TYPE',
  // Stored bytes that fail verification fail the same way next time.
  'CORRUPT',
  // A full disk stays full until someone frees space; a rerun then resumes (have/want).
  'DISK_FULL',
  // A URL that is not there, may not be read, or whose certificate does not check.
  'SOURCE_REFUSED',
  'SOURCE_UNTRUSTED',
  // An archive that is corrupt or unsafe stays so.
  'BAD_ARCHIVE',
]);

const FINAL = new WeakSet<IngotError>();

/**
 * Marks one failure as one a retry cannot help, whatever its code usually means: an import
 * whose whole download does not match the checksum asked for would only download it again.
 */
export function finalError(err: IngotError): IngotError {
  FINAL.add(err);
  return err;
}

/** Whether the runner will try this failure again (given attempts remain). */
export function isRetryable(err: unknown): boolean {
  return !(err instanceof IngotError && (PERMANENT.has(err.code) || FINAL.has(err)));
}

export function startJobRunner(opts: JobRunnerOptions): JobRunner {
  const pollMs = opts.pollMs ?? 1000;
  const leaseMs = opts.leaseMs ?? opts.queue.defaultLeaseMs;
  const kinds = Object.keys(opts.handlers);
  const anyNode = kinds.filter((k) => !opts.leaderOnly?.kinds.includes(k));
  const claimable = () => (opts.leaderOnly && !opts.leaderOnly.leader() ? anyNode : kinds);
  let stopping = false;
  const aborts = new Set<() => void>();
  const wakers = new Set<() => void>();

  const idle = () =>
    new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, pollMs);
      wakers.add(wake);
    });

  // One loop claims for every slot: an idle node asks the queue once a poll, not once a
  // poll per slot, and a slot that frees wakes it to claim again at once.
  const slots = Math.max(1, opts.concurrency ?? 1);
  const running = new Set<Promise<void>>();
  const loop = async () => {
    while (!stopping) {
      if (opts.paused?.()) {
        await idle();
        continue;
      }
      if (running.size >= slots) {
        await Promise.race(running);
        continue;
      }
      let job: Job | undefined;
      try {
        job = await opts.queue.claim(opts.owner, claimable(), leaseMs);
      } catch (err) {
        opts.logger?.warn({ err }, 'job claim failed; retrying after the poll interval');
      }
      if (!job) {
        await idle();
        continue;
      }
      const run = start(job).finally(() => {
        running.delete(run);
        wakeUp();
      });
      running.add(run);
    }
    await Promise.all(running);
  };
  const start = async (job: Job) => {
    const ac = new AbortController();
    const abort = () => ac.abort(new IngotError('UNAVAILABLE', 'the job runner is stopping'));
    aborts.add(abort);
    try {
      await runOne(opts, job, ac, leaseMs, () => stopping);
    } finally {
      aborts.delete(abort);
    }
  };
  const done = loop();
  const wakeUp = () => {
    for (const w of [...wakers]) w();
  };

  return {
    async stop(o = {}) {
      stopping = true;
      wakeUp();
      if (o.abort) for (const a of aborts) a();
      await done;
    },
    wake() {
      wakeUp();
    },
  };
}

async function runOne(
  opts: JobRunnerOptions,
  job: Job,
  ac: AbortController,
  leaseMs: number,
  stopping: () => boolean,
): Promise<void> {
  const { queue, owner, logger } = opts;
  const handler = opts.handlers[job.kind];
  let progress: JobProgress | undefined;
  let lost = false;
  const beat = setInterval(
    () => {
      queue.heartbeat(job.id, owner, progress, leaseMs).catch((err: unknown) => {
        if (err instanceof IngotError && (err.code === 'CONFLICT' || err.code === 'NOT_FOUND')) {
          lost = true;
          ac.abort(err);
        } else logger?.warn({ err, job: job.id }, 'job heartbeat failed; will try again');
      });
    },
    opts.heartbeatMs ?? Math.max(Math.floor(leaseMs / 3), 10),
  );
  const ctx: JobContext = {
    progress: (done, total) => {
      progress = { done, total };
    },
    signal: ac.signal,
  };
  let outcome: JobOutcome;
  let result: unknown;
  try {
    if (!handler) throw new IngotError('INTERNAL', `no handler for job kind ${job.kind}`);
    result = await handler(job, ctx);
    if (lost) outcome = 'lost';
    else {
      await queue.complete(job.id, owner, result, progress);
      outcome = 'succeeded';
    }
  } catch (err) {
    outcome = await recordFailure(queue, job, owner, err, {
      lost,
      released: ac.signal.aborted && stopping(),
    });
  } finally {
    clearInterval(beat);
  }
  if (outcome !== 'succeeded') logger?.warn({ job: job.id, kind: job.kind, outcome }, 'job did not succeed');
  opts.onFinished?.(job, outcome, outcome === 'succeeded' ? result : undefined);
}

async function recordFailure(
  queue: JobQueue,
  job: Job,
  owner: string,
  err: unknown,
  how: { lost: boolean; released: boolean },
): Promise<JobOutcome> {
  if (how.lost) return 'lost';
  try {
    if (how.released) {
      await queue.release(job.id, owner);
      return 'released';
    }
    const after = await queue.fail(job.id, owner, err, { retry: isRetryable(err) });
    return after.state === 'queued' ? 'retrying' : 'failed';
  } catch (recordErr) {
    // The lease went between the handler's end and this write: the new owner decides.
    if (recordErr instanceof IngotError && recordErr.code === 'CONFLICT') return 'lost';
    throw recordErr;
  }
}
