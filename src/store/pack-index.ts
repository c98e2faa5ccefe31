import { DatabaseSync } from 'node:sqlite';
import type { Digest } from '../core/manifest.js';
import { BatchStatements } from './batch-statements.js';
import type { StoredChunkInfo } from './chunk-store.js';
import { recordSize } from './pack-file.js';

/**
 * The pack index (store/index-v1.sqlite): where each chunk's record lives, and the size of
 * each pack. It is a cache of what the packs say: every row can be rebuilt by scanning
 * them. A row is the commit point of a chunk; rows are inserted only after the record's
 * bytes are durable.
 *
 *   chunks  digest (32-byte blob) -> pack id, record offset, payload length, raw length,
 *           encoding code, touched_at (ms since the epoch; set on store and on touch)
 *   packs   id, size (committed end: every byte below it is a complete record),
 *           live_bytes (record bytes that rows still point at), sealed (0 open, 1 sealed)
 *
 * WAL with synchronous=NORMAL: a power cut may lose the last commits, which is safe for
 * chunk rows (the pack tail scan at open re-indexes them) but not for a compaction's moves
 * or a new pack's row, so those commit with synchronous=FULL (`durably`).
 */

export interface ChunkRow {
  readonly digest: Buffer;
  readonly pack: number;
  readonly offset: number;
  readonly length: number;
  readonly rawLength: number;
  readonly encoding: number;
  readonly touchedAt: number;
}

/** What the store port says of a chunk, from its row. */
export function chunkInfo(row: ChunkRow): StoredChunkInfo {
  return {
    digest: row.digest.toString('hex') as Digest,
    storedBytes: row.length,
    mtimeMs: row.touchedAt,
    rawLength: row.rawLength,
  };
}

export interface PackRow {
  readonly id: number;
  readonly size: number;
  readonly liveBytes: number;
  readonly sealed: boolean;
}

export interface RecordLocation {
  readonly digest: Buffer;
  readonly offset: number;
  readonly length: number;
  readonly rawLength: number;
  readonly encoding: number;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS chunks (
    digest BLOB PRIMARY KEY,
    pack INTEGER NOT NULL,
    "offset" INTEGER NOT NULL,
    length INTEGER NOT NULL,
    raw_length INTEGER NOT NULL,
    encoding INTEGER NOT NULL,
    touched_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS chunks_by_pack ON chunks (pack, "offset");
  CREATE TABLE IF NOT EXISTS packs (
    id INTEGER PRIMARY KEY,
    size INTEGER NOT NULL,
    live_bytes INTEGER NOT NULL,
    sealed INTEGER NOT NULL DEFAULT 0
  );
`;

/** Digests per IN (...) query: well under SQLite's parameter limit. */
export const QUERY_BATCH = 500;

const COLUMNS = 'digest, pack, "offset", length, raw_length AS rawLength, encoding, touched_at AS touchedAt';

export function digestKey(d: Digest | string): Buffer {
  return Buffer.from(d, 'hex');
}

/** node:sqlite hands BLOBs back as plain Uint8Arrays; the rest of the store wants Buffers. */
function asBuffer(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function chunkRow(r: unknown): ChunkRow {
  const row = r as ChunkRow;
  return { ...row, digest: asBuffer(row.digest) };
}

export class PackIndex {
  private readonly db: DatabaseSync;
  private readonly s;
  private readonly batches: BatchStatements;

  private constructor(db: DatabaseSync) {
    this.db = db;
    this.batches = new BatchStatements(db);
    this.s = {
      get: db.prepare(`SELECT ${COLUMNS} FROM chunks WHERE digest = ?`),
      insert: db.prepare(
        `INSERT OR IGNORE INTO chunks (digest, pack, "offset", length, raw_length, encoding, touched_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      del: db.prepare('DELETE FROM chunks WHERE digest = ? RETURNING pack, length'),
      delIfOld: db.prepare('DELETE FROM chunks WHERE digest = ? AND touched_at < ? RETURNING pack, length'),
      delAt: db.prepare('DELETE FROM chunks WHERE digest = ? AND pack = ? AND "offset" = ?'),
      move: db.prepare(
        'UPDATE chunks SET pack = ?, "offset" = ? WHERE digest = ? AND pack = ? AND "offset" = ?',
      ),
      page: db.prepare(`SELECT ${COLUMNS} FROM chunks WHERE digest > ? ORDER BY digest LIMIT ?`),
      inPack: db.prepare(
        `SELECT ${COLUMNS} FROM chunks WHERE pack = ? AND "offset" >= ? ORDER BY "offset" LIMIT ?`,
      ),
      anyInPack: db.prepare('SELECT 1 FROM chunks WHERE pack = ? LIMIT 1'),
      delPackChunks: db.prepare('DELETE FROM chunks WHERE pack = ?'),
      packs: db.prepare('SELECT id, size, live_bytes AS liveBytes, sealed FROM packs ORDER BY id'),
      addPack: db.prepare('INSERT INTO packs (id, size, live_bytes, sealed) VALUES (?, ?, 0, 0)'),
      grow: db.prepare('UPDATE packs SET size = max(size, ?), live_bytes = live_bytes + ? WHERE id = ?'),
      live: db.prepare('UPDATE packs SET live_bytes = live_bytes + ? WHERE id = ?'),
      reset: db.prepare('UPDATE packs SET size = ?, live_bytes = ? WHERE id = ?'),
      seal: db.prepare('UPDATE packs SET sealed = 1 WHERE id = ?'),
      dropPack: db.prepare('DELETE FROM packs WHERE id = ?'),
      count: db.prepare('SELECT count(*) AS n FROM chunks'),
      totals: db.prepare(
        'SELECT count(*) AS packs, coalesce(sum(size), 0) AS size, coalesce(sum(live_bytes), 0) AS live FROM packs',
      ),
    };
  }

