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
  store_segments: {
    id: Generated<number>;
    node: string;
    bytes: number;
    created_at: number;
    retired_at: number | null;
  };
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

  /**
   * Segments no row points at any more: ones made before `before` (a younger one may be
   * mid-write), and ones a rewrite emptied by `retiredBefore` (complete, so only a
   * reader that looked a moment ago may still want them).
   */
  async emptySegments(before: number, retiredBefore: number): Promise<{ id: number; bytes: number }[]> {
    const rows = await this.db
      .selectFrom('store_segments as s')
      .select(['s.id', 's.bytes'])
      .where(({ eb, or, and }) =>
        or([
          and([eb('s.retired_at', 'is', null), eb('s.created_at', '<', before)]),
          eb('s.retired_at', '<=', retiredBefore),
        ]),
      )
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('store_chunks as c').select('c.digest').whereRef('c.segment', '=', 's.id'))),
      )
      .execute();
    return rows.map((r) => ({ id: Number(r.id), bytes: Number(r.bytes) }));
  }

  /**
   * Segments whose live chunk bytes are under `maxLiveRatio` of their size, oldest first.
   * Empty ones are not among them: the rule above removes those.
   */
  async sparseSegments(maxLiveRatio: number, limit: number): Promise<{ id: number; bytes: number }[]> {
    const rows = await this.db
      .selectFrom('store_segments as s')
      .innerJoin('store_chunks as c', 'c.segment', 's.id')
      .select(['s.id', 's.bytes'])
      .groupBy(['s.id', 's.bytes'])
      .having(sql<number>`sum(c.length)`, '<', sql<number>`cast(${maxLiveRatio} as real) * s.bytes`)
      .orderBy('s.id')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ id: Number(r.id), bytes: Number(r.bytes) }));
  }

  /** The rows pointing into segment `id`, in offset order (the order its records lie in). */
  async rowsIn(id: number): Promise<ChunkRow[]> {
    const rows = await this.db
      .selectFrom('store_chunks')
      .selectAll()
      .where('segment', '=', id)
      .orderBy('offset')
      .execute();
    return rows.map(rowOf);
  }

  /**
   * Points each row at its copy in segment `to`, one statement per batch, each only if it
   * still points where the copy was read from (`from`): a delete, or another rewrite, that
   * got there first wins. Returns the digests moved.
   */
  async move(to: number, moves: readonly { row: ChunkRow; from: number }[]): Promise<Set<string>> {
    const moved = new Set<string>();
    for (let i = 0; i < moves.length; i += BATCH) {
      const batch = moves.slice(i, i + BATCH).map((m) => ({ ...m, digest: m.row.digest.toString('hex') }));
      const byDigest = (value: (m: (typeof batch)[number]) => number) =>
        sql<number>`case ${sql.ref('digest')} ${sql.join(
          batch.map((m) => sql`when ${m.digest} then cast(${value(m)} as bigint)`),
          sql` `,
        )} end`;
      const done = await this.db
        .updateTable('store_chunks')
        .set({ segment: to, offset: byDigest((m) => m.row.offset) })
        .where(
          'digest',
          'in',
          batch.map((m) => m.digest),
        )
        .where(
          'segment',
          '=',
          byDigest((m) => m.from),
        )
        .returning('digest')
        .execute();
      for (const d of done) moved.add(d.digest);
    }
    return moved;
  }

  /** Marks segments a rewrite emptied, from `now` (see emptySegments). */
  async retire(ids: readonly number[], now: number): Promise<void> {
    for (let i = 0; i < ids.length; i += BATCH) {
      await this.db
        .updateTable('store_segments')
        .set({ retired_at: now })
        .where('id', 'in', ids.slice(i, i + BATCH))
        .execute();
    }
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
