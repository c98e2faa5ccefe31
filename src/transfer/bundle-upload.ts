import { IngotError } from '../core/errors.js';
import { dataBuffers, PooledCopies } from '../store/buffer-pool.js';
import { InFlight } from './in-flight.js';
import { BATCH_CHUNKS, type MovingChunk, type TransferSink } from './ports.js';

export interface BundleUploadTotals {
  chunks: number;
  stored: number;
  storedBytes: number;
}

/** Batches in flight: while one is stored (or sent) and made durable, the next is read. */
const BATCHES_IN_FLIGHT = 3;

/**
 * Have/want over a bundle's frames: in batches, the sink says which chunks it lacks and
 * takes only those. The CLI's sink is the server's chunk API; a server importing a bundle
 * on its own host uses its chunk store. Either way the sink verifies every chunk, since a
 * bundle's digests are claims made elsewhere. The frames' payloads may be lent (ports.ts):
 * a batch keeps copies in pooled blocks, given back once the sink has it. A delta the sink
 * cannot use (its references are not there: the bundle was made for another base) has no
 * whole chunk in the bundle to fall back on, and fails the import.
 */
export async function uploadBundleChunks(
  sink: TransferSink,
  chunks: AsyncIterable<MovingChunk>,
  onChunk?: (c: MovingChunk, sent: boolean) => void,
): Promise<BundleUploadTotals> {
  const totals: BundleUploadTotals = { chunks: 0, stored: 0, storedBytes: 0 };
  const inFlight = new InFlight(BATCHES_IN_FLIGHT);
  const send = async (batch: MovingChunk[], copies: PooledCopies) => {
    try {
      const missing = new Set(await sink.missing(batch.map((c) => c.digest)));
      const wanted = batch.filter((c) => missing.has(c.digest));
      if (wanted.length > 0) {
        const r = await sink.put(list(wanted));
        totals.stored += r.stored;
        totals.storedBytes += r.storedBytes;
        if (r.refused && r.refused.length > 0) throw unusableDeltas(r.refused);
      }
      for (const c of batch) onChunk?.(c, missing.has(c.digest));
    } finally {
      copies.release();
    }
  };
  let batch: MovingChunk[] = [];
  let copies = new PooledCopies(dataBuffers);
  try {
    for await (const c of chunks) {
      totals.chunks++;
      const payload = copies.copy(c.encoded.payload);
      batch.push({ ...c, encoded: { ...c.encoded, payload } });
      if (batch.length >= BATCH_CHUNKS) {
        const [b, k] = [batch, copies];
        batch = [];
        copies = new PooledCopies(dataBuffers);
        await inFlight.launch(() => send(b, k));
      }
    }
    if (batch.length > 0) await inFlight.launch(() => send(batch, copies));
    else copies.release();
    await inFlight.drain();
  } catch (err) {
    // The batches still running give their blocks back as they end.
    await inFlight.drain().catch(() => {});
    throw err;
  }
  return totals;
}

function unusableDeltas(refused: readonly string[]): IngotError {
  return new IngotError(
    'MISSING_CHUNKS',
    `${refused.length} chunk(s) of the bundle are deltas against chunks this server does not hold`,
    {
      details: { refused: refused.slice(0, 10) },
      hint: 'the bundle was made against a base this server does not hold; import that base first, or make a full bundle',
    },
  );
}

async function* list<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}
