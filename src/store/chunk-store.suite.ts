import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IngotError } from '../core/errors.js';
import type { Digest } from '../core/manifest.js';
import type { ChunkStore, EncodedChunk } from './chunk-store.js';
import { encodeChunk } from './compression.js';

/**
 * The one test suite of the ChunkStore port: every adapter runs it (see
 * pack-chunk-store.test.ts). `makeStore` gives a fresh, empty store each time.
 */

export function digestOf(b: Buffer): Digest {
  return createHash('sha256').update(b).digest('hex') as Digest;
}

/** Compressible bytes: a repeated text, varied by a seed so each call gives a new chunk. */
export function textChunk(size: number, seed = randomBytes(8).toString('hex')): Buffer {
  const line = Buffer.from(`${seed} the quick brown fox jumps over the lazy dog\n`);
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i += line.length) line.copy(b, i);
  return b;
}

/** Awaits a rejection and checks it is an IngotError with `code`. */
export async function expectCode(p: Promise<unknown>, code: string): Promise<IngotError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(IngotError);
  expect((err as IngotError).code).toBe(code);
  return err as IngotError;
}

export function chunkStoreSuite(
  name: string,
  makeStore: () => Promise<{ store: ChunkStore; cleanup(): Promise<void> }>,
): void {
  describe(`ChunkStore suite: ${name}`, () => {
    let store: ChunkStore;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, cleanup } = await makeStore());
    });
    afterEach(async () => {
      await cleanup();
    });

    it('round-trips raw and zstd chunks, by put and by putEncoded', async () => {
      const random = randomBytes(64 * 1024);
      const text = textChunk(64 * 1024);
      expect(await store.put(digestOf(random), random)).toBeGreaterThan(0);
      expect(await store.put(digestOf(text), text)).toBeGreaterThan(0);
      expect((await store.get(digestOf(random))).equals(random)).toBe(true);
      expect((await store.get(digestOf(text))).equals(text)).toBe(true);

      const raw = randomBytes(1000);
      await store.putEncoded(digestOf(raw), { encoding: 'raw', payload: raw });
      const text2 = textChunk(50_000);
      const zstd = await encodeChunk(text2);
      expect(zstd.encoding).toBe('zstd');
      expect(await store.putEncoded(digestOf(text2), zstd)).toBe(zstd.payload.length);

      const e1 = await store.getEncoded(digestOf(raw));
      expect(e1.encoding).toBe('raw');
      expect(e1.raw.equals(raw)).toBe(true);
      const e2 = await store.getEncoded(digestOf(text2));
      expect(e2.encoding).toBe('zstd');
      expect(e2.payload.equals(zstd.payload)).toBe(true);
      expect(e2.raw.equals(text2)).toBe(true);
      expect(await store.has(digestOf(text2))).toBe(true);
      expect((await store.stat(digestOf(text2)))?.storedBytes).toBe(zstd.payload.length);
      const absent = digestOf(Buffer.from('never stored'));
      const many = await store.statMany([digestOf(text2), absent, digestOf(raw)]);
      expect(many.map((i) => i?.storedBytes)).toEqual([zstd.payload.length, undefined, 1000]);
      expect(many[2]?.digest).toBe(digestOf(raw));
    });

    it('reads stored forms in the order asked, as stored, and refuses before reading when one is absent', async () => {
      const random = randomBytes(70_000);
      const text = textChunk(60_000);
      await store.put(digestOf(random), random);
      await store.put(digestOf(text), text);
      const asked = [digestOf(text), digestOf(random), digestOf(text)];
      const got = [];
      for await (const c of store.readStored(asked)) got.push(c);
      expect(got.map((c) => c.digest)).toEqual(asked);
      expect(got.map((c) => c.rawLength)).toEqual([60_000, 70_000, 60_000]);
      expect(got[0]?.encoded.encoding).toBe('zstd');
      expect(got[1]?.encoded).toEqual({ encoding: 'raw', payload: random });
      const absent = digestOf(randomBytes(10));
      const it = store.readStored([digestOf(text), absent])[Symbol.asyncIterator]();
      const err = await expectCode(it.next(), 'MISSING_CHUNKS');
      expect(err.details).toMatchObject({ missing: [absent] });
    });

    it('treats a second put of the same chunk as success that writes nothing', async () => {
      const b = randomBytes(10_000);
      expect(await store.put(digestOf(b), b)).toBe(b.length);
      expect(await store.put(digestOf(b), b)).toBe(0);
      expect(await store.putEncoded(digestOf(b), { encoding: 'raw', payload: b })).toBe(0);
      expect((await store.get(digestOf(b))).equals(b)).toBe(true);
    });

    it('stores a chunk once when it is put concurrently', async () => {
      const b = textChunk(30_000);
      const d = digestOf(b);
      const results = await Promise.all([
        ...Array.from({ length: 4 }, () => store.put(d, b)),
        ...Array.from({ length: 4 }, () =>
          store.putManyEncoded([{ digest: d, chunk: { encoding: 'raw', payload: b } }]),
        ),
      ]);
      expect(results).toHaveLength(8);
      const listed = [];
      for await (const c of store.list()) listed.push(c.digest);
      expect(listed).toEqual([d]);
      expect((await store.get(d)).equals(b)).toBe(true);
    });

    it('rejects bytes that do not match their digest and stores nothing', async () => {
      const b = randomBytes(5000);
      const wrong = digestOf(randomBytes(10));
      const e1 = await expectCode(store.put(wrong, b), 'DIGEST_MISMATCH');
      expect(e1.details).toMatchObject({ expected: wrong, found: digestOf(b) });
      await expectCode(store.putEncoded(wrong, { encoding: 'raw', payload: b }), 'DIGEST_MISMATCH');
      const text = textChunk(20_000);
      await expectCode(store.putEncoded(wrong, await encodeChunk(text)), 'DIGEST_MISMATCH');
      expect(await store.has(wrong)).toBe(false);
      expect(await store.has(digestOf(b))).toBe(false);
      const listed = [];
      for await (const c of store.list()) listed.push(c);
      expect(listed).toEqual([]);
    });

    it('stores the good chunks of a batch with a bad one, and counts duplicates and present ones', async () => {
      const good = [randomBytes(4000), textChunk(9000), randomBytes(100)];
      const bad = randomBytes(3000);
      const badDigest = digestOf(randomBytes(5));
      const items: { digest: Digest; chunk: EncodedChunk }[] = [];
      for (const g of good) items.push({ digest: digestOf(g), chunk: await encodeChunk(g) });
      items.splice(1, 0, { digest: badDigest, chunk: { encoding: 'raw', payload: bad } });
      const r = await store.putManyEncoded(items);
      expect(r.stored).toBe(3);
      expect(r.present).toBe(0);
      expect(r.storedBytes).toBe(
        items.reduce((n, i) => n + (i.digest === badDigest ? 0 : i.chunk.payload.length), 0),
      );
      expect(r.rejected).toEqual([{ digest: badDigest, found: digestOf(bad) }]);
      expect(await store.has(badDigest)).toBe(false);
      for (const g of good) expect((await store.get(digestOf(g))).equals(g)).toBe(true);

      const again = await store.putManyEncoded([...items, ...items]);
      expect(again.stored).toBe(0);
      expect(again.present).toBe(6);
      expect(again.storedBytes).toBe(0);
      expect(again.rejected).toHaveLength(2);
    });

    it('answers missing() and touches the present chunks', async () => {
      const a = randomBytes(1000);
      const b = randomBytes(1000);
      await store.put(digestOf(a), a);
      const before = await store.stat(digestOf(a));
      expect(before).toBeDefined();
      await sleep(25);
      const absent = digestOf(b);
      expect(await store.missing([digestOf(a), absent])).toEqual([absent]);
      expect(await store.missing([])).toEqual([]);
      const after = await store.stat(digestOf(a));
      expect(after?.mtimeMs).toBeGreaterThan(before?.mtimeMs ?? Number.POSITIVE_INFINITY);
    });

    it('tallies the chunks stored with their lengths, and touches them', async () => {
      const a = randomBytes(1000);
      const b = randomBytes(3000);
      await store.put(digestOf(a), a);
      await store.put(digestOf(b), b);
      const before = await store.stat(digestOf(a));
      await sleep(25);
      const absent = digestOf(randomBytes(10));
      const t = await store.tally([digestOf(a), digestOf(b), absent], [1000, 3000, 10]);
      expect(t.matched).toBe(2);
      const infos = await store.statMany([digestOf(a), digestOf(b)]);
      expect(t.storedBytes).toBe(infos.reduce((n, i) => n + (i?.storedBytes ?? 0), 0));
      expect((await store.stat(digestOf(a)))?.mtimeMs).toBeGreaterThan(
        before?.mtimeMs ?? Number.POSITIVE_INFINITY,
      );
      // A wrong length does not match where the store knows lengths without reading.
      const knowsLengths = before?.rawLength !== undefined;
      expect((await store.tally([digestOf(a)], [999])).matched).toBe(knowsLengths ? 0 : 1);
      expect(await store.tally([], [])).toEqual({ matched: 0, storedBytes: 0 });
    });

    it('deletes a chunk', async () => {
      const a = randomBytes(1000);
      const d = digestOf(a);
      await store.put(d, a);
      await store.delete(d);
      expect(await store.has(d)).toBe(false);
      expect(await store.stat(d)).toBeUndefined();
      await expectCode(store.get(d), 'NOT_FOUND');
      expect(await store.missing([d])).toEqual([d]);
      await store.delete(d);
      expect(await store.put(d, a)).toBe(a.length);
      expect((await store.get(d)).equals(a)).toBe(true);
    });

    it('lists every chunk once with its size', async () => {
      const chunks = Array.from({ length: 25 }, (_, i) => randomBytes(100 + i));
      for (const c of chunks) await store.put(digestOf(c), c);
      const listed = new Map<string, number>();
      for await (const c of store.list()) {
        expect(listed.has(c.digest)).toBe(false);
        listed.set(c.digest, c.storedBytes);
        expect(c.mtimeMs).toBeGreaterThan(0);
      }
      expect(listed.size).toBe(chunks.length);
      for (const c of chunks) expect(listed.get(digestOf(c))).toBe(c.length);
    });

    it('says NOT_FOUND for an absent chunk', async () => {
      const d = digestOf(randomBytes(8));
      const err = await expectCode(store.get(d), 'NOT_FOUND');
      expect(err.httpStatus).toBe(404);
      await expectCode(store.getEncoded(d), 'NOT_FOUND');
      expect(await store.has(d)).toBe(false);
      expect(await store.stat(d)).toBeUndefined();
    });
  });
}
