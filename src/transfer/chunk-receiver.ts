import { IngotError } from '../core/errors.js';
import type { Digest } from '../core/manifest.js';
import type { ChunkStore, EncodedChunk } from '../store/chunk-store.js';
import type { FramedChunk } from '../store/frame-codec.js';
import type { WireChunk } from './ports.js';

/**
 * Frames are stored in groups so one fsync covers many chunks; on a slow link a group is
 * also closed after a while, so a crash loses at most that long of received chunks. A
 * closed group is verified (on the CPU pool) and appended while the next one arrives, with
 * at most GROUPS_IN_FLIGHT being stored at once: the stream is read without waiting on
 * fsync, and memory stays bounded (~2 groups per stream).
 */
const STORE_GROUP_BYTES = 4 * 1024 * 1024;
const STORE_GROUP_MS = 500;
const GROUPS_IN_FLIGHT = 1;

export interface ReceiveTotals {
  received: number;
  stored: number;
  present: number;
  storedBytes: number;
}

/** What a receiver counts, for metrics: stored, already present (a resend) or rejected. */
export type ReceiveCounter = (
  result: 'stored' | 'present' | 'rejected',
  n: number,
  storedBytes: number,
) => void;

/**
 * The receiving end of every chunk stream (ingest uploads, peer pushes, pulls): each chunk
 * is verified against its digest by the store before it is kept, in fsync-sized groups.
 * What arrived whole before a broken stream is kept, so a retry does not send it again;
 * any chunk whose bytes do not match fails the whole call after the good ones are stored.
 */
export async function receiveChunks(
  store: ChunkStore,
  chunks: AsyncIterable<FramedChunk | WireChunk>,
  count?: ReceiveCounter,
): Promise<ReceiveTotals> {
  const totals: ReceiveTotals = { received: 0, stored: 0, present: 0, storedBytes: 0 };
  const rejected: { digest: string; found: string }[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let group: { digest: Digest; chunk: EncodedChunk }[] = [];
  let groupBytes = 0;
  let groupStarted = 0;
  const store_ = async (items: { digest: Digest; chunk: EncodedChunk }[]) => {
    const r = await store.putManyEncoded(items);
    totals.stored += r.stored;
    totals.present += r.present;
    totals.storedBytes += r.storedBytes;
    rejected.push(...r.rejected);
    count?.('stored', r.stored, r.storedBytes);
    count?.('present', r.present, 0);
    count?.('rejected', r.rejected.length, 0);
  };
  const close = async () => {
    if (group.length === 0) return;
    // Wait for room first, then hand this group over: the next one fills while it is stored.
    while (inFlight.size >= GROUPS_IN_FLIGHT) await Promise.race(inFlight);
    if (failure !== undefined) throw failure;
    const p = store_(group).catch((err: unknown) => {
      failure ??= err;
    });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    group = [];
    groupBytes = 0;
  };
  try {
    for await (const c of chunks) {
      totals.received++;
      if (group.length === 0) groupStarted = Date.now();
      group.push({ digest: c.digest, chunk: c.encoded });
      groupBytes += c.encoded.payload.length;
      if (groupBytes >= STORE_GROUP_BYTES || Date.now() - groupStarted >= STORE_GROUP_MS) await close();
    }
  } finally {
    await close().catch(() => {});
    await Promise.all(inFlight);
  }
  if (failure !== undefined) throw failure;
  if (rejected.length > 0) {
    throw new IngotError('DIGEST_MISMATCH', `${rejected.length} chunk(s) did not match their digest`, {
      details: { rejected: rejected.slice(0, 10) },
      hint: 'the data changed in transit or at the sender; nothing of those chunks was stored',
    });
  }
  return totals;
}

/**
 * The store's chunks as a stream, in the order asked, as stored (not re-hashed: the
 * receiver verifies); refuses up front when any is absent. Serving never writes (no touch
 * times refreshed), so a busy upstream does not write its index while it serves.
 */
export async function serveChunks(
  store: ChunkStore,
  digests: readonly Digest[],
  onServed?: () => void,
): Promise<AsyncIterable<WireChunk>> {
  const it = store.readStored(digests)[Symbol.asyncIterator]();
  // The first step runs the presence check, so MISSING_CHUNKS comes before any answer.
  const first = await it.next();
  return (async function* () {
    for (let r = first; !r.done; r = await it.next()) {
      onServed?.();
      yield r.value;
    }
  })();
}

/**
 * Checks that a sender answers exactly what was asked, in order: a stream that skips,
 * swaps or stops short is refused rather than trusted.
 */
export async function* inOrder(
  chunks: AsyncIterable<WireChunk>,
  asked: readonly Digest[],
): AsyncGenerator<WireChunk> {
  let i = 0;
  for await (const c of chunks) {
    const want = asked[i++];
    if (c.digest !== want) {
      throw new IngotError(
        'CORRUPT',
        `the sender sent chunk ${c.digest} where ${want ?? 'nothing'} was asked for`,
      );
    }
    yield c;
  }
  if (i !== asked.length) throw new IngotError('TRUNCATED', `the sender sent ${i} of ${asked.length} chunks`);
}
