import { DigestTable } from '../core/digest-table.js';
import { IngotError } from '../core/errors.js';
import type { ChunkRef, Digest } from '../core/manifest.js';
import { manifestDigest } from '../core/manifest-codec.js';
import { decodeRoot, partsOf, type RootV2, rootFacts, streamChunkList } from '../core/manifest-v2.js';
import type { ImageState } from '../core/states.js';
import { AsyncQueue } from './async-queue.js';
import { inOrder } from './chunk-receiver.js';
import { BaseIndex, ReferencePicker } from './delta-references.js';
import { verifiedFetcher } from './downloader.js';
import {
  MAX_DIGESTS_PER_QUERY,
  type MovingChunk,
  type References,
  type TransferSink,
  type TransferSource,
} from './ports.js';
import { frameBytes, type RateLimiter } from './rate-limit.js';

/**
 * Moving one image between servers: the same code for push (the origin dials out), pull
 * (the receiver dials out) and, later, bundles. The sink checks the offer before any chunk
 * moves; then batches of digests go round the have/want question on several streams at
 * once, only the missing chunks travel (rate-capped), the sink verifies and stores each,
 * and the image is committed when the last one lands. A rerun after any interruption asks
 * again, so chunks already verified and stored are never sent twice. Where the receiver
 * holds a base image the sender has too (the new image's parent, say), a missing chunk
 * travels as a delta against the base's chunk in its place (delta-references.ts).
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
}

export interface ImageOffer extends OfferMeta {
  readonly manifest: Buffer;
}

/** What one chunk would cost on the wire, and whether as a delta. */
export interface WireSize {
  readonly bytes: number;
  readonly delta: boolean;
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
}

const DEFAULT_STREAMS = 2;
/** A data request carries at most this many chunks, or this many raw bytes. */
const FETCH_CHUNKS = 1024;
const FETCH_BYTES = 16 * 2 ** 20;

/**
 * The pipeline: one asker works out what the receiver lacks in large batches, ahead of the
 * data; `streams` lanes each move one slice at a time (one long request: the sender reads
 * its packs in runs, the receiver stores while it reads). At most two slices per lane wait
 * ahead of the lanes, so the receiver's answers are never far ahead of what moved.
 */
async function moveChunks(
  source: TransferSource,
  sink: TransferSink,
  chunks: ChunkSet,
  progress: TransferProgress,
  opts: TransferOptions,
  picker?: ReferencePicker,
): Promise<void> {
  const streams = Math.max(1, opts.streams ?? DEFAULT_STREAMS);
  const slices = new AsyncQueue<Slice>(2 * streams);
  const ask = async () => {
    try {
      for await (const batch of chunks.batches()) {
        opts.signal?.throwIfAborted();
        const wanted = new Set(await sink.missing(batch));
        for (const d of batch) {
          if (wanted.has(d)) continue;
          progress.bytesPresent += chunks.lengthOf(d);
          progress.bytesDone += chunks.lengthOf(d);
        }
        opts.onProgress?.(progress);
        const references = picker?.pick(batch, wanted);
        for (const slice of slicesOf(
          batch.filter((d) => wanted.has(d)),
          references,
          chunks,
        ))
          await slices.put(slice);
      }
      slices.end();
    } catch (err) {
      slices.fail(err);
      throw err;
    }
  };
  const send = async (digests: readonly Digest[], references?: References) => {
    const moving = inOrder(await source.fetch(digests, references), digests, references);
    return sink.put(metered(moving, progress, opts));
  };
  const lane = async () => {
    for (let slice = await slices.take(); slice; slice = await slices.take()) {
      opts.signal?.throwIfAborted();
      const answer = await send(slice.digests, slice.references);
      // A delta the receiver would not store comes again whole (only ones it was sent).
      const asked = new Set(slice.digests);
      const again = (answer.refused ?? []).filter((d) => asked.delete(d));
      if (again.length === 0) continue;
      for (const d of again) progress.bytesDone -= chunks.lengthOf(d);
      await send(again);
    }
  };
  const lanes = Array.from({ length: streams }, () =>
    lane().catch((err: unknown) => {
      slices.fail(err);
      throw err;
    }),
  );
  await Promise.all([ask(), ...lanes]);
}

/** One data request: digests, and per digest the references a delta may be made against. */
interface Slice {
  readonly digests: Digest[];
  readonly references: References | undefined;
}

/** Cuts a batch of wanted digests into data requests of FETCH_CHUNKS / FETCH_BYTES. */
function slicesOf(wanted: readonly Digest[], references: References | undefined, chunks: ChunkSet): Slice[] {
  const out: Slice[] = [];
  let start = 0;
  let bytes = 0;
  const cut = (end: number) => {
    const refs = references?.slice(start, end);
    out.push({ digests: wanted.slice(start, end), references: refs?.some(Boolean) ? refs : undefined });
    start = end;
    bytes = 0;
  };
  for (const [i, d] of wanted.entries()) {
    const n = chunks.lengthOf(d);
    if (i > start && (i - start >= FETCH_CHUNKS || bytes + n > FETCH_BYTES)) cut(i);
    bytes += n;
  }
  if (start < wanted.length) cut(wanted.length);
  return out;
}

