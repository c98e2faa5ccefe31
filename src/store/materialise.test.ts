import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  chmod,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest, Entry, ManifestDraft } from '../core/manifest.js';
import { decodeManifest, encodeManifest } from '../core/manifest-codec.js';
import { LocalChunkStore } from './local-chunk-store.js';
import { materialise } from './materialise.js';
import { buildDraft } from './source.js';
import { scanTree, treeContent } from './tree-scan.js';

const IS_ROOT = process.getuid?.() === 0;
const HAS_ATTR = existsSync('/usr/bin/setfattr') && existsSync('/usr/bin/getfattr');
const HAS_SETCAP = spawnSync('sh', ['-c', 'command -v setcap']).status === 0;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ingot-deploy-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A tree with every kind of entry and awkward metadata. */
async function makeTree(root: string): Promise<void> {
  await mkdir(join(root, 'bin'), { recursive: true });
  await mkdir(join(root, 'deep/er/still'), { recursive: true });
  await mkdir(join(root, 'sticky'));
  await writeFile(join(root, 'empty'), '');
  await writeFile(join(root, 'bin/tool'), randomFillSync(Buffer.alloc(300_000)));
  await writeFile(join(root, 'deep/er/still/text.txt'), 'hello\n'.repeat(50_000));
  await writeFile(join(root, 'name with spaces\\and\nnewline'), 'odd');
  const sparse = await open(join(root, 'sparse.img'), 'w');
  await sparse.write(Buffer.from('head'), 0, 4, 0);
  await sparse.write(Buffer.from('tail'), 0, 4, 8 * 1024 * 1024);
  await sparse.close();
  await symlink('bin/tool', join(root, 'link-ok'));
  await symlink('does/not/exist', join(root, 'link-dangling'));
  await symlink('../../etc/passwd', join(root, 'deep/escape'));
  await link(join(root, 'bin/tool'), join(root, 'hard-a'));
  await link(join(root, 'bin/tool'), join(root, 'deep/hard-b'));
  execFileSync('mkfifo', [join(root, 'pipe')]);
  await chmod(join(root, 'bin/tool'), 0o4755);
  await chmod(join(root, 'sticky'), 0o1777);
  await chmod(join(root, 'deep/er'), 0o500);
  if (IS_ROOT) {
    spawnSync('mknod', [join(root, 'null-dev'), 'c', '1', '3']);
    await lchown(join(root, 'empty'), 1234, 5678);
    await lchown(join(root, 'link-ok'), 42, 43);
  }
  if (HAS_ATTR) {
    execFileSync('setfattr', ['-n', 'user.test', '-v', 'some value', join(root, 'deep/er/still/text.txt')]);
    execFileSync('setfattr', ['-n', 'user.dir', '-v', '0x00ff', join(root, 'sticky')]);
    execFileSync('setfattr', ['-n', 'user.odd', '-v', 'x', join(root, 'name with spaces\\and\nnewline')]);
  }
  if (HAS_SETCAP) execFileSync('setcap', ['cap_net_raw+ep', join(root, 'bin/tool')]);
  await lutimes(join(root, 'empty'), 1, 946684800.123456);
  await lutimes(join(root, 'link-dangling'), 1, 1_700_000_000.5);
  await lutimes(join(root, 'deep/er'), 1, 1_234_567_890.987654);
  await lutimes(root, 1, 1_600_000_000);
}

