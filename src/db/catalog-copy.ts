/**
 * A logical copy of the catalog: the rows of every table that describes the server (not
 * its jobs, transfers or audit trail), one JSON object a line, one file per table, taken
 * consistently while the server runs, and restored into SQLite or PostgreSQL whichever it
 * came from (src/db/catalog-restore.ts). SQLite is copied with VACUUM INTO first (a consistent file, writers barely
 * held), then read; PostgreSQL is read in one REPEATABLE READ transaction. The schema is
 * portable (text and numbers only, schema.ts), so a row is the same on both engines.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { IngotError } from '../core/errors.js';
import type { Db } from './database.js';
import { type Row, writeJsonl } from './jsonl-file.js';
import { migrations } from './migrations/index.js';
import type { Schema } from './schema.js';
import { kyselySqlite } from './sqlite-driver.js';

/** Copied, parents before children (foreign keys are checked row by row). */
export const COPIED_TABLES = [
  'image_types',
  'images',
  'series',
  'series_images',
  'working_copies',
  'peers',
  'instantiations',
  'hosts',
  'templates',
  'template_members',
  'template_versions',
  'followings',
  'subscriptions',
  'api_tokens',
  // Configuration: the publishers whose releases this server accepts.
  'publisher_keys',
] as const satisfies readonly (keyof Schema)[];

/**
 * Not copied, and emptied by a restore: the restored catalog is the snapshot's server's,
 * whose first node records its nodes, leader and identity again at its start.
 */
export const RECORDED_AT_START = ['nodes', 'server_leases', 'server_identity'] as const;

/**
 * Not copied: work in flight and history, which belong to the server that ran them, and a
 * shared store's chunk index, which belongs to that store.
 */
export const LEFT_TABLES = [
  'jobs',
  'job_checkpoints',
  'transfers',
  'peer_transfers',
  'peer_write_grants',
  'audit',
  ...RECORDED_AT_START,
  'store_segments',
  'store_chunks',
  // Releases name chunks of this store; the rolls are this server's history.
  'releases',
  'update_plans',
  'update_steps',
] as const satisfies readonly (keyof Schema)[];

export type CopiedTable = (typeof COPIED_TABLES)[number];

export interface CatalogCopy {
  /** The migrations the copy's schema is at, in order. */
  readonly migrations: string[];
  readonly rows: Record<CopiedTable, number>;
}

/**
 * Each copied table's primary key (the migrations'): its rows are read in this order, a
 * keyset page at a time, so no table is ever held whole.
 */
export const PRIMARY_KEYS = {
  image_types: ['name'],
  images: ['name'],
  series: ['name'],
  series_images: ['series_name', 'image_name'],
  working_copies: ['id'],
  peers: ['name'],
  instantiations: ['peer_name', 'filter_kind', 'filter_value', 'state'],
  hosts: ['name'],
  templates: ['name'],
  template_members: ['template_name', 'image_name'],
  template_versions: ['template_name', 'version'],
  followings: ['upstream', 'template_name'],
  subscriptions: ['peer_name', 'filter'],
  api_tokens: ['name'],
  publisher_keys: ['key_id'],
} as const satisfies Record<CopiedTable, readonly string[]>;

/** Rows read a query at a time. */
export const DUMP_PAGE = 1000;

// biome-ignore lint/suspicious/noExplicitAny: the scratch copy is read by table name
type AnyKysely = Kysely<any>;

/** Writes `<dir>/<table>.jsonl` for every copied table; `scratch` is a free file path. */
export async function dumpCatalog(db: Db, dir: string, scratch: string): Promise<CatalogCopy> {
  await mkdir(dir, { recursive: true });
  if (db.dialect === 'postgres') {
    return db.kysely
      .transaction()
      .setIsolationLevel('repeatable read')
      .execute((tx) => writeTables(tx, dir));
  }
  await rm(scratch, { force: true });
  await sql`vacuum into ${scratch}`.execute(db.kysely);
  const copy = new Kysely({
    dialect: new SqliteDialect({ database: kyselySqlite(new DatabaseSync(scratch, { readOnly: true })) }),
  });
  try {
    return await writeTables(copy, dir);
  } finally {
    await copy.destroy();
    await rm(scratch, { force: true });
  }
}

async function writeTables(from: AnyKysely, dir: string): Promise<CatalogCopy> {
  const rows = {} as Record<CopiedTable, number>;
  for (const table of COPIED_TABLES) {
    rows[table] = await writeJsonl(join(dir, `${table}.jsonl`), pages(from, table, PRIMARY_KEYS[table]));
  }
  const applied = [];
  for await (const r of pages(from, 'kysely_migration', ['name'])) applied.push(String(r.name));
  return { migrations: applied.sort(), rows };
}

/** The rows of `table` in key order, by keyset pages: each query starts past the last key. */
async function* pages(from: AnyKysely, table: string, keys: readonly string[]): AsyncGenerator<Row> {
  const cols = sql.join(keys.map((k) => sql.ref(k)));
  let past: unknown[] | undefined;
  for (;;) {
    const where = past ? sql`where (${cols}) > (${sql.join(past)})` : sql``;
    const { rows } =
      await sql<Row>`select * from ${sql.table(table)} ${where} order by ${cols} limit ${DUMP_PAGE}`.execute(
        from,
      );
    yield* rows;
    const last = rows.at(-1);
    if (rows.length < DUMP_PAGE || !last) return;
    past = keys.map((k) => last[k]);
  }
}

/**
 * Refuses a copy this Ingot cannot restore as it is: one whose schema has a migration this
 * version lacks (made by a newer Ingot) or lacks one it has (an older one). Checked before
 * anything is written.
 */
export function checkCopyMigrations(copied: readonly string[]): void {
  const ours = Object.keys(migrations('sqlite')).sort();
  const newer = copied.filter((m) => !ours.includes(m));
  if (newer.length > 0) {
    throw new IngotError(
      'CONFLICT',
      `the catalog copy has migrations this Ingot does not know: ${newer.join(', ')}`,
      {
        hint: 'import it with the Ingot version that made it, or a newer one; nothing was changed',
      },
    );
  }
  const missing = ours.filter((m) => !copied.includes(m));
  if (missing.length > 0) {
    throw new IngotError('CONFLICT', `the catalog copy was made before migrations ${missing.join(', ')}`, {
      hint: 'import it with the Ingot version that made it, then upgrade that server; nothing was changed',
    });
  }
}
