import type { Digest } from '../core/manifest.js';
import type { EncodedChunk } from '../store/chunk-store.js';
import type { FramedChunk, FrameEncoding } from '../store/frame-codec.js';

/** One chunk on the wire: its name, its encoded bytes and the length they decode to. */
export interface WireChunk {
  readonly digest: Digest;
  readonly encoded: EncodedChunk;
  readonly rawLength: number;
}

/** The receiving end of the have/want protocol: says what it lacks, takes what it lacked. */
export interface ChunkSink {
  missing(digests: readonly Digest[]): Promise<Digest[]>;
  put(chunks: AsyncIterable<WireChunk>): Promise<{ stored: number; storedBytes: number }>;
}

/**
 * The sending end: streams the named chunks, in the order asked. Payloads may be lent: a
 * chunk's bytes are valid until the next chunk is asked for, so whatever keeps one (a
 * receiver's store group, a socket's write buffer) copies it first. Sources then read into
 * reused buffers instead of a fresh one per read (see store/buffer-pool.ts).
 */
export interface ChunkSource {
  fetch(digests: readonly Digest[]): Promise<AsyncIterable<WireChunk>>;
}

/** A chunk moving in an image transfer: whole, or a delta against chunks the receiver holds. */
export type MovingChunk = FramedChunk<FrameEncoding>;

/** Per chunk of a data request, the chunks a delta of it may be made against (undefined: whole). */
export type References = readonly (readonly Digest[] | undefined)[];

/** What one chunk would cost on the wire, and whether as a delta. */
export interface WireSize {
  readonly bytes: number;
  readonly delta: boolean;
}

/** What a receiver answers for a stream of chunks. */
export interface PutAnswer {
  readonly stored: number;
  readonly storedBytes: number;
  /** Deltas it would not store (delta-chunks.ts): the sender sends these whole. */
  readonly refused?: readonly Digest[];
}

/** An image transfer's receiving end: a ChunkSink that also takes deltas. */
export interface TransferSink {
  missing(digests: readonly Digest[]): Promise<Digest[]>;
  put(chunks: AsyncIterable<MovingChunk>): Promise<PutAnswer>;
}

/**
 * An image transfer's sending end: a ChunkSource that, given a reference per chunk, may
 * send a chunk as a delta against it. Without references every chunk comes whole.
 */
export interface TransferSource {
  fetch(digests: readonly Digest[], references?: References): Promise<AsyncIterable<MovingChunk>>;
}

export const CHUNK_STREAM_TYPE = 'application/vnd.ingot.chunks';
/** Digests per have/want question and per upload batch. */
export const BATCH_CHUNKS = 128;
export const MAX_DIGESTS_PER_QUERY = 4096;
