import { mkdir } from 'node:fs/promises';
import { type Clock, systemClock } from '../core/clock.js';
import { IngotError } from '../core/errors.js';
import { assertDigest, type Digest } from '../core/manifest.js';
import { dataBuffers } from './buffer-pool.js';
import { RecordWrites, type WriteItem } from './chunk-puts.js';
import {
  type ChunkStore,
  type ChunkTally,
  type Compaction,
  type CompactOptions,
  type EncodedChunk,
  type HashedChunkWriter,
  missingChunks,
  type StoredChunk,
  type StoredChunkInfo,
} from './chunk-store.js';
import { type CompactResult, compactPacks } from './pack-compaction.js';
import { PACK_HEADER_SIZE, preadFully } from './pack-file.js';
import { PackHandles } from './pack-handles.js';
import { type ChunkRow, chunkInfo, digestKey, PackIndex } from './pack-index.js';
import { AsyncMutex, acquireStoreLock } from './pack-lock.js';
import { missingOf, type QueryClock, tallyOf } from './pack-queries.js';
import { type ReadAt, readRuns, runsOf } from './pack-reader.js';
import { type RecoveryReport, recoverPacks } from './pack-recovery.js';
import { corruptChunk, readVerified } from './pack-verify.js';
import { type AppendResult, MAX_PACK_BYTES, PackWriter } from './pack-writer.js';
import { type StorePaths, storePaths } from './paths.js';

/**
 * The production chunk store: chunks appended to pack files (format: pack-file.ts),
 * located by a SQLite index (pack-index.ts). Creating a file costs ~1 ms on this machine,
 * so one file per chunk caps ingest at ~40 MB/s; a pack takes a whole batch with a few
 * large writes and one fdatasync (pack-writer.ts).
 *
 * Write order: verify every item outside the lock (decode, SHA-256 on the thread pool);
 * then under the append mutex, with every batch queued meanwhile (group commit): touch
 * the already indexed ones, append the rest at the pack's committed end, fdatasync, and
 * insert their rows in one transaction (the commit point). Reads pread exactly one record
 * and re-hash it. Crash recovery at open: pack-recovery.ts. Compaction: pack-compaction.ts.
 *
 * Measured with `npx tsx bench/pack-store.ts` (1 GiB per run) on this 2 vCPU VM while
 * other work held the CPUs (/proc/pressure/cpu ~45-65%) and the disk, so the figures
 * swing; medians over 8 runs, then the range:
 *   dd if=/dev/zero bs=1M count=1024 conv=fsync       ~380 MB/s (187-586)
 *   putManyEncoded, 128 x 64 KiB random raw chunks:
 *     one batch in flight                             ~185 MB/s (90-231)
 *     four batches in flight (group commit)           ~170 MB/s (121-222)
 *     before slicing the write (one writev + one fdatasync per batch): ~100 MB/s
 *   missing() on 32k known digests                    ~300 ms (185-1100; the first call
 *     right after 32k inserts is the slowest); stale rows, so 32k touches too: ~450 ms;
 *     32k unknown digests: ~120 ms (65-270)
 *   open of a 32k-chunk store                         ~6 ms (3-23)
 */

/** touched_at is kept at most this stale by missing() and puts of present chunks. */
export const TOUCH_RESOLUTION_MS = 60_000;
/** list() reads the index in pages of this many rows. */
const LIST_PAGE = 1000;

export type { CompactResult } from './pack-compaction.js';
export type { RecoveryReport } from './pack-recovery.js';
export { MAX_PACK_BYTES } from './pack-writer.js';

export interface PackChunkStoreOptions {
  readonly clock?: Clock;
  /** Default MAX_PACK_BYTES (256 MiB); tests use small packs. */
  readonly maxPackBytes?: number;
  /** Read handles kept open (LRU), default 32. */
  readonly readHandles?: number;
  /**
   * A present chunk's touched_at is rewritten only when older than this (default
   * TOUCH_RESOLUTION_MS), so repeated questions about the same chunks cost no writes. A gc
   * that spares recently touched chunks needs a grace period well above it.
   */
  readonly touchResolutionMs?: number;
}

export interface PackStoreStats {
  readonly chunks: number;
  readonly packs: number;
  /** Bytes of all pack files (headers, live and dead records). */
  readonly storedBytes: number;
  /** Bytes of the records the index still points at (record headers included). */
  readonly liveBytes: number;
}

