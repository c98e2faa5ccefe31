import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kysely, SqliteDialect } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kyselySqlite, openSqlite } from './sqlite-driver.js';

interface Db {
  t: { id: number; v: string };
}

describe('the node:sqlite driver', () => {
  let dir: string;
  let db: Kysely<Db>;
  let prepared: string[];
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ingot-sqlite-'));
    const file = join(dir, 'x.sqlite');
    const raw = openSqlite(file, { busyTimeoutMs: 100 });
    const prepare = raw.prepare.bind(raw);
    prepared = [];
    raw.prepare = (text: string) => {
      prepared.push(text);
      return prepare(text);
    };
    db = new Kysely<Db>({ dialect: new SqliteDialect({ database: kyselySqlite(raw, file) }) });
    await db.schema
      .createTable('t')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('v', 'text')
      .execute();
    await db
      .insertInto('t')
      .values([1, 2, 3, 4, 5].map((id) => ({ id, v: `v${id}` })))
      .execute();
  });
  afterEach(async () => {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const byId = (id: number) => db.selectFrom('t').select('v').where('id', '=', id).executeTakeFirst();

  it('prepares a query once, however often it runs', async () => {
    prepared = [];
    for (let k = 0; k < 10; k++) await byId(k);
    expect(prepared.length).toBe(1);
  });

  it('binds each run of a kept statement anew', async () => {
    expect(await byId(2)).toEqual({ v: 'v2' });
    expect(await byId(4)).toEqual({ v: 'v4' });
    expect(await byId(9)).toBeUndefined();
    await db.updateTable('t').set({ v: 'changed' }).where('id', '=', 4).execute();
    expect(await byId(4)).toEqual({ v: 'changed' });
  });

  it('streams, and the same query runs as a whole query after it', async () => {
    const all = () => db.selectFrom('t').select('id').orderBy('id');
    const seen: number[] = [];
    for await (const row of all().stream()) seen.push(row.id);
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    expect((await all().execute()).map((r) => r.id)).toEqual([1, 2, 3, 4, 5]);
  });

  it('keeps working past the number of statements it keeps', async () => {
    for (let n = 1; n <= 300; n++) {
      const ids = Array.from({ length: n }, (_, k) => k + 1);
      const rows = await db.selectFrom('t').select('id').where('id', 'in', ids).execute();
      expect(rows.length).toBe(Math.min(n, 5));
    }
    expect(await byId(1)).toEqual({ v: 'v1' });
  });
});
