import { IngotError } from '../core/errors.js';
import type { Digest } from '../core/manifest.js';

/**
 * The chunk store port. Layered like a storage backend: a reader, a writer on top, and the
 * prunable store gc needs. Adapters (local file system now, shared storage or S3 later) and
 * wrappers implement the same interfaces and run the same test suite.
 */

/** How a chunk's bytes are held on disk and on the wire. */
export type ChunkEncoding = 'raw' | 'zstd';

/** A chunk in its stored form: the encoding and the encoded bytes. */
export interface EncodedChunk {
  readonly encoding: ChunkEncoding;
  readonly payload: Buffer;
}

/** A chunk as stored, with the length it decodes to: what goes on the wire as it is. */
export interface StoredChunk {
  readonly digest: Digest;
  readonly encoded: EncodedChunk;
  readonly rawLength: number;
}

export interface ChunkReader {
  has(digest: Digest): Promise<boolean>;
  /**
   * The stored forms of `digests`, in that order, for sending on: the store checks its own
   * structure (a pack record's CRC and the digest it holds) but does not decode or re-hash,
   * since every receiver verifies what it stores and verify and scrub re-check data at rest.
   * MISSING_CHUNKS before anything is read when any is absent.
   *
   * With `lend`, a chunk's payload is lent: its bytes may be reused once the next chunk is
   * asked for, so a consumer copies what it keeps (sockets and receivers do; see ports.ts).
   */
  readStored(digests: readonly Digest[], opts?: { readonly lend?: boolean }): AsyncIterable<StoredChunk>;
  /** The stored form, after decoding and re-hashing it: throws CORRUPT on a mismatch. */
  getEncoded(digest: Digest): Promise<EncodedChunk & { readonly raw: Buffer }>;
  /** The plain bytes, verified. Throws NOT_FOUND when absent, CORRUPT when damaged. */
  get(digest: Digest): Promise<Buffer>;
}

export interface ChunkWriter extends ChunkReader {
  /**
   * Decodes, hashes and compares with `digest` (DIGEST_MISMATCH otherwise), then writes
   * atomically (temp file, fsync, rename). An existing chunk counts as success.
   * Returns the bytes newly written (0 when it was already present).
   */
  putEncoded(digest: Digest, chunk: EncodedChunk): Promise<number>;
  /** Same for plain bytes; the store picks the encoding (zstd where it pays). */
  put(digest: Digest, raw: Buffer): Promise<number>;
  /**
   * A batch of encoded chunks, made durable together (one fsync for the batch, which is
   * what makes small chunks cheap). Every chunk that verifies is stored even when others
   * in the batch do not; the ones that do not are listed in `rejected` and nothing of
   * them is written. It resolves once the chunks are durable and indexed; `onWritten` is
   * called earlier, once the store no longer needs the payload buffers (so a receiver can
   * reuse them and read on while the disk catches up).
   */
  putManyEncoded(
    items: readonly { digest: Digest; chunk: EncodedChunk }[],
    opts?: PutOptions,
  ): Promise<PutManyResult>;
  /**
   * Of `digests`, the ones not present. Present ones are touched so a concurrent gc
   * (which spares recently touched chunks) keeps them for the ingest that asked.
   */
  missing(digests: readonly Digest[]): Promise<Digest[]>;
}

/** A chunk whose digest this process computed from its plain bytes, and its stored form. */
export interface HashedChunk {
  readonly digest: Digest;
  readonly chunk: EncodedChunk;
  readonly rawLength: number;
}

/**
 * For the server's own ingest of a local path only: the digests were computed here, from
 * bytes this process read and then encoded itself, so decoding and re-hashing them in
 * putManyEncoded would hash every byte a second time and halve the ingest rate. Never for
 * bytes that arrived from a client or a peer: their digests are claims, and go through
 * putManyEncoded. Durability and the batch semantics are putManyEncoded's.
 */
export interface HashedChunkWriter {
  putManyHashed(items: readonly HashedChunk[], opts?: PutOptions): Promise<PutManyResult>;
}

export interface PutOptions {
  readonly onWritten?: () => void;
}

export interface PutManyResult {
  /** Chunks newly written. */
  readonly stored: number;
  /** Chunks that were already present (they are touched, like `missing` does). */
  readonly present: number;
  /** Bytes newly written to disk (encoded size). */
  readonly storedBytes: number;
  readonly rejected: readonly { digest: Digest; found: string }[];
}

export interface StoredChunkInfo {
  readonly digest: Digest;
  readonly storedBytes: number;
  readonly mtimeMs: number;
  /** Decoded length, where the store knows it without reading the chunk. */
  readonly rawLength?: number;
}

export interface ChunkTally {
  readonly matched: number;
  readonly storedBytes: number;
}

export interface ChunkStore extends ChunkWriter {
  /** The directory whose file system takes the store's writes, for free-space checks. */
  readonly spaceAt?: string;
  list(): AsyncIterable<StoredChunkInfo>;
  /** Size on disk of one chunk, or undefined when absent. */
  stat(digest: Digest): Promise<StoredChunkInfo | undefined>;
  /** `stat` of many at once, in their order: a pack store answers a batch with one query. */
  statMany(digests: readonly Digest[]): Promise<(StoredChunkInfo | undefined)[]>;
  /**
   * Of these distinct chunks, how many are stored with the raw length given beside each
   * (a store that cannot tell a chunk's length without reading it counts every present one),
   * and the bytes those take; present ones are touched, as by `missing`. A whole image's
   * check in one answer per batch, without an object per chunk.
   */
  tally(digests: readonly Digest[], rawLengths: readonly number[]): Promise<ChunkTally>;
  /**
   * Removes a chunk. With `ifTouchedBefore`, only when it was last touched before that time
   * (ms since the epoch), checked atomically with the delete: gc's guard against an ingest
   * that touches the chunk between gc's look and its delete.
   */
  delete(digest: Digest, opts?: { ifTouchedBefore?: number }): Promise<void>;
}

/** What gc's compaction did, in the words it reports (a local pack counts as a segment). */
export interface Compaction {
  /** Segments whose live chunks were copied into new ones. */
  readonly segmentsRewritten: number;
  /** Bytes written by those copies. */
  readonly bytesRewritten: number;
  /** Size of the segments removed: the store shrank by bytesReclaimed - bytesRewritten. */
  readonly bytesReclaimed: number;
}

export interface CompactOptions {
  /** Rewrite segments whose live bytes are under this share of their size (default 0.5). */
  readonly maxLiveRatio?: number;
  /** gc's grace period: a segment a rewrite emptied is kept this long for readers (shared store). */
  readonly graceMs?: number;
}

/** A store that can reclaim the space of deleted chunks (by rewriting sparse packs or segments). */
export interface CompactableStore {
  compact(opts?: CompactOptions): Promise<Compaction>;
}

export function isCompactable(store: object): store is CompactableStore {
  return typeof (store as Partial<CompactableStore>).compact === 'function';
}

/** What readStored throws when asked for chunks the store does not hold. */
export function missingChunks(absent: readonly Digest[]): IngotError {
  return new IngotError('MISSING_CHUNKS', `${absent.length} of the chunks asked for are not stored here`, {
    details: { missing: absent.slice(0, 10) },
  });
}