export async function transferImage(
  source: ImageSource,
  sink: ImageSink,
  name: string,
  opts: TransferOptions = {},
): Promise<TransferResult> {
  const offer = await source.offer(name);
  const moved = await moveImage(source, sink, offer, opts);
  if (moved.present) {
    return { ...moved.progress, outcome: 'present', digest: offer.digest };
  }
  // The image's chunk sets are out of scope by now: the commit checks the image with a
  // table of its own, and two tables of every chunk would double a large image's memory.
  const outcome = await sink.commit(offer);
  return { ...moved.progress, outcome: outcome === 'present' ? 'present' : 'created', digest: offer.digest };
}

async function moveImage(
  source: ImageSource,
  sink: ImageSink,
  offer: ImageOffer,
  opts: TransferOptions,
): Promise<{ progress: TransferProgress; present: boolean }> {
  const { parts, data } = await offerChunks(source, offer);
  const progress = { ...NO_PROGRESS, bytesTotal: data.bytes, chunksTotal: data.size };
  if ((await sink.prepare(offer)) === 'present') {
    return {
      progress: { ...progress, bytesDone: progress.bytesTotal, bytesPresent: progress.bytesTotal },
      present: true,
    };
  }
  // Parts first: a receiver learns from them which data chunks the image names. They are
  // the manifest, not the image: counted on the wire, not in the image's bytes.
  const partProgress = { ...NO_PROGRESS };
  await moveChunks(source, sink, parts, partProgress, { ...opts, onProgress: undefined });
  progress.wireBytes = partProgress.wireBytes;
  await moveChunks(source, sink, data, progress, opts, await deltaPicker(source, sink, offer));
  return { progress, present: false };
}

/**
 * Deltas need a base both ends hold: the receiver names its candidates, the sender takes
 * the first it has, and the side in this process reads that base's chunk list, once.
 */
async function deltaPicker(
  source: ImageSource,
  sink: ImageSink,
  offer: ImageOffer,
): Promise<ReferencePicker | undefined> {
  const bases = (await sink.deltaBases?.(offer)) ?? [];
  if (bases.length === 0 || !source.deltaBase) return undefined;
  const base = await source.deltaBase(bases);
  const list = sink.baseChunks ?? source.baseChunks;
  if (!base || !list) return undefined;
  return new ReferencePicker(await BaseIndex.of(list(base)));
}

export interface ImagePlan {
  readonly meta: OfferMeta;
  readonly status: SinkStatus;
  readonly bytesTotal: number;
  /** Raw bytes of this image's chunks the receiver lacks. */
  readonly bytesMissing: number;
  readonly chunksMissing: number;
  /** Of those, how many would travel as deltas. */
  readonly chunksDelta: number;
  /** Chunk-stream bytes moving them would take (null: the sender cannot say, an older peer). */
  readonly wireBytes: number | null;
}

export interface TransferPlan {
  readonly images: ImagePlan[];
  readonly bytesMissing: number;
  readonly chunksMissing: number;
  /** Chunks shared between the images counted once; null when any image's is. */
  readonly wireBytes: number | null;
}

/**
 * What moving these images would cost, before anything moves: per image, and in total
 * with chunks shared between them counted once (v2 after v1 costs only its own chunks).
 * The wire bytes are the sender's own count of what it would send, deltas included.
 */
export async function planTransfers(
  source: ImageSource,
  sink: ImageSink,
  names: readonly string[],
): Promise<TransferPlan> {
  const images: ImagePlan[] = [];
  const counted = new DigestTable();
  let wireTotal: number | null = 0;
  for (const name of names) {
    const offer = await source.offer(name);
    const { parts, data } = await offerChunks(source, offer);
    const { manifest: _bytes, ...meta } = offer;
    const status = await sink.prepare(offer);
    const own: { bytes: number; chunks: number; deltas: number; wire: number | null } = {
      bytes: 0,
      chunks: 0,
      deltas: 0,
      wire: 0,
    };
    if (status === 'needed') {
      // A receiver answers for data only once it holds the parts that name it: a dry run
      // moves those (the manifest, a small fraction of the image) before asking.
      await moveChunks(source, sink, parts, { ...NO_PROGRESS }, {});
      const picker = await deltaPicker(source, sink, offer);
      for await (const batch of data.batches()) {
        const wanted = await sink.missing(batch);
        const references = picker?.pick(batch, new Set(wanted));
        const sizes = await source.wireSizes?.(wanted, references);
        if (!sizes) own.wire = null;
        for (const [i, d] of wanted.entries()) {
          own.bytes += data.lengthOf(d);
          own.chunks++;
          if (sizes?.[i]?.delta) own.deltas++;
          const size = sizes?.[i]?.bytes ?? 0;
          if (own.wire !== null) own.wire += size;
          if (counted.add(d, data.lengthOf(d)) && wireTotal !== null) wireTotal += size;
        }
      }
    }
    if (own.wire === null) wireTotal = null;
    images.push({
      meta,
      status,
      bytesTotal: data.bytes,
      bytesMissing: own.bytes,
      chunksMissing: own.chunks,
      chunksDelta: own.deltas,
      wireBytes: own.wire,
    });
  }
  return { images, bytesMissing: counted.bytes, chunksMissing: counted.size, wireBytes: wireTotal };
}

