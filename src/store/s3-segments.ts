import { IngotError } from '../core/errors.js';
import { segmentKey } from './paths.js';
import { S3Bucket, type S3Location } from './s3-bucket.js';
import type { SegmentBlobs } from './segment-blobs.js';

/**
 * Segments as objects of an S3-compatible bucket, under `prefix/` with the keys of
 * paths.ts: one PutObject per segment (a batch, ~4 MiB, not a 64 KiB chunk: a request
 * costs milliseconds, so an object per chunk would cost a request per chunk both ways), and
 * one ranged GET per run of records read together. Objects are written once under ids no
 * other node uses; a PUT is atomic, so readers see all of a segment or nothing.
 */
export class S3Segments implements SegmentBlobs {
  /** `bucket` is this store's from now on: `close` closes it. */
  constructor(private readonly bucket: S3Bucket) {}

  /** Checks the bucket answers (UNAVAILABLE, saying why, if not). */
  static async open(where: S3Location): Promise<S3Segments> {
    return new S3Segments(await S3Bucket.open(where));
  }

  write(id: number, parts: readonly Buffer[]): Promise<void> {
    return this.bucket.put(segmentKey(id), Buffer.concat(parts as Buffer[]));
  }

  async read(id: number, offset: number, length: number, into?: Buffer): Promise<Buffer> {
    const bytes = await this.bucket.get(segmentKey(id), [offset, offset + length - 1]);
    if (!bytes) {
      throw new IngotError('NOT_FOUND', `segment ${id} is not in ${this.bucket.name}`, {
        details: { segment: id },
      });
    }
    const n = Math.min(bytes.length, length);
    if (!into) return Buffer.from(bytes.buffer, bytes.byteOffset, n);
    into.set(bytes.subarray(0, n));
    return into.subarray(0, n);
  }

  remove(id: number): Promise<void> {
    return this.bucket.remove(segmentKey(id));
  }

  async close(): Promise<void> {
    this.bucket.close();
  }
}
