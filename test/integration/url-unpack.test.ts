import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IngotServer, startIngot, tempDir } from '../support/ingot.js';
import { describeTree, pseudoRandom } from '../support/trees.js';
import { makeTestCa, type Nginx, startNginx } from '../support/url-servers.js';

/**
 * `ingot image import --unpack` through a real nginx: a zip holding an ISO made by xorriso
 * (Rock Ridge and Joliet) becomes a tree image that deploys with the ISO's files, modes and
 * symlinks, or a file image of the ISO; a zip whose names climb out with ".." is refused with
 * BAD_ARCHIVE and nothing listed. The job records the unpack's total. A zip with zip64
 * records, and ISOs whose deep directories Rock Ridge relocated (genisoimage, xorriso),
 * unpack to the tree they were made from.
 */

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Eleven levels down, two branches, files and a symlink on the way and at the bottom. */
function makeDeepTree(root: string): void {
  for (const branch of ['a', 'b']) {
    let dir = join(root, branch);
    for (let level = 1; level <= 11; level++) {
      dir = join(dir, `${branch}${level}`);
      mkdirSync(dir, { recursive: true });
      if (level >= 7) writeFileSync(join(dir, `f${level}.txt`), `${branch} at ${level}\n`);
    }
    writeFileSync(join(dir, 'leaf.bin'), pseudoRandom(branch, 70_000));
    chmodSync(join(dir, 'leaf.bin'), 0o600);
    symlinkSync('../f10.txt', join(dir, 'up'));
    chmodSync(dir, 0o750);
  }
}

/** What a deployed tree must match: every path's type, mode, size, content and link. */
function shape(root: string) {
  return [...describeTree(root)]
    .filter(([path]) => path !== '.')
    .map(([path, f]) => ({ path, type: f.type, mode: f.mode, size: f.size, sha: f.sha, link: f.link }));
}

