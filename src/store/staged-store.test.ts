import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { Digest } from '../core/manifest.js';
import { removeTempFiles } from './atomic-write.js';
import { digestOf } from './chunk-store.suite.js';
import { DirectoryManifests } from './directory-manifests.js';
import { openStore, rawItem, tempRoot, verifyAll } from './pack-store.fixture.js';
import { storePaths } from './paths.js';
import { StagedStore } from './staged-store.js';

async function listed(store: { list(): AsyncIterable<{ digest: Digest }> }): Promise<Digest[]> {
  const out: Digest[] = [];
  for await (const i of store.list()) out.push(i.digest);
  return out.sort();
}

async function setUp() {
  const root = await tempRoot();
  const main = await openStore(root);
  const held = rawItem(1000);
  await main.putManyEncoded([held]);
  const staged = await StagedStore.open(main, new DirectoryManifests(root), root);
  const fresh = [rawItem(2000), rawItem(3000)];
  await staged.putManyEncoded(fresh);
  return { root, main, held, staged, fresh };
}

describe('StagedStore', () => {
  it('keeps its writes out of the main store while reads and have/want see both', async () => {
    const { main, held, staged, fresh } = await setUp();
    const [a, b] = fresh.map((f) => f.digest) as [Digest, Digest];
    const absent = digestOf(Buffer.from('never stored'));
    expect(await main.has(a)).toBe(false);
    expect(await main.missing([a, b])).toEqual([a, b]);
    expect(await staged.missing([held.digest, a, absent, b])).toEqual([absent]);
    expect(await staged.has(held.digest)).toBe(true);
    expect(await staged.get(a)).toEqual(fresh[0]?.chunk.payload);
    const read: Digest[] = [];
    for await (const c of staged.readStored([a, held.digest, b])) read.push(c.digest);
    expect(read).toEqual([a, held.digest, b]);
    expect(await staged.tally([held.digest, a, absent], [1000, 2000, 5])).toMatchObject({ matched: 2 });
    expect(await listed(staged)).toEqual([a, b].sort());
    await staged.discard();
  });

  it('discard leaves the main store as it was and removes the staging directory', async () => {
    const { root, main, held, staged } = await setUp();
    await staged.discard();
    await staged.discard();
    expect(await listed(main)).toEqual([held.digest]);
    expect(await readdir(storePaths(root).tmpDir)).toEqual([]);
  });

  it('promote moves every staged chunk into the main store, readable and verified', async () => {
    const { root, main, held, staged, fresh } = await setUp();
    expect(await staged.promote()).toMatchObject({ stored: 2 });
    expect(await listed(main)).toEqual([held.digest, ...fresh.map((f) => f.digest)].sort());
    for (const f of fresh) expect(await main.get(f.digest)).toEqual(f.chunk.payload);
    expect(await readdir(storePaths(root).tmpDir)).toEqual([]);
  });

  it('promote takes the staged packs whole: a chunk held on both sides stays once, and the store reopens clean', async () => {
    const { root, main, held, staged, fresh } = await setUp();
    await staged.putManyEncoded([held]);
    expect(await staged.promote()).toEqual({ stored: 2 });
    expect(await verifyAll(main)).toBe(3);
    await main.close();
    const again = await openStore(root);
    expect(again.recovery).toMatchObject({ recordsIndexed: 0, packsAdopted: 0, packsDropped: 0 });
    expect(await listed(again)).toEqual([held.digest, ...fresh.map((f) => f.digest)].sort());
    await again.putManyEncoded([rawItem(700)]);
    expect(await verifyAll(again)).toBe(4);
  });

  it('a staging store a crash left behind goes with the temp files at the next start', async () => {
    const { root, staged } = await setUp();
    expect(await readdir(storePaths(root).tmpDir)).toHaveLength(1);
    expect(await removeTempFiles(storePaths(root).tmpDir)).toBe(1);
    expect(await readdir(storePaths(root).tmpDir)).toEqual([]);
    await staged.discard();
  });

  it('verifies what it stages, as the main store would', async () => {
    const { staged } = await setUp();
    const bad = rawItem(500);
    const r = await staged.putManyEncoded([{ digest: digestOf(Buffer.from('other')), chunk: bad.chunk }]);
    expect(r.rejected).toHaveLength(1);
    expect(await listed(staged)).toHaveLength(2);
    await staged.discard();
  });
});
