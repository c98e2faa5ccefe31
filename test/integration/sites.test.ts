/**
 * The WSM flows on real servers: HQ publishes a template, two sites follow it, an edge
 * follows a site; a site patches an image, uploads it, HQ publishes it, every site gets it
 * (the source site without downloading it again), the edge after its site.
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IngotServer, startIngot } from '../support/ingot.js';
import { pair, waitFor, workDir } from '../support/peers.js';
import { pseudoRandom } from '../support/trees.js';

interface Following {
  upstream: string;
  template: string;
  lastStatus: string | null;
  lastVersion: number | null;
  lastError: string | null;
  nextRunAt: string;
}

interface SyncJson {
  version: number;
  images: { name: string; outcome: string; bytesMissing: number; wireBytes: number }[];
  wireBytes: number;
}

const SIZE = 4 * 1024 * 1024;
let hq: IngotServer;
let site1: IngotServer;
let site2: IngotServer;
let edge: IngotServer;

async function ok(server: IngotServer, args: string[]): Promise<string> {
  const r = await server.cli(args);
  expect(r.code, `ingot ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

function disk(name: string, base?: string): string {
  const file = join(workDir(), `${name}.img`);
  if (base) {
    copyFileSync(base, file);
    // A patch: a few scattered 4 KiB writes into a copy of the base.
    const buf = pseudoRandom(`${name}-patch`, SIZE);
    const img = Buffer.from(pseudoRandom(base.replace(/.*\//, '').replace('.img', ''), SIZE));
    for (let off = 0; off < SIZE; off += SIZE / 4) buf.copy(img, off, off, off + 4096);
    writeFileSync(file, img);
  } else writeFileSync(file, pseudoRandom(name, SIZE));
  return file;
}

async function syncNow(server: IngotServer, ...extra: string[]): Promise<SyncJson[]> {
  return server.json<SyncJson[]>(['sync', '--now', ...extra]);
}

async function holds(server: IngotServer, image: string): Promise<boolean> {
  return (await server.cli(['image', 'show', image])).code === 0;
}

beforeAll(async () => {
  [hq, site1, site2, edge] = await Promise.all([
    startIngot({ name: 'HQ' }),
    startIngot({ name: 'SITE_1' }),
    startIngot({ name: 'SITE_2' }),
    startIngot({ name: 'EDGE_1' }),
  ]);
  await pair({ server: hq, name: 'HQ' }, { server: site1, name: 'SITE_1' });
  await pair({ server: hq, name: 'HQ' }, { server: site2, name: 'SITE_2' });
  await pair({ server: site1, name: 'SITE_1' }, { server: edge, name: 'EDGE_1' });
});

afterAll(async () => {
  await Promise.all([hq?.stop(), site1?.stop(), site2?.stop(), edge?.stop()]);
});

describe('templates, sites and edges', () => {
  it('HQ assigns an image to a template and publishes it', async () => {
    await ok(hq, ['image', 'add', 'WIN_TC_7', '--file', disk('WIN_TC_7'), '--type', 'DISKIMAGE']);
    await ok(hq, ['template', 'create', 'STORE_PCS']);
    await ok(hq, ['template', 'add', 'STORE_PCS', '--image', 'WIN_TC_7']);
    const t = await hq.json<{ latestVersion: number; published: { name: string }[] }>([
      'template',
      'publish',
      'STORE_PCS',
    ]);
    expect(t.latestVersion).toBe(1);
    expect(t.published.map((i) => i.name)).toEqual(['WIN_TC_7']);
  });

  it('sites that follow get it on their schedule; a dry run says the bytes first', async () => {
    for (const site of [site1, site2]) {
      await ok(site, ['follow', '--upstream', 'HQ', '--template', 'STORE_PCS', '--every', '1h']);
    }
    for (const site of [site1, site2]) {
      const f = await waitFor(
        'the first scheduled sync',
        async () => (await site.json<Following[]>(['following']))[0],
        (x) => x?.lastStatus === 'ok',
      );
      expect(f?.lastVersion).toBe(1);
      const img = await site.json<{ origin: string; receivedFrom: string; state: string }>([
        'image',
        'show',
        'WIN_TC_7',
      ]);
      expect(img).toMatchObject({ origin: 'HQ', receivedFrom: 'HQ', state: 'PUBLISHED' });
    }
    const plan = await site1.json<SyncJson[]>(['sync', '--dry-run']);
    expect(plan[0]?.images).toEqual([
      expect.objectContaining({ name: 'WIN_TC_7', outcome: 'present', bytesMissing: 0 }),
    ]);
  });

  it('an edge follows its site’s template: templates relay through tiers', async () => {
    await ok(edge, ['follow', '--upstream', 'SITE_1', '--template', 'STORE_PCS', '--every', '1h']);
    await waitFor(
      'the edge sync',
      async () => (await edge.json<Following[]>(['following']))[0],
      (x) => x?.lastStatus === 'ok',
    );
    expect(
      await edge.json<{ origin: string; receivedFrom: string }>(['image', 'show', 'WIN_TC_7']),
    ).toMatchObject({
      origin: 'HQ',
      receivedFrom: 'SITE_1',
    });
    const t = await site1.json<{ upstream: string; latestVersion: number }>([
      'template',
      'show',
      'STORE_PCS',
    ]);
    expect(t).toMatchObject({ upstream: 'HQ', latestVersion: 1 });
    expect((await site1.cli(['template', 'add', 'STORE_PCS', '--image', 'WIN_TC_7'])).code).toBe(4);
  });

  it('a site’s own patch is usable there but not passed to its edge, nor taken by HQ unasked', async () => {
    await ok(site1, [
      'image',
      'add',
      'WIN_TC_7_P1',
      '--file',
      disk('WIN_TC_7_P1', join(workDir(), 'WIN_TC_7.img')),
      '--from',
      'WIN_TC_7',
      '--type',
      'DISKIMAGE',
    ]);
    const r = await edge.json<SyncJson[]>(['sync', '--now']);
    expect(r[0]?.images.map((i) => i.name)).toEqual(['WIN_TC_7']);
    expect(await holds(edge, 'WIN_TC_7_P1')).toBe(false);
    const refused = await site1.cli(['image', 'push', 'WIN_TC_7_P1', '--server', 'HQ']);
    expect(refused.code).toBe(77);
    expect(refused.stderr).toMatch(/takes no uploads/);
    expect(await holds(hq, 'WIN_TC_7_P1')).toBe(false);
  });

  it('an upload arrives TESTABLE as a delta, and goes out only once HQ publishes it', async () => {
    await ok(hq, ['modify', 'peerserver', '--server', 'SITE_1', '--allow-uploads', 'on']);
    const t = await site1.json<{ wireBytes: number; bytesPresent: number; bytesTotal: number }>([
      'image',
      'push',
      'WIN_TC_7_P1',
      '--server',
      'HQ',
    ]);
    // HQ holds v1: only the patched chunks travel.
    expect(t.wireBytes).toBeLessThan(SIZE / 2);
    expect(t.bytesPresent).toBeGreaterThan(SIZE / 2);
    const up = await hq.json<{ state: string; origin: string; uploaded: boolean }>([
      'image',
      'show',
      'WIN_TC_7_P1',
    ]);
    expect(up).toMatchObject({ state: 'TESTABLE', origin: 'SITE_1', uploaded: true });
    expect((await hq.cli(['image', 'verify', 'WIN_TC_7_P1'])).code).toBe(0);
    await ok(hq, ['template', 'add', 'STORE_PCS', '--image', 'WIN_TC_7_P1']);
    const early = await hq.cli(['template', 'publish', 'STORE_PCS']);
    expect(early.code).toBe(4);
    expect(early.stderr).toMatch(/TESTABLE/);
    await ok(hq, ['image', 'state', 'WIN_TC_7_P1', 'PUBLISHED']);
    await ok(hq, ['template', 'publish', 'STORE_PCS']);
  });

  it('every site gets the patch, the source site without downloading it; the edge after its site', async () => {
    const [s1] = await syncNow(site1);
    expect(s1?.version).toBe(2);
    expect(s1?.images.find((i) => i.name === 'WIN_TC_7_P1')).toMatchObject({
      outcome: 'present',
      wireBytes: 0,
    });
    const text = await ok(site1, ['sync', '--now']);
    expect(text).toMatch(/WIN_TC_7_P1\s+skipped: already present, verified/);
    const [s2] = await syncNow(site2);
    const p1 = s2?.images.find((i) => i.name === 'WIN_TC_7_P1');
    expect(p1?.outcome).toBe('fetched');
    expect(p1?.bytesMissing).toBeLessThan(SIZE / 2);
    // Four scattered 4 KiB writes: their chunks come as deltas against WIN_TC_7's, which site 2 holds.
    expect(p1?.wireBytes).toBeLessThan((p1?.bytesMissing ?? 0) / 4);
    const [e] = await syncNow(edge);
    expect(e?.version).toBe(2);
    expect(await holds(edge, 'WIN_TC_7_P1')).toBe(true);
    expect((await edge.cli(['image', 'verify', 'WIN_TC_7_P1'])).code).toBe(0);
  });

  it('schedules hold: a short interval picks up a new version by itself', async () => {
    await ok(site2, ['follow', '--upstream', 'HQ', '--template', 'STORE_PCS', '--every', '2s']);
    await ok(hq, ['image', 'add', 'WIN_TC_8', '--file', disk('WIN_TC_8'), '--type', 'DISKIMAGE']);
    await ok(hq, ['template', 'add', 'STORE_PCS', '--image', 'WIN_TC_8']);
    await ok(hq, ['template', 'publish', 'STORE_PCS']);
    await waitFor(
      'site 2 to hold v3',
      async () => (await site2.json<Following[]>(['following']))[0],
      (f) => f?.lastVersion === 3,
      30_000,
    );
    expect(await holds(site2, 'WIN_TC_8')).toBe(true);
  });

  it('windows hold: outside its window a sync waits unless --now', async () => {
    const now = new Date();
    const closed = `${String((now.getHours() + 2) % 24).padStart(2, '0')}:00-${String((now.getHours() + 3) % 24).padStart(2, '0')}:00`;
    await ok(site2, [
      'follow',
      '--upstream',
      'HQ',
      '--template',
      'STORE_PCS',
      '--every',
      '1s',
      '--window',
      closed,
    ]);
    const text = await ok(site2, ['sync']);
    expect(text).toMatch(/outside its window/);
    const f = (await site2.json<Following[]>(['following']))[0];
    // The window opens two whole hours after the hour the test began in, so the next run is more
    // than an hour after that instant even when the clock crosses an hour while the test runs.
    expect(Date.parse(f?.nextRunAt ?? '')).toBeGreaterThan(now.getTime() + 60 * 60_000);
    const forced = await site2.json<SyncJson[]>(['sync', '--now']);
    expect(forced[0]?.version).toBe(3);
  });

  it('a failed sync says why in following', async () => {
    await ok(site2, ['follow', '--upstream', 'HQ', '--template', 'NO_SUCH', '--every', '1h']);
    const f = await waitFor(
      'the sync of NO_SUCH to fail',
      async () => (await site2.json<Following[]>(['following'])).find((x) => x.template === 'NO_SUCH'),
      (x) => x?.lastStatus === 'failed',
    );
    expect(f?.lastError).toMatch(/no published version|no template/);
    await ok(site2, ['unfollow', '--upstream', 'HQ', '--template', 'NO_SUCH']);
  });
});
