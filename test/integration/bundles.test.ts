/**
 * Bundles, the offline way: made on HQ, imported on a site, full, relative to a base or to
 * the site's inventory, split into parts; and refused whole when truncated, tampered with
 * or made by a server the site does not trust.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest } from '../../src/core/manifest.js';
import { asOrigin, identityOf, rewriteBundle, storedChunks } from '../support/bundles.js';
import { type IngotServer, startIngot, tempDir } from '../support/ingot.js';
import { pair, workDir } from '../support/peers.js';
import { diskFile, pseudoRandom } from '../support/trees.js';

const SIZE = 3 * 1024 * 1024;
let hq: IngotServer;
let site: IngotServer;
let other: IngotServer;

async function ok(server: IngotServer, args: string[]): Promise<string> {
  const r = await server.cli(args);
  expect(r.code, `ingot ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

const contents = new Map<string, Buffer>();

/** A disk image; `from` makes it a patch of that one: one 8 KiB write in the middle. */
async function addDisk(server: IngotServer, name: string, from?: string): Promise<void> {
  const file = diskFile(workDir(), name, SIZE, contents, from);
  await ok(server, [
    'image',
    'add',
    name,
    '--file',
    file,
    '--type',
    'DISKIMAGE',
    ...(from ? ['--from', from] : []),
  ]);
}

async function names(server: IngotServer): Promise<string[]> {
  return (await server.json<{ name: string }[]>(['image', 'list'])).map((i) => i.name).sort();
}

function files(dir: string): string[] {
  return readdirSync(dir).sort();
}

beforeAll(async () => {
  [hq, site, other] = await Promise.all([
    startIngot({ name: 'HQ' }),
    startIngot({ name: 'SITE' }),
    startIngot({ name: 'OTHER' }),
  ]);
  await pair({ server: hq, name: 'HQ' }, { server: site, name: 'SITE' });
  await addDisk(hq, 'WIN_1');
});

afterAll(async () => {
  await Promise.all([hq?.stop(), site?.stop(), other?.stop()]);
});

