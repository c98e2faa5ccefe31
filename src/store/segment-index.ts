import { type Generated, type Kysely, sql } from 'kysely';
import type { ChunkRow } from './pack-index.js';

/**
 * The index of a shared store (segment-chunk-store.ts), in the catalog database (tables of
 * migration 010): every node reads and writes the same rows, so a chunk one node stored is
 * found by all at once, and a touch by one node guards against a delete by another (gc),
 * atomically, since both are single statements of the one database. A row is the commit
 * point of a chunk: it is inserted only once its segment is durable.
 */

export interface SegmentTables {
  store_segments: { id: Generated<number>; node: string; bytes: number; created_at: number };
  store_chunks: {
    digest: string;
    segment: number;
    offset: number;
    length: number;
    raw_length: number;
    encoding: number;
    touched_at: number;
  };
}

/** Rows per statement: 7 parameters a row stays far below both engines' limits. */
const BATCH = 500;

export class SegmentIndex {
  constructor(private readonly db: Kysely<SegmentTables>) {}

  /** Claims a new segment id for `node` (ids are the database's, so no two nodes share one). */
  async newSegment(node: string, bytes: number, now: number): Promise<number> {
    const row = await this.db
      .insertInto('store_segments')
      .values({ node, bytes, created_at: now })
      .returning('id')
      .executeTakeFirstOrThrow();
    return Number(row.id);
  }

  /** Inserts rows not yet present; returns the digests this call inserted (the others won elsewhere). */
  async insert(rows: readonly ChunkRow[]): Promise<Set<string>> {
    const inserted = new Set<string>();
    for (let i = 0; i < rows.length; i += BATCH) {
      const values = rows.slice(i, i + BATCH).map((r) => ({
        digest: r.digest.toString('hex'),
        segment: r.pack,
        offset: r.offset,
        length: r.length,
        raw_length: r.rawLength,
        encoding: r.encoding,
        touched_at: r.touchedAt,
      }));
      const done = await this.db
        .insertInto('store_chunks')
        .values(values)
        .onConflict((oc) => oc.column('digest').doNothing())
        .returning('digest')
        .execute();
      for (const d of done) inserted.add(d.digest);
    }
    return inserted;
  }

  async getMany(digests: readonly string[]): Promise<Map<string, ChunkRow>> {
    const out = new Map<string, ChunkRow>();
    for (let i = 0; i < digests.length; i += BATCH) {
      const rows = await this.db
        .selectFrom('store_chunks')
        .selectAll()
        .where('digest', 'in', digests.slice(i, i + BATCH))
        .execute();
      for (const r of rows) out.set(r.digest, rowOf(r));
    }
    return out;
  }

  /** Sets touched_at to `now` where it is older than `staleBefore`. */
  async touch(digests: readonly string[], now: number, staleBefore: number): Promise<void> {
    for (let i = 0; i < digests.length; i += BATCH) {
      await this.db
        .updateTable('store_chunks')
        .set({ touched_at: now })
        .where('digest', 'in', digests.slice(i, i + BATCH))
        .where('touched_at', '<', staleBefore)
        .execute();
    }
  }

  async page(after: string, limit: number): Promise<ChunkRow[]> {
    const rows = await this.db
      .selectFrom('store_chunks')
      .selectAll()
      .where('digest', '>', after)
      .orderBy('digest')
      .limit(limit)
      .execute();
    return rows.map(rowOf);
  }

  async delete(digest: string, ifTouchedBefore?: number): Promise<void> {
    let q = this.db.deleteFrom('store_chunks').where('digest', '=', digest);
    if (ifTouchedBefore !== undefined) q = q.where('touched_at', '<', ifTouchedBefore);
    await q.execute();
  }

  async totals(): Promise<{ chunks: number; liveBytes: number; segments: number; storedBytes: number }> {
    const c = await this.db
      .selectFrom('store_chunks')
      .select([sql<number>`count(*)`.as('n'), sql<number>`coalesce(sum(length), 0)`.as('bytes')])
      .executeTakeFirstOrThrow();
    const s = await this.db
      .selectFrom('store_segments')
      .select([sql<number>`count(*)`.as('n'), sql<number>`coalesce(sum(bytes), 0)`.as('bytes')])
      .executeTakeFirstOrThrow();
    const n = (v: unknown) => Number(v);
    return { chunks: n(c.n), liveBytes: n(c.bytes), segments: n(s.n), storedBytes: n(s.bytes) };
  }

  /** Segments no row points at any more, made before `before` (younger ones may be mid-write). */
  async emptySegments(before: number): Promise<number[]> {
    const rows = await this.db
      .selectFrom('store_segments as s')
      .select('s.id')
      .where('s.created_at', '<', before)
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('store_chunks as c').select('c.digest').whereRef('c.segment', '=', 's.id'))),
      )
      .execute();
    return rows.map((r) => Number(r.id));
  }

  async dropSegment(id: number): Promise<void> {
    await this.db.deleteFrom('store_segments').where('id', '=', id).execute();
  }
}

function rowOf(r: SegmentTables['store_chunks']): ChunkRow {
  return {
    digest: Buffer.from(r.digest, 'hex'),
    pack: Number(r.segment),
    offset: Number(r.offset),
    length: Number(r.length),
    rawLength: Number(r.raw_length),
    encoding: Number(r.encoding),
    touchedAt: Number(r.touched_at),
  };
}
