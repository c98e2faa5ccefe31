import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Extended attributes through the `attr` tools. Node has no xattr API, and one process for
 * a whole tree is far cheaper than a native addon call per file would be to maintain:
 * `getfattr -R -h -d -m - -e base64 --absolute-names <root>` reads every attribute of every
 * entry (symlinks not followed), and `setfattr -h --restore=<dump>` writes them back.
 *
 * Dump format (what getfattr writes and setfattr reads):
 *   # file: <path, with bytes outside printable ASCII, and "\", written as \ooo octal>
 *   <name>=0s<base64 value>
 *   <blank line>
 */

export type Xattrs = Record<string, string>;

export interface XattrScan {
  /** Absolute path (as passed to getfattr) to its attributes, name -> base64. */
  readonly byPath: Map<string, Xattrs>;
  readonly warnings: string[];
}

/** Reads all attributes under `absRoot` with one getfattr process. */
export async function readXattrs(absRoot: string): Promise<XattrScan> {
  const r = await run('getfattr', ['-R', '-h', '-d', '-m', '-', '-e', 'base64', '--absolute-names', absRoot]);
  if (r.missing) {
    return {
      byPath: new Map(),
      warnings: ['getfattr not found (package "attr"): extended attributes not recorded'],
    };
  }
  const warnings = r.stderr
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => `getfattr: ${l}`);
  return { byPath: parseDump(r.stdout), warnings };
}

export function parseDump(text: string): Map<string, Xattrs> {
  const out = new Map<string, Xattrs>();
  let current: Xattrs | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('# file: ')) {
      current = {};
      out.set(unescapeName(line.slice(8)), current);
    } else if (current && line !== '' && !line.startsWith('#')) {
      const eq = line.indexOf('=');
      const name = unescapeName(eq < 0 ? line : line.slice(0, eq));
      current[name] = eq < 0 ? '' : decodeValue(line.slice(eq + 1));
    }
  }
  for (const [k, v] of out) if (Object.keys(v).length === 0) out.delete(k);
  return out;
}

/** getfattr writes "0s<base64>" for -e base64, but "" or 0x.. forms are read too. */
function decodeValue(v: string): string {
  if (v.startsWith('0s')) return v.slice(2);
  if (v.startsWith('0x')) return Buffer.from(v.slice(2), 'hex').toString('base64');
  if (v.startsWith('"') && v.endsWith('"'))
    return Buffer.from(unescapeName(v.slice(1, -1)), 'utf8').toString('base64');
  return Buffer.from(v, 'utf8').toString('base64');
}

/** Undoes getfattr's quoting: `\ooo` is one byte in octal; the bytes are UTF-8. */
export function unescapeName(s: string): string {
  if (!s.includes('\\')) return s;
  const bytes: number[] = [];
  const raw = Buffer.from(s, 'utf8');
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as number;
    const oct = raw.subarray(i + 1, i + 4).toString('latin1');
    if (c === 0x5c && /^[0-7]{3}$/.test(oct)) {
      bytes.push(Number.parseInt(oct, 8));
      i += 3;
    } else bytes.push(c);
  }
  return Buffer.from(bytes).toString('utf8');
}

/** The inverse, as attr's quote() does it: bytes outside "!".."~" and "\" become \ooo. */
export function escapeName(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    out +=
      b <= 0x20 || b >= 0x7f || b === 0x5c || b === 0x3d
        ? `\\${b.toString(8).padStart(3, '0')}`
        : String.fromCharCode(b);
  }
  return out;
}

export function formatDump(items: Iterable<{ path: string; xattrs: Xattrs }>): string {
  const parts: string[] = [];
  for (const { path, xattrs } of items) {
    parts.push(`# file: ${escapeName(path)}\n`);
    for (const name of Object.keys(xattrs).sort()) parts.push(`${escapeName(name)}=0s${xattrs[name]}\n`);
    parts.push('\n');
  }
  return parts.join('');
}

/**
 * Sets the attributes of many paths with one setfattr process (symlinks not followed).
 * Returns warnings; a missing setfattr is a warning, not an error.
 */
export async function restoreXattrs(items: Array<{ path: string; xattrs: Xattrs }>): Promise<string[]> {
  if (items.length === 0) return [];
  const dump = join(tmpdir(), `ingot-xattrs-${randomBytes(6).toString('hex')}.txt`);
  await writeFile(dump, formatDump(items), { mode: 0o600 });
  try {
    const r = await run('setfattr', ['-h', `--restore=${dump}`]);
    if (r.missing) return ['setfattr not found (package "attr"): extended attributes not restored'];
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
    if (r.code !== 0 && lines.length === 0) lines.push(`exited with code ${r.code}`);
    return lines.map((l) => `setfattr: ${l}`);
  } finally {
    await rm(dump, { force: true });
  }
}

interface RunResult {
  stdout: string;
  stderr: string;
  code: number | null;
  missing: boolean;
}

function run(cmd: string, args: string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (b: Buffer) => out.push(b));
    p.stderr.on('data', (b: Buffer) => err.push(b));
    p.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') resolve({ stdout: '', stderr: '', code: null, missing: true });
      else reject(e);
    });
    p.on('close', (code) => {
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        code,
        missing: false,
      });
    });
  });
}
