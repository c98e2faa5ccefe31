import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { movableClock } from '../../test/support/clock.js';
import { DIALECTS, type TempDatabase, tempDatabase } from '../../test/support/databases.js';
import { type Db, openDatabase } from '../db/database.js';
import { JobQueue } from './job-queue.js';
import { LEADER_LEASE_MS, NODE_DEAD_AFTER_MS, NodeRegistry } from './node-registry.js';

const IDENTITY = { cluster_name: 'FPPS_1', signing_key_id: 'k1', peer_cert_fingerprint: 'f1' };

describe.each(DIALECTS)('node registry (%s)', (dialect) => {
  let temp: TempDatabase;
  let db: Db;
  const clock = movableClock();
  const node = (id: string, identity = IDENTITY) =>
    new NodeRegistry(db, { id, version: '0.1.0', identity }, undefined, clock);

  beforeEach(async () => {
    temp = await tempDatabase(dialect);
    db = await openDatabase({ url: temp.url });
  });
  afterEach(async () => {
    await db.close();
    await temp.cleanup();
  });

  it('refuses a node of another cluster name or other keys, and records nothing for it', async () => {
    await node('h:1').join();
    for (const other of [
      { ...IDENTITY, cluster_name: 'FPPS_2' },
      { ...IDENTITY, signing_key_id: 'k2' },
      { ...IDENTITY, peer_cert_fingerprint: 'f2' },
    ]) {
      await expect(node('h:2', other).join()).rejects.toMatchObject({ code: 'IDENTITY_MISMATCH' });
    }
    expect((await node('h:1').list()).nodes.map((n) => n.id)).toEqual(['h:1']);
  });

  it('drains and undrains a running node; a dead or unknown one is refused', async () => {
    const a = node('h:1');
    await a.join();
    await a.serving('http://a', 'https://a');
    await expect(a.drain('h:9')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await a.drain('self')).state).toBe('draining');
    expect(a.draining).toBe(true);
    await a.tick();
    expect(a.draining).toBe(true);
    expect((await a.undrain('h:1')).state).toBe('serving');
    const b = node('h:2');
    await b.join();
    await b.serving('http://b', 'https://b');
    clock.advance(NODE_DEAD_AFTER_MS + 1);
    await a.tick();
    expect((await a.get('h:2')).health).toBe('dead');
    await expect(a.drain('h:2')).rejects.toMatchObject({ code: 'CONFLICT' });
  });

  it('hands the running jobs of a dead node back to the queue, and only those', async () => {
    const queue = new JobQueue(db, { clock });
    const [a, b] = [node('h:1'), node('h:2')];
    for (const n of [a, b]) {
      await n.join();
      await n.serving('http://n', 'https://n');
    }
    const [ja, jb] = [await queue.enqueue('k', {}), await queue.enqueue('k', {})];
    await queue.claim('h:1', ['k'], 60_000);
    await queue.claim('h:2', ['k'], 60_000);
    expect((await a.get('h:2')).jobs).toEqual([jb.id]);
    clock.advance(NODE_DEAD_AFTER_MS + 1);
    await a.tick();
    expect(await a.reapDead()).toBe(1);
    clock.advance(1);
    expect((await queue.claim('h:1', ['k'], 60_000))?.id).toBe(jb.id);
    expect((await queue.get(ja.id)).leaseOwner).toBe('h:1');
  });

  it.runIf(dialect === 'postgres')(
    'elects one leader; another takes over once its lease lapses',
    async () => {
      const [a, b] = [node('h:1'), node('h:2')];
      for (const n of [a, b]) await n.join();
      await Promise.all([a.tick(), b.tick()]);
      expect([a.leader, b.leader].filter(Boolean)).toHaveLength(1);
      const [leader, follower] = a.leader ? [a, b] : [b, a];
      clock.advance(LEADER_LEASE_MS - 1);
      await follower.tick();
      expect(follower.leader).toBe(false);
      clock.advance(2);
      await follower.tick();
      expect(follower.leader).toBe(true);
      await leader.tick();
      expect(leader.leader).toBe(false);
      expect((await a.list()).leader).toBe(follower.id);
      await follower.leave();
      await leader.tick();
      expect(leader.leader).toBe(true);
    },
  );

  it.runIf(dialect === 'sqlite')('is always the leader on SQLite', async () => {
    const a = node('h:1');
    await a.join();
    await a.tick();
    expect(a.leader).toBe(true);
    expect((await a.list()).leader).toBe('h:1');
  });
});
