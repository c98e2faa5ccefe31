/**
 * The durable job queue. Jobs are rows; a worker claims one with a lease and keeps it
 * alive with heartbeats. A worker that dies simply stops heartbeating: once its lease
 * expires any node claims the job again, which is how a crashed node's work resumes.
 * Failures are retried with exponential backoff up to `maxAttempts`, then the job fails
 * with the last error. Every transition is conditional on the caller still holding the
 * lease, so a worker that lost its job can never overwrite the new owner's outcome.
 */
import { type Clock, systemClock } from '../core/clock.js';
import { diskFullWithoutPath } from '../core/disk-full.js';
import { type ErrorBody, IngotError } from '../core/errors.js';
import type { Db } from '../db/database.js';
import { JobRepository, progressColumns } from './job.repository.js';
import { JOB_STATES, type Job, type JobProgress, type JobState } from './types.js';

export interface JobQueueOptions {
  clock?: Clock;
  /** First retry delay; doubles per attempt. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Lease length for heartbeats that do not name one. */
  defaultLeaseMs?: number;
  /** Called after every change made through this queue (the events stream listens). */
  onChange?: () => void;
}

export interface EnqueueOptions {
  maxAttempts?: number;
  runAfter?: Date;
}

export class JobQueue {
  private readonly repo: JobRepository;
  private readonly clock: Clock;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  readonly defaultLeaseMs: number;
  private readonly onChange: () => void;
  /** Who waits on a job's next change in this process (waitForChange). */
  private readonly waiters = new Map<number, Set<() => void>>();

  constructor(db: Db, opts: JobQueueOptions = {}) {
    this.repo = new JobRepository(db.kysely, db.dialect);
    this.clock = opts.clock ?? systemClock;
    this.backoffBaseMs = opts.backoffBaseMs ?? 1000;
    this.backoffMaxMs = opts.backoffMaxMs ?? 5 * 60_000;
    this.defaultLeaseMs = opts.defaultLeaseMs ?? 30_000;
    this.onChange = opts.onChange ?? (() => {});
  }

