import { IngotError } from '../core/errors.js';

/**
 * Where a shared store's segments live: the port its adapters implement (a shared directory,
 * directory-segments.ts; an S3 bucket, s3-segments.ts). A segment is written once, whole,
 * under an id no other node uses, and never changed after: the only safe way to share
 * bytes on NFS (no locks, close-to-open consistency) and the natural one on an object store.
 */
export interface SegmentBlobs {
  /** A directory on the file system that takes the writes, for free-space checks. */
  readonly spaceAt?: string;
  /** Makes segment `id` durable with these bytes; readers see all of it or nothing. */
  write(id: number, parts: readonly Buffer[]): Promise<void>;
  /**
   * `length` bytes of segment `id` at `offset` (into `into` when given), fewer only at its
   * end. NOT_FOUND when the segment is not there.
   */
  read(id: number, offset: number, length: number, into?: Buffer): Promise<Buffer>;
  /** Removes a segment; one already gone counts as success. */
  remove(id: number): Promise<void>;
  close(): Promise<void>;
}

/** Whether `err` is the NOT_FOUND a SegmentBlobs read throws for a segment not there. */
export function isSegmentGone(err: unknown): boolean {
  return err instanceof IngotError && err.code === 'NOT_FOUND' && err.details?.segment !== undefined;
}
