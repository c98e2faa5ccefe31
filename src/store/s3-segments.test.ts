import type { Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { DIALECTS, tempDatabase } from '../../test/support/databases.js';
import { createBucket } from '../../test/support/moto.js';
import { useMoto } from '../../test/support/moto-hooks.js';
import { openDatabase } from '../db/database.js';
import { chunkStoreSuite, digestOf, expectCode, textChunk } from './chunk-store.suite.js';
import { S3Segments } from './s3-segments.js';
import { SegmentChunkStore } from './segment-chunk-store.js';
import type { SegmentTables } from './segment-index.js';

const motoServer = useMoto();

const newBucket = () => createBucket(motoServer());

describe.each(DIALECTS)('S3 store on %s', (dialect) => {
  chunkStoreSuite(`SegmentChunkStore (S3, ${dialect})`, async () => {
    const db = await tempDatabase(dialect);
    const catalog = await openDatabase({ url: db.url });
    const where = {
      bucket: await newBucket(),
      prefix: 'gold/ingot',
      endpoint: motoServer().endpoint,
      region: 'us-east-1',
    };
    const blobs = await S3Segments.open(where);
    const store = await SegmentChunkStore.open(blobs, catalog.kysely as unknown as Kysely<SegmentTables>, {
      touchResolutionMs: 0,
    });
    return {
      store,
      cleanup: async () => {
        await store.close();
        await catalog.close();
        await db.cleanup();
      },
    };
  });
});

describe.each(DIALECTS)('S3 store compaction on %s', (dialect) => {
  it('rewrites a half-dead segment, removes its object, and a reader with the old location still reads', async () => {
    const db = await tempDatabase(dialect);
    const catalog = await openDatabase({ url: db.url });
    const where = {
      bucket: await newBucket(),
      prefix: 'gold',
      endpoint: motoServer().endpoint,
      region: 'us-east-1',
    };
    const kysely = catalog.kysely as unknown as Kysely<SegmentTables>;
    let t = Date.parse('2026-01-01T00:00:00Z');
    const clock = { now: () => new Date(t) };
    const gcNode = await SegmentChunkStore.open(await S3Segments.open(where), kysely, { clock });
    // The reader's first read of a segment waits for gc to rewrite and remove that segment.
    let beforeRead: (() => Promise<unknown>) | undefined;
    const inner = await S3Segments.open(where);
    const reader = await SegmentChunkStore.open(
      {
        write: (id, parts) => inner.write(id, parts),
        read: async (id, offset, length, into) => {
          const hook = beforeRead;
          beforeRead = undefined;
          await hook?.();
          return inner.read(id, offset, length, into);
        },
        remove: (id) => inner.remove(id),
        close: () => inner.close(),
      },
      kysely,
      { clock },
    );
    try {
      const chunks = Array.from({ length: 6 }, (_, i) => textChunk(5000, `s3-${i}`));
      const items = chunks.map((c) => ({
        digest: digestOf(c),
        chunk: { encoding: 'raw' as const, payload: c },
        rawLength: c.length,
      }));
      expect((await gcNode.putManyHashed(items)).stored).toBe(6);
      for (const it of items.slice(2)) await gcNode.delete(it.digest);
      t += 2 * 3_600_000;
      let compacted: unknown;
      beforeRead = async () => {
        compacted = await gcNode.compact({ graceMs: 0 });
      };
      expect((await reader.get(digestOf(chunks[0] as Buffer))).equals(chunks[0] as Buffer)).toBe(true);
      expect(compacted).toMatchObject({ segmentsRewritten: 1, segmentsRemoved: 1 });
      await expectCode(inner.read(1, 0, 10), 'NOT_FOUND');
      for (const c of chunks.slice(0, 2)) expect((await reader.get(digestOf(c))).equals(c)).toBe(true);
      expect(gcNode.stats()).toMatchObject({ chunks: 2, segments: 1 });
    } finally {
      await reader.close();
      await gcNode.close();
      await catalog.close();
      await db.cleanup();
    }
  });
});

describe('S3 segments', () => {
  it('says UNAVAILABLE with the bucket when it does not answer', async () => {
    const err = await expectCode(
      S3Segments.open({
        bucket: 'no-such-bucket',
        prefix: '',
        endpoint: motoServer().endpoint,
        region: 'us-east-1',
      }),
      'UNAVAILABLE',
    );
    expect(err.message).toContain('no-such-bucket');
  });

  it('reads a segment by ranges and says NOT_FOUND for one that is not there', async () => {
    const blobs = await S3Segments.open({
      bucket: await newBucket(),
      prefix: '',
      endpoint: motoServer().endpoint,
      region: 'us-east-1',
    });
    try {
      const a = textChunk(1000);
      await blobs.write(7, [a.subarray(0, 400), a.subarray(400)]);
      expect((await blobs.read(7, 100, 200)).equals(a.subarray(100, 300))).toBe(true);
      const into = Buffer.alloc(5000);
      expect((await blobs.read(7, 900, 500, into)).equals(a.subarray(900))).toBe(true);
      expect(digestOf(await blobs.read(7, 0, 1000))).toBe(digestOf(a));
      await expectCode(blobs.read(8, 0, 10), 'NOT_FOUND');
      await blobs.remove(7);
      await expectCode(blobs.read(7, 0, 10), 'NOT_FOUND');
    } finally {
      await blobs.close();
    }
  });
});
