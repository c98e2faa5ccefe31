import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS, type TempDatabase, tempDatabase } from '../../test/support/databases.js';
import { IngotError } from '../core/errors.js';
import { type Db, openDatabase } from '../db/database.js';
import { TransferRepository } from '../transfer/transfer.repository.js';
import { JobCheckpoints } from './job-checkpoints.js';
import { JobQueue } from './job-queue.js';

describe.each(DIALECTS)('job queue (%s)', (dialect) => {
  let temp: TempDatabase;
  let db: Db;
  let queue: JobQueue;
  let t = 0;
  const clock = { now: () => new Date(Date.UTC(2025, 0, 1) + t) };
  const advance = (ms: number) => {
    t += ms;
  };

  beforeEach(async () => {
    t = 0;
    temp = await tempDatabase(dialect);
    db = await openDatabase({ url: temp.url });
    queue = new JobQueue(db, { clock, backoffBaseMs: 1000, backoffMaxMs: 3000 });
  });
  afterEach(async () => {
    await db.close();
    await temp.cleanup();
  });

  it("wakes a waiter at the job's next change, and only then", async () => {
    const job = await queue.enqueue('verify', {});
    let woke = false;
    const waiting = queue.waitForChange(job.id, 60_000).then(() => {
      woke = true;
    });
    await queue.enqueue('verify', {}); // another job's change does not count
    await Promise.resolve();
    expect(woke).toBe(false);
    const claimed = await queue.claim('w1', ['verify']);
    expect(claimed?.id).toBe(job.id);
    await waiting;
    expect(woke).toBe(true);
    const ended = queue.waitForChange(job.id, 60_000);
    await queue.complete(job.id, 'w1', { ok: true });
    await ended;
    // With no change, the wait ends at its time.
    const started = Date.now();
    await queue.waitForChange(job.id, 30);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
  });

  it('enqueues, gets and lists newest first', async () => {
    const a = await queue.enqueue('verify', { image: 'a' });
    const b = await queue.enqueue('gc', { graceSeconds: 5 }, { maxAttempts: 1 });
    expect(a).toMatchObject({
      kind: 'verify',
      state: 'queued',
      payload: { image: 'a' },
      attempts: 0,
      maxAttempts: 3,
    });
    expect(await queue.get(a.id)).toEqual(a);
    expect(await queue.get(String(b.id))).toEqual(b);
    await expect(queue.get(999)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(queue.get('x')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await queue.list()).map((j) => j.id)).toEqual([b.id, a.id]);
    expect((await queue.list({ kind: 'gc' })).map((j) => j.id)).toEqual([b.id]);
    expect(await queue.list({ state: 'running' })).toEqual([]);
    expect(() => queue.list({ state: 'bogus' })).toThrow(IngotError);
    await expect(queue.enqueue('x', {}, { maxAttempts: 0 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  it('claims the oldest due job of the given kinds and records the lease', async () => {
    const later = await queue.enqueue('verify', 1, { runAfter: new Date(clock.now().getTime() + 5000) });
    const a = await queue.enqueue('verify', 2);
    await queue.enqueue('gc', 3);
    const job = await queue.claim('w1', ['verify'], 1000);
    expect(job).toMatchObject({ id: a.id, state: 'running', leaseOwner: 'w1', attempts: 1 });
    expect(job?.leaseExpiresAt).toBe(new Date(clock.now().getTime() + 1000).toISOString());
    expect(await queue.claim('w1', ['verify'])).toBeUndefined();
    expect(await queue.claim('w1', [])).toBeUndefined();
    advance(5000);
    expect(await queue.claim('w1', ['verify'])).toMatchObject({ id: later.id });
  });

  it('hands each job to exactly one of many concurrent claimers', async () => {
    const n = 30;
    for (let i = 0; i < n; i++) await queue.enqueue('work', i);
    const claimed: number[] = [];
    const worker = async (owner: string) => {
      for (;;) {
        const job = await queue.claim(owner, ['work'], 60_000);
        if (!job) return;
        claimed.push(job.id);
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, i) => worker(`w${i}`)));
    expect(claimed).toHaveLength(n);
    expect(new Set(claimed).size).toBe(n);
  });

  it('never double-claims across two separate database handles', async () => {
    const other = await openDatabase({ url: temp.url });
    try {
      const second = new JobQueue(other, { clock });
      const n = 40;
      for (let i = 0; i < n; i++) await queue.enqueue('work', i);
      const claimed: number[] = [];
      const worker = async (q: JobQueue, owner: string) => {
        for (;;) {
          const job = await q.claim(owner, ['work'], 60_000);
          if (!job) return;
          claimed.push(job.id);
          await q.complete(job.id, owner, { by: owner });
        }
      };
      await Promise.all([
        worker(queue, 'a1'),
        worker(second, 'b1'),
        worker(queue, 'a2'),
        worker(second, 'b2'),
      ]);
      expect(claimed).toHaveLength(n);
      expect(new Set(claimed).size).toBe(n);
      expect(await queue.list({ state: 'succeeded', limit: 100 })).toHaveLength(n);
    } finally {
      await other.close();
    }
  });

  it('lets another owner reclaim after the lease expires; the old owner gets CONFLICT', async () => {
    const { id } = await queue.enqueue('work', {});
    await queue.claim('old', ['work'], 1000);
    advance(500);
    expect(await queue.claim('new', ['work'], 1000)).toBeUndefined();
    const hb = await queue.heartbeat(id, 'old', { done: 5, total: 10 }, 1000);
    expect(hb).toMatchObject({ progressDone: 5, progressTotal: 10 });
    advance(1001);
    const again = await queue.claim('new', ['work'], 1000);
    expect(again).toMatchObject({ id, leaseOwner: 'new', attempts: 2 });
    await expect(queue.heartbeat(id, 'old')).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(queue.complete(id, 'old', 1)).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(queue.fail(id, 'old', new Error('x'))).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await queue.complete(id, 'new', { ok: true })).toMatchObject({
      state: 'succeeded',
      result: { ok: true },
    });
  });

  it('retries with exponential backoff, then fails with the last error', async () => {
    const { id } = await queue.enqueue('work', {}, { maxAttempts: 3 });
    await queue.claim('w', ['work']);
    const first = await queue.fail(id, 'w', new Error('disk full'));
    expect(first).toMatchObject({ state: 'queued', attempts: 1, leaseOwner: null });
    expect(first.runAfter).toBe(new Date(clock.now().getTime() + 1000).toISOString());
    expect(await queue.claim('w', ['work'])).toBeUndefined();
    advance(1000);
    await queue.claim('w', ['work']);
    const second = await queue.fail(id, 'w', new Error('disk full'));
    expect(second.runAfter).toBe(new Date(clock.now().getTime() + 2000).toISOString());
    advance(2000);
    expect(await queue.claim('w', ['work'])).toMatchObject({ attempts: 3 });
    const last = await queue.fail(id, 'w', new IngotError('UNAVAILABLE', 'peer down', { hint: 'later' }));
    expect(last).toMatchObject({ state: 'failed', attempts: 3 });
    expect(JSON.parse(last.error ?? '')).toEqual({
      code: 'UNAVAILABLE',
      message: 'peer down',
      hint: 'later',
    });
    advance(60_000);
    expect(await queue.claim('w', ['work'])).toBeUndefined();
  });

  it('fails at once when told not to retry', async () => {
    const { id } = await queue.enqueue('work', {});
    await queue.claim('w', ['work']);
    expect(await queue.fail(id, 'w', 'bad input', { retry: false })).toMatchObject({
      state: 'failed',
      attempts: 1,
    });
  });

  it('ends a job whose worker died on its last attempt', async () => {
    const { id } = await queue.enqueue('work', {}, { maxAttempts: 1 });
    await queue.claim('dead', ['work'], 1000);
    advance(2000);
    expect(await queue.claim('other', ['work'])).toBeUndefined();
    const job = await queue.get(id);
    expect(job).toMatchObject({ state: 'failed', leaseOwner: null });
    expect(JSON.parse(job.error ?? '')).toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('cancels queued and running jobs, and a cancelled job loses its lease', async () => {
    const a = await queue.enqueue('work', {});
    expect(await queue.cancel(a.id)).toMatchObject({ state: 'cancelled' });
    await expect(queue.cancel(a.id)).rejects.toMatchObject({ code: 'CONFLICT' });
    const b = await queue.enqueue('work', {});
    await queue.claim('w', ['work']);
    await queue.cancel(b.id);
    await expect(queue.heartbeat(b.id, 'w')).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await queue.claim('w', ['work'])).toBeUndefined();
    await expect(queue.cancel(12345)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('releases a job without counting the attempt', async () => {
    const { id } = await queue.enqueue('work', {});
    await queue.claim('w', ['work']);
    expect(await queue.release(id, 'w')).toMatchObject({ state: 'queued', attempts: 0, leaseOwner: null });
    expect(await queue.claim('x', ['work'])).toMatchObject({ id, attempts: 1 });
  });

  it('forgets ended jobs and their transfer rows past the retention, never a live one', async () => {
    const transfers = new TransferRepository(db.kysely);
    const old = await queue.enqueue('transfer', {});
    await queue.claim('w1', ['transfer']);
    await queue.complete(old.id, 'w1', {});
    await transfers.create(old.id, 'pull', 'FPPS_1', 'DB_1', clock.now().toISOString());
    const checkpoints = new JobCheckpoints(db);
    await checkpoints.append(old.id, 0, 16, { at: 'the first stretch' });
    const waiting = await queue.enqueue('verify', {});
    advance(10 * 86_400_000);
    const young = await queue.enqueue('transfer', {});
    await queue.claim('w1', ['transfer']);
    await queue.complete(young.id, 'w1', {});
    await transfers.create(young.id, 'pull', 'FPPS_1', 'DB_2', clock.now().toISOString());
    const before = new Date(clock.now().getTime() - 86_400_000);
    expect(await transfers.deleteOfEndedJobs(before.toISOString())).toBe(1);
    expect(await queue.forgetEnded(before)).toBe(1);
    await expect(queue.get(old.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await queue.get(waiting.id)).state).toBe('queued');
    expect((await queue.get(young.id)).state).toBe('succeeded');
    expect((await transfers.list()).map((t) => t.image)).toEqual(['DB_2']);
    expect(await checkpoints.list(old.id)).toEqual([]);
  });
});