/** Metadata of a scanned tree, mtime to the microsecond, with each file's content digest. */
async function describeTree(root: string) {
  const { entries, warnings } = await scanTree(root);
  const contents: string[] = [];
  const files = entries.filter((e) => e.type === 'file');
  let buf = Buffer.concat((await collect(treeContent(root, entries))).map((b) => b.bytes));
  for (const f of files) {
    contents.push(createHash('sha256').update(buf.subarray(0, f.size)).digest('hex'));
    buf = buf.subarray(f.size);
  }
  const norm = entries.map((e) => ({
    ...e,
    mtime: { sec: e.mtime.sec, usec: Math.floor(e.mtime.nsec / 1000) },
  }));
  return { entries: norm, contents, warnings };
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

function storeFetch(store: LocalChunkStore) {
  return async function* (digests: Digest[]) {
    for (const d of digests) yield { digest: d, raw: await store.get(d) };
  };
}

async function ingest(src: string, store: LocalChunkStore): Promise<ManifestDraft> {
  const { entries } = await scanTree(src);
  return buildDraft(
    { kind: 'tree', root: src, entries },
    {
      onChunk: async (c) => {
        if (c.raw && c.ref.kind === 'data') await store.put(c.ref.digest, c.raw);
      },
    },
  );
}

/** A tree of its root directory alone. */
const ROOT_ONLY: ManifestDraft = {
  payload: {
    kind: 'tree',
    entries: [{ path: '.', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: { sec: 0, nsec: 0 } }],
  },
  chunks: [],
};

describe('scan -> chunk -> store -> materialise', () => {
  it('reproduces the tree exactly', async () => {
    const src = join(work, 'src');
    await mkdir(src);
    await makeTree(src);
    const store = new LocalChunkStore(join(work, 'store'));
    const draft = await ingest(src, store);
    expect(draft.chunks.some((c) => c.kind === 'hole')).toBe(true);

    const dest = join(work, 'out');
    const seen: number[] = [];
    const r = await materialise(draft, dest, storeFetch(store), { onProgress: (b) => seen.push(b) });
    expect(r.bytes).toBe(seen.at(-1));
    expect(r.warnings).toEqual([]);

    const a = await describeTree(src);
    const b = await describeTree(dest);
    expect(b.entries).toEqual(a.entries);
    expect(b.contents).toEqual(a.contents);
    expect(await readlink(join(dest, 'deep/escape'))).toBe('../../etc/passwd');
    expect((await lstat(join(dest, 'deep/escape'))).isSymbolicLink()).toBe(true);
    expect((await lstat(join(dest, 'hard-a'))).ino).toBe((await lstat(join(dest, 'bin/tool'))).ino);
    expect((await lstat(join(dest, 'pipe'))).isFIFO()).toBe(true);
    if (existsSync(join(src, 'null-dev')))
      expect((await lstat(join(dest, 'null-dev'))).isCharacterDevice()).toBe(true);
    if (IS_ROOT) expect((await lstat(join(dest, 'empty'))).uid).toBe(1234);
    expect((await lstat(join(dest, 'bin/tool'))).mode & 0o7777).toBe(0o4755);
    if (HAS_SETCAP) {
      const tool = a.entries.find((e) => e.path === 'bin/tool');
      expect(tool?.xattrs?.['security.capability']).toBeDefined();
    }
    if (HAS_ATTR) expect(b.entries.find((e) => e.path === 'sticky')?.xattrs).toEqual({ 'user.dir': 'AP8=' });
    const sparse = await lstat(join(dest, 'sparse.img'));
    expect(sparse.size).toBe(8 * 1024 * 1024 + 4);
    expect(sparse.blocks * 512).toBeLessThan(sparse.size / 2);
    expect((await readdir(work)).filter((n) => n.includes('ingot-partial'))).toEqual([]);
  });

  it('deploys a file payload, sparse, and refuses an existing destination', async () => {
    const path = join(work, 'disk.img');
    const fh = await open(path, 'w');
    await fh.write(randomFillSync(Buffer.alloc(100_000)), 0, 100_000, 0);
    await fh.truncate(20 * 1024 * 1024);
    await fh.close();
    await chmod(path, 0o640);
    const store = new LocalChunkStore(join(work, 'store2'));
    const draft = await buildDraft(
      { kind: 'file', path },
      {
        onChunk: async (c) => {
          if (c.raw && c.ref.kind === 'data') await store.put(c.ref.digest, c.raw);
        },
      },
    );
    expect(draft.payload).toEqual({ kind: 'file', size: 20 * 1024 * 1024, mode: 0o640 });
    const out = join(work, 'disk-out.img');
    await materialise(draft, out, storeFetch(store));
    expect((await readFile(out)).equals(await readFile(path))).toBe(true);
    const st = await lstat(out);
    expect(st.mode & 0o7777).toBe(0o640);
    expect(st.blocks * 512).toBeLessThan(st.size / 4);
    await expect(materialise(draft, out, storeFetch(store))).rejects.toMatchObject({ code: 'CONFLICT' });
  });

  it('refuses a non-empty destination directory, accepts an empty one', async () => {
    const draft = ROOT_ONLY;
    const full = join(work, 'full');
    await mkdir(full);
    await writeFile(join(full, 'x'), 'x');
    await expect(materialise(draft, full, storeFetch(new LocalChunkStore(work)))).rejects.toMatchObject({
      code: 'CONFLICT',
      hint: expect.any(String),
    });
    const empty = join(work, 'empty-dir');
    await mkdir(empty);
    await materialise(draft, empty, storeFetch(new LocalChunkStore(work)));
    expect((await lstat(empty)).mode & 0o7777).toBe(0o755);
  });

  it('creates missing parents of the destination; a parent that is a file is PATH_NOT_FOUND', async () => {
    const draft = ROOT_ONLY;
    const fetch = storeFetch(new LocalChunkStore(work));
    const deep = join(work, 'new-parent', 'and', 'dest');
    await materialise(draft, deep, fetch);
    expect((await lstat(deep)).isDirectory()).toBe(true);
    const file = join(work, 'plain-file');
    await writeFile(file, 'x');
    await expect(materialise(draft, join(file, 'dest'), fetch)).rejects.toMatchObject({
      code: 'PATH_NOT_FOUND',
      message: expect.stringContaining('is not a directory'),
      hint: expect.any(String),
    });
    await expect(materialise(draft, join(file, 'a', 'dest'), fetch)).rejects.toMatchObject({
      code: 'PATH_NOT_FOUND',
    });
    // A directory this process may not write (sysfs refuses even root): no temp name in the words.
    const refused = materialise(draft, '/sys/ingot-deploy-test', fetch);
    await expect(refused).rejects.toMatchObject({
      code: 'PATH_NOT_FOUND',
      message: expect.stringMatching(
        /^the parent of deploy destination \/sys\/ingot-deploy-test cannot be (written|created)/,
      ),
    });
    await expect(refused).rejects.toMatchObject({ message: expect.not.stringContaining('ingot-partial') });
  });

  it('cleans up and leaves no destination when a chunk is missing', async () => {
    const src = join(work, 'src3');
    await mkdir(src);
    await writeFile(join(src, 'f'), randomFillSync(Buffer.alloc(50_000)));
    const { entries } = await scanTree(src);
    const draft = await buildDraft({ kind: 'tree', root: src, entries });
    const dest = join(work, 'out3');
    const empty = new LocalChunkStore(join(work, 'store3'));
    const noChunks = async function* (_d: Digest[]) {};
    await expect(materialise(draft, dest, noChunks)).rejects.toMatchObject({ code: 'MISSING_CHUNKS' });
    await expect(materialise(draft, dest, storeFetch(empty))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(existsSync(dest)).toBe(false);
    expect((await readdir(work)).filter((n) => n.includes('ingot-partial'))).toEqual([]);
  });

  it('never writes under a symlink: such a manifest is refused by the codec', async () => {
    const t = { sec: 0, nsec: 0 };
    const entries: Entry[] = [
      { path: '.', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: t },
      { path: 'etc', type: 'symlink', target: '/etc', mode: 0o777, uid: 0, gid: 0, mtime: t },
      { path: 'etc/evil', type: 'file', size: 1, mode: 0o644, uid: 0, gid: 0, mtime: t },
    ];
    const d = 'a'.repeat(64) as Digest;
    const draft: ManifestDraft = {
      payload: { kind: 'tree', entries },
      chunks: [{ kind: 'data', digest: d, length: 1 }],
    };
    const bytes = encodeManifest({
      ...draft,
      format: 'ingot-manifest',
      version: 1,
      name: 'x',
      origin: 'o',
      imageType: 'T',
      parent: null,
      created: '2024-01-01T00:00:00.000Z',
    });
    expect(() => decodeManifest(bytes)).toThrow(expect.objectContaining({ code: 'UNSAFE_PATH' }));
    const dest = join(work, 'evil');
    await expect(materialise(draft, dest, async function* () {})).rejects.toMatchObject({
      code: 'UNSAFE_PATH',
    });
    expect(existsSync(dest)).toBe(false);
  });
});
