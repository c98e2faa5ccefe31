import { execFileSync } from 'node:child_process';
import { appendFile, link, mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BufferPool } from './buffer-pool.js';
import { deviceNumbers, scanTree, timestampOf, treeContent } from './tree-scan.js';
import { escapeName, formatDump, parseDump, unescapeName } from './xattrs.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ingot-scan-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('scanTree', () => {
  it('lists entries in model order with hard links after their first path', async () => {
    const root = join(work, 't1');
    await mkdir(join(root, 'a'), { recursive: true });
    await writeFile(join(root, 'z'), 'zz');
    await writeFile(join(root, 'a-b'), 'x');
    await writeFile(join(root, 'a/b'), 'y');
    await link(join(root, 'z'), join(root, 'a/link'));
    const { entries, warnings } = await scanTree(root);
    expect(warnings).toEqual([]);
    expect(entries.map((e) => e.path)).toEqual(['.', 'a', 'a-b', 'a/b', 'a/link', 'z']);
    expect(entries.find((e) => e.path === 'a/link')).toMatchObject({ type: 'file', size: 2 });
    expect(entries.find((e) => e.path === 'z')).toMatchObject({ type: 'hardlink', target: 'a/link' });
    const content = Buffer.concat((await collect(treeContent(root, entries))).map((b) => b.bytes));
    expect(content.toString()).toBe('xyzz');
  });

  it('skips sockets with a warning', async () => {
    const root = join(work, 't2');
    await mkdir(root);
    const server = createServer();
    await new Promise<void>((r) => server.listen(join(root, 'sock'), r));
    try {
      const { entries, warnings } = await scanTree(root);
      expect(entries.map((e) => e.path)).toEqual(['.']);
      expect(warnings.join()).toMatch(/sock/);
    } finally {
      server.close();
    }
  });

  it('says PATH_NOT_FOUND with a hint for a missing root, INVALID_ARGUMENT for a file', async () => {
    await expect(scanTree(join(work, 'nope'))).rejects.toMatchObject({
      code: 'PATH_NOT_FOUND',
      hint: expect.any(String),
    });
    await writeFile(join(work, 'plain'), 'x');
    await expect(scanTree(join(work, 'plain'))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('fails the content stream when a file changed size while reading', async () => {
    const root = join(work, 't3');
    await mkdir(root);
    await writeFile(join(root, 'f'), 'abc');
    const { entries } = await scanTree(root);
    await appendFile(join(root, 'f'), 'more');
    await expect(collect(treeContent(root, entries))).rejects.toThrow(/changed while reading/);
    await truncate(join(root, 'f'), 1);
    await expect(collect(treeContent(root, entries))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('reads many small files into pooled blocks, each leased until released', async () => {
    const root = join(work, 't4');
    await mkdir(root);
    for (let i = 0; i < 1000; i++) await writeFile(join(root, `f${i}`), Buffer.alloc(5000, i));
    const { entries } = await scanTree(root);
    const pool = new BufferPool(2 ** 20, 8, { shared: true });
    const blocks = await collect(treeContent(root, entries, pool));
    const M = 2 ** 20;
    expect(blocks.map((b) => b.bytes.length)).toEqual([M, M, M, M, 5_000_000 - 4 * M]);
    expect(blocks[0]?.bytes.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(new Set(blocks.map((b) => b.bytes.buffer)).size).toBe(5);
    expect(
      Buffer.concat(blocks.map((b) => b.bytes)).equals(
        Buffer.concat(
          Array.from({ length: 1000 }, (_, i) => i)
            .sort((a, b) => (`f${a}` < `f${b}` ? -1 : 1))
            .map((i) => Buffer.alloc(5000, i)),
        ),
      ),
    ).toBe(true);
    for (const b of blocks) b.lease.release();
    expect(pool.idleBlocks).toBe(5);
  });

  it('gives its block back when the stream fails', async () => {
    const root = join(work, 't4-changed');
    await mkdir(root);
    await writeFile(join(root, 'f'), 'abc');
    const { entries } = await scanTree(root);
    await truncate(join(root, 'f'), 1);
    const pool = new BufferPool(2 ** 20, 4, { shared: true });
    await expect(collect(treeContent(root, entries, pool))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(pool.idleBlocks).toBe(1);
  });
});

describe('scan helpers', () => {
  it('splits rdev like glibc', () => {
    expect(deviceNumbers(0x0103n)).toEqual({ major: 1, minor: 3 });
    // makedev(259, 65536): major 0x103, minor 0x10000
    const rdev = ((0x103n & 0xfffn) << 8n) | (0x10000n & 0xffn) | ((0x10000n & ~0xffn) << 12n);
    expect(deviceNumbers(rdev)).toEqual({ major: 259, minor: 65536 });
  });

  it('splits nanosecond times, also before 1970', () => {
    expect(timestampOf(1_700_000_000_123_456_789n)).toEqual({ sec: 1_700_000_000, nsec: 123_456_789 });
    expect(timestampOf(-1n)).toEqual({ sec: -1, nsec: 999_999_999 });
  });
});

describe('xattr dump format', () => {
  it('escapes and unescapes names like getfattr', () => {
    const name = 'we\\ird\nname é';
    expect(escapeName(name)).toBe('we\\134ird\\012name\\040\\303\\251');
    expect(unescapeName(escapeName(name))).toBe(name);
    expect(unescapeName('a b')).toBe('a b');
  });

  it('parses getfattr output and formats a dump setfattr reads', async () => {
    const dump =
      '# file: /r/a\\012b\nuser.x=0sMQ==\nuser.empty=0s\n\n# file: /r\nsecurity.capability=0sAQAAAg==\n\n';
    const parsed = parseDump(dump);
    expect(parsed.get('/r/a\nb')).toEqual({ 'user.empty': '', 'user.x': 'MQ==' });
    expect(parsed.get('/r')).toEqual({ 'security.capability': 'AQAAAg==' });
    const again = formatDump([...parsed].map(([path, xattrs]) => ({ path, xattrs })));
    expect(parseDump(again)).toEqual(parsed);
  });

  it('keeps security.capability through scan (setcap) or user.* (setfattr)', async () => {
    const root = join(work, 't5');
    await mkdir(root);
    await writeFile(join(root, 'bin'), 'x');
    let name = 'user.test';
    try {
      execFileSync('setcap', ['cap_net_raw+ep', join(root, 'bin')], { stdio: 'ignore' });
      name = 'security.capability';
    } catch {
      execFileSync('setfattr', ['-n', 'user.test', '-v', 'v', join(root, 'bin')]);
    }
    const { entries } = await scanTree(root);
    expect(Object.keys(entries[1]?.xattrs ?? {})).toEqual([name]);
  });
});