  static open(path: string): PackIndex {
    const db = new DatabaseSync(path);
    try {
      db.exec('PRAGMA journal_mode = WAL');
      db.exec('PRAGMA synchronous = NORMAL');
      db.exec('PRAGMA busy_timeout = 5000');
      db.exec('PRAGMA cache_size = -4096');
      db.exec(SCHEMA);
      return new PackIndex(db);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  close(): void {
    this.db.close();
  }

  /** Runs `fn` in one transaction committed with synchronous=FULL (WAL fsynced). */
  durably<T>(fn: () => T): T {
    this.db.exec('PRAGMA synchronous = FULL');
    try {
      return this.transaction(fn);
    } finally {
      this.db.exec('PRAGMA synchronous = NORMAL');
    }
  }

  /** `fn` in one transaction (the bodies here never nest one). */
  private transaction<T>(fn: () => T): T {
    this.db.exec('BEGIN');
    try {
      const result = fn();
      this.db.exec('COMMIT');
      return result;
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  get(digest: Buffer): ChunkRow | undefined {
    const row = this.s.get.get(digest);
    return row === undefined ? undefined : chunkRow(row);
  }

  /** The rows of those of `digests` that are indexed, by lowercase hex digest; one SELECT per QUERY_BATCH. */
  getMany(digests: readonly Buffer[]): Map<string, ChunkRow> {
    const found = new Map<string, ChunkRow>();
    for (let i = 0; i < digests.length; i += QUERY_BATCH) {
      const part = digests.slice(i, i + QUERY_BATCH);
      for (const r of this.batches
        .in(`SELECT ${COLUMNS} FROM chunks WHERE digest IN`, part.length)
        .all(...part)) {
        const row = chunkRow(r);
        found.set(row.digest.toString('hex'), row);
      }
    }
    return found;
  }

  /**
   * Of `digests`, the indexed ones (lowercase hex); those whose touched_at is older than
   * `staleBefore` get touched_at = now. One SELECT per QUERY_BATCH digests, and an UPDATE
   * only for stale rows, so asking again about chunks touched recently writes nothing.
   * Sorted input is about twice as fast on 32k digests (one part of the b-tree at a time).
   */
  touch(digests: readonly string[], now: number, staleBefore = now): Set<string> {
    const present = new Set<string>();
    const stale: Buffer[] = [];
    for (let i = 0; i < digests.length; i += QUERY_BATCH) {
      const part = digests.slice(i, i + QUERY_BATCH);
      const rows = this.batches
        .in('SELECT digest, touched_at FROM chunks WHERE digest IN', part.length)
        .all(...part.map(digestKey)) as unknown as { digest: Uint8Array; touched_at: number }[];
      for (const r of rows) {
        const digest = asBuffer(r.digest);
        present.add(digest.toString('hex'));
        if (r.touched_at < staleBefore) stale.push(digest);
      }
    }
    if (stale.length > 0) {
      this.transaction(() => {
        for (let i = 0; i < stale.length; i += QUERY_BATCH) {
          const part = stale.slice(i, i + QUERY_BATCH);
          this.batches.in('UPDATE chunks SET touched_at = ? WHERE digest IN', part.length).run(now, ...part);
        }
      });
    }
    return present;
  }

  /**
   * Of the distinct chunks at `keys`, how many are indexed with exactly the raw length
   * given beside each, and the record bytes those take; rows touched before `staleBefore`
   * get touched_at = now. One aggregate row per QUERY_BATCH: a commit's check that had each
   * row back as an object built ~12 objects a chunk, 74 MB of heap for 130k chunks.
   */
  tally(
    keys: readonly Buffer[],
    rawLengths: readonly number[],
    now: number,
    staleBefore = now,
  ): { matched: number; bytes: number } {
    let matched = 0;
    let bytes = 0;
    for (let i = 0; i < keys.length; i += QUERY_BATCH) {
      const n = Math.min(QUERY_BATCH, keys.length - i);
      const params: (Buffer | number)[] = [];
      for (let j = i; j < i + n; j++) params.push(keys[j] as Buffer, rawLengths[j] as number);
      const row = this.batches
        .values(
          'SELECT count(*) AS n, coalesce(sum(c.length), 0) AS bytes FROM chunks c JOIN',
          'AS v ON c.digest = v.column1 AND c.raw_length = v.column2',
          n,
        )
        .get(...params) as { n: number; bytes: number };
      matched += row.n;
      bytes += row.bytes;
    }
    this.transaction(() => {
      for (let i = 0; i < keys.length; i += QUERY_BATCH) {
        const part = keys.slice(i, i + QUERY_BATCH);
        this.batches
          .in('UPDATE chunks SET touched_at = ? WHERE touched_at < ? AND digest IN', part.length)
          .run(now, staleBefore, ...part);
      }
    });
    return { matched, bytes };
  }

  /**
   * Indexes records appended to `pack` (one transaction) and moves its committed end to
   * `end`. Digests already indexed are left alone. Returns the number of rows inserted.
   */
  commit(pack: number, end: number, records: readonly RecordLocation[], now: number): number {
    return this.transaction(() => {
      let inserted = 0;
      let live = 0;
      for (const r of records) {
        const { changes } = this.s.insert.run(
          r.digest,
          pack,
          r.offset,
          r.length,
          r.rawLength,
          r.encoding,
          now,
        );
        if (changes > 0) {
          inserted++;
          live += recordSize(r.length);
        }
      }
      this.s.grow.run(end, live, pack);
      return inserted;
    });
  }

  /** Removes a row; returns whether there was one. */
  delete(digest: Buffer, ifTouchedBefore?: number): boolean {
    return this.transaction(() => {
      const row = (
        ifTouchedBefore === undefined ? this.s.del.get(digest) : this.s.delIfOld.get(digest, ifTouchedBefore)
      ) as { pack: number; length: number } | undefined;
      if (row) this.s.live.run(-recordSize(row.length), row.pack);
      return row !== undefined;
    });
  }

  /** Removes a row only if it still points at (pack, offset). */
  deleteAt(digest: Buffer, pack: number, offset: number, length: number): void {
    this.transaction(() => {
      if (this.s.delAt.run(digest, pack, offset).changes > 0) this.s.live.run(-recordSize(length), pack);
    });
  }

  /**
   * Points the rows of records copied from `from` at their new offsets in `to` (only rows
   * still at the old place), durably, and moves `to`'s committed end. Returns rows moved.
   */
  relocate(
    from: number,
    to: number,
    end: number,
    moves: readonly { digest: Buffer; oldOffset: number; newOffset: number; length: number }[],
  ): number {
    return this.durably(() => {
      let moved = 0;
      let live = 0;
      for (const m of moves) {
        if (this.s.move.run(to, m.newOffset, m.digest, from, m.oldOffset).changes > 0) {
          moved++;
          live += recordSize(m.length);
        }
      }
      this.s.grow.run(end, live, to);
      this.s.live.run(-live, from);
      return moved;
    });
  }

  /** Up to `limit` rows of one pack at or past `fromOffset`, in offset order. */
  rowsInPack(pack: number, fromOffset: number, limit: number): ChunkRow[] {
    return this.s.inPack.all(pack, fromOffset, limit).map(chunkRow);
  }

  hasRowsInPack(pack: number): boolean {
    return this.s.anyInPack.get(pack) !== undefined;
  }

  /** Rows ordered by digest, strictly after `after` (keyset paging). */
  page(after: Buffer, limit: number): ChunkRow[] {
    return this.s.page.all(after, limit).map(chunkRow);
  }

  packs(): PackRow[] {
    return (
      this.s.packs.all() as unknown as { id: number; size: number; liveBytes: number; sealed: number }[]
    ).map((p) => ({ ...p, sealed: p.sealed !== 0 }));
  }

  addPack(id: number, size: number): void {
    this.durably(() => this.s.addPack.run(id, size));
  }

  sealPack(id: number): void {
    this.durably(() => this.s.seal.run(id));
  }

  /** Forgets a pack and any rows still pointing into it, durably. */
  dropPack(id: number): void {
    this.durably(() => {
      this.s.delPackChunks.run(id);
      this.s.dropPack.run(id);
    });
  }

  /** Forgets every row of a pack and sets its size (before re-indexing it by a scan). */
  resetPack(id: number, size: number): void {
    this.durably(() => {
      this.s.delPackChunks.run(id);
      this.s.reset.run(size, 0, id);
    });
  }

  totals(): { chunks: number; packs: number; size: number; live: number } {
    const { n } = this.s.count.get() as unknown as { n: number };
    const t = this.s.totals.get() as unknown as { packs: number; size: number; live: number };
    return { chunks: n, ...t };
  }
}
