import { IngotError } from '../core/errors.js';
import type { Digest } from '../core/manifest.js';
import type { ChunkStore, EncodedChunk } from '../store/chunk-store.js';
import type { FramedChunk } from '../store/frame-codec.js';
import type { WireChunk } from './ports.js';

/**
 * Frames are stored in groups so one fsync covers many chunks; on a slow link a group is
 * also closed after a while, so a crash loses at most that long of received chunks.
 */
const STORE_GROUP_BYTES = 8 * 1024 * 1024;
const STORE_GROUP_MS = 500;

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
  let group: { digest: Digest; chunk: EncodedChunk }[] = [];
  let groupBytes = 0;
  let groupStarted = 0;
  const flush = async () => {
    if (group.length === 0) return;
    const r = await store.putManyEncoded(group);
    totals.stored += r.stored;
    totals.present += r.present;
    totals.storedBytes += r.storedBytes;
    rejected.push(...r.rejected);
    count?.('stored', r.stored, r.storedBytes);
    count?.('present', r.present, 0);
    count?.('rejected', r.rejected.length, 0);
    group = [];
    groupBytes = 0;
  };
  try {
    for await (const c of chunks) {
      totals.received++;
      if (group.length === 0) groupStarted = Date.now();
      group.push({ digest: c.digest, chunk: c.encoded });
      groupBytes += c.encoded.payload.length;
      if (groupBytes >= STORE_GROUP_BYTES || Date.now() - groupStarted >= STORE_GROUP_MS) await flush();
    }
  } finally {
    await flush();
  }
  if (rejected.length > 0) {
    throw new IngotError('DIGEST_MISMATCH', `${rejected.length} chunk(s) did not match their digest`, {
      details: { rejected: rejected.slice(0, 10) },
      hint: 'the data changed in transit or at the sender; nothing of those chunks was stored',
    });
  }
  return totals;
}

/** The store's chunks as a stream, in the order asked; refuses up front when any is absent. */
export async function serveChunks(
  store: ChunkStore,
  digests: readonly Digest[],
  onServed?: () => void,
): Promise<AsyncIterable<WireChunk>> {
  // stat, not missing(): serving must not write (missing() refreshes touch times for gc).
  const absent: Digest[] = [];
  for (const d of digests) if (!(await store.stat(d))) absent.push(d);
  if (absent.length > 0) {
    throw new IngotError('MISSING_CHUNKS', `${absent.length} of the chunks asked for are not stored here`, {
      details: { missing: absent.slice(0, 10) },
    });
  }
  return (async function* () {
    for (const digest of digests) {
      const c = await store.getEncoded(digest);
      onServed?.();
      yield { digest, encoded: { encoding: c.encoding, payload: c.payload }, rawLength: c.raw.length };
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