  async enqueue<P>(kind: string, payload: P, opts: EnqueueOptions = {}): Promise<Job<P>> {
    const maxAttempts = opts.maxAttempts ?? 3;
    if (!kind) throw new IngotError('INVALID_ARGUMENT', 'a job needs a kind');
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
      throw new IngotError('INVALID_ARGUMENT', `maxAttempts must be a positive integer, not ${maxAttempts}`);
    }
    const now = this.now();
    const job = (await this.repo.insert({
      kind,
      state: 'queued',
      payload: JSON.stringify(payload ?? null),
      result: null,
      error: null,
      progress_done: 0,
      progress_total: 0,
      attempts: 0,
      max_attempts: maxAttempts,
      lease_owner: null,
      lease_expires_at: null,
      run_after: opts.runAfter ? opts.runAfter.toISOString() : now,
      created_at: now,
      updated_at: now,
    })) as Job<P>;
    this.onChange();
    return job;
  }

  /**
   * A worker known to be dead (its process is gone) holds leases that would otherwise
   * only lapse after their full length; ending them now lets a restarted node resume its
   * transfers at once.
   */
  async expireLeasesOf(isDead: (owner: string) => boolean): Promise<number> {
    const running = await this.list({ state: 'running', limit: 1000 });
    const owners = new Set(
      running.map((j) => j.leaseOwner).filter((o): o is string => o !== null && isDead(o)),
    );
    let n = 0;
    for (const owner of owners) n += await this.repo.expireLeases(owner, this.now());
    return n;
  }

  /**
   * Forgets the jobs that ended before `before` (history retention); how many. Records that
   * name a job (a transfer's row) are for their owners to drop first.
   */
  async forgetEnded(before: Date): Promise<number> {
    return this.repo.deleteEnded(before.toISOString());
  }

  /** Atomically takes the oldest runnable job of one of `kinds`, or returns undefined. */
  async claim(
    owner: string,
    kinds: readonly string[],
    leaseMs = this.defaultLeaseMs,
  ): Promise<Job | undefined> {
    if (kinds.length === 0) return undefined;
    const now = this.clock.now();
    if ((await this.repo.failExhausted(now.toISOString(), errorText(leaseExpired()))) > 0) this.onChange();
    return this.changed(await this.repo.claim(owner, kinds, now.toISOString(), this.after(now, leaseMs)));
  }

  /** Extends the lease and records progress; CONFLICT once the job is no longer ours. */
  async heartbeat(
    id: number,
    owner: string,
    progress?: JobProgress,
    leaseMs = this.defaultLeaseMs,
  ): Promise<Job> {
    const now = this.clock.now();
    const job = await this.repo.updateHeld(id, owner, {
      lease_expires_at: this.after(now, leaseMs),
      updated_at: now.toISOString(),
      ...progressColumns(progress),
    });
    return this.changed(job) ?? this.lost(id, owner);
  }

  async complete(id: number, owner: string, result: unknown, progress?: JobProgress): Promise<Job> {
    const job = await this.repo.updateHeld(id, owner, {
      state: 'succeeded',
      result: JSON.stringify(result ?? null),
      error: null,
      lease_owner: null,
      lease_expires_at: null,
      updated_at: this.now(),
      ...progressColumns(progress),
    });
    return this.changed(job) ?? this.lost(id, owner);
  }

  /**
   * Records a failure. While attempts remain (and `retry` is not false) the job goes back
   * to the queue, due after base * 2^(attempts-1), capped; otherwise it ends failed.
   */
  async fail(id: number, owner: string, error: unknown, opts: { retry?: boolean } = {}): Promise<Job> {
    const current = await this.repo.get(id);
    if (current?.state !== 'running' || current.leaseOwner !== owner) return this.lost(id, owner);
    const now = this.clock.now();
    const retry = opts.retry !== false && current.attempts < current.maxAttempts;
    const delay = Math.min(this.backoffBaseMs * 2 ** Math.max(current.attempts - 1, 0), this.backoffMaxMs);
    const job = await this.repo.updateHeld(id, owner, {
      state: retry ? 'queued' : 'failed',
      error: errorText(error),
      lease_owner: null,
      lease_expires_at: null,
      run_after: retry ? this.after(now, delay) : current.runAfter,
      updated_at: now.toISOString(),
    });
    return this.changed(job) ?? this.lost(id, owner);
  }

  /** Gives a claimed job back without counting the attempt (a graceful shutdown). */
  async release(id: number, owner: string): Promise<Job> {
    const current = await this.repo.get(id);
    const now = this.now();
    const job = await this.repo.updateHeld(id, owner, {
      state: 'queued',
      lease_owner: null,
      lease_expires_at: null,
      attempts: Math.max((current?.attempts ?? 1) - 1, 0),
      run_after: now,
      updated_at: now,
    });
    return this.changed(job) ?? this.lost(id, owner);
  }

  async get(id: number | string): Promise<Job> {
    const job = await this.find(id);
    if (!job) throw new IngotError('NOT_FOUND', `no job ${id}`, { hint: 'list jobs with: ingot job list' });
    return job;
  }

  find(id: number | string): Promise<Job | undefined> {
    const n = typeof id === 'number' ? id : /^\d+$/.test(id) ? Number(id) : Number.NaN;
    return Number.isSafeInteger(n) ? this.repo.get(n) : Promise.resolve(undefined);
  }

  /** Newest first. */
  list(f: { state?: JobState | string; kind?: string; limit?: number } = {}): Promise<Job[]> {
    if (f.state !== undefined && !JOB_STATES.includes(f.state as JobState)) {
      throw new IngotError('INVALID_ARGUMENT', `invalid job state ${JSON.stringify(f.state)}`, {
        hint: `use one of ${JOB_STATES.join(', ')}`,
      });
    }
    const limit = Math.min(Math.max(Math.trunc(f.limit ?? 50), 1), 1000);
    return this.repo.list({
      ...(f.state ? { state: f.state as JobState } : {}),
      ...(f.kind ? { kind: f.kind } : {}),
      limit,
    });
  }

  /** Queued jobs never start; a running job's worker loses its lease at its next heartbeat. */
  async cancel(id: number | string): Promise<Job> {
    const job = await this.get(id);
    const cancelled = await this.repo.cancel(job.id, this.now());
    if (cancelled) return this.changed(cancelled) as Job;
    const now = await this.get(id);
    throw new IngotError(
      'CONFLICT',
      `job ${id} has already ${now.state === 'cancelled' ? 'been cancelled' : now.state}`,
    );
  }

  /**
   * Resolves at the job's next change made through this process, or after `ms` (a change
   * made by another node is only seen by reading the job again). Lets a client wait for a
   * job without polling it.
   */
  waitForChange(id: number, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const set = this.waiters.get(id) ?? new Set();
      this.waiters.set(id, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0 && this.waiters.get(id) === set) this.waiters.delete(id);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
    });
  }

  private changed(job: Job | undefined): Job | undefined {
    if (!job) return job;
    for (const wake of [...(this.waiters.get(job.id) ?? [])]) wake();
    this.onChange();
    return job;
  }

  private async lost(id: number, owner: string): Promise<never> {
    const job = await this.repo.get(id);
    if (!job) throw new IngotError('NOT_FOUND', `no job ${id}`);
    throw new IngotError('CONFLICT', `job ${id} is no longer held by ${owner}`, {
      details: { state: job.state, leaseOwner: job.leaseOwner },
      hint: 'its lease expired or it was cancelled; another worker may own it now',
    });
  }

  private now(): string {
    return this.clock.now().toISOString();
  }

  private after(now: Date, ms: number): string {
    return new Date(now.getTime() + ms).toISOString();
  }
}

/** Jobs store errors as ErrorBody JSON, so the CLI can show the code, message and hint. */
export function errorText(err: unknown): string {
  const known = err instanceof IngotError ? err : diskFullWithoutPath(err);
  const body: ErrorBody = known
    ? known.toJSON()
    : { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
  return JSON.stringify(body);
}

function leaseExpired(): IngotError {
  return new IngotError('UNAVAILABLE', 'the worker stopped heartbeating on the last allowed attempt', {
    hint: 'see the server log of the node that held the job; re-run it if the cause is fixed',
  });
}
