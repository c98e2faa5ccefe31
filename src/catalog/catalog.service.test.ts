import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS, type TempDatabase, tempDatabase } from '../../test/support/databases.js';
import type { Digest } from '../core/manifest.js';
import { type Db, openDatabase } from '../db/database.js';
import { CatalogService } from './catalog.service.js';
import type { NewImage } from './types.js';

const digestOf = (s: string) => createHash('sha256').update(s).digest('hex') as Digest;

function img(name: string, extra: Partial<NewImage> = {}): NewImage {
  return {
    name,
    digest: digestOf(name),
    kind: 'tree',
    imageType: 'SOFTWARE',
    origin: 'hq',
    size: 2 ** 40,
    storedBytes: 10,
    chunkCount: 3,
    fileCount: 2,
    signature: 'sig',
    ...extra,
  };
}

describe.each(DIALECTS)('catalog (%s)', (dialect) => {
  let temp: TempDatabase;
  let db: Db;
  let catalog: CatalogService;
  let tick = 0;
  const clock = { now: () => new Date(Date.UTC(2025, 0, 1) + tick++ * 1000) };

  beforeEach(async () => {
    temp = await tempDatabase(dialect);
    db = await openDatabase({ url: temp.url });
    catalog = new CatalogService(db, { clock });
  });
  afterEach(async () => {
    await db.close();
    await temp.cleanup();
  });

  describe('image types', () => {
    it('lists the built-in base types and creates user types', async () => {
      const t = await catalog.createImageType('DBHOME', 'software', 'database homes');
      expect(t).toMatchObject({ name: 'DBHOME', baseType: 'SOFTWARE', builtin: false });
      const all = await catalog.listImageTypes();
      expect(all.map((x) => x.name)).toEqual([
        'ARCHIVE',
        'DISKIMAGE',
        'ISO',
        'OSIMAGE',
        'SOFTWARE',
        'DBHOME',
      ]);
      expect(all.find((x) => x.name === 'ISO')).toMatchObject({ baseType: 'ISO', builtin: true });
    });

    it('refuses bad names, unknown bases and duplicates', async () => {
      await expect(catalog.createImageType('9x', 'SOFTWARE')).rejects.toMatchObject({ code: 'INVALID_NAME' });
      await expect(catalog.createImageType('X', 'DBHOME')).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await catalog.createImageType('X', 'ISO');
      await expect(catalog.createImageType('X', 'ISO')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
      await expect(catalog.createImageType('ISO', 'ISO')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    });

    it('deletes only unused user types', async () => {
      await catalog.createImageType('DBHOME', 'SOFTWARE');
      await catalog.insertImage(img('a', { imageType: 'DBHOME' }));
      await expect(catalog.deleteImageType('DBHOME')).rejects.toMatchObject({ code: 'CONFLICT' });
      await expect(catalog.deleteImageType('SOFTWARE')).rejects.toMatchObject({ code: 'READ_ONLY' });
      await expect(catalog.deleteImageType('NOPE')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await catalog.deleteImage('a');
      await catalog.deleteImageType('DBHOME');
      expect((await catalog.listImageTypes()).map((t) => t.name)).not.toContain('DBHOME');
    });
  });

  describe('images', () => {
    it('inserts and reads back exactly', async () => {
      const rec = await catalog.insertImage(img('db19'));
      expect(rec).toMatchObject({ name: 'db19', state: 'TESTABLE', parentName: null, size: 2 ** 40 });
      expect(await catalog.getImage('db19')).toEqual(rec);
      expect(await catalog.findImage('nope')).toBeUndefined();
      await expect(catalog.getImage('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it('refuses a duplicate, a bad name, an unknown type and a payload that does not fit', async () => {
      await catalog.insertImage(img('a'));
      const dup = catalog.insertImage(img('a', { digest: digestOf('other') }));
      await expect(dup).rejects.toMatchObject({
        code: 'ALREADY_EXISTS',
        hint: expect.stringMatching(/new name/),
      });
      await expect(catalog.insertImage(img('-a'))).rejects.toMatchObject({ code: 'INVALID_NAME' });
      await expect(catalog.insertImage(img('b', { imageType: 'DBHOME' }))).rejects.toMatchObject({
        code: 'NOT_FOUND',
        hint: 'create it with: ingot imagetype add DBHOME --basetype SOFTWARE',
      });
      await expect(catalog.insertImage(img('c', { kind: 'file' }))).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await expect(catalog.insertImage(img('d', { imageType: 'ISO' }))).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await catalog.insertImage(img('e', { imageType: 'DISKIMAGE', kind: 'file' }));
      expect((await catalog.listImages()).map((i) => i.name)).toEqual(['a', 'e']);
    });

    it('lets exactly one of two concurrent inserts of a name win', async () => {
      const other = await openDatabase({ url: temp.url });
      try {
        const second = new CatalogService(other, { clock });
        const results = await Promise.allSettled([
          catalog.insertImage(img('race', { digest: digestOf('1') })),
          second.insertImage(img('race', { digest: digestOf('2') })),
          catalog.insertImage(img('race', { digest: digestOf('3') })),
          second.insertImage(img('race', { digest: digestOf('4') })),
        ]);
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        for (const r of results)
          if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'ALREADY_EXISTS' });
      } finally {
        await other.close();
      }
    });

    it('translates the unique violation when the pre-check is raced', async () => {
      // Simulate the race on one handle: the row appears between check and insert.
      await db.transaction(async (tx) => {
        await tx
          .insertInto('images')
          .values({
            name: 'x',
            digest: digestOf('x'),
            kind: 'tree',
            image_type: 'SOFTWARE',
            state: 'TESTABLE',
            parent_name: null,
            parent_digest: null,
            origin: 'hq',
            size: 1,
            stored_bytes: 1,
            chunk_count: 1,
            file_count: 1,
            signature: null,
            created_at: 't',
          })
          .execute();
      });
      await expect(catalog.insertImage(img('x'))).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    });

    it('links a parent, records lineage, and keeps descendants when the parent goes', async () => {
      await catalog.insertImage(img('base'));
      await expect(catalog.insertImage(img('child', { parentName: 'ghost' }))).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
      const child = await catalog.insertImage(img('child', { parentName: 'base' }));
      expect(child.parentDigest).toBe(digestOf('base'));
      await catalog.insertImage(img('grandchild', { parentName: 'child' }));
      await catalog.insertImage(img('sibling', { parentDigest: digestOf('base') }));

      const lin = await catalog.lineage('grandchild');
      expect(lin.ancestors.map((i) => i.name)).toEqual(['child', 'base']);
      expect(lin.unresolvedParentDigest).toBeNull();
      expect((await catalog.lineage('base')).descendants.map((i) => i.name)).toEqual(['child', 'sibling']);

      await catalog.deleteImage('base');
      const orphan = await catalog.getImage('child');
      expect(orphan).toMatchObject({ parentName: null, parentDigest: digestOf('base') });
      expect((await catalog.lineage('grandchild')).unresolvedParentDigest).toBe(digestOf('base'));
    });

    it('refuses a parent digest that contradicts the named parent', async () => {
      await catalog.insertImage(img('p'));
      await expect(
        catalog.insertImage(img('c', { parentName: 'p', parentDigest: digestOf('zzz') })),
      ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    });

    it('filters lists by type, series and state; sets state', async () => {
      await catalog.createImageType('DBHOME', 'SOFTWARE');
      await catalog.createSeries('S');
      await catalog.insertImage(img('b', { imageType: 'DBHOME', series: 'S' }));
      await catalog.insertImage(img('a', { state: 'PUBLISHED' }), 'S');
      await catalog.insertImage(img('c'));
      expect((await catalog.listImages({ type: 'DBHOME' })).map((i) => i.name)).toEqual(['b']);
      expect((await catalog.listImages({ series: 'S' })).map((i) => i.name)).toEqual(['b', 'a']);
      expect((await catalog.listImages({ state: 'PUBLISHED' })).map((i) => i.name)).toEqual(['a']);
      await expect(catalog.listImages({ series: 'nope' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await catalog.setState('c', 'RESTRICTED')).toMatchObject({ state: 'RESTRICTED' });
      await expect(catalog.setState('zz', 'RESTRICTED')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(catalog.setState('c', 'BOGUS' as never)).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    });

    it('pages and searches names ignoring case, with _ and % literal, and adds up the totals', async () => {
      await catalog.createSeries('S');
      for (const name of ['DB_19', 'DBX19', 'db_home', 'other']) await catalog.insertImage(img(name), 'S');
      const names = (r: { images: { name: string }[] }) => r.images.map((i) => i.name);
      const all = await catalog.pageImages({}, { limit: 2, offset: 1 });
      expect([names(all), all.total]).toEqual([['DB_19', 'db_home'], 4]);
      expect(names(await catalog.pageImages({ nameContains: 'b_' }, { limit: 10, offset: 0 }))).toEqual([
        'DB_19',
        'db_home',
      ]);
      expect((await catalog.pageImages({ nameContains: '%' }, { limit: 10, offset: 0 })).total).toBe(0);
      const db = await catalog.pageImages({ nameContains: 'db', series: 'S' }, { limit: 2, offset: 0 });
      expect([names(db), db.total]).toEqual([['DB_19', 'DBX19'], 3]);
      expect(await catalog.imageTotals()).toEqual({
        count: 4,
        byState: { TESTABLE: 4, RESTRICTED: 0, PUBLISHED: 0 },
        logicalBytes: 4 * 2 ** 40,
        storedBytes: 40,
      });
    });

    it('rolls the image back when its series membership fails', async () => {
      await expect(catalog.insertImage(img('a', { series: 'missing' }))).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
      expect(await catalog.findImage('a')).toBeUndefined();
    });

    it('joins the caller transaction with insertImage(tx, record)', async () => {
      await expect(
        db.transaction(async (tx) => {
          await catalog.insertImage(tx, img('in-tx'));
          throw new Error('abort');
        }),
      ).rejects.toThrow('abort');
      expect(await catalog.findImage('in-tx')).toBeUndefined();
      await db.transaction((tx) => catalog.insertImage(tx, img('in-tx')));
      expect(await catalog.findImage('in-tx')).toBeDefined();
    });

    it('counts images by state, every state present', async () => {
      expect(await catalog.countImagesByState()).toEqual({ TESTABLE: 0, RESTRICTED: 0, PUBLISHED: 0 });
      await catalog.insertImage(img('a', { state: 'PUBLISHED' }));
      await catalog.insertImage(img('b', { state: 'PUBLISHED' }));
      await catalog.insertImage(img('c'));
      expect(await catalog.countImagesByState()).toEqual({ TESTABLE: 1, RESTRICTED: 0, PUBLISHED: 2 });
    });

    it('lists digests for gc', async () => {
      await catalog.insertImage(img('a'));
      await catalog.insertImage(img('b'));
      expect(await catalog.listDigests()).toEqual([digestOf('a'), digestOf('b')].sort());
    });
  });

  describe('series', () => {
    it('appends in order, newest last, and removes', async () => {
      await catalog.createSeries('RU', 'release updates');
      for (const n of ['u3', 'u1', 'u2']) await catalog.insertImage(img(n));
      for (const n of ['u3', 'u1', 'u2']) await catalog.addToSeries('RU', n);
      expect((await catalog.showSeries('RU')).images.map((i) => i.name)).toEqual(['u3', 'u1', 'u2']);
      await expect(catalog.addToSeries('RU', 'u1')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
      await expect(catalog.addToSeries('RU', 'nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(catalog.addToSeries('nope', 'u1')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await catalog.removeFromSeries('RU', 'u1');
      await expect(catalog.removeFromSeries('RU', 'u1')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await catalog.insertImage(img('u4'), 'RU');
      expect((await catalog.showSeries('RU')).images.map((i) => i.name)).toEqual(['u3', 'u2', 'u4']);
      expect(await catalog.seriesOfImage('u4')).toEqual(['RU']);
      expect(await catalog.listSeries()).toEqual([
        { name: 'RU', description: 'release updates', createdAt: expect.any(String), imageCount: 3 },
      ]);
    });

    it('refuses duplicates and bad names; delete keeps the images', async () => {
      await expect(catalog.createSeries('bad name')).rejects.toMatchObject({ code: 'INVALID_NAME' });
      await catalog.createSeries('S');
      await expect(catalog.createSeries('S')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
      await catalog.insertImage(img('a'), 'S');
      await catalog.deleteSeries('S');
      await expect(catalog.showSeries('S')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(catalog.deleteSeries('S')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await catalog.findImage('a')).toBeDefined();
    });

    it('gives concurrent appends distinct positions', async () => {
      await catalog.createSeries('S');
      const names = Array.from({ length: 8 }, (_, i) => `i${i}`);
      for (const n of names) await catalog.insertImage(img(n));
      await Promise.all(names.map((n) => catalog.addToSeries('S', n)));
      expect((await catalog.showSeries('S')).images).toHaveLength(8);
    });

    it('drops a deleted image from its series', async () => {
      await catalog.createSeries('S');
      await catalog.insertImage(img('a'), 'S');
      await catalog.deleteImage('a');
      expect((await catalog.showSeries('S')).images).toEqual([]);
    });
  });

  describe('working copies', () => {
    it('registers, finds by contained path, and blocks delete unless forced', async () => {
      await catalog.insertImage(img('home'));
      const wc = await catalog.registerWorkingCopy('home', 'node1', '/u01/app/home/');
      expect(wc).toMatchObject({ imageName: 'home', host: 'node1', path: '/u01/app/home' });
      await expect(catalog.registerWorkingCopy('home', 'node1', '/u01/app/home')).rejects.toMatchObject({
        code: 'ALREADY_EXISTS',
      });
      await expect(catalog.registerWorkingCopy('nope', 'node1', '/x')).rejects.toMatchObject({
        code: 'NOT_FOUND',
      });
      await expect(catalog.registerWorkingCopy('home', 'node1', 'rel')).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });

      expect(await catalog.findWorkingCopyContaining('node1', '/u01/app/home')).toMatchObject({
        imageName: 'home',
      });
      expect(await catalog.findWorkingCopyContaining('node1', '/u01/app/home/lib/x')).toMatchObject({
        id: wc.id,
      });
      expect(await catalog.findWorkingCopyContaining('node1', '/u01/app/homework')).toBeUndefined();
      expect(await catalog.findWorkingCopyContaining('node2', '/u01/app/home')).toBeUndefined();
      expect(await catalog.listWorkingCopies({ image: 'home' })).toHaveLength(1);
      await expect(catalog.listWorkingCopies({ image: 'nope' })).rejects.toMatchObject({ code: 'NOT_FOUND' });

      await expect(catalog.deleteImage('home')).rejects.toMatchObject({ code: 'CONFLICT' });
      await catalog.deleteImage('home', { force: true });
      expect(await catalog.listWorkingCopies()).toEqual([]);
    });
  });
});
