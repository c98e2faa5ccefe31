/**
 * A logical copy of the catalog: the rows of every table that describes the server (not
 * its jobs, transfers or audit trail), one JSON object a line, one file per table, taken
 * consistently while the server runs, and restored into SQLite or PostgreSQL whichever it
 * came from. SQLite is copied with VACUUM INTO first (a consistent file, writers barely
 * held), then read; PostgreSQL is read in one REPEATABLE READ transaction. The schema is
 * portable (text and numbers only, schema.ts), so a row is the same on both engines.
 */
import { createReadStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DatabaseSync } from 'node:sqlite';
import { type Kysely, sql } from 'kysely';
import { IngotError } from '../core/errors.js';
import type { Db } from './database.js';
import { migrations } from './migrations/index.js';
import type { Schema } from './schema.js';

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
] as const satisfies readonly (keyof Schema)[];

/**
 * Not copied, and emptied by a restore: the restored catalog is the snapshot's server's,
 * whose first node records its nodes, leader and identity again at its start.
 */
const RECORDED_AT_START = ['nodes', 'server_leases', 'server_identity'] as const;

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
type Row = Record<string, unknown>;

export interface CatalogCopy {
  /** The migrations the copy's schema is at, in order. */
  readonly migrations: string[];
  readonly rows: Record<CopiedTable, number>;
}

/** Writes `<dir>/<table>.jsonl` for every copied table; `scratch` is a free file path. */
export async function dumpCatalog(db: Db, dir: string, scratch: string): Promise<CatalogCopy> {
  await mkdir(dir, { recursive: true });
  if (db.dialect === 'postgres') {
    return db.kysely
      .transaction()
      .setIsolationLevel('repeatable read')
      .execute(async (tx) => {
        const read = async (table: string) =>
          (await sql<Row>`select * from ${sql.table(table)}`.execute(tx)).rows;
        return writeTables(
          dir,
          read,
          (await read('kysely_migration')).map((r) => String(r.name)),
        );
      });
  }
  await rm(scratch, { force: true });
  await sql`vacuum into ${scratch}`.execute(db.kysely);
  const copy = new DatabaseSync(scratch, { readOnly: true });
  try {
    const read = async (table: string) => copy.prepare(`select * from "${table}"`).all() as Row[];
    return await writeTables(
      dir,
      read,
      (await read('kysely_migration')).map((r) => String(r.name)),
    );
  } finally {
    copy.close();
    await rm(scratch, { force: true });
  }
}

async function writeTables(
  dir: string,
  read: (table: string) => Promise<Row[]>,
  applied: string[],
): Promise<CatalogCopy> {
  const rows = {} as Record<CopiedTable, number>;
  for (const table of COPIED_TABLES) {
    const all = await read(table);
    rows[table] = all.length;
    await writeFile(join(dir, `${table}.jsonl`), all.map((r) => `${JSON.stringify(r)}\n`).join(''), {
      mode: 0o600,
    });
  }
  return { migrations: applied.sort(), rows };
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
 * left out keeps its parent's digest but not its name.
 */
export async function restoreCatalog(db: Db, dir: string, keep: ReadonlySet<string>): Promise<void> {
  const tables = new Map<CopiedTable, Row[]>();
  for (const table of COPIED_TABLES) tables.set(table, await readRows(join(dir, `${table}.jsonl`)));
  const images = (tables.get('images') ?? []).filter((r) => keep.has(String(r.name)));
  for (const r of images)
    if (r.parent_name !== null && !keep.has(String(r.parent_name))) r.parent_name = null;
  tables.set('images', parentsFirst(images));
  for (const t of ['series_images', 'template_members', 'working_copies'] as const) {
    tables.set(
      t,
      (tables.get(t) ?? []).filter((r) => keep.has(String(r.image_name))),
    );
  }
  await db.transaction(async (tx) => {
    for (const table of [...COPIED_TABLES].reverse()) await tx.deleteFrom(table).execute();
    for (const table of RECORDED_AT_START) await tx.deleteFrom(table).execute();
    for (const table of COPIED_TABLES) await insertAll(tx, table, tables.get(table) ?? []);
    if (db.dialect === 'postgres') {
      await sql`select setval(pg_get_serial_sequence('working_copies', 'id'), coalesce(max(id), 0) + 1, false) from working_copies`.execute(
        tx,
      );
    }
  });
}

async function insertAll(tx: Kysely<Schema>, table: CopiedTable, rows: Row[]): Promise<void> {
  for (let i = 0; i < rows.length; i += INSERT_BATCH) {
    await tx
      .insertInto(table)
      .values(rows.slice(i, i + INSERT_BATCH) as never)
      .execute();
  }
}

const INSERT_BATCH = 200;

function parentsFirst(rows: Row[]): Row[] {
  const byName = new Map(rows.map((r) => [String(r.name), r]));
  const out: Row[] = [];
  const placed = new Set<string>();
  const place = (r: Row) => {
    const name = String(r.name);
    if (placed.has(name)) return;
    placed.add(name);
    const parent = r.parent_name === null ? undefined : byName.get(String(r.parent_name));
    if (parent) place(parent);
    out.push(r);
  };
  for (const r of rows) place(r);
  return out;
}

async function readRows(file: string): Promise<Row[]> {
  const out: Row[] = [];
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) {
    if (!line) continue;
    const row = JSON.parse(line) as unknown;
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      throw new IngotError('INVALID_ARGUMENT', `${file}: a line is not a row object`);
    }
    out.push(row as Row);
  }
  return out;
}