export class PackChunkStore extends RecordWrites implements ChunkStore, HashedChunkWriter {
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly compactLock = new AsyncMutex();
  private readonly handles: PackHandles;
  /** Packs unlinked by compaction; a read that still opened one drops its handle. */
  private readonly retired = new Set<number>();
  private readonly writer: PackWriter;
  private readonly touchResolutionMs: number;
  private readonly queryClock: QueryClock;

  private constructor(
    private readonly paths: StorePaths,
    private readonly index: PackIndex,
    private readonly unlock: () => Promise<void>,
    private readonly clock: Clock,
    opts: PackChunkStoreOptions,
    /** What opening had to repair. */
    readonly recovery: RecoveryReport,
  ) {
    super();
    this.handles = new PackHandles((id) => paths.pack(id), opts.readHandles ?? 32);
    this.touchResolutionMs = opts.touchResolutionMs ?? TOUCH_RESOLUTION_MS;
    this.queryClock = {
      assertOpen: () => this.assertOpen(),
      now: () => this.now(),
      touchResolutionMs: this.touchResolutionMs,
    };
    this.writer = new PackWriter(paths, index, {
      maxPackBytes: opts.maxPackBytes ?? MAX_PACK_BYTES,
      touchResolutionMs: this.touchResolutionMs,
      now: () => this.now(),
    });
  }

  /**
   * Opens (creating if need be) the pack store under `root` (INGOT_HOME/store): takes the
   * lock file (CONFLICT while another live process holds it), recovers unsealed packs.
   */
  static async open(root: string, opts: PackChunkStoreOptions = {}): Promise<PackChunkStore> {
    const paths = storePaths(root);
    await mkdir(paths.packsDir, { recursive: true });
    await mkdir(paths.tmpDir, { recursive: true });
    const unlock = await acquireStoreLock(paths.packsLock);
    let index: PackIndex | undefined;
    try {
      index = PackIndex.open(paths.index);
      const clock = opts.clock ?? systemClock;
      const report = await recoverPacks(paths, index, clock.now().getTime());
      const store = new PackChunkStore(paths, index, unlock, clock, opts, report);
      await store.writer.resume();
      return store;
    } catch (err) {
      index?.close();
      await unlock();
      throw err;
    }
  }

  /**
   * Moves every chunk of `other` (a store on a root of its own that nothing writes to any
   * more: a bundle import's staging store) into this one by taking its pack files as they
   * are (PackWriter.adopt), then closes `other`. No chunk is copied or hashed again. Holds
   * the moved packs' index rows meanwhile (~100 bytes a chunk). Returns the chunks new here.
   */
  async adoptStore(other: PackChunkStore): Promise<number> {
    await other.compactLock.run(() => other.writer.close());
    const packs = other.index
      .packs()
      .filter((p) => p.size > PACK_HEADER_SIZE)
      .map((p) => ({
        file: other.paths.pack(p.id),
        size: p.size,
        rows: other.index.rowsInPack(p.id, 0, 2 ** 31),
      }));
    await other.close();
    let stored = 0;
    for (const p of packs)
      stored += await this.compactLock.run(() => this.writer.adopt(p.file, p.size, p.rows));
    return stored;
  }

  get spaceAt(): string {
    return this.paths.packsDir;
  }

