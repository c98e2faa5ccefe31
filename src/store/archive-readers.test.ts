import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IngotError } from '../core/errors.js';
import type { ChunkRef, Entry } from '../core/manifest.js';
import { ARCHIVE_LIMITS } from './archive-limits.js';
import { isoContent, readIso } from './iso-reader.js';
import { openStore, tempRoot } from './pack-store.fixture.js';
import { chunksOf } from './source.js';
import { StoredFile } from './stored-file.js';
import { isoInZip } from './zip-reader.js';

/** Stores `bytes` in a real pack store, chunked as an import is, and opens them as a StoredFile. */
async function stored(bytes: Buffer): Promise<StoredFile> {
  const root = await tempRoot();
  const store = await openStore(root);
  const path = `${root}.input`;
  writeFileSync(path, bytes);
  const refs: ChunkRef[] = [];
  for await (const c of chunksOf({ kind: 'file', path })) {
    if (c.ref.kind === 'data' && c.raw) await store.put(c.ref.digest, Buffer.from(c.raw));
    c.release?.();
    refs.push(c.ref);
  }
  return new StoredFile(refs, (d) => store.get(d));
}

async function work(): Promise<string> {
  const dir = `${await tempRoot()}-work`;
  mkdirSync(dir, { recursive: true });
  return dir;
}

function makeTree(root: string): void {
  mkdirSync(join(root, 'Packages', 'a-very-long-directory-name-past-eight-dot-three'), { recursive: true });
  writeFileSync(
    join(root, 'Packages', 'a-very-long-directory-name-past-eight-dot-three', 'Release.notes.txt'),
    'notes\n',
  );
  writeFileSync(join(root, 'install.sh'), '#!/bin/sh\necho hi\n');
  chmodSync(join(root, 'install.sh'), 0o750);
  writeFileSync(
    join(root, 'big.bin'),
    createHash('sha256').update('x').digest().toString('hex').repeat(40_000),
  );
  symlinkSync('Packages/a-very-long-directory-name-past-eight-dot-three', join(root, 'latest'));
  symlinkSync('/etc/hosts', join(root, 'abs-link'));
  utimesSync(join(root, 'install.sh'), 1_600_000_000, 1_600_000_000);
}

function iso(dir: string, tree: string, flags: string[]): Buffer {
  const out = join(dir, `${flags.join('')}.iso`);
  execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', ...flags, '-o', out, tree], { stdio: 'pipe' });
  return readFileSync(out);
}

async function contentOf(
  file: StoredFile,
  tree: Awaited<ReturnType<typeof readIso>>,
): Promise<Map<string, Buffer>> {
  const parts: Buffer[] = [];
  for await (const b of isoContent(file, tree)) parts.push(b);
  const all = Buffer.concat(parts);
  const out = new Map<string, Buffer>();
  let at = 0;
  for (const e of tree.entries) {
    if (e.type !== 'file') continue;
    out.set(e.path, all.subarray(at, at + e.size));
    at += e.size;
  }
  return out;
}

const byPath = (entries: Entry[]) => new Map(entries.map((e) => [e.path, e]));

async function refusal(p: Promise<unknown>): Promise<IngotError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(IngotError);
  expect((err as IngotError).code).toBe('BAD_ARCHIVE');
  return err as IngotError;
}

