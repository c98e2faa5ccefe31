import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { imageRow, CATALOG_NOW as NOW, recordOldServer } from '../../test/support/catalog-rows.js';
import { DIALECTS, type TempDatabase, tempDatabase } from '../../test/support/databases.js';
import { DUMP_PAGE, dumpCatalog } from './catalog-copy.js';
import { restoreCatalog } from './catalog-restore.js';
import { type Db, openDatabase } from './database.js';

/** More images than two pages, so the dump reads three and the restore inserts many batches. */
const IMAGES = 2 * DUMP_PAGE + 345;
const name = (i: number) => `IMG_${String(i).padStart(5, '0')}`;
/** Left out of the restore: the chain breaks there. */
const DROPPED = 1200;

/**
 * One chain, IMG_00000 the newest: each image's parent is the next one, so by the primary
 * key every child comes before its parent, on every page.
 */
async function fillChain(db: Db): Promise<void> {
  for (let top = IMAGES; top > 0; top -= 500) {
    const rows = [];
    for (let i = top - 1; i >= Math.max(0, top - 500); i--)
      rows.push(imageRow(name(i), i + 1 < IMAGES ? name(i + 1) : null));
    await db.kysely.insertInto('images').values(rows).execute();
  }
  await db.kysely
    .insertInto('series')
    .values(['A', 'B'].map((s) => ({ name: s, description: '', created_at: NOW })))
    .execute();
  for (let i = 0; i < IMAGES; i += 500) {
    const rows = [];
    for (let j = i; j < Math.min(IMAGES, i + 500); j++)
      rows.push({ series_name: j % 2 ? 'B' : 'A', image_name: name(j), position: j, added_at: NOW });
    await db.kysely.insertInto('series_images').values(rows).execute();
  }
}

const lines = (file: string) => readFileSync(file, 'utf8').trim().split('\n');

describe.each(DIALECTS)('catalog copy by pages (%s)', (dialect) => {
  let from: TempDatabase;
  let to: TempDatabase;
  let dir: string;
  let b: Db;
  beforeEach(async () => {
    [from, to] = await Promise.all([tempDatabase(dialect), tempDatabase(dialect)]);
    dir = mkdtempSync(join(tmpdir(), 'ingot-copy-'));
    const a = await openDatabase({ url: from.url });
    await fillChain(a);
    await dumpCatalog(a, join(dir, 'catalog'), join(dir, 'scratch.sqlite'));
    await a.close();
    b = await openDatabase({ url: to.url });
  });
  afterEach(async () => {
    await b.close();
    await Promise.all([from.cleanup(), to.cleanup()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('dumps every row once and restores a chain whose children come first', async () => {
    const names = lines(join(dir, 'catalog', 'images.jsonl')).map((l) => JSON.parse(l).name as string);
    expect(new Set(names).size).toBe(IMAGES);
    expect(names).toEqual([...names].sort());
    expect(lines(join(dir, 'catalog', 'series_images.jsonl'))).toHaveLength(IMAGES);

    const keep = new Set(
      Array.from({ length: IMAGES }, (_, i) => name(i)).filter((n) => n !== name(DROPPED)),
    );
    await restoreCatalog(b, join(dir, 'catalog'), keep);
    const images = await b.kysely
      .selectFrom('images')
      .select(['name', 'parent_name', 'parent_digest'])
      .execute();
    expect(images).toHaveLength(IMAGES - 1);
    const parents = new Map(images.map((r) => [r.name, r]));
    for (let i = 0; i < IMAGES; i++) {
      if (i === DROPPED) continue;
      const linked = i + 1 < IMAGES && i + 1 !== DROPPED ? name(i + 1) : null;
      expect([name(i), parents.get(name(i))?.parent_name]).toEqual([name(i), linked]);
    }
    expect(parents.get(name(DROPPED - 1))?.parent_digest).toBe(`sha256:${name(DROPPED)}`);
    const placed = await b.kysely.selectFrom('series_images').select(['series_name', 'image_name']).execute();
    expect(placed).toHaveLength(IMAGES - 1);
    expect(placed.filter((p) => p.series_name === 'B')).toHaveLength(Math.floor(IMAGES / 2));
  });

  it.each([
    ['a cut line', '{"name":"S2","desc'],
    ['an array', '["S3","",""]'],
    ['a number', '42'],
  ])('refuses %s in a table file and changes nothing', async (_what, bad) => {
    await recordOldServer(b);
    const types = await b.kysely.selectFrom('image_types').selectAll().orderBy('name').execute();
    // series.jsonl is read after every image is in: the failure undoes them.
    appendFileSync(join(dir, 'catalog', 'series.jsonl'), `${bad}\n`);
    await expect(restoreCatalog(b, join(dir, 'catalog'), new Set([name(0)]))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('series.jsonl:3: the line is not a JSON row object'),
    });
    expect(await b.kysely.selectFrom('images').select('name').execute()).toEqual([]);
    expect(await b.kysely.selectFrom('image_types').selectAll().orderBy('name').execute()).toEqual(types);
    expect(await b.kysely.selectFrom('server_identity').select('cluster_name').execute()).toEqual([
      { cluster_name: 'OLD' },
    ]);
  });
});
