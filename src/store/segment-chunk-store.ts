import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { type Clock, systemClock } from '../core/clock.js';
import { IngotError } from '../core/errors.js';
import { assertDigest, type Digest } from '../core/manifest.js';
import { dataBuffers } from './buffer-pool.js';
import { type Appended, RecordWrites, type WriteItem } from './chunk-puts.js';
import {
  type ChunkStore,
  type ChunkTally,
  type CompactableStore,
  type Compaction,
  type CompactOptions,
  type EncodedChunk,
  type HashedChunk,
  type HashedChunkWriter,
  missingChunks,
  type StoredChunk,
  type StoredChunkInfo,
} from './chunk-store.js';
import { PACK_HEADER_SIZE, parseRecord, recordSize } from './pack-file.js';
import { type ChunkRow, chunkInfo } from './pack-index.js';
import { readRuns, runsOf } from './pack-reader.js';
import { verifyRecord } from './pack-verify.js';
import { isSegmentGone, type SegmentBlobs } from './segment-blobs.js';
import { segmentOf } from './segment-file.js';
import { SegmentIndex as Index, type SegmentIndex, type SegmentTables } from './segment-index.js';
import { rewriteSparse } from './segment-rewrite.js';

/**
 * The chunk store of a server on many nodes: chunks in segments on shared storage (a
 * directory every node mounts, or an object store: segment-blobs.ts), located by rows in
 * the catalog database (segment-index.ts), which all nodes share.
 *
 * Write order: verify each chunk (CPU pool); look up the batch's digests (present ones are
 * touched); claim a segment id (a row); write the absent ones as one sealed pack-format
 * segment, durably; insert their rows (the commit point; ON CONFLICT DO NOTHING, so when two
 * nodes store the same chunk at once one row wins and the other copy is dead bytes). One
 * segment per batch: a transfer's batch of ~4 MiB is one file or one object, not one per
 * 64 KiB chunk. Reads: a run of records that lie back to back is one pread or ranged GET.
 *
 * Nothing is appended after it is written and nothing is locked, so any number of nodes
 * write at once. gc deletes rows only when untouched since its cut-off, in one statement,
 * so an upload in flight on any node (which touches what it is told is present) keeps its
 * chunks. compact() rewrites partly dead segments and removes the ones no row points at.
 */

/** touched_at is kept at most this stale by missing() and puts of present chunks. */
const TOUCH_RESOLUTION_MS = 60_000;
/** Only segments older than this are removed when empty: a younger one may be mid-write. */
const EMPTY_SEGMENT_AGE_MS = 60 * 60_000;
const LIST_PAGE = 1000;
/** A segment is rewritten when its live bytes are under this share of its size. */
const MAX_LIVE_RATIO = 0.5;
/** Bytes one gc run rewrites at most, so one run does not copy a whole store. */
const REWRITE_BYTES_PER_RUN = 2 ** 30;

export interface SegmentChunkStoreOptions {
  /** Names this node in the segments it writes (default: a random id per open). */
  readonly node?: string;
  readonly clock?: Clock;
  readonly touchResolutionMs?: number;
  /** See REWRITE_BYTES_PER_RUN. */
  readonly rewriteBytesPerRun?: number;
}

export interface SegmentStoreStats {
  readonly chunks: number;
  readonly segments: number;
  readonly storedBytes: number;
  readonly liveBytes: number;
}