describe('image import --unpack', () => {
  const work = tempDir('ingot-unpack-');
  const www = join(work, 'www');
  const tree = join(work, 'tree');
  const deep = join(work, 'deep');
  let nginx: Nginx;
  let server: IngotServer;
  let iso: Buffer;
  const sums: Record<string, string> = {};

  const importing = (name: string, file: string, ...more: string[]) =>
    server.cli([
      'image',
      'import',
      name,
      '--url',
      `${nginx.httpUrl}/${file}`,
      '--sha256',
      sums[file] ?? '',
      ...more,
    ]);
  /** The import job that made `image`, as recorded: its progress is the unpack's. */
  const importJob = async (image: string) => {
    const jobs = await server.json<
      { progressDone: number; progressTotal: number; result: { image?: { name: string } } | null }[]
    >(['job', 'list', '--kind', 'import']);
    return jobs.find((j) => j.result?.image?.name === image);
  };
  /** What the ISO's files hold, all together (the bytes a tree unpack streams), from the source tree. */
  const fileBytes = () => {
    // By inode: the walk also goes down the "Packages" symlink to a directory.
    const sizes = new Map<number, number>();
    for (const p of readdirSync(tree, { recursive: true, encoding: 'utf8' })) {
      const st = lstatSync(join(tree, p));
      if (st.isFile()) sizes.set(st.ino, st.size);
    }
    return [...sizes.values()].reduce((a, b) => a + b, 0);
  };
  const names = async () => (await server.json<{ name: string }[]>(['image', 'list'])).map((i) => i.name);

  beforeAll(async () => {
    mkdirSync(join(tree, 'mgmt_image', 'Packages'), { recursive: true });
    mkdirSync(join(tree, 'ovm_image'));
    writeFileSync(
      join(tree, 'mgmt_image', 'Packages', 'ovca-core-2.1.0-1.el6.x86_64.rpm'),
      pseudoRandom('rpm', 3_000_000),
    );
    writeFileSync(join(tree, 'mgmt_image', 'install.sh'), '#!/bin/sh\nexit 0\n');
    chmodSync(join(tree, 'mgmt_image', 'install.sh'), 0o755);
    writeFileSync(join(tree, 'ovm_image', 'readme'), 'ovm\n');
    chmodSync(join(tree, 'ovm_image', 'readme'), 0o600);
    symlinkSync('mgmt_image/Packages', join(tree, 'Packages'));
    utimesSync(join(tree, 'ovm_image', 'readme'), 1_400_000_000, 1_400_000_000);
    mkdirSync(www);
    execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-J', '-o', join(www, 'ovca.iso'), tree], {
      stdio: 'pipe',
    });
    iso = readFileSync(join(www, 'ovca.iso'));
    execFileSync('zip', ['-q', 'ovca.zip', 'ovca.iso'], { cwd: www });
    // The same zip with the member renamed "../x.iso": a name that climbs out of the root.
    const zip = readFileSync(join(www, 'ovca.zip'));
    writeFileSync(
      join(www, 'dots.zip'),
      Buffer.from(zip.toString('latin1').replaceAll('ovca.iso', '../x.iso'), 'latin1'),
    );
    // zip64 records forced (an archive past 4 GiB needs them): the same reader path, small.
    execFileSync('zip', ['-q', '-fz', 'ovca64.zip', 'ovca.iso'], { cwd: www });
    makeDeepTree(deep);
    // Rock Ridge relocates directories past 8 levels: genisoimage into rr_moved, xorriso
    // (deep paths off) into the root; each leaves a CL placeholder where the directory was.
    execFileSync('genisoimage', ['-quiet', '-R', '-o', join(www, 'deep-genisoimage.iso'), deep], {
      stdio: 'pipe',
    });
    execFileSync(
      'xorriso',
      ['-report_about', 'SORRY', '-compliance', 'deep_paths_off', '-rockridge', 'on'].concat([
        '-outdev',
        join(www, 'deep-xorriso.iso'),
        '-map',
        deep,
        '/',
        '-commit',
      ]),
      { stdio: 'pipe' },
    );
    for (const f of [
      'ovca.zip',
      'ovca.iso',
      'dots.zip',
      'ovca64.zip',
      'deep-genisoimage.iso',
      'deep-xorriso.iso',
    ])
      sums[f] = sha(readFileSync(join(www, f)));
    nginx = await startNginx(www, makeTestCa(work));
    server = await startIngot({ name: 'UNPACK' });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    await nginx?.stop();
  });

  it('makes a tree image of the ISO a zip holds, which deploys with its files, modes and symlinks', async () => {
    const r = await importing(
      'OVCA_TREE',
      'ovca.zip',
      '--unpack',
      'zip,iso',
      '--type',
      'OSIMAGE',
      '--progress',
      'always',
    );
    expect(r.code, r.stderr).toBe(0);
    // The unpack's total: the ISO from the zip's central directory, then the ISO's files.
    const files = fileBytes();
    expect(await importJob('OVCA_TREE')).toMatchObject({
      progressTotal: iso.length + files,
      progressDone: iso.length + files,
    });
    expect(r.stderr).toMatch(
      /import OVCA_TREE {2}(\S+ \S+) \/ \1 100% {2}\S+ \S+\/s {2}elapsed \S+ {2}ETA 0s\n$/,
    );
    expect(r.stdout).toMatch(
      /^imported OVCA_TREE \(tree, .*unpacked ovca\.iso from the zip, \d+ entries \(rock-ridge\)\)/,
    );
    const out = join(work, 'deployed');
    const d = await server.cli(['image', 'deploy', 'OVCA_TREE', '--path', out]);
    expect(d.code, d.stderr).toBe(0);
    const rpm = 'mgmt_image/Packages/ovca-core-2.1.0-1.el6.x86_64.rpm';
    expect(readFileSync(join(out, rpm)).equals(readFileSync(join(tree, rpm)))).toBe(true);
    expect(lstatSync(join(out, 'mgmt_image', 'install.sh')).mode & 0o7777).toBe(0o755);
    expect(lstatSync(join(out, 'ovm_image', 'readme')).mode & 0o7777).toBe(0o600);
    expect(Math.round(lstatSync(join(out, 'ovm_image', 'readme')).mtimeMs)).toBe(1_400_000_000_000);
    expect(readlinkSync(join(out, 'Packages'))).toBe('mgmt_image/Packages');
    const shown = await server.json<{ kind: string; imageType: string }>(['image', 'show', 'OVCA_TREE']);
    expect(shown).toMatchObject({ kind: 'tree', imageType: 'OSIMAGE' });
  });

  it('makes a file image of the ISO with --unpack zip, and a tree of a bare ISO with --unpack iso', async () => {
    const r = await importing('OVCA_ISO', 'ovca.zip', '--unpack', 'zip', '--type', 'ISO');
    expect(r.code, r.stderr).toBe(0);
    const out = join(work, 'ovca-out.iso');
    expect((await server.cli(['image', 'deploy', 'OVCA_ISO', '--path', out])).code).toBe(0);
    expect(readFileSync(out).equals(iso)).toBe(true);
    expect(await importJob('OVCA_ISO')).toMatchObject({
      progressTotal: iso.length,
      progressDone: iso.length,
    });
    const bare = await server.json<{ image: { kind: string }; unpacked: { iso: string } }>([
      'image',
      'import',
      'OVCA_BARE',
      '--url',
      `${nginx.httpUrl}/ovca.iso`,
      '--sha256',
      sums['ovca.iso'] ?? '',
      '--unpack',
      'iso',
    ]);
    expect(bare).toMatchObject({ image: { kind: 'tree' }, unpacked: { iso: 'rock-ridge' } });
    expect(await importJob('OVCA_BARE')).toMatchObject({
      progressTotal: fileBytes(),
      progressDone: fileBytes(),
    });
  });

  it('refuses a zip whose member climbs out with "..", and an ISO asked of a zip: BAD_ARCHIVE, nothing listed', async () => {
    const r = await importing('DOTS', 'dots.zip', '--unpack', 'zip,iso');
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/BAD_ARCHIVE.*\.\.\/x\.iso/);
    const notZip = await importing('NOT_ZIP', 'ovca.iso', '--unpack', 'zip,iso');
    expect(notZip.code).toBe(65);
    expect(notZip.stderr).toMatch(/BAD_ARCHIVE.*zip/);
    const bad = await importing('BAD_STEP', 'ovca.zip', '--unpack', 'tar');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/INVALID_ARGUMENT|must be equal to one of/);
    // A tree asked for with a file's type is refused before a byte is downloaded: no job.
    const jobsBefore = (await server.json<unknown[]>(['job', 'list'])).length;
    const wrongType = await importing('WRONG_TYPE', 'ovca.zip', '--unpack', 'zip,iso', '--type', 'ISO');
    expect(wrongType.code).not.toBe(0);
    expect(wrongType.stderr).toMatch(/ISO/);
    expect((await server.json<unknown[]>(['job', 'list'])).length).toBe(jobsBefore);
    expect(await names()).not.toContain('DOTS');
    expect(await names()).not.toContain('NOT_ZIP');
    expect(await names()).not.toContain('BAD_STEP');
    expect(await names()).not.toContain('WRONG_TYPE');
  });
  it('reads a zip with zip64 records holding the ISO', async () => {
    const zip = readFileSync(join(www, 'ovca64.zip'));
    // The zip64 end of central directory record and its locator are there.
    expect([
      zip.includes(Buffer.from('PK\x06\x06', 'latin1')),
      zip.includes(Buffer.from('PK\x06\x07', 'latin1')),
    ]).toEqual([true, true]);
    const r = await importing('OVCA_ZIP64', 'ovca64.zip', '--unpack', 'zip,iso');
    expect(r.code, r.stderr).toBe(0);
    const out = join(work, 'deployed64');
    expect((await server.cli(['image', 'deploy', 'OVCA_ZIP64', '--path', out])).code).toBe(0);
    expect(shape(out)).toEqual(shape(tree));
  });

  it.each(['genisoimage', 'xorriso'])(
    'unpacks a tree deeper than 8 levels whose directories Rock Ridge relocated (%s)',
    async (maker) => {
      const file = `deep-${maker}.iso`;
      const bytes = readFileSync(join(www, file));
      expect([
        bytes.includes(Buffer.from('CL\x0c\x01', 'latin1')),
        bytes.includes(Buffer.from('RE\x04\x01', 'latin1')),
      ]).toEqual([true, true]);
      const name = `DEEP_${maker.toUpperCase()}`;
      const r = await importing(name, file, '--unpack', 'iso');
      expect(r.code, r.stderr).toBe(0);
      const out = join(work, `deployed-${maker}`);
      expect((await server.cli(['image', 'deploy', name, '--path', out])).code).toBe(0);
      expect(shape(out)).toEqual(shape(deep));
    },
  );
});
