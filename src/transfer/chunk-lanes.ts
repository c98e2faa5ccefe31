import type { DigestTable } from '../core/digest-table.js';
import { IngotError } from '../core/errors.js';
import type { Digest } from '../core/manifest.js';
import { AsyncQueue } from './async-queue.js';
import { OrderCheck } from './chunk-receiver.js';
import type { ChunkSet } from './chunk-sets.js';
import { BaseIndex, ReferencePicker } from './delta-references.js';
import type { ImageOffer, ImageSink, ImageSource, TransferOptions, TransferProgress } from './image-sides.js';
import type { MovingChunk, References, TransferSink, TransferSource } from './ports.js';
import { frameBytes } from './rate-limit.js';

const DEFAULT_STREAMS = 2;
/** A data request carries at most this many chunks, or this many raw bytes. */
const FETCH_CHUNKS = 1024;
const FETCH_BYTES = 16 * 2 ** 20;

/**
 * The pipeline: one asker works out what the receiver lacks in large batches, ahead of the
 * data; `streams` lanes each move one slice at a time (one long request: the sender reads
 * its packs in runs, the receiver stores while it reads). At most two slices per lane wait
 * ahead of the lanes, so the receiver's answers are never far ahead of what moved. (A lane
 * asking for its next slice while the last one was made durable measured no faster, into
 * a shared directory or S3: docs/benchmarks.md.)
 */
export async function moveChunks(
  source: TransferSource,
  sink: TransferSink,
  chunks: ChunkSet,
  progress: TransferProgress,
  opts: TransferOptions,
  { picker, lacking, onRequested }: MoveAids = {},
): Promise<void> {
  const missing = lacking
    ? async (batch: readonly Digest[]) => batch.filter((d) => lacking.has(d))
    : (batch: readonly Digest[]) => sink.missing(batch);
  const streams = Math.max(1, opts.streams ?? DEFAULT_STREAMS);
  const slices = new AsyncQueue<Slice>(2 * streams);
  const ask = async () => {
    try {
      for await (const batch of chunks.batches()) {
        opts.signal?.throwIfAborted();
        const wanted = new Set(await missing(batch));
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
  let requested = onRequested;
  const send = async (digests: readonly Digest[], references?: References) => {
    const fetching = source.fetch(digests, references);
    // Once the request is on its way (the next turn), the caller may use the wait.
    if (requested) setImmediate(requested);
    requested = undefined;
    const moving = await fetching;
    try {
      return await sink.put(metered(moving, new OrderCheck(digests, references), progress, opts));
    } catch (err) {
      // Chunks the receiver refused as damaged were sent but are not settled.
      for (const r of rejectedBy(err)) progress.bytesDone -= chunks.lengthOf(r);
      opts.onProgress?.(progress);
      throw err;
    }
  };
  /** A slice moved and acknowledged, with any delta the receiver would not store sent whole. */
  const settle = async (slice: Slice) => {
    const answer = await send(slice.digests, slice.references);
    const asked = new Set(slice.digests);
    const again = (answer.refused ?? []).filter((d) => asked.delete(d));
    if (again.length === 0) return;
    for (const d of again) progress.bytesDone -= chunks.lengthOf(d);
    await send(again);
  };
  const lane = async () => {
    for (let slice = await slices.take(); slice; slice = await slices.take()) {
      opts.signal?.throwIfAborted();
      await settle(slice);
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

/** What a data move may be given besides its chunks. */
export interface MoveAids {
  /** Picks the references deltas are made against. */
  readonly picker?: ReferencePicker | undefined;
  /** The receiver's answers from a have/want pass just made: the asker asks no more. */
  readonly lacking?: DigestTable | undefined;
  /** Called once the first data request is on its way. */
  readonly onRequested?: (() => void) | undefined;
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

/**
 * Deltas need a base both ends hold: the receiver names its candidates, the sender takes
 * the first it has, and the side in this process reads that base's chunk list, once.
 */
export async function deltaPicker(
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

/** The order check, the rate cap and the counting in one step per chunk (a step is a promise turn). */
async function* metered(
  chunks: AsyncIterable<MovingChunk>,
  order: OrderCheck,
  progress: TransferProgress,
  opts: TransferOptions,
): AsyncGenerator<MovingChunk> {
  for await (const c of chunks) {
    order.next(c);
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
  order.end();
}

/** The digests a DIGEST_MISMATCH refusal names (docs: chunk-receiver.ts). */
function rejectedBy(err: unknown): Digest[] {
  if (!(err instanceof IngotError) || err.code !== 'DIGEST_MISMATCH') return [];
  const rejected = err.details?.rejected;
  return Array.isArray(rejected) ? rejected.map((r: { digest: Digest }) => r.digest) : [];
}
