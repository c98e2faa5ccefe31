import type { ChunkRef, Digest } from '../core/manifest.js';
import { encodeChunk } from '../store/compression.js';
import { InFlight } from './in-flight.js';
import { BATCH_CHUNKS, type ChunkSink, type WireChunk } from './ports.js';

/**
 * The sending half of ingest: chunks stream in from the local chunker, are grouped in
 * batches, the receiver says which it lacks, and only those are compressed and sent.
 * A few batches are in flight so chunking, compression and the network overlap, and
 * no more, so memory stays flat however large the image.
 */
export interface UploadStats {
  chunks: number;
  uniqueChunks: number;
  sentChunks: number;
  sentRawBytes: number;
  storedBytes: number;
  knownBytes: number;
  holeBytes: number;
}

export interface PendingChunk {
  readonly ref: ChunkRef;
  readonly raw?: Buffer;
  /** Called once the upload is done with `raw` (sent, known or a duplicate). */
  readonly release?: () => void;
}

type Item = { digest: Digest; raw: Buffer; release?: (() => void) | undefined };

/** Payload bytes done, and how: found already stored (`knownBytes`), sent, or neither (a hole). */
export type OnBytes = (n: number, how?: 'stored' | 'sent') => void;

export async function uploadChunks(
  sink: ChunkSink,
  chunks: AsyncIterable<PendingChunk>,
  opts: { inFlight?: number; batchChunks?: number; onBytes?: OnBytes } = {},
): Promise<{ refs: ChunkRef[]; stats: UploadStats }> {
  const refs: ChunkRef[] = [];
  const seen = new Set<string>();
  const stats: UploadStats = {
    chunks: 0,
    uniqueChunks: 0,
    sentChunks: 0,
    sentRawBytes: 0,
    storedBytes: 0,
    knownBytes: 0,
    holeBytes: 0,
  };
  const inFlight = new InFlight(opts.inFlight ?? 3);
  const batchChunks = opts.batchChunks ?? BATCH_CHUNKS;
  let batch: Item[] = [];
  const launch = (items: Item[]) =>
    inFlight.launch(async () => {
      await sendBatch(sink, items, stats, opts.onBytes);
      for (const i of items) i.release?.();
    });

  for await (const c of chunks) {
    refs.push(c.ref);
    stats.chunks++;
    if (c.ref.kind === 'hole') {
      stats.holeBytes += c.ref.length;
      opts.onBytes?.(c.ref.length);
      continue;
    }
    if (seen.has(c.ref.digest)) {
      c.release?.();
      stats.knownBytes += c.ref.length;
      opts.onBytes?.(c.ref.length, 'stored');
      continue;
    }
    seen.add(c.ref.digest);
    stats.uniqueChunks++;
    if (!c.raw) throw new Error(`chunk ${c.ref.digest} has no bytes`);
    batch.push({ digest: c.ref.digest, raw: c.raw, release: c.release });
    if (batch.length >= batchChunks) {
      await launch(batch);
      batch = [];
    }
  }
  if (batch.length) await launch(batch);
  await inFlight.drain();
  return { refs, stats };
}

async function sendBatch(
  sink: ChunkSink,
  items: Item[],
  stats: UploadStats,
  onBytes?: OnBytes,
): Promise<void> {
  const missing = new Set(await sink.missing(items.map((i) => i.digest)));
  const wanted = items.filter((i) => missing.has(i.digest));
  for (const i of items) {
    if (!missing.has(i.digest)) {
      stats.knownBytes += i.raw.length;
      onBytes?.(i.raw.length, 'stored');
    }
  }
  if (wanted.length === 0) return;
  const encoded: WireChunk[] = await Promise.all(
    wanted.map(async (i) => ({
      digest: i.digest,
      encoded: await encodeChunk(i.raw),
      rawLength: i.raw.length,
    })),
  );
  const result = await sink.put(iterate(encoded));
  stats.sentChunks += wanted.length;
  stats.storedBytes += result.storedBytes;
  for (const i of wanted) {
    stats.sentRawBytes += i.raw.length;
    onBytes?.(i.raw.length, 'sent');
  }
}

async function* iterate<T>(items: readonly T[]): AsyncIterable<T> {
  yield* items;
}
