import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IngotError } from '../core/errors.js';
import { manifestDigest } from '../core/manifest-codec.js';
import { ManifestStore } from './manifest-store.js';

describe('ManifestStore', () => {
  it('stores bytes under their digest and refuses bytes that do not match', async () => {
    const store = new ManifestStore(await mkdtemp(join(tmpdir(), 'ingot-ms-')));
    const bytes = Buffer.from('{"a":1}');
    const digest = manifestDigest(bytes);
    await store.writeManifest(digest, bytes);
    expect(await store.readManifest(digest)).toEqual(bytes);
    const other = manifestDigest(Buffer.from('other'));
    await expect(store.writeManifest(other, bytes)).rejects.toBeInstanceOf(IngotError);
    expect(await store.hasManifest(other)).toBe(false);
  });

  it('prunes only unlisted manifests older than the cutoff', async () => {
    const store = new ManifestStore(await mkdtemp(join(tmpdir(), 'ingot-ms-')));
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
    const root = await mkdtemp(join(tmpdir(), 'ingot-ms-'));
    const store = new ManifestStore(root);
    await mkdir(store.paths.tmpDir, { recursive: true });
    await writeFile(join(store.paths.tmpDir, 'half-written.tmp'), 'x');
    expect(await store.removeTempFiles()).toBe(1);
    expect(await readdir(store.paths.tmpDir)).toEqual([]);
  });
});
