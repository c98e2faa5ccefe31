import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Digest } from '../core/manifest.js';
import { encodeManifest, manifestDigest } from '../core/manifest-codec.js';
import { chunkStoreSuite } from './chunk-store.suite.js';
import { DirectoryManifests } from './directory-manifests.js';
import { LocalChunkStore } from './local-chunk-store.js';
import { ManifestStore } from './manifest-store.js';
import { storePaths } from './paths.js';

const dirs: string[] = [];
async function freshRoot(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ingot-store-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

chunkStoreSuite('LocalChunkStore', async () => {
  const root = await mkdtemp(join(tmpdir(), 'ingot-store-'));
  return { store: new LocalChunkStore(root), cleanup: () => rm(root, { recursive: true, force: true }) };
});

const digestOf = (b: Buffer) => createHash('sha256').update(b).digest('hex') as Digest;
const text = Buffer.from('some chunk content\n'.repeat(1000));

describe('LocalChunkStore on disk', () => {
  it('lays chunks out as encoding byte + payload under chunks-v1/ab/', async () => {
    const s = new LocalChunkStore(await freshRoot());
    const d = digestOf(text);
    await s.put(d, text);
    const file = await readFile(join(s.paths.chunksDir, d.slice(0, 2), d));
    expect(file[0]).toBe(1);
    await s.putEncoded(digestOf(Buffer.from('x')), { encoding: 'raw', payload: Buffer.from('x') });
    expect(await readFile(s.paths.chunk(digestOf(Buffer.from('x'))))).toEqual(Buffer.from([0, 0x78]));
  });

  it('detects a flipped byte on read (CORRUPT with expected/found)', async () => {
    const s = new LocalChunkStore(await freshRoot());
    const d = digestOf(text);
    await s.putEncoded(d, { encoding: 'raw', payload: text });
    const file = await readFile(s.paths.chunk(d));
    file[100] = file[100]! ^ 0x01;
    await writeFile(s.paths.chunk(d), file);
    const err = await s.get(d).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CORRUPT', details: { expected: d } });
    expect((err as { details: { found: string } }).details.found).toMatch(/^[0-9a-f]{64}$/);
  });

  it('detects truncated and empty chunk files', async () => {
    const s = new LocalChunkStore(await freshRoot());
    const d = digestOf(text);
    await s.put(d, text);
    await truncate(s.paths.chunk(d), 10);
    await expect(s.get(d)).rejects.toMatchObject({ code: 'CORRUPT' });
    await truncate(s.paths.chunk(d), 0);
    await expect(s.getEncoded(d)).rejects.toMatchObject({ code: 'CORRUPT' });
  });

  it('leaves no temp files behind, also after failures', async () => {
    const s = new LocalChunkStore(await freshRoot());
    const chunks = Array.from({ length: 50 }, (_, i) => Buffer.from(`chunk ${i}`.repeat(100)));
    await Promise.all(chunks.map((c) => s.put(digestOf(c), c)));
    await Promise.all(chunks.map((c) => s.put(digestOf(c), c)));
    await s.put(digestOf(text), Buffer.from('wrong')).catch(() => {});
    expect(await readdir(s.paths.tmpDir)).toEqual([]);
  });

  it('refuses malformed digests', async () => {
    const s = new LocalChunkStore(await freshRoot());
    await expect(s.get('../../etc/passwd' as Digest)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await s.missing(['nope' as Digest])).toEqual(['nope']);
  });
});

describe('ManifestStore', () => {
  const bytes = encodeManifest({
    format: 'ingot-manifest',
    version: 1,
    name: 'img',
    origin: 'hq',
    imageType: 'T',
    parent: null,
    created: '2024-01-01T00:00:00.000Z',
    payload: { kind: 'file', size: 0, mode: 0o644 },
    chunks: [],
  });
  const digest = manifestDigest(bytes);

  it('writes atomically, reads verified, refuses a mismatch', async () => {
    const root = await freshRoot();
    const m = new ManifestStore(new DirectoryManifests(root), new LocalChunkStore(root));
    const paths = storePaths(root);
    await expect(m.writeManifest(digestOf(text), bytes)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect(await m.hasManifest(digestOf(text))).toBe(false);
    await m.writeManifest(digest, bytes);
    await m.writeManifest(digest, bytes);
    expect((await m.readManifest(digest)).equals(bytes)).toBe(true);
    expect(paths.manifest(digest).endsWith(`${digest.slice(0, 2)}/${digest}.json`)).toBe(true);
    await writeFile(paths.manifest(digest), Buffer.concat([bytes, Buffer.from(' ')]));
    await expect(m.readManifest(digest)).rejects.toMatchObject({
      code: 'CORRUPT',
      details: { expected: digest },
    });
    await expect(m.readManifest(digestOf(text))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await readdir(paths.tmpDir)).toEqual([]);
  });
});
