import type { Digest } from '../core/manifest.js';

/**
 * Where a store keeps its manifests' bytes, by digest: the port its adapters implement (a
 * directory, directory-manifests.ts, local or shared; an S3 bucket, s3-manifests.ts). A
 * manifest is written once, whole, and never changed; ManifestStore checks digests on
 * both sides of it, so an adapter only moves bytes.
 */
export interface ManifestBlobs {
  has(digest: Digest): Promise<boolean>;
  /** The stored bytes as they are, unchecked; undefined when absent. */
  read(digest: Digest): Promise<Buffer | undefined>;
  /** Stores `bytes`; readers see all of them or nothing. One already there counts as success. */
  write(digest: Digest, bytes: Buffer): Promise<void>;
  /** Every stored manifest, with when it was last written (ms since the epoch). */
  list(): AsyncIterable<{ readonly digest: Digest; readonly writtenMs: number }>;
  /** Removes one; one already gone counts as success. */
  remove(digest: Digest): Promise<void>;
}