export class SegmentChunkStore
  extends RecordWrites
  implements ChunkStore, HashedChunkWriter, CompactableStore
{
  private closed = false;
  private last: SegmentStoreStats = { chunks: 0, segments: 0, storedBytes: 0, liveBytes: 0 };
  private readonly touchResolutionMs: number;
  private readonly rewriteBytesPerRun: number;
  private readonly node: string;
  private readonly clock: Clock;

  private constructor(
    private readonly blobs: SegmentBlobs,
    private readonly index: SegmentIndex,
    opts: SegmentChunkStoreOptions,
  ) {
    super();
    this.node = opts.node ?? randomBytes(6).toString('hex');
    this.clock = opts.clock ?? systemClock;
    this.touchResolutionMs = opts.touchResolutionMs ?? TOUCH_RESOLUTION_MS;
    this.rewriteBytesPerRun = opts.rewriteBytesPerRun ?? REWRITE_BYTES_PER_RUN;
  }

  /** `db` is the catalog's Kysely (its migrations made the tables of segment-index.ts). */
  static async open(
    blobs: SegmentBlobs,
    db: Kysely<SegmentTables>,
    opts: SegmentChunkStoreOptions = {},
  ): Promise<SegmentChunkStore> {
    const store = new SegmentChunkStore(blobs, new Index(db), opts);
    await store.refreshStats();
    return store;
  }

  get spaceAt(): string | undefined {
    return this.blobs.spaceAt;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.blobs.close();
  }

  // ---- write path -------------------------------------------------------------------

  /**
   * Copies every chunk of `from` (a staging store nothing writes to any more) into this
   * store, a batch a segment, then closes it. They were verified when staged. Returns the
   * chunks new here.
   */
  async adoptStore(from: ChunkStore & { close(): Promise<void> }): Promise<number> {
    let stored = 0;
    let batch: Digest[] = [];
    const flush = async () => {
      const items: HashedChunk[] = [];
      for await (const c of from.readStored(batch))
        items.push({ digest: c.digest, chunk: c.encoded, rawLength: c.rawLength });
      stored += (await this.append(items)).stored;
      batch = [];
    };
    for await (const info of from.list()) {
      batch.push(info.digest);
      if (batch.length >= 64) await flush();
    }
    if (batch.length > 0) await flush();
    await from.close();
    return stored;
  }

  protected async append(items: readonly WriteItem[], onWritten?: () => void): Promise<Appended> {
    const now = this.now();
    const known = await this.index.getMany(items.map((i) => i.digest));
    await this.touchStale([...known.values()], now);
    const fresh = items.filter((i) => !known.has(i.digest));
    if (fresh.length === 0) {
      onWritten?.();
      return { stored: 0, present: items.length, bytes: 0 };
    }
    const { id, rows } = await this.writeSegment(fresh, now);
    onWritten?.();
    const won = await this.index.insert(rows);
    if (won.size === 0) await this.dropSegment(id);
    const bytes = fresh.reduce((n, i) => n + (won.has(i.digest) ? i.chunk.payload.length : 0), 0);
    void this.refreshStats();
    return { stored: won.size, present: items.length - won.size, bytes };
  }

  /** Claims an id and writes `items` as one durable segment; the rows are not inserted yet. */
  private async writeSegment(
    items: readonly WriteItem[],
    now: number,
  ): Promise<{ id: number; rows: ChunkRow[] }> {
    const size = PACK_HEADER_SIZE + items.reduce((n, i) => n + recordSize(i.chunk.payload.length), 0);
    const id = await this.index.newSegment(this.node, size, now);
    const { parts, rows } = segmentOf(id, items, now);
    await this.blobs.write(id, parts);
    return { id, rows };
  }

  // ---- read path --------------------------------------------------------------------

  async has(digest: Digest): Promise<boolean> {
    return (await this.row(digest)) !== undefined;
  }

  async get(digest: Digest): Promise<Buffer> {
    return (await this.getEncoded(digest)).raw;
  }

  /**
   * A row read a moment ago may point at a segment a rewrite emptied and compact() then
   * removed (on any node): the read that finds it gone looks the row up again, once.
   */
  async getEncoded(digest: Digest): Promise<EncodedChunk & { readonly raw: Buffer }> {
    const row = await this.row(digest);
    if (!row) throw absentChunk(digest);
    try {
      return await this.readRecord(digest, row);
    } catch (err) {
      if (!isSegmentGone(err)) throw err;
      const moved = await this.row(digest);
      if (!moved) throw absentChunk(digest);
      if (moved.pack === row.pack) throw err;
      return this.readRecord(digest, moved);
    }
  }

  private async readRecord(digest: Digest, row: ChunkRow): Promise<EncodedChunk & { readonly raw: Buffer }> {
    const buf = await this.blobs.read(row.pack, row.offset, recordSize(row.length));
    return verifyRecord(parseRecord(buf, row.offset, row.length), digest, row);
  }

  /** Reads in runs (see getEncoded for a segment gone since its rows were read). */
  async *readStored(digests: readonly Digest[], opts: { lend?: boolean } = {}): AsyncIterable<StoredChunk> {
    let done = 0;
    for (let retried = false; ; retried = true) {
      try {
        for await (const c of this.readLocated(await this.located(digests.slice(done)), opts.lend)) {
          done++;
          yield c;
        }
        return;
      } catch (err) {
        if (retried || !isSegmentGone(err)) throw err;
      }
    }
  }

  private async located(digests: readonly Digest[]): Promise<{ digest: Digest; row: ChunkRow }[]> {
    const rows = await this.rows(digests);
    const absent = digests.filter((d) => !rows.has(d));
    if (absent.length > 0) throw missingChunks(absent);
    return digests.map((digest) => ({ digest, row: rows.get(digest) as ChunkRow }));
  }

  private readLocated(located: readonly { digest: Digest; row: ChunkRow }[], lend = false) {
    const readAt = (pack: number, offset: number, length: number, into?: Buffer) =>
      this.blobs.read(pack, offset, length, into);
    return readRuns(runsOf(located), readAt, lend ? dataBuffers : undefined);
  }

  async stat(digest: Digest): Promise<StoredChunkInfo | undefined> {
    const row = await this.row(digest);
    return row && chunkInfo(row);
  }

  async statMany(digests: readonly Digest[]): Promise<(StoredChunkInfo | undefined)[]> {
    const rows = await this.rows(digests);
    return digests.map((d) => {
      const row = rows.get(d);
      return row && chunkInfo(row);
    });
  }

  async missing(digests: readonly Digest[]): Promise<Digest[]> {
    const unique = [...new Set(digests)];
    const rows = await this.rows(unique);
    await this.touchStale([...rows.values()], this.now());
    return unique.filter((d) => !rows.has(d));
  }

  async tally(digests: readonly Digest[], rawLengths: readonly number[]): Promise<ChunkTally> {
    const rows = await this.rows(digests);
    await this.touchStale([...rows.values()], this.now());
    let matched = 0;
    let storedBytes = 0;
    digests.forEach((d, i) => {
      const row = rows.get(d);
      if (row && row.rawLength === rawLengths[i]) {
        matched++;
        storedBytes += row.length;
      }
    });
    return { matched, storedBytes };
  }

  async *list(): AsyncIterable<StoredChunkInfo> {
    let after = '';
    for (;;) {
      this.assertOpen();
      const rows = await this.index.page(after, LIST_PAGE);
      for (const row of rows) yield chunkInfo(row);
      const last = rows.at(-1);
      if (!last || rows.length < LIST_PAGE) return;
      after = last.digest.toString('hex');
    }
  }

  async delete(digest: Digest, opts: { ifTouchedBefore?: number } = {}): Promise<void> {
    assertDigest(digest);
    this.assertOpen();
    await this.index.delete(digest, opts.ifTouchedBefore);
    void this.refreshStats();
  }

  /**
   * gc runs it after a sweep: rewrites partly dead segments (segment-rewrite.ts), then
   * removes the segments no chunk row points at any more, each when safe (emptySegments).
   */
  async compact(opts: CompactOptions = {}): Promise<Compaction & { segmentsRemoved: number }> {
    this.assertOpen();
    const rewrite = await rewriteSparse(
      {
        index: this.index,
        readLocated: (located) => this.readLocated(located),
        writeSegment: (items) => this.writeSegment(items, this.now()),
        dropSegment: (id) => this.dropSegment(id),
        now: () => this.now(),
      },
      { maxLiveRatio: opts.maxLiveRatio ?? MAX_LIVE_RATIO, maxBytes: this.rewriteBytesPerRun },
    );
    const now = this.now();
    const empty = await this.index.emptySegments(
      now - EMPTY_SEGMENT_AGE_MS,
      now - (opts.graceMs ?? EMPTY_SEGMENT_AGE_MS),
    );
    for (const { id } of empty) await this.dropSegment(id);
    await this.refreshStats();
    const bytesReclaimed = empty.reduce((n, s) => n + s.bytes, 0);
    return { ...rewrite, bytesReclaimed, segmentsRemoved: empty.length };
  }

  /** The totals as last read (the metrics gauges read them synchronously). */
  stats(): SegmentStoreStats {
    return this.last;
  }

  private async refreshStats(): Promise<void> {
    const t = await this.index.totals().catch(() => undefined);
    if (t)
      this.last = {
        chunks: t.chunks,
        segments: t.segments,
        storedBytes: t.storedBytes,
        liveBytes: t.liveBytes,
      };
  }

  // ---- helpers ----------------------------------------------------------------------

  /** The row goes first: a crash between the two leaves an orphan file, never a dangling row. */
  private async dropSegment(id: number): Promise<void> {
    await this.index.dropSegment(id);
    await this.blobs.remove(id);
  }

  private async touchStale(rows: readonly ChunkRow[], now: number): Promise<void> {
    const staleBefore = now - this.touchResolutionMs;
    const stale = rows.filter((r) => r.touchedAt < staleBefore).map((r) => r.digest.toString('hex'));
    if (stale.length > 0) await this.index.touch(stale, now, staleBefore);
  }

  private async row(digest: Digest): Promise<ChunkRow | undefined> {
    return (await this.rows([digest])).get(digest);
  }

  private rows(digests: readonly Digest[]): Promise<Map<string, ChunkRow>> {
    for (const d of digests) assertDigest(d);
    this.assertOpen();
    return this.index.getMany(digests);
  }

  private now(): number {
    return this.clock.now().getTime();
  }

  protected assertOpen(): void {
    if (this.closed) throw new IngotError('UNAVAILABLE', 'the chunk store is closed');
  }
}

function absentChunk(digest: Digest): IngotError {
  return new IngotError('NOT_FOUND', `chunk ${digest} is not in the store`, { details: { digest } });
}
