import { type Clock, systemClock } from '../core/clock.js';
import { IngotError } from '../core/errors.js';
import { checkName } from '../core/names.js';
import { formatWindow, inWindow, nextOpening, parseWindow } from '../core/schedule.js';
import type { Db } from '../db/database.js';
import type { JobQueue } from '../jobs/job-queue.js';
import { isRetryable } from '../jobs/job-runner.js';
import type { Job } from '../jobs/types.js';
import { type FollowingRecord, FollowRepository } from './follow.repository.js';
import type { PeerService } from './peer.service.js';
import { type SyncDeps, type SyncResult, syncTemplate } from './sync.service.js';

export const SYNC_JOB_KIND = 'sync';
/** Attempts per scheduled sync; the next schedule tries again anyway. */
const SYNC_ATTEMPTS = 4;

export interface SyncJobPayload {
  readonly upstream: string;
  readonly template: string;
}

/**
 * The follower's side of templates: what it follows and on which schedule, a scheduler
 * that turns due followings into sync jobs (only inside their window), and syncs by hand
 * (`ingot sync`), with a dry run that reports what would move and how many bytes.
 */
export class FollowService {
  constructor(
    private readonly deps: {
      readonly db: Db;
      readonly peers: PeerService;
      readonly jobs: JobQueue;
      readonly sync: SyncDeps;
      readonly wake: () => void;
      readonly clock?: Clock;
    },
  ) {}

  private get repo(): FollowRepository {
    return new FollowRepository(this.deps.db.kysely);
  }

  async follow(input: {
    upstream: string;
    template: string;
    everySeconds: number;
    window?: string | null;
    maxRate?: number | null;
  }): Promise<FollowingRecord> {
    const peer = await this.deps.peers.get(input.upstream);
    checkName('template', input.template);
    if (!Number.isSafeInteger(input.everySeconds) || input.everySeconds < 1) {
      throw new IngotError('INVALID_ARGUMENT', `--every must be at least 1s, not ${input.everySeconds}s`);
    }
    const window = input.window ? formatWindow(parseWindow(input.window)) : null;
    const now = this.now();
    const existing = await this.repo.get(peer.name, input.template);
    await this.repo.upsert({
      ...(existing ?? emptyStatus()),
      upstream: peer.name,
      template: input.template,
      everySeconds: input.everySeconds,
      window,
      maxRate: input.maxRate ?? null,
      createdAt: existing?.createdAt ?? now.toISOString(),
      // A new following syncs at its first chance; a shorter interval takes effect at once.
      nextRunAt: existing
        ? earliest(existing.nextRunAt, now.getTime() + input.everySeconds * 1000)
        : now.toISOString(),
    });
    this.deps.wake();
    return this.get(peer.name, input.template);
  }

  async unfollow(upstream: string, template: string): Promise<void> {
    if (!(await this.repo.delete(upstream, template))) throw notFollowed(upstream, template);
  }

  list(upstream?: string): Promise<FollowingRecord[]> {
    return this.repo.list(upstream);
  }

  async get(upstream: string, template: string): Promise<FollowingRecord> {
    const f = await this.repo.get(upstream, template);
    if (!f) throw notFollowed(upstream, template);
    return f;
  }

  /** By hand: syncs now (or, without `now`, once the window opens); a dry run moves nothing. */
  async syncNow(opts: { upstream?: string; now?: boolean; dryRun?: boolean }) {
    const followings = await this.repo.list(opts.upstream);
    if (followings.length === 0) {
      throw new IngotError(
        'NOT_FOUND',
        `this server follows no template${opts.upstream ? ` of ${opts.upstream}` : ''}`,
        {
          hint: 'follow one with `ingot follow --upstream HQ --template NAME --every 15m`',
        },
      );
    }
    if (opts.dryRun) {
      const plans: SyncResult[] = [];
      for (const f of followings) plans.push(await syncTemplate(this.deps.sync, f, { dryRun: true }));
      return { dryRun: true as const, plans };
    }
    const started: { upstream: string; template: string; job: number | null; waitingFor?: string }[] = [];
    for (const f of followings) {
      const waitingFor = opts.now ? undefined : await this.deferIfClosed(f, this.now());
      if (waitingFor) started.push({ upstream: f.upstream, template: f.template, job: null, waitingFor });
      else started.push({ upstream: f.upstream, template: f.template, job: (await this.enqueue(f)).id });
    }
    return { dryRun: false as const, started };
  }

  /** Scheduler tick: every due following inside its window becomes a sync job. */
  async tick(): Promise<number> {
    const now = this.now();
    let n = 0;
    for (const f of await this.repo.due(now.toISOString())) {
      if (await this.deferIfClosed(f, now)) continue;
      await this.enqueue(f);
      n++;
    }
    return n;
  }

  /** Outside its window a following waits for the next opening; returns when, or undefined. */
  private async deferIfClosed(f: FollowingRecord, now: Date): Promise<string | undefined> {
    if (!f.window) return undefined;
    const window = parseWindow(f.window);
    if (inWindow(window, now)) return undefined;
    const at = nextOpening(window, now).toISOString();
    await this.repo.update(f.upstream, f.template, { next_run_at: at });
    return at;
  }

  async run(
    payload: SyncJobPayload,
    ctx: { signal: AbortSignal; progress: (d: number, t: number) => void },
    attempt: { attempts: number; maxAttempts: number },
  ): Promise<SyncResult> {
    const f = await this.get(payload.upstream, payload.template);
    await this.repo.update(f.upstream, f.template, {
      last_run_at: this.now().toISOString(),
      last_status: 'running',
    });
    try {
      const result = await syncTemplate(this.deps.sync, f, { signal: ctx.signal, onProgress: ctx.progress });
      await this.repo.update(f.upstream, f.template, {
        last_status: 'ok',
        last_error: null,
        last_success_at: this.now().toISOString(),
        last_version: result.version,
      });
      return result;
    } catch (err) {
      const last = attempt.attempts >= attempt.maxAttempts || !isRetryable(err);
      await this.repo.update(f.upstream, f.template, {
        last_status: last ? 'failed' : 'retrying',
        last_error: (err as Error).message,
      });
      throw err;
    }
  }

  private async enqueue(f: FollowingRecord): Promise<Job> {
    const now = this.now();
    await this.repo.update(f.upstream, f.template, {
      next_run_at: new Date(now.getTime() + f.everySeconds * 1000).toISOString(),
    });
    const active = (await this.deps.jobs.list({ kind: SYNC_JOB_KIND, limit: 200 })).find(
      (j) =>
        (j.state === 'queued' || j.state === 'running') &&
        (j.payload as SyncJobPayload).upstream === f.upstream &&
        (j.payload as SyncJobPayload).template === f.template,
    );
    if (active) return active;
    const job = await this.deps.jobs.enqueue<SyncJobPayload>(
      SYNC_JOB_KIND,
      { upstream: f.upstream, template: f.template },
      { maxAttempts: SYNC_ATTEMPTS },
    );
    this.deps.wake();
    return job;
  }

  private now(): Date {
    return (this.deps.clock ?? systemClock).now();
  }
}

function earliest(iso: string, ms: number): string {
  return new Date(Math.min(Date.parse(iso), ms)).toISOString();
}

function emptyStatus() {
  return { lastRunAt: null, lastSuccessAt: null, lastVersion: null, lastStatus: null, lastError: null };
}

function notFollowed(upstream: string, template: string): IngotError {
  return new IngotError('NOT_FOUND', `this server does not follow ${template} of ${upstream}`, {
    hint: 'see `ingot following`',
  });
}
