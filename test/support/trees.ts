/**
 * Test trees: a small root-file-system-like tree with every kind of entry, and a
 * comparison that checks content and metadata of two trees entry by entry.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  ftruncateSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

export const IS_ROOT = process.getuid?.() === 0;

function hasTool(name: string): boolean {
  try {
    execFileSync('which', [name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const HAS_XATTR_TOOLS = hasTool('getfattr') && hasTool('setfattr');

/** Deterministic bytes: sha256 counter mode. */
export function pseudoRandom(seed: string, length: number): Buffer {
  const out = Buffer.alloc(length);
  let off = 0;
  for (let i = 0; off < length; i++) {
    const block = createHash('sha256').update(`${seed}:${i}`).digest();
    off += block.copy(out, off);
  }
  return out;
}

/**
 * A disk image file `<dir>/<name>.img` of `size` pseudo-random bytes, remembered in
 * `contents`; with `from`, a patch of that one: one 8 KiB write in the middle.
 */
export function diskFile(
  dir: string,
  name: string,
  size: number,
  contents: Map<string, Buffer>,
  from?: string,
): string {
  const file = join(dir, `${name}.img`);
  const data = Buffer.from(from ? (contents.get(from) as Buffer) : pseudoRandom(name, size));
  if (from) pseudoRandom(name, 8192).copy(data, size / 2);
  contents.set(name, data);
  writeFileSync(file, data);
  return file;
}

export function makeRichTree(root: string, opts: { variant?: number } = {}): void {
  const v = opts.variant ?? 0;
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'etc', 'conf.d'), { recursive: true });
  mkdirSync(join(root, 'lib', 'deep', 'er', 'still'), { recursive: true });
  mkdirSync(join(root, 'empty-dir'));
  mkdirSync(join(root, 'tmp'));
  chmodSync(join(root, 'tmp'), 0o1777);
  writeFileSync(join(root, 'bin', 'tool'), pseudoRandom(`tool${v}`, 300_000));
  chmodSync(join(root, 'bin', 'tool'), 0o4755);
  writeFileSync(join(root, 'etc', 'hosts'), '127.0.0.1 localhost\n');
  writeFileSync(join(root, 'etc', 'conf.d', 'empty'), '');
  for (let i = 0; i < 200; i++) {
    writeFileSync(join(root, 'lib', `mod${i}.txt`), `module ${i} ${'x'.repeat(i * 7)}\n`);
  }
  writeFileSync(join(root, 'lib', 'deep', 'er', 'still', 'big.bin'), pseudoRandom(`big${v}`, 1_500_000));
  // A sparse file: data, a 4 MiB hole, data.
  const fd = openSync(join(root, 'lib', 'sparse.img'), 'w');
  writeSync(fd, pseudoRandom('head', 70_000), 0, 70_000, 0);
  writeSync(fd, pseudoRandom('tail', 70_000), 0, 70_000, 70_000 + 4 * 1024 * 1024);
  ftruncateSync(fd, 70_000 * 2 + 4 * 1024 * 1024);
  closeSync(fd);
  symlinkSync('../etc/hosts', join(root, 'bin', 'hosts-link'));
  symlinkSync('/does/not/exist', join(root, 'bin', 'dangling'));
  symlinkSync('../../../../etc/passwd', join(root, 'bin', 'escape-link'));
  linkSync(join(root, 'bin', 'tool'), join(root, 'bin', 'tool-hardlink'));
  execFileSync('mkfifo', [join(root, 'tmp', 'fifo')]);
  if (HAS_XATTR_TOOLS) {
    execFileSync('setfattr', ['-n', 'user.origin', '-v', 'gold', join(root, 'etc', 'hosts')]);
    if (IS_ROOT) {
      // cap_net_raw+ep, as ping carries it on a root file system.
      execFileSync('setfattr', [
        '-n',
        'security.capability',
        '-v',
        '0sAQAAAgAgAAAAAAAAAAAAAAAAAAA=',
        join(root, 'bin', 'tool'),
      ]);
    }
  }
  utimesSync(join(root, 'etc', 'hosts'), 1_000_000_000, 1_000_000_000.123456);
  utimesSync(join(root, 'empty-dir'), 1_500_000_000, 1_500_000_000);
}

export interface EntryFacts {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtimeUs: number;
  size?: number;
  sha?: string;
  link?: string;
  xattrs?: string;
}

export function describeTree(root: string): Map<string, EntryFacts> {
  const out = new Map<string, EntryFacts>();
  const xattrs = readXattrs(root);
  const walk = (rel: string) => {
    const abs = rel === '.' ? root : join(root, rel);
    const st = lstatSync(abs, { bigint: true });
    const facts: EntryFacts = {
      type: st.isDirectory()
        ? 'dir'
        : st.isFile()
          ? 'file'
          : st.isSymbolicLink()
            ? 'symlink'
            : st.isFIFO()
              ? 'fifo'
              : 'other',
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      mtimeUs: Number(st.mtimeNs / 1000n),
    };
    if (facts.type === 'symlink') facts.mode = 0;
    if (st.isFile()) {
      facts.size = Number(st.size);
      facts.sha = createHash('sha256').update(readFileSync(abs)).digest('hex');
    }
    if (st.isSymbolicLink()) facts.link = readlinkSync(abs);
    const x = xattrs.get(rel);
    if (x) facts.xattrs = x;
    out.set(rel, facts);
    if (st.isDirectory()) {
      for (const name of readdirSync(abs).sort()) walk(rel === '.' ? name : `${rel}/${name}`);
    }
  };
  walk('.');
  return out;
}

/** `getfattr` dump of the tree, keyed by relative path, for comparison only. */
function readXattrs(root: string): Map<string, string> {
  const map = new Map<string, string>();
  if (!HAS_XATTR_TOOLS) return map;
  const text = execFileSync('getfattr', ['-R', '-h', '-d', '-m', '-', '-e', 'base64', '.'], {
    cwd: root,
    encoding: 'utf8',
  });
  for (const block of text.split('\n\n')) {
    const lines = block.trim().split('\n');
    const head = lines.shift();
    if (!head?.startsWith('# file: ')) continue;
    const rel = head.slice('# file: '.length).replace(/^\.\/?/, '') || '.';
    map.set(rel, lines.sort().join(';'));
  }
  return map;
}

export function allocatedBytes(path: string): number {
  return Number(lstatSync(path).blocks) * 512;
}
