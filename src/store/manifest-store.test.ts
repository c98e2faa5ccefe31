import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { IngotError } from '../core/errors.js';
import type { ChunkRef, Digest, Entry, Manifest } from '../core/manifest.js';
import { manifestDigest } from '../core/manifest-codec.js';
import { type CutPart, encodeManifestV2 } from '../core/manifest-v2.js';
import { removeTempFiles } from './atomic-write.js';
import { encodeChunk } from './compression.js';
import { DirectoryManifests } from './directory-manifests.js';
import { ManifestStore, namedChunks } from './manifest-store.js';
import { PackChunkStore } from './pack-chunk-store.js';
import { storePaths } from './paths.js';

const opened: PackChunkStore[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});

async function fresh(): Promise<{ root: string; chunks: PackChunkStore; store: ManifestStore }> {
  const root = await mkdtemp(join(tmpdir(), 'ingot-ms-'));
  const chunks = await PackChunkStore.open(root);
  opened.push(chunks);
  return { root, chunks, store: new ManifestStore(new DirectoryManifests(root), chunks) };
}

function tree(version: 1 | 2, files: number): Manifest {
  const t = { sec: 1_700_000_000, nsec: 0 };
  const entries: Entry[] = [{ path: '.', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: t }];
  const chunks: ChunkRef[] = [];
  for (let i = 0; i < files; i++) {
    entries.push({
      path: `f${String(i).padStart(5, '0')}`,
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: t,
      size: 10,
    });
    chunks.push({
      kind: 'data',
      digest: createHash('sha256').update(`c${i}`).digest('hex') as Digest,
      length: 10,
    });
  }
  return {
    format: 'ingot-manifest',
    version,
    name: 'HOME_1',
    origin: 'hq',
    imageType: 'SOFTWARE',
    parent: null,
    created: '2026-12-02T00:00:00.000Z',
    payload: { kind: 'tree', entries },
    chunks,
  };
}

describe('ManifestStore', () => {
  it('stores bytes under their digest and refuses bytes that do not match', async () => {
    const { store } = await fresh();
    const bytes = Buffer.from('{"a":1}');
    const digest = manifestDigest(bytes);
    await store.writeManifest(digest, bytes);
    expect(await store.readManifest(digest)).toEqual(bytes);
    const other = manifestDigest(Buffer.from('other'));
    await expect(store.writeManifest(other, bytes)).rejects.toBeInstanceOf(IngotError);
    expect(await store.hasManifest(other)).toBe(false);
  });

  it('seals a version 2 manifest as a root plus parts in the chunk store, and loads it whole', async () => {
    const { root, chunks, store } = await fresh();
    const m = tree(2, 5000);
    const sealed = await store.seal(m);
    expect(sealed.parts.length).toBeGreaterThan(1);
    expect(await chunks.missing(sealed.parts.map((p) => p.digest))).toEqual([]);
    const again = await new ManifestStore(new DirectoryManifests(root), chunks).load(sealed.digest);
    expect(again.manifest).toEqual(m);
    expect(again.bytes.length).toBeLessThan(4096);
    const named = namedChunks(again);
    expect(named.size).toBe(5000 + sealed.parts.length);
  });

  it("expands a child tree whose parent is held, still checking the child's own parts", async () => {
    const { chunks, store } = await fresh();
    const parent = await store.seal(tree(2, 4000));
    const v1 = parent.manifest;
    const entries = v1.payload.kind === 'tree' ? [...v1.payload.entries] : [];
    entries[2000] = { ...(entries[2000] as Entry), mode: 0o600 };
    const child: Manifest = {
      ...v1,
      name: 'HOME_2',
      parent: parent.digest,
      payload: { kind: 'tree', entries },
    };
    const { root, parts } = encodeManifestV2(child);
    await chunks.putManyEncoded(
      await Promise.all(parts.map(async (p) => ({ digest: p.digest, chunk: await encodeChunk(p.bytes) }))),
    );
    expect((await store.expand(root)).manifest).toEqual(child);
    // The commit's summary: the same check on the CPU pool, its tallies and chunk list.
    const summary = await store.summary(root);
    expect(summary).toMatchObject({
      name: 'HOME_2',
      kind: 'tree',
      fileCount: 4001,
      chunkCount: 4000,
      size: 40_000,
    });
    const listed: ChunkRef[] = [];
    for await (const batch of summary.chunks) listed.push(...batch);
    expect(listed).toEqual(child.chunks);
    // The child's own part with a line out of canonical order, its digest made to match.
    const own = parts.find((p) => !namedChunks(parent).has(p.digest) && p.bytes.at(-1) === 0x0a) as CutPart;
    const lines = own.bytes.toString().split('\n');
    lines[0] = JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(lines[0] as string)).reverse()));
    const bent = Buffer.from(lines.join('\n'));
    const digest = createHash('sha256').update(bent).digest('hex') as Digest;
    await chunks.putManyEncoded([{ digest, chunk: await encodeChunk(bent) }]);
    // Keys reordered keep the line's length: only the digest in the root changes.
    const bentRoot = Buffer.from(root.toString().replace(own.digest, digest));
    await expect(store.expand(bentRoot)).rejects.toMatchObject({ code: 'INVALID_MANIFEST' });
    await expect(store.summary(bentRoot)).rejects.toMatchObject({ code: 'INVALID_MANIFEST' });
  });

  it('loads version 1 manifests whole, with no parts', async () => {
    const { store } = await fresh();
    const m = tree(1, 10);
    const sealed = await store.seal(m);
    expect(sealed.parts).toEqual([]);
    expect((await store.load(sealed.digest)).manifest).toEqual(m);
  });

  it('says MISSING_CHUNKS for a root whose parts have not arrived, and CORRUPT for a damaged root', async () => {
    const a = await fresh();
    const sealed = await a.store.seal(tree(2, 3000));
    const b = await fresh();
    await expect(b.store.expand(sealed.bytes)).rejects.toMatchObject({ code: 'MISSING_CHUNKS' });
    await writeFile(
      storePaths(a.root).manifest(sealed.digest),
      Buffer.concat([sealed.bytes, Buffer.from(' ')]),
    );
    await expect(
      new ManifestStore(new DirectoryManifests(a.root), a.chunks).load(sealed.digest),
    ).rejects.toMatchObject({
      code: 'CORRUPT',
    });
  });

  it('prunes only unlisted manifests older than the cutoff', async () => {
    const { store } = await fresh();
    const keep = Buffer.from('keep');
    const old = Buffer.from('old');
    await store.writeManifest(manifestDigest(keep), keep);
    await store.writeManifest(manifestDigest(old), old);
    expect(await store.prune(new Set([manifestDigest(keep)]), 0)).toBe(0);
    expect(await store.prune(new Set([manifestDigest(keep)]), Date.now() + 1000)).toBe(1);
    expect(await store.hasManifest(manifestDigest(old))).toBe(false);
    expect(await store.hasManifest(manifestDigest(keep))).toBe(true);
  });

  it('removes temp files a crash left behind', async () => {
    const { tmpDir } = storePaths((await fresh()).root);
    await mkdir(tmpDir, { recursive: true });
    await writeFile(join(tmpDir, 'half-written.tmp'), 'x');
    expect(await removeTempFiles(tmpDir)).toBe(1);
    expect(await readdir(tmpDir)).toEqual([]);
  });
});
