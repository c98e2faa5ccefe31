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