describe('readIso', () => {
  it('reads Rock Ridge names, modes, symlinks, times and contents', async () => {
    const dir = await work();
    const tree = join(dir, 'tree');
    makeTree(tree);
    const file = await stored(iso(dir, tree, ['-R', '-J']));
    const got = await readIso(file);
    expect(got.flavour).toBe('rock-ridge');
    const e = byPath(got.entries);
    expect(got.entries[0]?.path).toBe('.');
    expect(e.get('install.sh')).toMatchObject({ type: 'file', mode: 0o750, mtime: { sec: 1_600_000_000 } });
    expect(e.get('latest')).toMatchObject({
      type: 'symlink',
      target: 'Packages/a-very-long-directory-name-past-eight-dot-three',
    });
    expect(e.get('abs-link')).toMatchObject({ type: 'symlink', target: '/etc/hosts' });
    expect(e.get('Packages/a-very-long-directory-name-past-eight-dot-three')?.type).toBe('dir');
    const content = await contentOf(file, got);
    expect(content.get('install.sh')?.toString()).toBe('#!/bin/sh\necho hi\n');
    expect(content.get('big.bin')?.equals(readFileSync(join(tree, 'big.bin')))).toBe(true);
    expect(
      content.get('Packages/a-very-long-directory-name-past-eight-dot-three/Release.notes.txt')?.toString(),
    ).toBe('notes\n');
  });

  it('falls back to Joliet names without Rock Ridge', async () => {
    const dir = await work();
    const tree = join(dir, 'tree');
    makeTree(tree);
    const got = await readIso(await stored(iso(dir, tree, ['--norock', '-J', '-joliet-long'])));
    expect(got.flavour).toBe('joliet');
    expect(
      byPath(got.entries).get('Packages/a-very-long-directory-name-past-eight-dot-three/Release.notes.txt'),
    ).toMatchObject({
      type: 'file',
      size: 6,
      mode: 0o644,
    });
  });

  it('refuses a device node, a truncated image and what is not an ISO', async () => {
    const dir = await work();
    const tree = join(dir, 'tree');
    makeTree(tree);
    const withFifo = join(dir, 'with-fifo');
    mkdirSync(withFifo);
    execFileSync('mkfifo', [join(withFifo, 'pipe')]);
    const fifo = await refusal(readIso(await stored(iso(dir, withFifo, ['-R']))));
    expect(fifo.message).toMatch(/"pipe" is a device node, FIFO or socket/);
    const good = iso(dir, tree, ['-R', '-no-pad']);
    const cut = await refusal(readIso(await stored(good.subarray(0, good.length - 64 * 1024))));
    expect(cut.message).toMatch(/truncated/);
    await refusal(readIso(await stored(Buffer.alloc(64 * 1024, 7))));
  });

  it('refuses a Rock Ridge name of ".." or with a slash', async () => {
    const dir = await work();
    const tree = join(dir, 'tree');
    mkdirSync(join(tree, 'etc'), { recursive: true });
    writeFileSync(join(tree, 'etc', 'zq'), 'root::0:0::/:/bin/sh\n');
    const image = iso(dir, tree, ['-R']);
    // The NM entry of "zq" (signature, length 7, version 1, flags 0, name), renamed in place.
    const nm = Buffer.from('NM\x07\x01\x00zq', 'latin1');
    expect(image.indexOf(nm)).toBeGreaterThan(0);
    for (const name of ['..', 'a/']) {
      const bad = Buffer.from(image);
      Buffer.from(name, 'latin1').copy(bad, bad.indexOf(nm) + 5);
      const err = await refusal(readIso(await stored(bad)));
      expect(err.message).toMatch(/would escape its directory/);
    }
  });

  it('refuses a file past the size bound before reading it', async () => {
    const dir = await work();
    const tree = join(dir, 'tree');
    makeTree(tree);
    const small = { ...ARCHIVE_LIMITS, entryBytes: 1000 };
    const err = await refusal(readIso(await stored(iso(dir, tree, ['-R'])), small));
    expect(err.message).toMatch(/"big.bin" unpacks to \d+ bytes; the limit is 1000/);
  });
});

describe('isoInZip', () => {
  it('streams the one ISO of a zip, deflated or stored', async () => {
    const dir = await work();
    const tree = join(dir, 'tree');
    makeTree(tree);
    const image = iso(dir, tree, ['-R', '-J']);
    writeFileSync(join(dir, 'image.iso'), image);
    writeFileSync(join(dir, 'README'), 'read me\n');
    for (const level of ['-6', '-0']) {
      execFileSync('zip', ['-q', level, join(dir, `z${level}.zip`), 'README', 'image.iso'], { cwd: dir });
      const member = await isoInZip(await stored(readFileSync(join(dir, `z${level}.zip`))));
      expect(member.name).toBe('image.iso');
      const parts: Buffer[] = [];
      for await (const b of member.open()) parts.push(b);
      expect(Buffer.concat(parts).equals(image)).toBe(true);
    }
  });

  it('refuses ".." and absolute names, no ISO, a bomb and a lying size', async () => {
    const dir = await work();
    mkdirSync(join(dir, 'in'));
    writeFileSync(join(dir, 'in', 'a.iso'), Buffer.alloc(40 * 1024 * 1024));
    writeFileSync(join(dir, 'in', 'b.txt'), 'b\n');
    // zip keeps "../" as given with -r from a subdirectory's path; patch the name in place.
    execFileSync('zip', ['-q', join(dir, 'dots.zip'), 'b.txt', 'a.iso'], { cwd: join(dir, 'in') });
    const dots = readFileSync(join(dir, 'dots.zip'));
    const patched = Buffer.from(
      dots.toString('latin1').replaceAll('b.txt', '../bt').replaceAll('a.iso', '/a.is'),
      'latin1',
    );
    expect((await refusal(isoInZip(await stored(patched)))).message).toMatch(
      /invalid relative path|absolute path/,
    );
    execFileSync('zip', ['-q', join(dir, 'none.zip'), 'b.txt'], { cwd: join(dir, 'in') });
    expect((await refusal(isoInZip(await stored(readFileSync(join(dir, 'none.zip')))))).message).toMatch(
      /no ISO image/,
    );
    // 40 MiB of zeros deflates ~1000:1: the ratio bound refuses it before inflating.
    expect((await refusal(isoInZip(await stored(dots)))).message).toMatch(/zip bomb/);
    const lenient = { ...ARCHIVE_LIMITS, ratio: 10_000 };
    const member = await isoInZip(await stored(lyingSize(dots, 'a.iso', 1000)), lenient);
    const read = async () => {
      for await (const _ of member.open());
    };
    expect((await refusal(read())).message).toMatch(/a.iso/);
  });
});

/** The zip with the uncompressed size of `name` set to `size` in both of its headers. */
function lyingSize(zip: Buffer, name: string, size: number): Buffer {
  const out = Buffer.from(zip);
  for (let at = 0; at < out.length - 4; at++) {
    const sig = out.readUInt32LE(at);
    if (sig === 0x04034b50 && out.toString('latin1', at + 30, at + 30 + name.length) === name)
      out.writeUInt32LE(size, at + 22);
    if (sig === 0x02014b50 && out.toString('latin1', at + 46, at + 46 + name.length) === name)
      out.writeUInt32LE(size, at + 24);
  }
  return out;
}
