import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS, type TempDatabase, tempDatabase } from '../../test/support/databases.js';
import { openSharedStore, removeRoot, tempSharedRoot } from '../../test/support/shared-store.js';
import type { Digest } from '../core/manifest.js';
import { openDatabase } from '../db/database.js';
import type { ChunkStore, HashedChunkWriter } from './chunk-store.js';
import { digestOf, expectCode, textChunk } from './chunk-store.suite.js';
import { PACK_HEADER_SIZE, recordSize } from './pack-file.js';
import { segmentKey } from './paths.js';
import type { SegmentBlobs } from './segment-blobs.js';

const HOUR = 3_600_000;
const CHUNK = 4000;

/** Writes `chunks` as one segment (one batch is one segment) and returns their digests. */
async function putSegment(store: HashedChunkWriter, chunks: Buffer[]): Promise<Digest[]> {
  const items = chunks.map((c) => ({
    digest: digestOf(c),
    chunk: { encoding: 'raw' as const, payload: c },
    rawLength: c.length,
  }));
  const r = await store.putManyHashed(items);
  expect(r.stored).toBe(chunks.length);
  return items.map((i) => i.digest);
}

const chunksOf = (n: number, tag: string) =>
  Array.from({ length: n }, (_, i) => textChunk(CHUNK, `${tag}-${i}`));
const segmentBytes = (n: number) => PACK_HEADER_SIZE + n * recordSize(CHUNK);

async function expectReads(store: ChunkStore, chunks: readonly Buffer[]): Promise<void> {
  for (const c of chunks) expect((await store.get(digestOf(c))).equals(c)).toBe(true);
  const digests = chunks.map(digestOf);
  const read: string[] = [];
  for await (const c of store.readStored(digests)) read.push(c.digest);
  expect(read).toEqual(digests);
}

async function segmentIds(root: string): Promise<number[]> {
  const dir = join(root, segmentKey(1), '..');
  return (await readdir(dir)).map((f) => Number.parseInt(f, 10)).sort((a, b) => a - b);
}

/** Segments that stand between a store and its directory, running `hook` once when armed. */
function hooked(on: 'read' | 'write') {
  let hook: ((id: number) => Promise<void>) | undefined;
  return {
    arm: (fn: (id: number) => Promise<void>) => {
      hook = fn;
    },
    wrap: (inner: SegmentBlobs): SegmentBlobs => {
      const once = async (id: number) => {
        const fn = hook;
        hook = undefined;
        await fn?.(id);
      };
      return {
        spaceAt: inner.spaceAt,
        write: async (id, parts) => {
          await inner.write(id, parts);
          if (on === 'write') await once(id);
        },
        read: async (id, offset, length, into) => {
          if (on === 'read') await once(id);
          return inner.read(id, offset, length, into);
        },
        remove: (id) => inner.remove(id),
        close: () => inner.close(),
      };
    },
  };
}

