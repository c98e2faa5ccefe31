import { type Digest, isDigest } from '../core/manifest.js';
import type { ManifestBlobs } from './manifest-blobs.js';
import { manifestKey } from './paths.js';
import type { S3Bucket } from './s3-bucket.js';

/**
 * Manifests as objects of the shared store's bucket, under the keys of a directory store
 * (`PREFIX/manifests-v1/ab/<digest>.json`). A PUT is atomic, so there is no temp object.
 * The bucket is borrowed: whoever opened it closes it.
 */
export class S3Manifests implements ManifestBlobs {
  constructor(private readonly bucket: S3Bucket) {}

  has(digest: Digest): Promise<boolean> {
    return this.bucket.has(manifestKey(digest));
  }

  async read(digest: Digest): Promise<Buffer | undefined> {
    const bytes = await this.bucket.get(manifestKey(digest));
    return bytes && Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  }

  /**
   * Always a PUT, never a HEAD first: one request either way, and a rewrite of a manifest
   * gc might be about to prune makes it young again (gc keeps what was written within its
   * grace period, §10).
   */
  write(digest: Digest, bytes: Buffer): Promise<void> {
    return this.bucket.put(manifestKey(digest), bytes);
  }

  async *list(): AsyncGenerator<{ readonly digest: Digest; readonly writtenMs: number }> {
    for await (const o of this.bucket.list('manifests-v1/')) {
      const digest = o.key.slice(o.key.lastIndexOf('/') + 1).replace(/\.json$/, '');
      if (isDigest(digest) && o.key === manifestKey(digest)) yield { digest, writtenMs: o.writtenMs };
    }
  }

  remove(digest: Digest): Promise<void> {
    return this.bucket.remove(manifestKey(digest));
  }
}