  /** Waits for a compaction and appends in flight, then releases files, index and lock. */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    await this.compactLock.run(() => this.writer.close());
    this.closed = true;
    this.handles.closeAll();
    this.index.close();
    await this.unlock();
  }

  // ---- write path -------------------------------------------------------------------

  protected append(items: readonly WriteItem[], onWritten?: () => void): Promise<AppendResult> {
    return this.writer.append(items, onWritten);
  }

  // ---- read path --------------------------------------------------------------------

  async has(digest: Digest): Promise<boolean> {
    return this.row(digest) !== undefined;
  }

  async get(digest: Digest): Promise<Buffer> {
    return (await this.getEncoded(digest)).raw;
  }

  async getEncoded(digest: Digest): Promise<EncodedChunk & { readonly raw: Buffer }> {
    for (let attempt = 0; ; attempt++) {
      const row = this.row(digest);
      if (!row)
        throw new IngotError('NOT_FOUND', `chunk ${digest} is not in the store`, { details: { digest } });
      try {
        return await this.handles.with(row.pack, (fh) => readVerified(fh, digest, row));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        // A compaction moved it and unlinked the pack between lookup and open: look again.
        if (attempt === 0) continue;
        throw corruptChunk(digest, row, `pack ${row.pack} is missing`);
      } finally {
        if (this.retired.has(row.pack)) this.handles.evict(row.pack);
      }
    }
  }

  async *readStored(digests: readonly Digest[], opts: { lend?: boolean } = {}): AsyncIterable<StoredChunk> {
    const rows = digests.map((digest) => ({ digest, row: this.row(digest) }));
    const absent = rows.filter((r) => !r.row).map((r) => r.digest);
    if (absent.length > 0) throw missingChunks(absent);
    const located = rows as { digest: Digest; row: ChunkRow }[];
    const readAt: ReadAt = (pack, offset, length, into) =>
      this.handles
        .with(pack, (fh) => preadFully(fh, length, offset, into))
        .catch((err: unknown) => {
          // A compaction moved the run's records and unlinked the pack meanwhile.
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
          this.handles.evict(pack);
          throw new IngotError('UNAVAILABLE', `pack ${pack} was compacted while being read; ask again`);
        });
    yield* readRuns(runsOf(located), readAt, opts.lend ? dataBuffers : undefined);
  }

  async stat(digest: Digest): Promise<StoredChunkInfo | undefined> {
    const row = this.row(digest);
    return row && chunkInfo(row);
  }

  async statMany(digests: readonly Digest[]): Promise<(StoredChunkInfo | undefined)[]> {
    for (const d of digests) assertDigest(d);
    this.assertOpen();
    const rows = this.index.getMany(digests.map(digestKey));
    return digests.map((d) => {
      const row = rows.get(d);
      return row && chunkInfo(row);
    });
  }

  missing(digests: readonly Digest[]): Promise<Digest[]> {
    return missingOf(this.index, digests, this.queryClock);
  }

  tally(digests: readonly Digest[], rawLengths: readonly number[]): Promise<ChunkTally> {
    return tallyOf(this.index, digests, rawLengths, this.queryClock);
  }

  async *list(): AsyncIterable<StoredChunkInfo> {
    let after: Buffer = Buffer.alloc(0);
    for (;;) {
      this.assertOpen();
      const rows = this.index.page(after, LIST_PAGE);
      for (const row of rows) yield chunkInfo(row);
      const last = rows.at(-1);
      if (!last || rows.length < LIST_PAGE) return;
      after = last.digest;
    }
  }

  async delete(digest: Digest, opts: { ifTouchedBefore?: number } = {}): Promise<void> {
    assertDigest(digest);
    this.assertOpen();
    this.index.delete(digestKey(digest), opts.ifTouchedBefore);
  }

  stats(): PackStoreStats {
    this.assertOpen();
    const t = this.index.totals();
    return { chunks: t.chunks, packs: t.packs, storedBytes: t.size, liveBytes: t.live };
  }

  /**
   * Rewrites every sealed pack whose live bytes fell below `maxLiveRatio` (default 0.5)
   * of its size, then unlinks it (see pack-compaction.ts). Reads and writes carry on.
   */
  async compact(opts: CompactOptions = {}): Promise<CompactResult & Compaction> {
    this.assertOpen();
    const deps = { paths: this.paths, index: this.index, writer: this.writer, handles: this.handles };
    const r = await this.compactLock.run(() => {
      this.assertOpen();
      return compactPacks({ ...deps, retired: this.retired }, opts.maxLiveRatio ?? 0.5);
    });
    return {
      ...r,
      segmentsRewritten: r.packsRewritten,
      bytesRewritten: r.bytesCopied,
      bytesReclaimed: r.bytesFreed,
    };
  }

  // ---- helpers ----------------------------------------------------------------------

  private row(digest: Digest): ChunkRow | undefined {
    assertDigest(digest);
    this.assertOpen();
    return this.index.get(digestKey(digest));
  }

  private now(): number {
    return this.clock.now().getTime();
  }

  protected assertOpen(): void {
    if (this.closed) throw new IngotError('UNAVAILABLE', 'the chunk store is closed');
  }
}
