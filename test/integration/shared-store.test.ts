import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type IngotServer, runCli, tempDir } from '../support/ingot.js';
import { type SharedNodes, startSharedNodes } from '../support/shared-nodes.js';
import { describeTree, makeRichTree, pseudoRandom } from '../support/trees.js';

/**
 * Two nodes of one server: two `ingot serve` processes (their own INGOT_HOMEs, one identity)
 * on one PostgreSQL catalog and one shared directory store.
 */
describe('two nodes on one PostgreSQL and one shared directory store', () => {
  let nodes: SharedNodes;
  let a: IngotServer;
  let b: IngotServer;
  let shared: string;
  let work: string;
  let db: { url: string };

  beforeAll(async () => {
    nodes = await startSharedNodes(inject('pgUrl'), 'FPPS_1');
    ({ a, b, shared, db } = nodes);
    work = tempDir('ingot-shared-work-');
  });
  afterAll(() => nodes?.stop());

  it('deploys through one node an image added through the other, and dedups against it', async () => {
    const src = join(work, 'home');
    makeRichTree(src);
    const add = await a.cli(['image', 'add', 'DBHOME_1', '--path', src]);
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    const listed = await b.json<{ name: string }[]>(['image', 'list']);
    expect(listed.map((i) => i.name)).toEqual(['DBHOME_1']);

    const dest = join(work, 'deployed');
    const dep = await b.cli(['image', 'deploy', 'DBHOME_1', '--path', dest]);
    expect(dep.stderr).toBe('');
    expect(dep.code).toBe(0);
    expect(describeTree(dest)).toEqual(describeTree(src));
    // Nothing of it is in node B's own home: the chunks are in the shared segments.
    expect(readdirSync(join(b.home, 'store'))).not.toContain('packs-v1');
    expect(readdirSync(join(shared, 'segments-v1')).length).toBeGreaterThan(0);

    // The same content added through B stores no chunk again.
    const before = await chunkRows(db.url);
    expect((await b.cli(['image', 'add', 'DBHOME_2', '--path', src])).code).toBe(0);
    expect(await chunkRows(db.url)).toBe(before);
    const verified = await a.cli(['image', 'verify', 'DBHOME_2']);
    expect(verified.code).toBe(0);
  });

  it('collects on one node what was deleted through the other, and keeps what another image names', async () => {
    const file = join(work, 'disk.img');
    writeFileSync(file, pseudoRandom('shared-gc', 3 * 2 ** 20));
    expect((await b.cli(['image', 'add', 'DISK_1', '--file', file])).code).toBe(0);
    const before = await chunkRows(db.url);
    expect((await b.cli(['image', 'delete', 'DISK_1'])).code).toBe(0);
    const { result: gc } = await a.json<{ result: { deletedChunks: number } }>(['gc', '--grace', '0']);
    expect(gc.deletedChunks).toBeGreaterThan(0);
    expect(await chunkRows(db.url)).toBe(before - gc.deletedChunks);
    const dest = join(work, 'after-gc');
    expect((await a.cli(['image', 'deploy', 'DBHOME_1', '--path', dest])).code).toBe(0);
    expect(describeTree(dest)).toEqual(describeTree(join(work, 'home')));
  });

  it('refuses a --store it cannot use, with a clear error and exit code', async () => {
    for (const bad of [
      'ftp://files.example/ingot',
      's3://Bad_Bucket/x',
      's3://gold/../x',
      's3://gold/x?endpoint=file:///etc',
      's3://gold/x?acl=public',
    ]) {
      const home = tempDir();
      const r = await runCli(['serve', '--store', bad], { INGOT_HOME: home });
      expect(r.stderr).toContain('invalid --store');
      expect(r.code).toBe(2);
      expect(readdirSync(home)).toEqual([]);
    }
  });
});

async function chunkRows(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const r = await client.query<{ n: string }>('select count(*) as n from store_chunks');
    return Number(r.rows[0]?.n);
  } finally {
    await client.end();
  }
}
