import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS, type TempDatabase, tempDatabase } from '../../test/support/databases.js';
import { tenByteImage } from '../../test/support/manifests.js';
import type { Digest } from '../core/manifest.js';
import { type Db, openDatabase } from '../db/database.js';
import type { MovingChunk } from '../transfer/ports.js';
import { frameBytes } from '../transfer/rate-limit.js';
import { PeerTransfers } from './peer-transfers.js';
import { TransferGrants } from './transfer-grants.js';

const [A, B, C] = ['a', 'b', 'c'].map((x) => x.repeat(64) as Digest) as [Digest, Digest, Digest];

const image = tenByteImage;

const chunk = (digest: Digest): MovingChunk => ({
  digest,
  rawLength: 10,
  encoded: { encoding: 'raw', payload: Buffer.alloc(10) },
});

/** Chunks of a stream pass the transfer's counter, as the rate limiter's step feeds it. */
function passThrough(
  served: PeerTransfers,
  peer: string,
  direction: 'in' | 'out',
  image: Digest,
  chunks: MovingChunk[],
) {
  const count = served.counter(peer, direction, image);
  for (const c of chunks) count?.(c, frameBytes(c));
}

describe.each(DIALECTS)('transfers peers run here (%s)', (dialect) => {
  let temp: TempDatabase;
  let db: Db;
  let t: number;
  let grants: TransferGrants;
  let served: PeerTransfers;
  const img = image('DB_1', [A, B, C]);

  beforeEach(async () => {
    t = Date.UTC(2026, 11, 1);
    temp = await tempDatabase(dialect);
    db = await openDatabase({ url: temp.url });
    grants = new TransferGrants(async function* () {});
    served = new PeerTransfers({ db, grants, idleMs: 60_000, now: () => t });
  });
  afterEach(async () => {
    await db.close();
    await temp.cleanup();
  });

  it('a push here: chunks already held count as present, uploads as done, the commit ends it', async () => {
    await grants.grant('FPPS_1', 'write', img.digest, img.bytes);
    served.begin('FPPS_1', 'in', img);
    served.asked('FPPS_1', img.digest, [A, B, C], [B, C]);
    passThrough(served, 'FPPS_1', 'in', img.digest, [chunk(B)]);
    t += 1000;
    await served.tick();
    const [running] = await served.list();
    expect(running).toMatchObject({
      direction: 'in',
      peer: 'FPPS_1',
      image: 'DB_1',
      state: 'running',
      bytesTotal: 30,
      bytesPresent: 10,
      bytesDone: 20,
      chunksSent: 1,
      chunksTotal: 3,
    });
    passThrough(served, 'FPPS_1', 'in', img.digest, [chunk(C)]);
    await served.finish('FPPS_1', 'in', img.digest, { state: 'done', outcome: 'created' });
    const [done] = await served.list({ direction: 'in' });
    expect(done).toMatchObject({ state: 'done', outcome: 'created', bytesDone: 30, chunksSent: 2 });
    expect(await served.list({ direction: 'out' })).toEqual([]);
  });

  it('a push begun on one node and committed through another ends done, not abandoned', async () => {
    await grants.grant('FPPS_1', 'write', img.digest, img.bytes);
    served.begin('FPPS_1', 'in', img);
    passThrough(served, 'FPPS_1', 'in', img.digest, [chunk(A)]);
    t += 1000;
    await served.tick();
    const other = new PeerTransfers({
      db,
      grants: new TransferGrants(async function* () {}),
      idleMs: 60_000,
      now: () => t,
    });
    await other.finish('FPPS_1', 'in', img.digest, { state: 'done', outcome: 'created' });
    expect(await served.list({ direction: 'in' })).toMatchObject([
      { state: 'done', outcome: 'created', bytesTotal: 30, bytesDone: 30, chunksSent: 1 },
    ]);
    // The first node's later ticks leave it as it ended.
    passThrough(served, 'FPPS_1', 'in', img.digest, [chunk(B)]);
    t += 120_000;
    await served.tick();
    expect(await served.list({ direction: 'in' })).toMatchObject([{ state: 'done', chunksSent: 1 }]);
  });

  it('a chunk refused on upload is not counted as done', async () => {
    await grants.grant('FPPS_1', 'write', img.digest, img.bytes);
    served.begin('FPPS_1', 'in', img);
    passThrough(served, 'FPPS_1', 'in', img.digest, [chunk(A), chunk(B)]);
    served.unsettled('FPPS_1', img.digest, [B]);
    await served.tick();
    expect((await served.list())[0]).toMatchObject({ bytesDone: 10, state: 'running' });
  });

  it('a pull from here is written once data moves, not for an offer or a dry run', async () => {
    await grants.grant('FPPS_2', 'read', img.digest, img.bytes);
    served.begin('FPPS_2', 'out', img);
    await served.tick();
    expect(await served.list()).toEqual([]);
    passThrough(served, 'FPPS_2', 'out', img.digest, [chunk(A)]);
    await served.tick();
    expect((await served.list())[0]).toMatchObject({ direction: 'out', peer: 'FPPS_2', state: 'running' });
    await served.finish('FPPS_2', 'out', img.digest, { state: 'done', outcome: 'created', bytesPresent: 20 });
    expect((await served.list())[0]).toMatchObject({ state: 'done', bytesDone: 30, bytesPresent: 20 });
  });

  it('a pull the puller already held leaves no row', async () => {
    await grants.grant('FPPS_2', 'read', img.digest, img.bytes);
    served.begin('FPPS_2', 'out', img);
    await served.finish('FPPS_2', 'out', img.digest, { state: 'done', outcome: 'present' });
    expect(await served.list()).toEqual([]);
  });

  it('a transfer whose peer goes quiet is abandoned, a failed one says why', async () => {
    await grants.grant('FPPS_1', 'write', img.digest, img.bytes);
    served.begin('FPPS_1', 'in', img);
    await served.tick();
    t += 61_000;
    await served.tick();
    expect((await served.list())[0]?.state).toBe('abandoned');
    const other = image('DB_2', [A]);
    await grants.grant('FPPS_1', 'write', other.digest, other.bytes);
    served.begin('FPPS_1', 'in', other);
    await served.finish('FPPS_1', 'in', other.digest, { state: 'failed', error: 'DIGEST_MISMATCH: no' });
    expect((await served.list({ peer: 'FPPS_1', limit: 1 }))[0]).toMatchObject({
      image: 'DB_2',
      state: 'failed',
      error: 'DIGEST_MISMATCH: no',
    });
  });

  it('forgets ended transfers past the retention, never a running one', async () => {
    await grants.grant('FPPS_1', 'write', img.digest, img.bytes);
    served.begin('FPPS_1', 'in', img);
    await served.finish('FPPS_1', 'in', img.digest, { state: 'done', outcome: 'created' });
    const other = image('DB_2', [A]);
    await grants.grant('FPPS_1', 'write', other.digest, other.bytes);
    served.begin('FPPS_1', 'in', other);
    await served.tick();
    t += 5 * 86_400_000;
    expect(await served.forgetEnded(new Date(t - 86_400_000))).toBe(1);
    expect((await served.list()).map((r) => `${r.image} ${r.state}`)).toEqual(['DB_2 running']);
  });
});
