import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS, type TempDatabase, tempDatabase } from '../../test/support/databases.js';
import { IngotError } from '../core/errors.js';
import { type Db, openDatabase } from '../db/database.js';
import { JobQueue } from './job-queue.js';
import { type JobOutcome, startJobRunner } from './job-runner.js';
import type { Job } from './types.js';

async function until<T>(fn: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe.each(DIALECTS)('job runner (%s)', (dialect) => {
  let temp: TempDatabase;
  let db: Db;
  let queue: JobQueue;
  const finished: Array<[number, JobOutcome]> = [];
  const onFinished = (job: Job, o: JobOutcome) => finished.push([job.id, o]);
  const final = (id: number) =>
    until(async () => {
      const j = await queue.get(id);
      return ['succeeded', 'failed', 'cancelled'].includes(j.state) ? j : undefined;
    });

  beforeEach(async () => {
    finished.length = 0;
    temp = await tempDatabase(dialect);
    db = await openDatabase({ url: temp.url });
    queue = new JobQueue(db, { backoffBaseMs: 1, backoffMaxMs: 5 });
  });
  afterEach(async () => {
    await db.close();
    await temp.cleanup();
  });

  it('runs several jobs at once when asked, and aborts them all on stop', async () => {
    let running = 0;
    let peak = 0;
    const release: (() => void)[] = [];
    const runner = startJobRunner({
      queue,
      owner: 'n1',
      pollMs: 10,
      leaseMs: 5000,
      concurrency: 3,
      handlers: {
        slow: async (_job, ctx) => {
          running++;
          peak = Math.max(peak, running);
          await new Promise<void>((resolve, reject) => {
            release.push(resolve);
            ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
          });
          running--;
        },
      },
    });
    const jobs = await Promise.all([1, 2, 3, 4].map(() => queue.enqueue('slow', {})));
    runner.wake();
    await until(async () => (running === 3 ? true : undefined));
    expect(peak).toBe(3);
    for (const r of release.splice(0)) r();
    const states = async () => Promise.all(jobs.map(async (j) => (await queue.get(j.id)).state));
    await until(async () =>
      (await states()).filter((s) => s === 'succeeded').length === 3 ? true : undefined,
    );
    await until(async () => (release.length === 1 ? true : undefined));
    await runner.stop({ abort: true });
    // The one still in hand is given back, not failed.
    expect((await states()).sort()).toEqual(['queued', 'succeeded', 'succeeded', 'succeeded']);
  });

  it('asks the queue once a poll however many slots it has, and again as a slot frees', async () => {
    let claims = 0;
    const claim = queue.claim.bind(queue);
    queue.claim = (...args) => {
      claims++;
      return claim(...args);
    };
    let release: (() => void) | undefined;
    const runner = startJobRunner({
      queue,
      owner: 'n1',
      pollMs: 60_000,
      leaseMs: 5000,
      concurrency: 4,
      handlers: { slow: () => new Promise<void>((resolve) => (release = resolve)) },
    });
    await until(async () => (claims > 0 ? true : undefined));
    // Four slots sat idle: one question, not four (the poll is a minute away).
    await queue.list({});
    expect(claims).toBe(1);
    const job = await queue.enqueue('slow', {});
    runner.wake();
    await until(async () => (release ? true : undefined));
    // The claim that took the job asks again at once: three slots are still free.
    await until(async () => (claims >= 3 ? true : undefined));
    const asked = claims;
    release?.();
    await final(job.id);
    await until(async () => (claims > asked ? true : undefined));
    await runner.stop();
  });

  it('leaves singleton work to the leader and runs the rest on any node', async () => {
    let leader = false;
    const ran: string[] = [];
    const runner = startJobRunner({
      queue,
      owner: 'n2',
      pollMs: 10,
      leaseMs: 5000,
      leaderOnly: { kinds: ['gc'], leader: () => leader },
      handlers: {
        gc: async () => {
          ran.push('gc');
        },
        verify: async () => {
          ran.push('verify');
        },
      },
    });
    try {
      const gc = await queue.enqueue('gc', {});
      const verify = await queue.enqueue('verify', {});
      runner.wake();
      expect((await final(verify.id)).state).toBe('succeeded');
      // Claims take the oldest first: the verify ran past the older gc, which stays queued.
      expect((await queue.get(gc.id)).state).toBe('queued');
      leader = true;
      runner.wake();
      expect((await final(gc.id)).state).toBe('succeeded');
      expect(ran).toEqual(['verify', 'gc']);
    } finally {
      await runner.stop();
    }
  });

  it('claims nothing while paused (a drained node) and finishes the job in hand', async () => {
    let paused = false;
    let asked = 0;
    let release: () => void = () => {};
    const started: number[] = [];
    const runner = startJobRunner({
      queue,
      owner: 'n1',
      pollMs: 10,
      leaseMs: 5000,
      paused: () => {
        asked++;
        return paused;
      },
      handlers: {
        slow: async (job) => {
          started.push(job.id);
          await new Promise<void>((r) => {
            release = r;
          });
        },
      },
    });
    try {
      const first = await queue.enqueue('slow', {});
      await until(async () => (started.length === 1 ? true : undefined));
      paused = true;
      const second = await queue.enqueue('slow', {});
      release();
      expect((await final(first.id)).state).toBe('succeeded');
      // The loop looks many times while paused; the queued job stays queued.
      const seen = asked;
      await until(async () => (asked > seen + 10 ? true : undefined));
      expect((await queue.get(second.id)).state).toBe('queued');
      paused = false;
      runner.wake();
      await until(async () => (started.length === 2 ? true : undefined));
      release();
      expect((await final(second.id)).state).toBe('succeeded');
    } finally {
      await runner.stop({ abort: true });
    }
  });

  it('runs handlers, records progress and results, retries then fails', async () => {
    let calls = 0;
    const runner = startJobRunner({
      queue,
      owner: 'n1',
      pollMs: 10,
      leaseMs: 5000,
      onFinished,
      handlers: {
        add: async (job: Job<{ a: number; b: number }>, ctx) => {
          ctx.progress(1, 1);
          return job.payload.a + job.payload.b;
        },
        flaky: async () => {
          calls++;
          throw new Error('still broken');
        },
        bad: async () => {
          throw new IngotError('INVALID_ARGUMENT', 'nope');
        },
      },
    });
    try {
      const ok = await queue.enqueue('add', { a: 2, b: 3 });
      const flaky = await queue.enqueue('flaky', {}, { maxAttempts: 3 });
      const bad = await queue.enqueue('bad', {}, { maxAttempts: 3 });
      runner.wake();
      expect(await final(ok.id)).toMatchObject({
        state: 'succeeded',
        result: 5,
        progressDone: 1,
        progressTotal: 1,
      });
      const f = await final(flaky.id);
      expect(f).toMatchObject({ state: 'failed', attempts: 3 });
      expect(JSON.parse(f.error ?? '')).toEqual({ code: 'INTERNAL', message: 'still broken' });
      expect(calls).toBe(3);
      expect(await final(bad.id)).toMatchObject({ state: 'failed', attempts: 1 });
    } finally {
      await runner.stop();
    }
    expect(finished.filter(([, o]) => o === 'retrying')).toHaveLength(2);
  });

  it('aborts the handler when its lease is lost and records nothing', async () => {
    let aborted = false;
    const runner = startJobRunner({
      queue,
      owner: 'n1',
      pollMs: 10,
      leaseMs: 300,
      heartbeatMs: 20,
      onFinished,
      handlers: {
        slow: (_job, ctx) =>
          new Promise((_resolve, reject) => {
            ctx.signal.addEventListener('abort', () => {
              aborted = true;
              reject(ctx.signal.reason);
            });
          }),
      },
    });
    try {
      const job = await queue.enqueue('slow', {});
      await until(async () => ((await queue.get(job.id)).state === 'running' ? true : undefined));
      await queue.cancel(job.id);
      await until(async () => (finished.length ? true : undefined));
      expect(aborted).toBe(true);
      expect(finished).toEqual([[job.id, 'lost']]);
      expect((await queue.get(job.id)).state).toBe('cancelled');
    } finally {
      await runner.stop();
    }
  });

  it('stops gracefully, and with abort gives the job back', async () => {
    const runner = startJobRunner({
      queue,
      owner: 'n1',
      pollMs: 10,
      handlers: {
        wait: (_job, ctx) =>
          new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
      },
      onFinished,
    });
    const job = await queue.enqueue('wait', {});
    await until(async () => ((await queue.get(job.id)).state === 'running' ? true : undefined));
    await runner.stop({ abort: true });
    expect(await queue.get(job.id)).toMatchObject({ state: 'queued', attempts: 0, leaseOwner: null });
    expect(finished).toEqual([[job.id, 'released']]);
  });
});
