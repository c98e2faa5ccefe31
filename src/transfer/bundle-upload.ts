import type { FramedChunk } from '../store/frame-codec.js';
import { BATCH_CHUNKS, type ChunkSink } from './ports.js';

export interface BundleUploadTotals {
  chunks: number;
  stored: number;
  storedBytes: number;
}

/**
 * Have/want over a bundle's frames: in batches, the sink says which chunks it lacks and
 * takes only those. The CLI's sink is the server's chunk API; a server importing a bundle
 * on its own host uses its chunk store. Either way the sink verifies every chunk, since a
 * bundle's digests are claims made elsewhere.
 */
export async function uploadBundleChunks(
  sink: ChunkSink,
  chunks: AsyncIterable<FramedChunk>,
  onChunk?: (c: FramedChunk) => void,
): Promise<BundleUploadTotals> {
  const totals: BundleUploadTotals = { chunks: 0, stored: 0, storedBytes: 0 };
  let batch: FramedChunk[] = [];
  const flush = async () => {
    const missing = new Set(await sink.missing(batch.map((c) => c.digest)));
    const wanted = batch.filter((c) => missing.has(c.digest));
    if (wanted.length > 0) {
      const r = await sink.put(list(wanted));
      totals.stored += r.stored;
      totals.storedBytes += r.storedBytes;
    }
    for (const c of batch) onChunk?.(c);
    batch = [];
  };
  for await (const c of chunks) {
    totals.chunks++;
    batch.push(c);
    if (batch.length >= BATCH_CHUNKS) await flush();
  }
  if (batch.length > 0) await flush();
  return totals;
}

async function* list<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}
