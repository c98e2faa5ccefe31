import { IngotError } from '../core/errors.js';
import type { Digest } from '../core/manifest.js';
import type { WriteItem } from './chunk-puts.js';
import type { StoredChunk } from './chunk-store.js';
import { PACK_HEADER_SIZE, recordSize } from './pack-file.js';
import type { ChunkRow } from './pack-index.js';
import { verifyMany } from './pack-verify.js';
import type { SegmentIndex } from './segment-index.js';

/**
 * Rewriting partly dead segments of a shared store (gc, on the leader, after its sweep):
 * segments whose live bytes fell under a share of their size, oldest first, up to a byte
 * budget per run. Their live chunks are read (the record checks of every read), hashed on
 * the CPU pool (a damaged one is not copied: its row stays, and reads go on saying CORRUPT),
 * and written as they are stored into new segments of about a transfer batch each, through
 * the store's own write path. Each batch's rows then move in one statement, each only if it
 * still points at the segment it was read from, so a delete or another rewrite (a second
 * leader mid-run) that got there first wins and the copy is dead bytes. The emptied
 * segments are marked retired; compact() removes them after gc's grace period, and a
 * reader that looked one up just before it went reads the index again.
 */

/** Live chunks are gathered into new segments of about this size. */
const TARGET_SEGMENT_BYTES = 4 * 2 ** 20;
/** Candidates looked at per run; the byte budget usually stops a run first. */
const CANDIDATES = 1000;

export interface RewriteOptions {
  readonly maxLiveRatio: number;
  /** A run starts no further segment once it has written this many bytes. */
  readonly maxBytes: number;
}

export interface RewriteDeps {
  readonly index: SegmentIndex;
  /** The chunks at these rows, read and record-checked as any read (NOT_FOUND when a segment is gone). */
  readLocated(located: readonly { digest: Digest; row: ChunkRow }[]): AsyncIterable<StoredChunk>;
  /** Writes a new segment of `items` durably, and returns its id and the rows into it. */
  writeSegment(items: readonly WriteItem[]): Promise<{ id: number; rows: ChunkRow[] }>;
  dropSegment(id: number): Promise<void>;
  now(): number;
}

export interface RewriteResult {
  segmentsRewritten: number;
  bytesRewritten: number;
}

interface Pending {
  items: WriteItem[];
  from: number[];
  bytes: number;
}

export async function rewriteSparse(deps: RewriteDeps, opts: RewriteOptions): Promise<RewriteResult> {
  const result: RewriteResult = { segmentsRewritten: 0, bytesRewritten: 0 };
  const pending: Pending = { items: [], from: [], bytes: 0 };
  const emptied: number[] = [];
  for (const seg of await deps.index.sparseSegments(opts.maxLiveRatio, CANDIDATES)) {
    if (result.bytesRewritten + pending.bytes >= opts.maxBytes) break;
    const copied = await liveItems(deps, seg.id);
    if (!copied) continue;
    for (const it of copied) {
      pending.items.push(it);
      pending.from.push(seg.id);
      pending.bytes += recordSize(it.chunk.payload.length);
    }
    emptied.push(seg.id);
    if (pending.bytes >= TARGET_SEGMENT_BYTES) await flush(deps, pending, result);
  }
  if (pending.items.length > 0) await flush(deps, pending, result);
  await deps.index.retire(emptied, deps.now());
  return result;
}

/** The good live chunks of segment `id`, or undefined when it went meanwhile (another rewrite). */
async function liveItems(deps: RewriteDeps, id: number): Promise<WriteItem[] | undefined> {
  const rows = await deps.index.rowsIn(id);
  const located = rows.map((row) => ({ digest: row.digest.toString('hex') as Digest, row }));
  const read: StoredChunk[] = [];
  try {
    for await (const c of deps.readLocated(located)) read.push(c);
  } catch (err) {
    if (err instanceof IngotError && (err.code === 'NOT_FOUND' || err.code === 'CORRUPT')) return undefined;
    throw err;
  }
  const verdicts = await verifyMany(
    read.map((c) => ({ digest: c.digest, chunk: c.encoded, rawLength: c.rawLength })),
  );
  return read
    .filter((_, i) => verdicts[i]?.ok)
    .map((c) => ({ digest: c.digest, chunk: c.encoded, rawLength: c.rawLength }));
}

/**
 * Writes the pending copies as one segment and moves their rows; counts the bytes written
 * and the segments some of whose rows moved.
 */
async function flush(deps: RewriteDeps, pending: Pending, result: RewriteResult): Promise<void> {
  const { id, rows } = await deps.writeSegment(pending.items);
  const moved = await deps.index.move(
    id,
    rows.map((row, i) => ({ row, from: pending.from[i] as number })),
  );
  // Every row went elsewhere first: nothing points here, and nothing ever will.
  if (moved.size === 0) await deps.dropSegment(id);
  else {
    result.bytesRewritten += PACK_HEADER_SIZE + pending.bytes;
    const from = pending.items.flatMap((it, i) => (moved.has(it.digest) ? [pending.from[i]] : []));
    result.segmentsRewritten += new Set(from).size;
  }
  pending.items = [];
  pending.from = [];
  pending.bytes = 0;
}
