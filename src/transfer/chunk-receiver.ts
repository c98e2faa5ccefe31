import { IngotError } from '../core/errors.js';
import type { Digest } from '../core/manifest.js';
import { DATA_BLOCK_BYTES, dataBuffers, PooledCopies } from '../store/buffer-pool.js';
import type { ChunkStore, EncodedChunk, HashedChunkWriter, PutManyResult } from '../store/chunk-store.js';
import type { DeltaChunk } from '../store/frame-codec.js';
import { deltaEncoded, type RefusedDelta, resolveDeltas } from './delta-chunks.js';
import type { MovingChunk, References, WireChunk, WireSize } from './ports.js';
import { frameBytes } from './rate-limit.js';

/**
 * Frames are stored in groups of about a block (buffer-pool.ts): each closed group is
 * verified (on the CPU pool) and written while the next one arrives, with at most
 * GROUPS_IN_FLIGHT not yet written, so the stream is read without waiting on the disk and
 * memory stays bounded (~3 blocks per stream). On a slow link a group also closes after a
 * while. The call returns once every group is durable (the store's fdatasync runs beside
 * the writes): that answer is the acknowledged durable point, and a crash before it loses
 * at most what the store's recovery cannot re-index (§8.5), never a chunk it answered for.
 */
const STORE_GROUP_BYTES = DATA_BLOCK_BYTES;
const STORE_GROUP_MS = 500;
const GROUPS_IN_FLIGHT = 2;

export interface ReceiveTotals {
  received: number;
  stored: number;
  present: number;
  storedBytes: number;
  /** Deltas not stored (delta-chunks.ts), for the sender to send whole. */
  refused: RefusedDelta[];
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
  chunks: AsyncIterable<MovingChunk>,
  count?: ReceiveCounter,
): Promise<ReceiveTotals> {
  const totals: ReceiveTotals = { received: 0, stored: 0, present: 0, storedBytes: 0, refused: [] };
  const rejected: { digest: string; found: string }[] = [];
  /** Groups handed to the store and not yet written (their slot is taken). */
  const unwritten = new Set<Promise<void>>();
  /** Every group's durable point; the call answers once all are reached. */
  const durable: Promise<void>[] = [];
  let failure: unknown;
  let group = new Group();
  const store_ = async (g: Group, onWritten: () => void) => {
    const r = await storeGroup(store, g, onWritten);
    totals.refused.push(...r.refused);
    totals.stored += r.stored;
    totals.present += r.present;
    totals.storedBytes += r.storedBytes;
    rejected.push(...r.rejected);
    count?.('stored', r.stored, r.storedBytes);
    count?.('present', r.present, 0);
    count?.('rejected', r.rejected.length, 0);
  };
  const close = async () => {
    if (group.size === 0) return;
    // Wait for room first, then hand this group over: the next one fills while it is stored.
    while (unwritten.size >= GROUPS_IN_FLIGHT) await Promise.race(unwritten);
    if (failure !== undefined) throw failure;
    const closing = group;
    group = new Group();
    const written = Promise.withResolvers<void>();
    // Its block goes back once written: the store keeps no view of it after that.
    const done = store_(closing, () => {
      closing.release();
      written.resolve();
    }).catch((err: unknown) => {
      failure ??= err;
    });
    const slot = Promise.race([written.promise, done]);
    unwritten.add(slot);
    void slot.finally(() => unwritten.delete(slot));
    durable.push(done);
  };
  try {
    for await (const c of chunks) {
      totals.received++;
      if (!group.fits(weightOf(c))) await close();
      group.add(c);
      if (group.full() || Date.now() - group.started >= STORE_GROUP_MS) await close();
    }
  } finally {
    await close().catch(() => {});
    await Promise.all(durable);
    group.release();
  }
  if (failure !== undefined) throw failure;
  if (rejected.length > 0) {
    const first = rejected[0]?.digest;
    const what =
      rejected.length === 1
        ? `chunk ${first} did not match its digest`
        : `${rejected.length} chunks did not match their digests (the first: ${first})`;
    throw new IngotError('DIGEST_MISMATCH', what, {
      details: { rejected: rejected.slice(0, 10) },
      hint: 'the data changed in transit or at the sender; nothing of those chunks was stored',
    });
  }
  return totals;
}

/**
 * A group's whole chunks are verified by the store; its deltas are decoded and checked
 * first (delta-chunks.ts) and stored as the whole chunks they decode to. Written once both are.
 */
async function storeGroup(
  store: ChunkStore,
  g: Group,
  onWritten: () => void,
): Promise<PutManyResult & { refused: RefusedDelta[] }> {
  if (g.deltas.length === 0) return { ...(await store.putManyEncoded(g.items, { onWritten })), refused: [] };
  const { hashed, refused } = await resolveDeltas(store, g.deltas);
  const both = [
    store.putManyEncoded(g.items),
    // Hashed here from the decoded bytes; a store without the hashed path verifies them again.
    isHashedWriter(store) ? store.putManyHashed(hashed) : store.putManyEncoded(hashed),
  ];
  const [whole, decoded] = (await Promise.all(both)) as [PutManyResult, PutManyResult];
  onWritten();
  return {
    stored: whole.stored + decoded.stored,
    present: whole.present + decoded.present,
    storedBytes: whole.storedBytes + decoded.storedBytes,
    rejected: [...whole.rejected, ...decoded.rejected],
    refused,
  };
}