/**
 * Distinct chunks to move, each with its length: `batches` hands them out in the image's
 * order, each once, and is read once.
 */
interface ChunkSet {
  readonly size: number;
  readonly bytes: number;
  lengthOf(d: Digest): number;
  batches(): AsyncIterable<Digest[]>;
}

/**
 * The manifest must be the one the offer names, and say the same name and origin.
 * Returns a version 2 root's parts apart from the data they name: all a transfer needs of
 * the manifest. A root's chunk list is read from the source (its parts are ~0.06% of the
 * image) part by part, checked against the root: once here for the totals, into a
 * DigestTable, and again as the data moves, so no whole list is ever held.
 */
async function offerChunks(
  source: TransferSource,
  offer: ImageOffer,
): Promise<{ parts: ChunkSet; data: ChunkSet }> {
  const digest = manifestDigest(offer.manifest);
  if (digest !== offer.digest) {
    throw new IngotError('DIGEST_MISMATCH', `the manifest of ${offer.name} does not match its digest`, {
      details: { expected: offer.digest, found: digest },
    });
  }
  const decoded = decodeRoot(offer.manifest);
  const facts = rootFacts(decoded);
  if (facts.name !== offer.name || facts.origin !== offer.origin) {
    throw new IngotError(
      'INVALID_MANIFEST',
      `the manifest describes ${facts.origin}/${facts.name}, not ${offer.origin}/${offer.name}`,
    );
  }
  if (decoded.version === 1) {
    const { chunks } = decoded.manifest;
    return { parts: await chunkSetOf(listOf([])), data: await chunkSetOf(listOf(chunks)) };
  }
  const root = decoded.root;
  const parts = partsOf(root).map((p): ChunkRef => ({ kind: 'data', digest: p.digest, length: p.length }));
  return {
    parts: await chunkSetOf(listOf(parts)),
    data: await chunkSetOf(() => chunkListFrom(source, root)),
  };
}

type ChunkList = () => AsyncIterable<readonly ChunkRef[]>;

const listOf = (refs: readonly ChunkRef[]): ChunkList =>
  async function* () {
    yield refs;
  };

function chunkListFrom(source: TransferSource, root: RootV2): AsyncIterable<readonly ChunkRef[]> {
  return streamChunkList(
    root,
    (async function* () {
      for await (const part of verifiedFetcher(source)(root.chunks.parts.map((p) => p.digest)))
        yield part.raw;
    })(),
  );
}

async function chunkSetOf(list: ChunkList): Promise<ChunkSet> {
  const table = new DigestTable();
  for await (const refs of list()) for (const r of refs) if (r.kind === 'data') table.add(r.digest, r.length);
  return setOver(table, list);
}

function setOver(table: DigestTable, list: ChunkList): ChunkSet {
  return {
    size: table.size,
    bytes: table.bytes,
    lengthOf: (d) => table.lengthOf(d) ?? 0,
    async *batches() {
      let batch: Digest[] = [];
      for await (const refs of list()) {
        for (const r of refs) {
          if (r.kind !== 'data' || !table.mark(r.digest)) continue;
          batch.push(r.digest);
          if (batch.length === MAX_DIGESTS_PER_QUERY) {
            yield batch;
            batch = [];
          }
        }
      }
      if (batch.length > 0) yield batch;
    },
  };
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

async function* metered(
  chunks: AsyncIterable<MovingChunk>,
  progress: TransferProgress,
  opts: TransferOptions,
): AsyncGenerator<MovingChunk> {
  for await (const c of chunks) {
    const n = frameBytes(c);
    await opts.limiter?.take(n, opts.signal);
    progress.wireBytes += n;
    progress.bytesDone += c.rawLength;
    progress.chunksSent++;
    if (c.encoded.encoding === 'delta') progress.chunksDelta++;
    opts.onWireBytes?.(n);
    opts.onProgress?.(progress);
    yield c;
  }
}
