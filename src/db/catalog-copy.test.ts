import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { imageRow as image, CATALOG_NOW as NOW, recordOldServer } from '../../test/support/catalog-rows.js';
import { DIALECTS, type TempDatabase, tempDatabase } from '../../test/support/databases.js';
import {
  COPIED_TABLES,
  checkCopyMigrations,
  dumpCatalog,
  LEFT_TABLES,
  PRIMARY_KEYS,
} from './catalog-copy.js';
import { requireEmptyCatalog, restoreCatalog } from './catalog-restore.js';
import { type Db, openDatabase } from './database.js';

async function fill(db: Db): Promise<void> {
  await db.kysely
    .insertInto('image_types')
    .values({ name: 'WINTC', base_type: 'DISKIMAGE', description: '', builtin: 0, created_at: NOW } as never)
    .execute();
  // Children first in the table's own order: the restore must put parents first.
  await db.kysely
    .insertInto('images')
    .values([image('BASE', null), image('PATCH', 'BASE')])
    .execute();
  await db.kysely.insertInto('images').values(image('OTHER', 'PATCH')).execute();
  await db.kysely.insertInto('series').values({ name: 'S', description: '', created_at: NOW }).execute();
  await db.kysely
    .insertInto('series_images')
    .values([
      { series_name: 'S', image_name: 'BASE', position: 1, added_at: NOW },
      { series_name: 'S', image_name: 'OTHER', position: 2, added_at: NOW },
    ])
    .execute();
  await db.kysely
    .insertInto('working_copies')
    .values({ image_name: 'BASE', host: 'h', path: '/x', created_at: NOW } as never)
    .execute();
  await db.kysely.insertInto('publisher_keys').values(PUBLISHER).execute();
}

/** Configuration a snapshot carries: a server restored from it trusts the same publishers. */
const PUBLISHER = { key_id: 'a'.repeat(64), name: 'acme', public_key: 'PEM', added_at: NOW };

describe.each(DIALECTS)('catalog copy (%s)', (dialect) => {
  let from: TempDatabase;
  let to: TempDatabase;
  let dir: string;
  beforeEach(async () => {
    [from, to] = await Promise.all([
      tempDatabase(dialect),
      tempDatabase(dialect === 'sqlite' ? 'postgres' : 'sqlite'),
    ]);
    dir = mkdtempSync(join(tmpdir(), 'ingot-copy-'));
  });
  afterEach(async () => {
    await Promise.all([from.cleanup(), to.cleanup()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('copies the rows into the other engine, leaving out the images not kept', async () => {
    const a = await openDatabase({ url: from.url });
    await fill(a);
    const copy = await dumpCatalog(a, join(dir, 'catalog'), join(dir, 'scratch.sqlite'));
    await a.close();
    expect(copy.rows.images).toBe(3);
    expect(copy.migrations).toContain('001_initial');
    expect(() => checkCopyMigrations(copy.migrations)).not.toThrow();
    expect(
      readFileSync(join(dir, 'catalog', 'images.jsonl'), 'utf8')
        .trim()
        .split('\n'),
    ).toHaveLength(3);

    const b = await openDatabase({ url: to.url });
    await requireEmptyCatalog(b);
    // A server that ran on this database before is forgotten: the restored one records itself.
    await recordOldServer(b);
    await restoreCatalog(b, join(dir, 'catalog'), new Set(['BASE', 'OTHER']));
    expect(await b.kysely.selectFrom('server_identity').selectAll().execute()).toEqual([]);
    const images = await b.kysely
      .selectFrom('images')
      .select(['name', 'parent_name', 'parent_digest'])
      .orderBy('name')
      .execute();
    expect(images).toEqual([
      { name: 'BASE', parent_name: null, parent_digest: null },
      { name: 'OTHER', parent_name: null, parent_digest: 'sha256:PATCH' },
    ]);
    const types = await b.kysely.selectFrom('image_types').select('name').execute();
    expect(types.map((t) => t.name)).toContain('WINTC');
    expect(await b.kysely.selectFrom('series_images').select('image_name').execute()).toHaveLength(2);
    expect(await b.kysely.selectFrom('publisher_keys').selectAll().execute()).toEqual([PUBLISHER]);
    // The next working copy gets a new id on either engine.
    await b.kysely
      .insertInto('working_copies')
      .values({ image_name: 'BASE', host: 'h', path: '/y', created_at: NOW } as never)
      .execute();
    await expect(requireEmptyCatalog(b)).rejects.toMatchObject({ code: 'CONFLICT' });
    await b.close();
  });

  it('copies or leaves every table, by name', async () => {
    const a = await openDatabase({ url: from.url });
    const tables = (await a.kysely.introspection.getTables())
      .map((t) => t.name)
      .filter((n) => !n.startsWith('kysely_'));
    await a.close();
    expect([...COPIED_TABLES, ...LEFT_TABLES].sort()).toEqual(tables.sort());
  });

  it('pages each table by its primary key as the migrations made it', async () => {
    const a = await openDatabase({ url: from.url });
    for (const table of COPIED_TABLES) {
      const keys =
        dialect === 'sqlite'
          ? await sql<{
              name: string;
            }>`select name from pragma_table_info(${table}) where pk > 0 order by pk`.execute(a.kysely)
          : await sql<{ name: string }>`select a.attname as name from pg_index i
              join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
              where i.indrelid = ${table}::regclass and i.indisprimary
              order by array_position(i.indkey::int2[], a.attnum)`.execute(a.kysely);
      expect([table, keys.rows.map((r) => r.name)]).toEqual([table, [...PRIMARY_KEYS[table]]]);
    }
    await a.close();
  });

  it('refuses a copy from a newer or an older schema', () => {
    expect(() => checkCopyMigrations(['001_initial', '999_future'])).toThrow(/does not know: 999_future/);
    expect(() => checkCopyMigrations(['001_initial'])).toThrow(/made before migrations/);
  });
});
