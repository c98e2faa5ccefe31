import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  cpSync,
  ftruncateSync,
  openSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBytes } from '../../src/cli/output.js';
import { type TempDatabase, tempDatabase } from '../support/databases.js';
import { type IngotServer, startIngot, tempDir } from '../support/ingot.js';
import { allocatedBytes, describeTree, makeRichTree, pseudoRandom } from '../support/trees.js';

interface ImageJson {
  name: string;
  digest: string;
  kind: string;
  imageType: string;
  state: string;
  parentName: string | null;
  size: number;
  storedBytes: number;
  chunkCount: number;
  ancestors?: string[];
  descendants?: string[];
  series?: string[];
}

interface WorkingCopyJson {
  id: number;
  imageName: string;
  host: string;
  path: string;
  createdAt: string;
}

interface GcJson {
  deletedChunks: number;
  freedBytes: number;
  sparedRecent: number;
  dryRun: boolean;
}

describe.each(['sqlite', 'postgres'] as const)('image lifecycle on %s', (dialect) => {
  let db: TempDatabase;
  let server: IngotServer;
  const work = tempDir('ingot-work-');

  beforeAll(async () => {
    db = await tempDatabase(dialect);
    server = await startIngot({ name: `LIFE_${dialect}`, db: db.url });
  });
  afterAll(async () => {
    await server?.stop();
    await db?.cleanup();
  });

  it('adds a tree image with a user type and series, and deploys it exactly', async () => {
    const src = join(work, 'home-1');
    makeRichTree(src);
    expect((await server.cli(['imagetype', 'add', 'DBHOME', '--basetype', 'SOFTWARE'])).code).toBe(0);
    expect((await server.cli(['series', 'add', 'DB19'])).code).toBe(0);
    const add = await server.cli([
      'image',
      'add',
      'DBHOME_19_21',
      '--path',
      src,
      '--type',
      'DBHOME',
      '--series',
      'DB19',
    ]);
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);

    const shown = await server.json<ImageJson>(['image', 'show', 'DBHOME_19_21']);
    expect(shown).toMatchObject({
      name: 'DBHOME_19_21',
      kind: 'tree',
      imageType: 'DBHOME',
      state: 'PUBLISHED',
    });
    expect(shown.series).toEqual(['DB19']);
    expect(shown.digest).toMatch(/^[0-9a-f]{64}$/);

    const dest = join(work, 'deployed-1');
    const dep = await server.cli(['image', 'deploy', 'DBHOME_19_21', '--path', dest]);
    expect(dep.stderr).toBe('');
    expect(dep.code).toBe(0);
    expect(describeTree(dest)).toEqual(describeTree(src));
    // The 4 MiB hole stays a hole.
    expect(allocatedBytes(join(dest, 'lib', 'sparse.img'))).toBeLessThan(1024 * 1024);
  });

  it('stores a second version as a delta, records lineage from a working copy', async () => {
    const wc = join(work, 'deployed-1');
    appendFileSync(join(wc, 'etc', 'hosts'), '10.0.0.1 db\n');
    writeFileSync(join(wc, 'lib', 'patch.txt'), 'patched\n');
    const add = await server.cli([
      'image',
      'add',
      'DBHOME_19_22',
      '--path',
      wc,
      '--type',
      'DBHOME',
      '--series',
      'DB19',
    ]);
    expect(add.code, add.stderr).toBe(0);
    const v2 = await server.json<ImageJson>(['image', 'show', 'DBHOME_19_22']);
    expect(v2.parentName).toBe('DBHOME_19_21');
    expect(v2.ancestors).toEqual(['DBHOME_19_21']);
    const v1 = await server.json<ImageJson>(['image', 'show', 'DBHOME_19_21']);
    expect(v1.descendants).toEqual(['DBHOME_19_22']);
    const series = await server.json<{ images: string[] }>(['series', 'show', 'DB19']);
    expect(series.images).toEqual(['DBHOME_19_21', 'DBHOME_19_22']);
    const list = await server.json<ImageJson[]>(['image', 'list', '--series', 'DB19']);
    expect(list.map((i) => i.name)).toEqual(['DBHOME_19_21', 'DBHOME_19_22']);
  });

  it('adds a file image with holes, --from lineage, and deploys it sparse', async () => {
    const file = join(work, 'disk.img');
    const fd = openSync(file, 'w');
    writeSync(fd, pseudoRandom('disk', 1_000_000), 0, 1_000_000, 0);
    writeSync(fd, pseudoRandom('disk2', 500_000), 0, 500_000, 40 * 1024 * 1024);
    ftruncateSync(fd, 64 * 1024 * 1024);
    closeSync(fd);
    const add = await server.cli(['image', 'add', 'OL9_ROOT', '--file', file, '--type', 'OSIMAGE']);
    // OSIMAGE is a tree base type: a file payload does not fit it.
    expect(add.code).toBe(2);
    expect(add.stderr).toContain('INVALID_ARGUMENT');
    expect((await server.cli(['image', 'add', 'OL9_DISK', '--file', file])).code).toBe(0);
    const img = await server.json<ImageJson>(['image', 'show', 'OL9_DISK']);
    expect(img).toMatchObject({ kind: 'file', imageType: 'DISKIMAGE', size: 64 * 1024 * 1024 });
    expect(img.storedBytes).toBeLessThan(3 * 1024 * 1024);

    const out = join(work, 'disk-deployed.img');
    expect((await server.cli(['image', 'deploy', 'OL9_DISK', '--path', out])).code).toBe(0);
    expect(execFileSync('cmp', [file, out]).toString()).toBe('');
    expect(statSync(out).size).toBe(64 * 1024 * 1024);
    expect(allocatedBytes(out)).toBeLessThan(4 * 1024 * 1024);

    const file2 = join(work, 'disk2.img');
    cpSync(file, file2);
    const fd2 = openSync(file2, 'r+');
    writeSync(fd2, Buffer.from('patched sector'), 0, 14, 512);
    closeSync(fd2);
    expect(
      (await server.cli(['image', 'add', 'OL9_DISK_2', '--file', file2, '--from', 'OL9_DISK'])).code,
    ).toBe(0);
    const v2 = await server.json<ImageJson>(['image', 'show', 'OL9_DISK_2']);
    expect(v2.parentName).toBe('OL9_DISK');
  });

  it('changes state, verifies, lists by type and state', async () => {
    expect((await server.cli(['image', 'state', 'OL9_DISK_2', 'TESTABLE'])).code).toBe(0);
    const testable = await server.json<ImageJson[]>(['image', 'list', '--state', 'TESTABLE']);
    expect(testable.map((i) => i.name)).toEqual(['OL9_DISK_2']);
    const byType = await server.json<ImageJson[]>(['image', 'list', '--type', 'DBHOME']);
    expect(byType.map((i) => i.name).sort()).toEqual(['DBHOME_19_21', 'DBHOME_19_22']);
    const bad = await server.cli(['image', 'state', 'OL9_DISK_2', 'SHINY']);
    expect(bad.code).toBe(2);
    const verify = await server.cli(['image', 'verify', 'DBHOME_19_21']);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toContain('OK');
  });

  it('deletes an image and gc frees only the chunks nothing else uses', async () => {
    const before = await server.json<{ result: { freedBytes: number } }>(['gc', '--grace', '0']);
    expect(before.result.freedBytes).toBe(0);
    expect((await server.cli(['image', 'delete', 'OL9_DISK_2'])).code).toBe(0);
    expect((await server.cli(['image', 'delete', 'OL9_DISK', '--force'])).code).toBe(0);
    // The deleted images' chunks were written moments ago: the default grace period keeps
    // them, and the report says how many and how to collect them now.
    const graced = await server.cli(['gc']);
    expect(graced.code, graced.stderr).toBe(0);
    expect(graced.stdout).toMatch(
      /^gc: freed 0 B in 0 chunks\n\d+ unreferenced chunks? touched within the grace period \(900s\) were kept; `ingot gc --grace 0` collects them now/,
    );
    // A dry run counts what gc would remove and removes nothing: the real run after it frees
    // exactly that.
    const dry = await server.json<{ result: GcJson }>(['gc', '--grace', '0', '--dry-run']);
    expect(dry.result.dryRun).toBe(true);
    expect(dry.result.deletedChunks).toBeGreaterThan(0);
    const dryText = await server.cli(['gc', '--grace', '0', '--dry-run']);
    expect(dryText.stdout).toBe(
      `gc --dry-run: would free ${formatBytes(dry.result.freedBytes)} in ${dry.result.deletedChunks} chunks; nothing was removed\n`,
    );
    const gc = await server.json<{ result: GcJson }>(['gc', '--grace', '0']);
    expect(gc.result.dryRun).toBe(false);
    expect(gc.result.deletedChunks).toBe(dry.result.deletedChunks);
    expect(gc.result.freedBytes).toBe(dry.result.freedBytes);
    expect(gc.result.sparedRecent).toBe(0);
    expect((await server.cli(['image', 'show', 'OL9_DISK'])).code).toBe(3);
    // What remains still verifies and deploys.
    expect((await server.cli(['image', 'verify', 'DBHOME_19_22'])).code).toBe(0);
    const dest = join(work, 'deployed-after-gc');
    expect((await server.cli(['image', 'deploy', 'DBHOME_19_22', '--path', dest])).code).toBe(0);
  });

  it('lists the working copies deploys recorded, shows them with the image, and forgets them', async () => {
    const host = hostname();
    const first = join(work, 'deployed-1');
    const second = join(work, 'deployed-after-gc');
    const all = await server.json<WorkingCopyJson[]>(['workingcopy', 'list']);
    expect(all.map((w) => [w.imageName, w.host, w.path])).toEqual([
      ['DBHOME_19_21', host, first],
      ['DBHOME_19_22', host, second],
    ]);
    const of22 = await server.json<WorkingCopyJson[]>(['workingcopy', 'list', '--image', 'DBHOME_19_22']);
    expect(of22.map((w) => w.path)).toEqual([second]);
    const shown = await server.json<ImageJson & { workingCopies: WorkingCopyJson[] }>([
      'image',
      'show',
      'DBHOME_19_22',
    ]);
    expect(shown.workingCopies).toEqual(of22);
    const text = await server.cli(['image', 'show', 'DBHOME_19_22']);
    const line = text.stdout.split('\n').find((l) => l.startsWith('working copies:'));
    expect(line?.replace(/^working copies:\s+/, '')).toBe(`${host}:${second} (id ${of22[0]?.id})`);
    const table = await server.cli(['workingcopy', 'list']);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+IMAGE\s+HOST\s+PATH\s+CREATED/);

    // Refusals name what is wrong and change nothing.
    expect((await server.cli(['workingcopy', 'list', '--image', 'NOPE'])).code).toBe(3);
    expect((await server.cli(['workingcopy', 'delete'])).code).toBe(2);
    expect((await server.cli(['workingcopy', 'delete', '7', '--host', host])).code).toBe(2);
    const forget = (image: string, path: string) =>
      server.cli(['workingcopy', 'delete', '--image', image, '--host', host, '--path', path]);
    const wrongImage = await forget('DBHOME_19_21', second);
    expect(wrongImage.code).toBe(3);
    expect(wrongImage.stderr).toContain(`is of DBHOME_19_22, not DBHOME_19_21`);
    expect((await server.cli(['workingcopy', 'delete', '999'])).code).toBe(3);
    expect(await server.json<WorkingCopyJson[]>(['workingcopy', 'list'])).toEqual(all);
    // An image with working copies is not deleted without --force...
    expect((await server.cli(['image', 'delete', 'DBHOME_19_22'])).code).toBe(4);

    // ...by id, and by image, host and path (a trailing slash is the same path).
    const byId = await server.cli(['workingcopy', 'delete', String(of22[0]?.id)]);
    expect(byId.code, byId.stderr).toBe(0);
    expect(byId.stdout).toBe(`forgot working copy ${of22[0]?.id} of DBHOME_19_22 at ${host}:${second}\n`);
    const byPath = await forget('DBHOME_19_21', `${first}/`);
    expect(byPath.code, byPath.stderr).toBe(0);
    expect(await server.json<WorkingCopyJson[]>(['workingcopy', 'list'])).toEqual([]);
    expect((await server.cli(['workingcopy', 'delete', String(of22[0]?.id)])).code).toBe(3);
    // The files stay; the image, with no copy recorded now, deletes without --force.
    expect(describeTree(second).size).toBeGreaterThan(0);
    expect((await server.cli(['image', 'delete', 'DBHOME_19_22'])).code).toBe(0);
  });
});
