import { constants, type Stats } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { IngotError } from '../core/errors.js';
import {
  type ChunkRef,
  type Digest,
  type Entry,
  type ManifestDraft,
  type Payload,
  streamLength,
} from '../core/manifest.js';
import { type BlockLease, type LeasedBytes, readBlocks } from './block-reads.js';
import { Chunker, type ChunkerParams, DEFAULT_CHUNKER_PARAMS } from './chunker.js';
import { type CpuPool, cpuPool } from './cpu-pool.js';
import { atSegmentEnds, segmentEnds } from './tree-cuts.js';
import { scanTree, treeContent } from './tree-scan.js';

/**
 * The client-side ingest pipeline: local bytes -> content-defined chunks -> refs.
 * All-zero chunks become holes (no digest, nothing to store or send, deployed sparse).
 * Memory stays flat: the chunker holds at most one chunk in progress, and each yielded
 * chunk is the caller's to keep or drop (and to release, see SourceChunk).
 *
 * A file is read once in pooled 4 MiB blocks shared with the CPU pool (block-reads.ts);
 * chunks are views of them, hashed in place on the pool's workers, so on the event loop
 * only the gear loop touches every byte. A tree's files are read into the same blocks.
 */

export type IngestSource =
  | { readonly kind: 'tree'; readonly root: string; readonly entries: readonly Entry[] }
  | { readonly kind: 'file'; readonly path: string }
  /** A stream already in pooled blocks (fillBlocks): a download. */
  | { readonly kind: 'stream'; readonly blocks: AsyncIterable<LeasedBytes> }
  /** A tree whose files' bytes come as one stream in entry order: an unpacked archive. */
  | {
      readonly kind: 'tree-stream';
      readonly entries: readonly Entry[];
      readonly content: AsyncIterable<Buffer>;
    };

export interface SourceChunk {
  readonly ref: ChunkRef;
  /** The plain bytes of a data chunk (absent for holes). May be a view of a read block. */
  readonly raw?: Buffer;
  /**
   * Present when `raw` is a view of a pooled read block: call it once, when nothing reads
   * `raw` any more (stored, known or dropped), so the block can be read into again. A chunk
   * never released only costs a block the collector takes instead.
   */
  readonly release?: () => void;
}

const ZEROS = Buffer.alloc(DEFAULT_CHUNKER_PARAMS.max);

/** A piece of the stream and, for a pooled block, its lease. */
interface Piece {
  readonly bytes: Buffer;
  readonly lease?: BlockLease;
  /** A tree segment ends here: the chunk in progress ends with these bytes (tree-cuts.ts). */
  readonly endsSegment?: boolean;
}

interface Cut {
  readonly raw: Buffer;
  readonly lease: BlockLease | undefined;
}

export async function* chunksOf(source: IngestSource, params?: ChunkerParams): AsyncGenerator<SourceChunk> {
  const zeros = params && params.max > ZEROS.length ? Buffer.alloc(params.max) : ZEROS;
  const pool = cpuPool();
  const chunker = new Chunker(params);
  // Batches of chunks are hashed on the pool while the chunker cuts the next ones; a
  // few batches in flight keep both cores busy and memory bounded.
  const inFlight: Promise<SourceChunk[]>[] = [];
  let batch: Cut[] = [];
  let batchBytes = 0;
  // Blocks the chunker may still hold a view of (the one just pushed, and a tail).
  let held: BlockLease[] = [];
  const cut = (raw: Buffer): Cut => {
    const lease = held.find((l) => l.block.buffer === raw.buffer);
    lease?.retain();
    return { raw, lease };
  };
  const add = (c: Cut) => {
    batch.push(c);
    batchBytes += c.raw.length;
    if (batchBytes >= HASH_BATCH_BYTES) send();
  };
  const send = () => {
    inFlight.push(describe(pool, batch, zeros));
    batch = [];
    batchBytes = 0;
  };
  try {
    for await (const piece of contentOf(source, (params ?? DEFAULT_CHUNKER_PARAMS).min)) {
      if (piece.lease) held.push(piece.lease);
      const raws = chunker.push(piece.bytes);
      const last = piece.endsSegment ? chunker.finish() : undefined;
      if (last) raws.push(last);
      for (const raw of raws) {
        add(cut(raw));
        if (inFlight.length >= HASH_BATCHES_IN_FLIGHT)
          yield* await (inFlight.shift() as Promise<SourceChunk[]>);
      }
      const kept: BlockLease[] = [];
      for (const l of held) {
        if (chunker.holds(l.block.buffer)) kept.push(l);
        else l.release();
      }
      held = kept;
    }
    const last = chunker.finish();
    if (last) add(cut(last));
    if (batch.length > 0) send();
    while (inFlight.length > 0) yield* await (inFlight.shift() as Promise<SourceChunk[]>);
  } finally {
    for (const l of held) l.release();
    await Promise.allSettled(inFlight);
  }
}

/** ~1 MiB per message to a worker: 16 chunks of the 64 KiB average. */
const HASH_BATCH_BYTES = 1024 * 1024;
const HASH_BATCHES_IN_FLIGHT = 3;

