/**
 * Restores a catalog copy (catalog-copy.ts) into an empty SQLite or PostgreSQL database in
 * one transaction, reading each table's file a line at a time and inserting in batches, so
 * the copy is never held whole. A line that is not a row fails the transaction: nothing
 * changes.
 */
import { join } from 'node:path';
import { type Kysely, sql } from 'kysely';
import { IngotError } from '../core/errors.js';
import { COPIED_TABLES, type CopiedTable, RECORDED_AT_START } from './catalog-copy.js';
import type { Db } from './database.js';
import { batches, type Row, readJsonl } from './jsonl-file.js';
import type { Schema } from './schema.js';

/** Rows an insert carries (17 columns at most: well under either engine's parameter bound). */
const INSERT_BATCH = 200;

/** The tables whose rows name an image, left out with the image. */
const IMAGE_ROWS: readonly CopiedTable[] = ['series_images', 'template_members', 'working_copies'];

/** Refuses a database that already describes a server. */
export async function requireEmptyCatalog(db: Db): Promise<void> {
  for (const table of [
    'images',
    'peers',
    'templates',
    'followings',
    'series',
    'api_tokens',
    'hosts',
  ] as const) {
    const row = await db.kysely.selectFrom(table).select(sql<number>`count(*)`.as('n')).executeTakeFirst();
    if (Number(row?.n ?? 0) > 0) {
      throw new IngotError(
        'CONFLICT',
        `the target database already holds a server (its ${table} table has rows)`,
        {
          hint: 'restore into a new, empty database; nothing was changed',
        },
      );
    }
  }
}

/**
 * Restores the copy in `dir` in one transaction, replacing the few rows a fresh database
 * starts with (the built-in image types). Images not in `keep` are left out, and with them
 * their series places, template places and working copies; a kept image whose parent is
 * left out keeps its parent's digest but not its name. Images go in with no parent link,
 * which a second pass over their file sets: so the file's order does not matter, and no
 * order has to be worked out in memory.
 */
export async function restoreCatalog(db: Db, dir: string, keep: ReadonlySet<string>): Promise<void> {
  const file = (table: CopiedTable) => join(dir, `${table}.jsonl`);
  await db.transaction(async (tx) => {
    for (const table of [...COPIED_TABLES].reverse()) await tx.deleteFrom(table).execute();
    for (const table of RECORDED_AT_START) await tx.deleteFrom(table).execute();
    for (const table of COPIED_TABLES) {
      for await (const rows of batches(kept(table, readJsonl(file(table)), keep), INSERT_BATCH)) {
        await tx
          .insertInto(table)
          .values(rows as never)
          .execute();
      }
    }
    for await (const links of batches(parentLinks(readJsonl(file('images')), keep), INSERT_BATCH)) {
      await linkParents(tx, links);
    }
    if (db.dialect === 'postgres') {
      await sql`select setval(pg_get_serial_sequence('working_copies', 'id'), coalesce(max(id), 0) + 1, false) from working_copies`.execute(
        tx,
      );
    }
  });
}

/** The rows of `table` to insert: kept images (unlinked for now) and their rows. */
async function* kept(
  table: CopiedTable,
  rows: AsyncIterable<Row>,
  keep: ReadonlySet<string>,
): AsyncGenerator<Row> {
  for await (const r of rows) {
    if (table === 'images') {
      if (keep.has(String(r.name))) yield { ...r, parent_name: null };
    } else if (!IMAGE_ROWS.includes(table) || keep.has(String(r.image_name))) yield r;
  }
}

/** [image, parent] for every kept image whose parent is kept too. */
async function* parentLinks(
  rows: AsyncIterable<Row>,
  keep: ReadonlySet<string>,
): AsyncGenerator<[string, string]> {
  for await (const r of rows) {
    const name = String(r.name);
    if (r.parent_name === null || r.parent_name === undefined || !keep.has(name)) continue;
    const parent = String(r.parent_name);
    if (keep.has(parent)) yield [name, parent];
  }
}

/** One update for a batch of links: `case name when image then parent ... end`. */
async function linkParents(tx: Kysely<Schema>, links: [string, string][]): Promise<void> {
  const cases = sql.join(
    links.map(([name, parent]) => sql`when ${name} then ${parent}`),
    sql` `,
  );
  await tx
    .updateTable('images')
    .set({ parent_name: sql<string>`case ${sql.ref('name')} ${cases} end` })
    .where(
      'name',
      'in',
      links.map(([name]) => name),
    )
    .execute();
}
