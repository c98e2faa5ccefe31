import type { ChunkRef, Digest } from '../core/manifest.js';
import type { ImageState } from '../core/states.js';
import type { References, TransferSink, TransferSource, WireSize } from './ports.js';
import type { RateLimiter } from './rate-limit.js';

/**
 * The two ends of an image transfer (image-transfer.ts) as the pipeline sees them: a source
 * that offers an image and serves its chunks, a sink that judges the offer and stores
 * them, and what a transfer reports as it goes.
 */

/** What a sender says about an image besides its manifest. */
export interface OfferMeta {
  readonly name: string;
  readonly digest: Digest;
  readonly origin: string;
  /** The origin's signature over the manifest digest. */
  readonly signature: string;
  readonly state: ImageState;
  readonly imageType: string;
  readonly baseType: string;
  readonly size: number;
  /**
   * The origin's manifest-signing public key (PEM), as the sender knows it. It counts only
   * in a signed document (a template version, a bundle header) and only for an origin the
   * receiver holds no key of (federation/origin-keys.ts).
   */
  readonly originKey?: string | undefined;
}

export interface ImageOffer extends OfferMeta {
  readonly manifest: Buffer;
}

/** An image both ends may hold, whose chunks deltas are made against. */
export interface DeltaBase {
  readonly name: string;
  readonly digest: Digest;
}

/** The side in this process reads a base's chunk list from its own store. */
export type BaseChunks = (base: DeltaBase) => AsyncIterable<readonly ChunkRef[]>;

export interface ImageSource extends TransferSource {
  offer(name: string): Promise<ImageOffer>;
  /**
   * Of the receiver's bases (best first), the first this side holds too and will make
   * deltas against. Undefined when none is, or when this side sends no deltas.
   */
  deltaBase?(bases: readonly DeltaBase[]): Promise<DeltaBase | undefined>;
  baseChunks?: BaseChunks;
  /**
   * Per chunk, the bytes fetch would put on the wire for it (frame, payload, delta
   * included), worked out at the sender and sent as numbers: what a dry run reports.
   * Undefined: the sender cannot say (a peer older than this question).
   */
  wireSizes?(digests: readonly Digest[], references?: References): Promise<WireSize[] | undefined>;
  /**
   * The transfer ended well here: a peer that served it closes its own record of it. A
   * word only (a peer that does not take it is no failure of the transfer).
   */
  done?(result: TransferResult): Promise<void>;
}

export type SinkStatus = 'present' | 'needed';

export interface ImageSink extends TransferSink {
  /**
   * Refuses an offer it would not accept (signature, origin, name) before anything moves;
   * a peer also learns from the manifest which chunks the transfer may bring.
   */
  prepare(offer: ImageOffer): Promise<SinkStatus>;
  commit(offer: ImageOffer): Promise<SinkStatus>;
  /**
   * After prepare: images held here whole that deltas of the offer's chunks may be made
   * against, best first. Absent or empty: this side takes whole chunks only.
   */
  deltaBases?(offer: ImageOffer): Promise<readonly DeltaBase[]>;
  baseChunks?: BaseChunks;
  /**
   * The manifest's parts are stored: the sink may start checking the manifest while the
   * data moves (its commit still decides). Absent: the commit does it all.
   */
  checkAhead?(offer: ImageOffer): void;
  /**
   * Refuses (DISK_FULL), before the data moves, a transfer whose missing chunks, `bytes`
   * raw, will not fit. Absent: the sink cannot tell (a peer refuses at its own store).
   */
  room?(bytes: number): Promise<void>;
}

export interface TransferProgress {
  /** Raw bytes of the image's distinct chunks. */
  bytesTotal: number;
  /** Of those, settled: already held by the receiver or sent and stored. */
  bytesDone: number;
  /** Raw bytes the receiver already held. */
  bytesPresent: number;
  /** Chunk-stream bytes that crossed the link (compressed payloads and frame headers). */
  wireBytes: number;
  chunksTotal: number;
  chunksSent: number;
  /** Of the chunks sent, those that travelled as deltas. */
  chunksDelta: number;
}

export interface TransferOptions {
  /** Batches in flight at once. */
  readonly streams?: number;
  readonly limiter?: RateLimiter | undefined;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: Readonly<TransferProgress>) => void;
  /** Where the sender's bytes are counted: the side that dials out meters the link. */
  readonly onWireBytes?: (n: number) => void;
}

export interface TransferResult extends TransferProgress {
  readonly outcome: 'created' | 'present';
  readonly digest: Digest;
  /** Where the time went, in seconds: what a slow transfer is asked first. */
  readonly phases: TransferPhases;
}

/**
 * Wall-clock seconds of a transfer's steps: the offer (and the receiver's check of it),
 * the manifest's parts, the plan (the have/want pass, room, delta bases), the data, and
 * the commit. They add up to the whole, less the sender's closing call.
 */
export interface TransferPhases {
  offer: number;
  parts: number;
  plan: number;
  data: number;
  commit: number;
}

export const NO_PROGRESS: Readonly<TransferProgress> = {
  bytesTotal: 0,
  bytesDone: 0,
  bytesPresent: 0,
  wireBytes: 0,
  chunksTotal: 0,
  chunksSent: 0,
  chunksDelta: 0,
};
