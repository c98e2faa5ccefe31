import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS, type TempDatabase, tempDatabase } from '../../test/support/databases.js';
import { IngotError } from '../core/errors.js';
import { openDatabase, parseUrl } from './database.js';

describe.each(DIALECTS)('database (%s)', (dialect) => {
  let temp: TempDatabase;
  beforeEach(async () => {
    temp = await tempDatabase(dialect);
  });
  afterEach(() => temp.cleanup());

  it('migrates at open and opening again is a no-op', async () => {
    const a = await openDatabase({ url: temp.url });
    expect(a.dialect).toBe(dialect);
    const types = await a.kysely.selectFrom('image_types').select('name').orderBy('name').execute();
    expect(types.map((t) => t.name)).toEqual(['ARCHIVE', 'DISKIMAGE', 'ISO', 'OSIMAGE', 'SOFTWARE']);
    await a.close();
    const b = await openDatabase({ url: temp.url });
    expect(await b.kysely.selectFrom('image_types').select('name').execute()).toHaveLength(5);
    await b.close();
  });

  it('reads int8 as a number', async () => {
    const db = await openDatabase({ url: temp.url });
    const row = await sql<{ n: number }>`select cast(${2 ** 40} as bigint) as n`.execute(db.kysely);
    expect(row.rows[0]?.n).toBe(2 ** 40);
    await db.close();
  });

  it('rolls back a failed transaction', async () => {
    const db = await openDatabase({ url: temp.url });
    const insert = (tx: typeof db.kysely) =>
      tx.insertInto('series').values({ name: 'S', description: '', created_at: 'x' }).execute();
    await expect(
      db.transaction(async (tx) => {
        await insert(tx);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await db.kysely.selectFrom('series').selectAll().execute()).toEqual([]);
    await db.transaction(insert);
    expect(await db.kysely.selectFrom('series').selectAll().execute()).toHaveLength(1);
    await db.close();
  });
});

describe('openDatabase errors', () => {
  it('refuses an unknown scheme with UNAVAILABLE', async () => {
    await expect(openDatabase({ url: 'mysql://x@y/z' })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('reports an unreachable PostgreSQL as UNAVAILABLE with a hint, without the password', async () => {
    const err = await openDatabase({ url: 'postgres://u:secret@127.0.0.1:1/nope' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IngotError);
    expect(err).toMatchObject({ code: 'UNAVAILABLE' });
    expect((err as IngotError).hint).toMatch(/PostgreSQL is running/);
    expect((err as IngotError).message).not.toContain('secret');
  });

  it('reports an unopenable SQLite file as UNAVAILABLE', async () => {
    await expect(openDatabase({ url: 'sqlite:/dev/null/nope/ingot.sqlite' })).rejects.toMatchObject({
      code: 'UNAVAILABLE',
    });
  });

  it('parses the URL forms', () => {
    expect(parseUrl('sqlite:/a/b.sqlite')).toEqual({ dialect: 'sqlite', path: '/a/b.sqlite' });
    expect(parseUrl('sqlite:///a/b.sqlite')).toEqual({ dialect: 'sqlite', path: '/a/b.sqlite' });
    expect(parseUrl('/a/b.sqlite')).toEqual({ dialect: 'sqlite', path: '/a/b.sqlite' });
    expect(parseUrl('postgresql://h/db')).toEqual({ dialect: 'postgres', url: 'postgresql://h/db' });
  });
});