async function describe(pool: CpuPool, cuts: Cut[], zeros: Buffer): Promise<SourceChunk[]> {
  const zero = cuts.map((c) => isZero(c.raw, zeros));
  const digests = await pool.hash(cuts.filter((_, k) => !zero[k]).map((c) => c.raw));
  let i = 0;
  return cuts.map(({ raw, lease }, k) => {
    if (zero[k]) {
      lease?.release();
      return { ref: { kind: 'hole', length: raw.length } };
    }
    const ref: ChunkRef = { kind: 'data', digest: digests[i++] as Digest, length: raw.length };
    return lease ? { ref, raw, release: () => lease.release() } : { ref, raw };
  });
}

function isZero(b: Buffer, zeros: Buffer): boolean {
  if (b.length === 0 || b[0] !== 0 || b[b.length - 1] !== 0 || b[b.length >>> 1] !== 0) return false;
  return b.equals(zeros.subarray(0, b.length));
}

/** The stream's pieces; a tree's end where its segments do (`min`: the chunker's minimum). */
async function* contentOf(source: IngestSource, min: number): AsyncGenerator<Piece> {
  if (source.kind === 'tree') {
    yield* atSegmentEnds(treeContent(source.root, source.entries), segmentEnds(source.entries, min));
    return;
  }
  if (source.kind === 'stream') {
    yield* source.blocks;
    return;
  }
  if (source.kind === 'tree-stream') {
    yield* atSegmentEnds(piecesOf(source.content), segmentEnds(source.entries, min));
    return;
  }
  const st = await statFile(source.path);
  yield* readBlocks(source.path, st.size);
}

async function statFile(path: string) {
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new IngotError('INVALID_ARGUMENT', `${path} is not a regular file`);
    return st;
  } catch (cause) {
    if (cause instanceof IngotError) throw cause;
    throw new IngotError('PATH_NOT_FOUND', `cannot read ${path}`, {
      cause,
      hint: 'check the path exists and is readable by this user',
    });
  }
}

/**
 * Runs chunksOf to the end and collects the refs into a draft; `onChunk` sees every chunk
 * on the way (e.g. to upload it), and is awaited, so it also provides back-pressure.
 */
export async function buildDraft(
  source: IngestSource,
  opts: { params?: ChunkerParams; onChunk?: (c: SourceChunk) => Promise<void> | void } = {},
): Promise<ManifestDraft> {
  const chunks: ChunkRef[] = [];
  for await (const c of chunksOf(source, opts.params)) {
    chunks.push(c.ref);
    if (opts.onChunk) await opts.onChunk(c);
  }
  if (source.kind === 'tree' || source.kind === 'tree-stream')
    return { payload: { kind: 'tree', entries: source.entries }, chunks };
  if (source.kind === 'stream')
    return { payload: { kind: 'file', size: streamLength(chunks), mode: 0o644 }, chunks };
  const st = await statFile(source.path);
  const size = streamLength(chunks);
  if (st.size !== size) {
    throw new IngotError(
      'INVALID_ARGUMENT',
      `${source.path} changed while reading (${size} bytes, now ${st.size})`,
    );
  }
  return { payload: { kind: 'file', size, mode: st.mode & 0o7777 }, chunks };
}

export type SourceKind = 'tree' | 'file';

/**
 * The one way into an ingest, for the CLI's upload and the server's local ingest alike:
 * checks that `path` is a readable directory (tree) or file, describes it (a tree is
 * scanned whole, so the payload is known up front) and returns its chunk stream.
 * Refusals come before any content is read.
 */
export async function openSource(
  path: string,
  kind: SourceKind,
): Promise<{ payload: Payload; chunks: AsyncGenerator<SourceChunk>; warnings: string[] }> {
  const st = await requireSource(path, kind);
  if (kind === 'tree') {
    const { entries, warnings } = await scanTree(path);
    return { payload: { kind: 'tree', entries }, chunks: chunksOf({ kind, root: path, entries }), warnings };
  }
  const payload: Payload = { kind: 'file', size: st.size, mode: st.mode & 0o7777 };
  return { payload, chunks: chunksOf({ kind, path }), warnings: [] };
}

/** The path's stat, once it is known to be a readable directory (tree) or file. */
export async function requireSource(path: string, kind: SourceKind): Promise<Stats> {
  const noun = kind === 'tree' ? 'directory' : 'file';
  const unreadable = (cause: unknown) =>
    new IngotError('PATH_NOT_FOUND', `${path} does not exist or cannot be read`, {
      cause,
      details: { path },
      hint: `give the ${noun} to add as an image`,
    });
  const st = await stat(path).catch((cause: unknown) => {
    throw unreadable(cause);
  });
  const ok = kind === 'tree' ? st.isDirectory() : st.isFile();
  if (!ok) {
    throw new IngotError('INVALID_ARGUMENT', `${path} is not a ${noun}`, {
      hint: kind === 'tree' ? 'use --file for a single file' : 'use --path for a directory',
    });
  }
  // A directory must be listable as well as readable to be scanned.
  await access(path, kind === 'tree' ? constants.R_OK | constants.X_OK : constants.R_OK).catch(
    (cause: unknown) => {
      throw unreadable(cause);
    },
  );
  return st;
}

async function* piecesOf(content: AsyncIterable<Buffer>): AsyncGenerator<Piece> {
  for await (const bytes of content) yield { bytes };
}
