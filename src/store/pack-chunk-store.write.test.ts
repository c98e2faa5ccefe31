import { randomBytes } from 'node:crypto';
import { zstdCompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { digestOf, expectCode } from './chunk-store.suite.js';
import { TOUCH_RESOLUTION_MS } from './pack-chunk-store.js';
import { MAX_RAW_LENGTH } from './pack-file.js';
import { openStore, rawItem, tempRoot, verifyAll } from './pack-store.fixture.js';

describe('PackChunkStore.putManyHashed', () => {
  it('stores chunks hashed by the caller once each, and still verifies them when read', async () => {
    const store = await openStore(await tempRoot());
    const a = rawItem(70_000);
    const b = rawItem(1000);
    const hashed = [a, b, a].map((i) => ({ ...i, rawLength: i.chunk.payload.length }));
    expect(await store.putManyHashed(hashed)).toMatchObject({ stored: 2, present: 1, rejected: [] });
    expect((await store.get(a.digest)).equals(a.chunk.payload)).toBe(true);
    expect(await store.missing([a.digest, b.digest])).toEqual([]);
    // A wrong digest is the caller's bug, not a peer's lie; the read path still catches it.
    const wrong = { digest: digestOf(Buffer.from('other')), chunk: b.chunk, rawLength: 1000 };
    await store.putManyHashed([wrong]);
    await expectCode(store.get(wrong.digest), 'CORRUPT');
  });

  it('refuses chunks past the store bounds and writes nothing of them', async () => {
    const store = await openStore(await tempRoot());
    const big = rawItem(16);
    const r = await store.putManyHashed([{ ...big, rawLength: MAX_RAW_LENGTH + 1 }]);
    expect(r).toMatchObject({ stored: 0, rejected: [{ digest: big.digest }] });
    expect(await store.has(big.digest)).toBe(false);
  });
});

describe('PackChunkStore writes', () => {
  it('rejects chunks over 16 MiB, also a small zstd payload that would inflate past it', async () => {
    const root = await tempRoot();
    const store = await openStore(root);
    const big = Buffer.alloc(MAX_RAW_LENGTH + 1, 1);
    await expectCode(store.put(digestOf(big), big), 'PAYLOAD_TOO_LARGE');
    const bomb = zstdCompressSync(Buffer.alloc(64 * 2 ** 20));
    expect(bomb.length).toBeLessThan(100_000);
    const bombDigest = digestOf(Buffer.alloc(64 * 2 ** 20));
    const r = await store.putManyEncoded([
      { digest: bombDigest, chunk: { encoding: 'zstd', payload: bomb } },
    ]);
    expect(r.stored).toBe(0);
    expect(r.rejected[0]?.found).toMatch(/zstd payload of up to/);
    await expectCode(store.putEncoded(bombDigest, { encoding: 'zstd', payload: bomb }), 'PAYLOAD_TOO_LARGE');
    await expectCode(
      store.putEncoded(bombDigest, { encoding: 'zstd', payload: randomBytes(100) }),
      'DIGEST_MISMATCH',
    );
    expect(store.stats().chunks).toBe(0);
    await store.close();
  });

  it('rewrites touched_at only when it is older than the touch resolution', async () => {
    const root = await tempRoot();
    let now = 1_000_000;
    const store = await openStore(root, { clock: { now: () => new Date(now) } });
    const a = rawItem(100);
    await store.putManyEncoded([a]);
    expect((await store.stat(a.digest))?.mtimeMs).toBe(1_000_000);
    now += TOUCH_RESOLUTION_MS - 1;
    expect(await store.missing([a.digest])).toEqual([]);
    expect((await store.putManyEncoded([a])).present).toBe(1);
    expect((await store.stat(a.digest))?.mtimeMs).toBe(1_000_000);
    now += 2;
    expect(await store.missing([a.digest])).toEqual([]);
    expect((await store.stat(a.digest))?.mtimeMs).toBe(now);
    now += TOUCH_RESOLUTION_MS + 1;
    expect((await store.putManyEncoded([a])).present).toBe(1);
    expect((await store.stat(a.digest))?.mtimeMs).toBe(now);
  });

  it('tells a writer its buffers are free before the chunks are durable, and lists them only then', async () => {
    const store = await openStore(await tempRoot());
    const items = Array.from({ length: 20 }, () => rawItem(50_000));
    const events: string[] = [];
    const put = store.putManyEncoded(items, { onWritten: () => events.push('written') });
    const r = await put.then((x) => {
      events.push('durable');
      return x;
    });
    expect(events).toEqual(['written', 'durable']);
    expect(r).toMatchObject({ stored: 20, present: 0, rejected: [] });
    expect(await store.missing(items.map((i) => i.digest))).toEqual([]);
    // A batch with nothing new still says so, at once.
    let called = false;
    expect(await store.putManyEncoded(items, { onWritten: () => (called = true) })).toMatchObject({
      stored: 0,
      present: 20,
    });
    expect(called).toBe(true);
  });

  it('answers a batch that names chunks another is still writing only once those are durable', async () => {
    const store = await openStore(await tempRoot());
    const items = Array.from({ length: 30 }, () => rawItem(100_000));
    const order: string[] = [];
    const second = Promise.withResolvers<Promise<unknown>>();
    const first = store
      .putManyEncoded(items, {
        onWritten: () =>
          second.resolve(store.putManyEncoded(items).then((r) => order.push(`second ${r.present}`))),
      })
      .then((r) => order.push(`first ${r.stored}`));
    await Promise.all([first, await second.promise]);
    expect(order).toEqual(['first 30', 'second 30']);
    expect(store.stats().chunks).toBe(30);
  });

  it('group-commits concurrent batches and counts each chunk once', async () => {
    const root = await tempRoot();
    const store = await openStore(root, { maxPackBytes: 256 * 1024 });
    const pool = Array.from({ length: 50 }, () => rawItem(8 * 1024));
    const batches = Array.from({ length: 12 }, (_, b) =>
      Array.from({ length: 20 }, (_, i) => pool[(b * 7 + i * 3) % 50]),
    );
    const results = await Promise.all(batches.map((b) => store.putManyEncoded(b as typeof pool)));
    const distinct = new Set(batches.flat().map((i) => i?.digest));
    expect(results.reduce((n, r) => n + r.stored, 0)).toBe(distinct.size);
    expect(results.reduce((n, r) => n + r.stored + r.present, 0)).toBe(12 * 20);
    expect(results.reduce((n, r) => n + r.storedBytes, 0)).toBe(distinct.size * 8 * 1024);
    expect(store.stats().chunks).toBe(distinct.size);
    expect(await verifyAll(store)).toBe(distinct.size);
  });
});