function isHashedWriter(store: object): store is HashedChunkWriter {
  return typeof (store as Partial<HashedChunkWriter>).putManyHashed === 'function';
}

/**
 * What a chunk weighs in its group: its payload, or for a delta what resolving it holds at
 * once, its references and the whole chunk it decodes to (a group of 4 MiB of 4 KiB deltas
 * would otherwise be a thousand of each, ~256 MiB).
 */
function weightOf(c: MovingChunk): number {
  return c.encoded.encoding === 'delta'
    ? c.rawLength * (1 + c.encoded.references.length)
    : c.encoded.payload.length;
}

/**
 * One store group: each payload is copied into a pooled block as it arrives, so lent
 * payloads (ports.ts) may be reused behind it and the stream's own buffers die young.
 * A payload larger than a block has a buffer of its own (and a group of its own).
 */
class Group {
  readonly items: { digest: Digest; chunk: EncodedChunk }[] = [];
  readonly deltas: { digest: Digest; rawLength: number; encoded: DeltaChunk }[] = [];
  /** When its first chunk arrived. */
  started = 0;
  private readonly copies = new PooledCopies(dataBuffers);
  private used = 0;

  get size(): number {
    return this.items.length + this.deltas.length;
  }

  fits(n: number): boolean {
    return this.size === 0 || this.used + n <= STORE_GROUP_BYTES;
  }

  full(): boolean {
    return this.used >= STORE_GROUP_BYTES;
  }

  add(c: MovingChunk): void {
    if (this.size === 0) this.started = Date.now();
    const { digest, encoded } = c;
    this.used += weightOf(c);
    const payload = this.copies.copy(encoded.payload);
    if (encoded.encoding === 'delta') {
      this.deltas.push({ digest, rawLength: c.rawLength, encoded: { ...encoded, payload } });
    } else {
      this.items.push({ digest, chunk: { encoding: encoded.encoding, payload } });
    }
  }

  release(): void {
    this.copies.release();
  }
}

/**
 * The store's chunks as a stream, in the order asked, as stored (not re-hashed: the
 * receiver verifies), payloads lent (ports.ts); refuses up front when any is absent. Serving
 * never writes (no touch times refreshed), so a busy upstream does not write its index
 * while it serves.
 */
export async function serveChunks(
  store: ChunkStore,
  digests: readonly Digest[],
  onServed?: () => void,
): Promise<AsyncIterable<WireChunk>> {
  const it = store.readStored(digests, { lend: true })[Symbol.asyncIterator]();
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
 * serveChunks for an image transfer: with `references` (one list per digest, or none) each
 * chunk is sent as a delta against its references where that saves enough (delta-chunks.ts).
 */
export async function serveMoving(
  store: ChunkStore,
  digests: readonly Digest[],
  references: References | undefined,
  onServed?: () => void,
): Promise<AsyncIterable<MovingChunk>> {
  const served = await serveChunks(store, digests, onServed);
  return references ? deltaEncoded(store, served, references) : served;
}

/**
 * What serving `digests` (with `references`) would put on the wire, chunk by chunk: the
 * same encoding as the real fetch, sent as numbers (a dry run's exact bytes).
 */
export async function wireSizes(
  store: ChunkStore,
  digests: readonly Digest[],
  references?: References,
): Promise<WireSize[]> {
  const chunks = await serveMoving(store, digests, references);
  const out: WireSize[] = [];
  for await (const c of chunks) out.push({ bytes: frameBytes(c), delta: c.encoded.encoding === 'delta' });
  return out;
}

/**
 * Checks that a sender answers exactly what was asked, in order: a stream that skips,
 * swaps or stops short is refused rather than trusted, and so is a delta against any
 * chunk but the references asked for with it.
 */
export async function* inOrder<C extends MovingChunk>(
  chunks: AsyncIterable<C>,
  asked: readonly Digest[],
  references?: References,
): AsyncGenerator<C> {
  const order = new OrderCheck(asked, references);
  for await (const c of chunks) {
    order.next(c);
    yield c;
  }
  order.end();
}

/** inOrder's check, one chunk at a time, for a stream step that does other work per chunk. */
export class OrderCheck {
  private i = 0;

  constructor(
    private readonly asked: readonly Digest[],
    private readonly references?: References,
  ) {}

  next(c: MovingChunk): void {
    const refs = this.references?.[this.i];
    const want = this.asked[this.i++];
    if (c.digest !== want) {
      throw new IngotError(
        'CORRUPT',
        `the sender sent chunk ${c.digest} where ${want ?? 'nothing'} was asked for`,
      );
    }
    if (c.encoded.encoding === 'delta' && !within(c.encoded.references, refs)) {
      throw new IngotError(
        'CORRUPT',
        `the sender sent chunk ${c.digest} as a delta against ${c.encoded.references.join(', ')}, which was not asked for`,
      );
    }
  }

  end(): void {
    if (this.i !== this.asked.length) {
      throw new IngotError('TRUNCATED', `the sender sent ${this.i} of ${this.asked.length} chunks`);
    }
  }
}

/** A delta may use some of the references asked for its chunk (the sender chooses), no others. */
function within(used: readonly Digest[], asked: readonly Digest[] | undefined): boolean {
  return asked !== undefined && used.every((d) => asked.includes(d));
}