describe.each(DIALECTS)('rewriting partly dead segments on %s', (dialect) => {
  let db: TempDatabase;
  let root: string;
  let t: number;
  const clock = { now: () => new Date(t) };
  beforeEach(async () => {
    db = await tempDatabase(dialect);
    root = await tempSharedRoot();
    t = Date.parse('2026-01-01T00:00:00Z');
  });
  afterEach(async () => {
    await removeRoot(root);
    await db.cleanup();
  });

  /** Two nodes of one server, the first behind `hooks`; close() closes both. */
  async function twoNodes(hooks: ReturnType<typeof hooked>) {
    const first = await openSharedStore(root, db.url, { clock, wrap: hooks.wrap });
    const second = await openSharedStore(root, db.url, { clock });
    return {
      first: first.store,
      second: second.store,
      close: () => Promise.all([first.close(), second.close()]),
    };
  }

  /** A segment of `n` chunks of which the first `live` are, made two hours ago. */
  async function sparseSegment(store: HashedChunkWriter & ChunkStore, n: number, live: number, tag = 'a') {
    const chunks = chunksOf(n, tag);
    await putSegment(store, chunks);
    for (const x of chunks.slice(live)) await store.delete(digestOf(x));
    t += 2 * HOUR;
    return chunks;
  }

  /** Where the index says each chunk lies, read straight from the catalog. */
  async function segmentOfRow(digest: string): Promise<number | undefined> {
    const catalog = await openDatabase({ url: db.url });
    try {
      const row = await catalog.kysely
        .selectFrom('store_chunks')
        .select('segment')
        .where('digest', '=', digest)
        .executeTakeFirst();
      return row && Number(row.segment);
    } finally {
      await catalog.close();
    }
  }

  it('rewrites the sparsest segments oldest first within the byte budget, and removes the old after the grace period', async () => {
    // Budget: the first segment's live bytes; a run starts no further segment after that.
    const node = await openSharedStore(root, db.url, { clock, rewriteBytesPerRun: 2 * recordSize(CHUNK) });
    try {
      const a = chunksOf(8, 'a');
      const b = chunksOf(8, 'b');
      const c = chunksOf(8, 'c');
      const d = chunksOf(8, 'd');
      for (const s of [a, b, c, d]) await putSegment(node.store, s);
      const dead = [...a.slice(2), ...b.slice(6), ...c.slice(3), ...d];
      for (const x of dead) await node.store.delete(digestOf(x));
      const live = [...a.slice(0, 2), ...b.slice(0, 6), ...c.slice(0, 3)];
      t += 2 * HOUR;

      // a (2 of 8 live) first; c (3 of 8) waits for the next run; b (6 of 8) is kept as it is;
      // d is empty and old, so it goes at once.
      const first = await node.store.compact({ graceMs: 60_000 });
      expect(first).toMatchObject({
        segmentsRewritten: 1,
        bytesRewritten: segmentBytes(2),
        segmentsRemoved: 1,
        bytesReclaimed: segmentBytes(8),
      });
      expect(await segmentIds(root)).toEqual([1, 2, 3, 5]);
      for (const x of a.slice(0, 2)) expect(await segmentOfRow(digestOf(x))).toBe(5);
      await expectReads(node.store, live);

      // The rewritten segment stays for readers until the grace period has passed.
      t += 61_000;
      const second = await node.store.compact({ graceMs: 60_000 });
      expect(second).toMatchObject({
        segmentsRewritten: 1,
        bytesRewritten: segmentBytes(3),
        segmentsRemoved: 1,
      });
      expect(await segmentIds(root)).toEqual([2, 3, 5, 6]);
      t += 61_000;
      expect(await node.store.compact({ graceMs: 60_000 })).toMatchObject({
        segmentsRewritten: 0,
        segmentsRemoved: 1,
      });
      expect(await segmentIds(root)).toEqual([2, 5, 6]);
      await expectReads(node.store, live);
      for (const x of dead) expect(await node.store.has(digestOf(x))).toBe(false);
      expect(node.store.stats()).toMatchObject({ chunks: live.length, segments: 3 });
    } finally {
      await node.close();
    }
  });

  it('leaves a chunk where another node put it, or deleted it, while the copy was being written', async () => {
    const writes = hooked('write');
    const { first: gcNode, second: other, close } = await twoNodes(writes);
    try {
      const a = await sparseSegment(gcNode, 10, 4);
      const [rewritten, deleted, kept0, kept1] = a.map(digestOf) as [Digest, Digest, Digest, Digest];
      let otherSegment = 0;
      // The copy is durable; before its rows move, the other node deletes one chunk and
      // deletes and writes again another (a second gc and an upload, say).
      writes.arm(async () => {
        await other.delete(deleted);
        await other.delete(rewritten);
        await other.put(rewritten, a[0] as Buffer);
        otherSegment = (await segmentOfRow(rewritten)) as number;
      });
      const r = await gcNode.compact({ graceMs: 0 });
      expect(r).toMatchObject({ segmentsRewritten: 1, segmentsRemoved: 1 });
      expect(otherSegment).toBe(3);
      expect(await segmentOfRow(rewritten)).toBe(otherSegment);
      expect(await segmentOfRow(deleted)).toBeUndefined();
      expect(await segmentOfRow(kept0)).toBe(2);
      expect(await segmentOfRow(kept1)).toBe(2);
      expect(await segmentIds(root)).toEqual([2, 3]);
      await expectReads(other, [a[0], a[2], a[3]] as Buffer[]);
      await expectCode(other.get(deleted), 'NOT_FOUND');
    } finally {
      await close();
    }
  });

  it('keeps every chunk once when a second gc rewrites the same segments mid-run', async () => {
    const writes = hooked('write');
    const { first: oldLeader, second: newLeader, close } = await twoNodes(writes);
    try {
      const a = await sparseSegment(oldLeader, 8, 3);
      let second: Awaited<ReturnType<typeof newLeader.compact>> | undefined;
      writes.arm(async () => {
        second = await newLeader.compact({ graceMs: 0 });
      });
      const first = await oldLeader.compact({ graceMs: 0 });
      // The new leader moved the rows first and removed the old segment; the old leader's
      // copy lost every row, so it removed its own segment and counts nothing.
      expect(second).toMatchObject({
        segmentsRewritten: 1,
        bytesRewritten: segmentBytes(3),
        segmentsRemoved: 1,
      });
      expect(first).toMatchObject({ segmentsRewritten: 0, bytesRewritten: 0, segmentsRemoved: 0 });
      expect(await segmentIds(root)).toEqual([3]);
      await expectReads(oldLeader, a.slice(0, 3));
      expect(oldLeader.stats()).toMatchObject({ chunks: 3, segments: 1 });
    } finally {
      await close();
    }
  });

  it('reads through a location that went stale: the index is read again once', async () => {
    const reads = hooked('read');
    const { first: reader, second: gcNode, close } = await twoNodes(reads);
    try {
      const a = await sparseSegment(gcNode, 6, 2);
      const compactions: unknown[] = [];
      const compactNow = async (id: number) => {
        expect(id).toBe(1);
        compactions.push(await gcNode.compact({ graceMs: 0 }));
      };
      // The reader has its row (segment 1); gc moves the chunk and removes segment 1 before the read.
      reads.arm(compactNow);
      expect((await reader.get(digestOf(a[0] as Buffer))).equals(a[0] as Buffer)).toBe(true);
      expect(compactions).toEqual([expect.objectContaining({ segmentsRewritten: 1, segmentsRemoved: 1 })]);
      expect(await segmentIds(root)).toEqual([2]);

      // The same for a run read for sending on.
      for (const x of a.slice(1, 2)) await gcNode.delete(digestOf(x));
      const more = await sparseSegment(gcNode, 6, 1, 'b');
      reads.arm(async (id) => {
        expect(id).toBe(2);
        compactions.push(await gcNode.compact({ graceMs: 0 }));
      });
      const wanted = [a[0], more[0]] as Buffer[];
      const read: Buffer[] = [];
      for await (const c of reader.readStored(wanted.map(digestOf)))
        read.push(Buffer.from(c.encoded.payload));
      expect(read).toEqual(wanted);
      expect(compactions).toHaveLength(2);
      expect(await segmentIds(root)).toEqual([4]);
    } finally {
      await close();
    }
  });

  it('says NOT_FOUND for a chunk deleted after its row was read, not a missing segment', async () => {
    const reads = hooked('read');
    const { first: reader, second: gcNode, close } = await twoNodes(reads);
    try {
      const a = await sparseSegment(gcNode, 2, 2);
      reads.arm(async () => {
        for (const x of a) await gcNode.delete(digestOf(x));
        await gcNode.compact({ graceMs: 0 });
      });
      const err = await expectCode(reader.get(digestOf(a[0] as Buffer)), 'NOT_FOUND');
      expect(err.details).toMatchObject({ digest: digestOf(a[0] as Buffer) });
      expect(err.message).toContain('is not in the store');
    } finally {
      await close();
    }
  });
});
