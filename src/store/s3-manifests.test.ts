import { describe, expect, it } from 'vitest';
import { createBucket } from '../../test/support/moto.js';
import { useMoto } from '../../test/support/moto-hooks.js';
import { manifestBlobsSuite, manifestBytes } from './manifest-blobs.suite.js';
import { manifestKey, segmentKey } from './paths.js';
import { S3Bucket } from './s3-bucket.js';
import { S3Manifests } from './s3-manifests.js';

const motoServer = useMoto();

async function openBucket(): Promise<S3Bucket> {
  const bucket = await createBucket(motoServer());
  return S3Bucket.open({
    bucket,
    prefix: 'gold/ingot',
    endpoint: motoServer().endpoint,
    region: 'us-east-1',
  });
}

manifestBlobsSuite('S3Manifests (moto)', async () => {
  const bucket = await openBucket();
  // A segment and a stray object under the same prefix are not manifests: list skips them.
  await bucket.put(segmentKey(1), Buffer.from('segment'));
  await bucket.put('manifests-v1/zz/notes.txt', Buffer.from('x'));
  return { blobs: new S3Manifests(bucket), cleanup: async () => bucket.close() };
});

describe('S3 manifests', () => {
  it('keeps a manifest at PREFIX/manifests-v1/ab/<digest>.json, and lists past one page', async () => {
    const bucket = await openBucket();
    try {
      const blobs = new S3Manifests(bucket);
      const first = manifestBytes();
      const all = [first, manifestBytes(), manifestBytes(), manifestBytes(), manifestBytes()];
      for (const m of all) await blobs.write(m.digest, m.bytes);
      const keys: string[] = [];
      for await (const o of bucket.list('manifests-v1/', 2)) keys.push(o.key);
      expect(keys.sort()).toEqual(all.map((m) => manifestKey(m.digest)).sort());
      expect(manifestKey(first.digest)).toMatch(/^manifests-v1\/[0-9a-f]{2}\/[0-9a-f]{64}\.json$/);
      const direct = await S3Bucket.open({ ...bucket.where, prefix: '' });
      try {
        expect(await direct.has(`gold/ingot/${manifestKey(first.digest)}`)).toBe(true);
      } finally {
        direct.close();
      }
    } finally {
      bucket.close();
    }
  });
});