describe('bundles', () => {
  it('seeds a site from a USB stick; the template sync then moves no bytes', async () => {
    const usb = tempDir('ingot-usb-');
    const made = await hq.json<{ files: string[]; chunks: number }>([
      'bundle',
      'create',
      '--image',
      'WIN_1',
      '--out',
      usb,
    ]);
    expect(files(usb)).toEqual(['WIN_1.ingot']);
    expect(statSync(join(usb, 'WIN_1.ingot')).size).toBeGreaterThan(SIZE);
    const imported = await site.json<{ createdBy: string; images: { name: string; status: string }[] }>([
      'bundle',
      'import',
      join(usb, 'WIN_1.ingot'),
    ]);
    expect(imported).toMatchObject({ createdBy: 'HQ', images: [{ name: 'WIN_1', status: 'needed' }] });
    expect(
      await site.json<{ origin: string; receivedFrom: string }>(['image', 'show', 'WIN_1']),
    ).toMatchObject({
      origin: 'HQ',
      receivedFrom: 'HQ',
    });
    expect((await site.cli(['image', 'verify', 'WIN_1'])).code).toBe(0);
    expect(made.chunks).toBeGreaterThan(0);

    await ok(hq, ['template', 'create', 'STORE_PCS']);
    await ok(hq, ['template', 'add', 'STORE_PCS', '--image', 'WIN_1']);
    await ok(hq, ['template', 'publish', 'STORE_PCS']);
    await ok(site, ['follow', '--upstream', 'HQ', '--template', 'STORE_PCS', '--every', '1h']);
    const [sync] = await site.json<{ wireBytes: number; images: { outcome: string }[] }[]>(['sync', '--now']);
    expect(sync).toMatchObject({ wireBytes: 0, images: [{ outcome: 'present' }] });
  });

  it('carries only what a base image lacks, or what a site inventory lacks', async () => {
    await addDisk(hq, 'WIN_1_P1', 'WIN_1');
    const usb = tempDir('ingot-usb-');
    const rel = await hq.json<{ rawBytes: number; logicalBytes: number }>([
      'bundle',
      'create',
      '--image',
      'WIN_1_P1',
      '--base',
      'WIN_1',
      '--out',
      usb,
    ]);
    expect(rel.rawBytes).toBeLessThan(SIZE / 4);
    // The changed chunks travel as deltas against the base's: a few KiB for 8 KiB written.
    expect(rel.logicalBytes).toBeLessThan(rel.rawBytes / 4);
    await ok(site, ['bundle', 'import', join(usb, 'WIN_1_P1.ingot')]);
    expect((await site.cli(['image', 'verify', 'WIN_1_P1'])).code).toBe(0);

    await addDisk(hq, 'WIN_1_P2', 'WIN_1_P1');
    const inventory = join(workDir(), 'site-inventory.json');
    await ok(site, ['inventory', '--out', inventory]);
    const usb2 = tempDir('ingot-usb-');
    const min = await hq.json<{ rawBytes: number; logicalBytes: number }>([
      'bundle',
      'create',
      '--image',
      'WIN_1_P2',
      '--have',
      inventory,
      '--out',
      usb2,
    ]);
    expect(min.rawBytes).toBeLessThan(SIZE / 4);
    // Against its parent, which the inventory lists; sent by the CLI, as deltas too.
    expect(min.logicalBytes).toBeLessThan(min.rawBytes / 4);
    await ok(site, ['bundle', 'import', join(usb2, 'WIN_1_P2.ingot'), '--upload']);
    expect((await site.cli(['image', 'verify', 'WIN_1_P2'])).code).toBe(0);
    const out = join(workDir(), 'WIN_1_P2.deployed');
    await ok(site, ['image', 'deploy', 'WIN_1_P2', '--path', out]);
    expect(readFileSync(out).equals(contents.get('WIN_1_P2') as Buffer)).toBe(true);
  });

  it('splits into parts no larger than asked, and imports from the first part', async () => {
    await addDisk(hq, 'WIN_2');
    const usb = tempDir('ingot-usb-');
    await ok(hq, ['bundle', 'create', '--image', 'WIN_2', '--out', usb, '--split', '1M']);
    const parts = files(usb);
    expect(parts.length).toBeGreaterThanOrEqual(3);
    expect(parts[0]).toBe('WIN_2.ingot.001');
    for (const p of parts) expect(statSync(join(usb, p)).size).toBeLessThanOrEqual(1024 * 1024);
    await ok(site, ['bundle', 'import', join(usb, 'WIN_2.ingot.001')]);
    expect((await site.cli(['image', 'verify', 'WIN_2'])).code).toBe(0);
  });

  it('refuses a truncated or tampered bundle whole, changing nothing', async () => {
    await addDisk(hq, 'WIN_3');
    const usb = tempDir('ingot-usb-');
    await ok(hq, ['bundle', 'create', '--image', 'WIN_3', '--out', usb]);
    const file = join(usb, 'WIN_3.ingot');
    const before = await names(site);
    const chunks = storedChunks(site);

    const cut = join(tempDir('ingot-usb-'), 'WIN_3.ingot');
    copyFileSync(file, cut);
    truncateSync(cut, statSync(cut).size - 1000);
    const r1 = await site.cli(['bundle', 'import', cut]);
    expect(r1.code).toBe(65);
    expect(r1.stderr).toMatch(/TRUNCATED|truncated|cut|short/i);

    const bad = join(tempDir('ingot-usb-'), 'WIN_3.ingot');
    copyFileSync(file, bad);
    const fd = openSync(bad, 'r+');
    const middle = Math.floor(statSync(bad).size / 2);
    const was = Buffer.alloc(1);
    readSync(fd, was, 0, 1, middle);
    writeSync(fd, Buffer.from([(was[0] as number) ^ 0xff]), 0, 1, middle);
    closeSync(fd);
    const r2 = await site.cli(['bundle', 'import', bad]);
    expect(r2.code).toBe(74);
    expect(await names(site)).toEqual(before);
    expect(storedChunks(site)).toBe(chunks);
  });

  it('refuses a bundle whose chunks are valid but whose trailer is wrong, by either route', async () => {
    await addDisk(hq, 'WIN_7');
    const usb = tempDir('ingot-usb-');
    await ok(hq, ['bundle', 'create', '--image', 'WIN_7', '--out', usb]);
    const file = join(usb, 'WIN_7.ingot');
    // The last byte of the trailer's SHA-256: every chunk and its digest are intact.
    const last = statSync(file).size - 1;
    const fd = openSync(file, 'r+');
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, last);
    writeSync(fd, Buffer.from([(byte[0] as number) ^ 0x01]), 0, 1, last);
    closeSync(fd);
    const before = await names(site);
    const chunks = storedChunks(site);
    for (const extra of [[], ['--upload']]) {
      const r = await site.cli(['bundle', 'import', file, ...extra]);
      expect(r.code, r.stderr).toBe(74);
      expect(r.stderr).toMatch(/trailer/);
      expect(await names(site)).toEqual(before);
      expect(storedChunks(site)).toBe(chunks);
    }
  });

  it('refuses a bundle made by a server it does not trust', async () => {
    await addDisk(other, 'FOREIGN_1');
    const usb = tempDir('ingot-usb-');
    await ok(other, ['bundle', 'create', '--image', 'FOREIGN_1', '--out', usb]);
    const before = await names(site);
    const r = await site.cli(['bundle', 'import', join(usb, 'FOREIGN_1.ingot')]);
    expect(r.code).toBe(77);
    expect(r.stderr).toMatch(/does not trust/);
    expect(await names(site)).toEqual(before);
  });

  it('stores nothing of a refused bundle, by either route: damaged, cut, a chunk no image names, one short', async () => {
    await addDisk(hq, 'WIN_9');
    const usb = tempDir('ingot-usb-');
    await ok(hq, ['bundle', 'create', '--image', 'WIN_9', '--out', usb]);
    const file = join(usb, 'WIN_9.ingot');
    const stranger = pseudoRandom('stranger', 100_000);
    const strangerDigest = createHash('sha256').update(stranger).digest('hex') as Digest;
    const extra = await rewriteBundle(file, 'WIN_9', {
      chunks: (cs) => [
        ...cs,
        {
          digest: strangerDigest,
          encoded: { encoding: 'raw', payload: stranger },
          rawLength: stranger.length,
        },
      ],
    });
    // The last frame is a data chunk: the root's parts come first.
    const short = await rewriteBundle(file, 'WIN_9', { chunks: (cs) => cs.slice(0, -1) });
    const cut = join(tempDir('ingot-usb-'), 'WIN_9.ingot');
    copyFileSync(file, cut);
    truncateSync(cut, Math.floor(statSync(cut).size * 0.7));
    const damaged = join(tempDir('ingot-usb-'), 'WIN_9.ingot');
    copyFileSync(file, damaged);
    const fd = openSync(damaged, 'r+');
    const at = Math.floor(statSync(damaged).size * 0.7);
    const was = Buffer.alloc(1);
    readSync(fd, was, 0, 1, at);
    writeSync(fd, Buffer.from([(was[0] as number) ^ 0xff]), 0, 1, at);
    closeSync(fd);

    const before = { names: await names(site), chunks: storedChunks(site) };
    const cases: [string, number, RegExp][] = [
      [damaged, 74, /CORRUPT/],
      [cut, 65, /TRUNCATED/],
      [extra, 2, /1 chunk\(s\) that none of its images names/],
      [short, 65, /MISSING_CHUNKS.*lacks chunks WIN_9 needs/],
    ];
    for (const [path, exit, says] of cases) {
      for (const route of [[], ['--upload']]) {
        const r = await site.cli(['bundle', 'import', path, ...route]);
        expect(r.code, `${path} ${route}: ${r.stderr}`).toBe(exit);
        expect(r.stderr).toMatch(says);
        expect(await names(site)).toEqual(before.names);
        expect(storedChunks(site), `${path} ${route}`).toBe(before.chunks);
      }
    }
    // Nothing is left staged either, and the bundle as made still imports.
    expect(readdirSync(join(site.home, 'store', 'tmp'))).toEqual([]);
    await ok(site, ['bundle', 'import', file]);
    expect(storedChunks(site)).toBeGreaterThan(before.chunks);
    expect((await site.cli(['image', 'verify', 'WIN_9'])).code).toBe(0);
  });

  it('stores nothing of an import killed mid-way: the staging store goes at the restart', async () => {
    const data = join(workDir(), 'WIN_BIG.img');
    const parts: Buffer[] = [];
    for (let i = 0; i < 6; i++) parts.push(pseudoRandom(`WIN_BIG ${i}`, 16 * 1024 * 1024));
    writeFileSync(data, Buffer.concat(parts));
    await ok(hq, ['image', 'add', 'WIN_BIG', '--file', data, '--type', 'DISKIMAGE']);
    const usb = tempDir('ingot-usb-');
    await ok(hq, ['bundle', 'create', '--image', 'WIN_BIG', '--out', usb]);
    const before = { names: await names(site), chunks: storedChunks(site) };
    const staging = join(site.home, 'store', 'tmp');
    const importing = site.cli(['bundle', 'import', join(usb, 'WIN_BIG.ingot')]);
    // Killed once the staging store holds a pack file that has grown.
    const staged = () =>
      readdirSync(staging).some((d) => {
        const packs = join(staging, d, 'packs-v1');
        try {
          return readdirSync(packs).some(
            (f) => f.endsWith('.pack') && statSync(join(packs, f)).size > 4 << 20,
          );
        } catch {
          return false;
        }
      });
    while (!staged()) await new Promise((r) => setTimeout(r, 10));
    await site.kill9();
    expect((await importing).code).not.toBe(0);
    site = await site.restart();
    expect(readdirSync(staging)).toEqual([]);
    expect(storedChunks(site)).toBe(before.chunks);
    expect(await names(site)).toEqual(before.names);
  }, 240_000);

  it('refuses an image that names the importing server, or an unknown server, as its origin', async () => {
    await addDisk(hq, 'WIN_8');
    const usb = tempDir('ingot-usb-');
    await ok(hq, ['bundle', 'create', '--image', 'WIN_8', '--out', usb]);
    // HQ is trusted (a registered peer) and signs the header and the manifest itself.
    const signer = await identityOf(hq);
    const before = { names: await names(site), chunks: storedChunks(site) };
    const cases = [
      { origin: 'SITE', code: 'BAD_SIGNATURE', exit: 65, says: /names this server \(SITE\) as its origin/ },
      { origin: 'NOBODY', code: 'UNKNOWN_ORIGIN', exit: 77, says: /NOBODY, which is not a registered peer/ },
    ];
    for (const c of cases) {
      const forged = await rewriteBundle(join(usb, 'WIN_8.ingot'), `WIN_8_${c.origin}`, {
        signer,
        images: (list) => list.map((i) => asOrigin(i, c.origin, signer)),
      });
      for (const extra of [[], ['--upload']]) {
        const r = await site.cli(['bundle', 'import', forged, ...extra]);
        expect(r.code, r.stderr).toBe(c.exit);
        expect(r.stderr).toContain(c.code);
        expect(r.stderr).toMatch(c.says);
      }
    }
    expect(await names(site)).toEqual(before.names);
    expect(storedChunks(site)).toBe(before.chunks);
  });

  it('verify checks the manifest signature with the origin key', async () => {
    await addDisk(site, 'SITE_OWN_1');
    const catalog = new DatabaseSync(join(site.home, 'catalog.sqlite'));
    try {
      for (const name of ['WIN_1', 'SITE_OWN_1']) {
        expect((await site.cli(['image', 'verify', name])).code).toBe(0);
        const row = catalog.prepare('SELECT signature FROM images WHERE name = ?').get(name) as {
          signature: string;
        };
        // A valid signature, of another image: the manifest and its chunks are intact.
        const other = catalog.prepare('SELECT signature FROM images WHERE name = ?').get('WIN_2') as {
          signature: string;
        };
        catalog.prepare('UPDATE images SET signature = ? WHERE name = ?').run(other.signature, name);
        try {
          const r = await site.cli(['image', 'verify', name]);
          expect(r.code, r.stderr).toBe(65);
          expect(r.stderr).toContain('BAD_SIGNATURE');
        } finally {
          catalog.prepare('UPDATE images SET signature = ? WHERE name = ?').run(row.signature, name);
        }
      }
    } finally {
      catalog.close();
    }
  });

  it('refuses a bundle relative to a base the site lacks, listing nothing', async () => {
    await addDisk(hq, 'WIN_4');
    await addDisk(hq, 'WIN_4_P1', 'WIN_4');
    const usb = tempDir('ingot-usb-');
    await ok(hq, ['bundle', 'create', '--image', 'WIN_4_P1', '--base', 'WIN_4', '--out', usb]);
    const chunks = storedChunks(site);
    const r = await site.cli(['bundle', 'import', join(usb, 'WIN_4_P1.ingot')]);
    expect(r.code).toBe(65);
    expect(storedChunks(site)).toBe(chunks);
    // Its changed chunks are deltas against WIN_4's, which the site does not hold.
    expect(r.stderr).toMatch(/deltas against chunks this server does not hold/);
    expect(r.stderr).toMatch(/import that base first/);
    expect(await names(site)).not.toContain('WIN_4_P1');
  });

  it('is read by the server of its own host as a job, or sent by the CLI with --upload', async () => {
    const importJobs = async () =>
      (await site.json<{ kind: string; state: string }[]>(['job', 'list'])).filter(
        (j) => j.kind === 'bundle-import',
      );
    const before = (await importJobs()).length;
    await addDisk(hq, 'WIN_5');
    await addDisk(hq, 'WIN_6');
    const usb = tempDir('ingot-usb-');
    await ok(hq, ['bundle', 'create', '--image', 'WIN_5', '--out', usb]);
    await ok(hq, ['bundle', 'create', '--image', 'WIN_6', '--out', usb]);
    const sent = await site.json<{ images: { status: string }[]; stored: number }>([
      'bundle',
      'import',
      join(usb, 'WIN_5.ingot'),
      '--upload',
    ]);
    expect(sent).toMatchObject({ images: [{ status: 'needed' }] });
    expect((await importJobs()).length).toBe(before);
    const read = await site.json<{ images: { status: string }[]; stored: number }>([
      'bundle',
      'import',
      join(usb, 'WIN_6.ingot'),
    ]);
    expect(read).toMatchObject({ images: [{ status: 'needed' }] });
    expect(read.stored).toBeGreaterThan(0);
    expect(await importJobs()).toHaveLength(before + 1);
    expect((await importJobs())[0]).toMatchObject({ state: 'succeeded' });
    const missing = await site.cli(['bundle', 'import', join(usb, 'NOPE.ingot')]);
    expect(missing.code).toBe(66);
    expect((await site.cli(['image', 'verify', 'WIN_6'])).code).toBe(0);
  });
});
