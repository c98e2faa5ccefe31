import { spawn } from 'node:child_process';
import { lstat, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** Running commands and reading what the kernel knows about them. */

export interface RunResult {
  readonly seconds: number;
  /** Peak RSS in bytes from /usr/bin/time (undefined when not measured). */
  readonly peakRss: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Wrap in /usr/bin/time to get the peak RSS of the command (not of a pipeline's parts). */
  readonly measureRss?: boolean;
  /** Where /usr/bin/time writes; needed when measureRss. */
  readonly rssFile?: string;
  /** Runs the command through these words first, e.g. `ip netns exec NS` (inside /usr/bin/time). */
  readonly prefix?: readonly string[];
}

/** Runs a command to completion, timing its wall clock. Throws with its stderr on failure. */
export async function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const rssFile = opts.rssFile;
  const line = [...(opts.prefix ?? []), cmd, ...args];
  const [file, argv] =
    opts.measureRss && rssFile
      ? ['/usr/bin/time', ['-f', '%M', '-o', rssFile, ...line]]
      : [line[0] as string, line.slice(1)];
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const start = process.hrtime.bigint();
  const code = await new Promise<number | null>((resolveExit, reject) => {
    const child = spawn(file, argv, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', resolveExit);
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const stdout = Buffer.concat(out).toString();
  const stderr = Buffer.concat(err).toString();
  if (code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${code}\n${stderr.slice(-4000)}`);
  }
  let peakRss: number | undefined;
  if (opts.measureRss && rssFile) {
    const kib = Number((await readFile(rssFile, 'utf8')).trim().split('\n').pop());
    peakRss = Number.isFinite(kib) ? kib * 1024 : undefined;
  }
  return { seconds, peakRss, stdout, stderr };
}

/** `bash -o pipefail -c script` with positional arguments $1..., timed. */
export function bash(
  script: string,
  args: readonly string[] = [],
  opts: RunOptions = {},
): Promise<RunResult> {
  return run('bash', ['-o', 'pipefail', '-euc', script, 'bench', ...args], opts);
}

export async function sync(): Promise<void> {
  await run('sync', []);
}

/**
 * Writes `bytes` of zeros to a file in `dir`, then removes it and syncs: on this VM the first
 * write into memory the guest has not touched costs ~3 s of kernel time per GiB (measured:
 * 1 GiB to ext4 3.03 s sys cold, 0.22 s right after), so without this whichever tool copies
 * first pays for pages the next one gets for free. Every timed copy starts after one.
 */
export async function warmPages(dir: string, bytes: number): Promise<void> {
  const blocks = Math.max(16, Math.ceil(bytes / 2 ** 22));
  await bash(
    'dd if=/dev/zero of="$1/warm-pages.tmp" bs=4M count="$2" status=none && rm -f "$1/warm-pages.tmp"',
    [dir, String(blocks)],
  );
  await sync();
}

/** Reads a file tree once so later timed reads come from the page cache, for every tool alike. */
export async function warm(path: string): Promise<void> {
  await bash('if [ -d "$1" ]; then tar -cf - -C "$1" . >/dev/null; else cat "$1" >/dev/null; fi', [path]);
}

/** Sum of the apparent sizes of the regular files under `dir` (0 when it does not exist). */
export async function fileBytes(dir: string): Promise<number> {
  let total = 0;
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return 0;
  }
  for (const name of entries) {
    const p = join(dir, name);
    const st = await lstat(p);
    if (st.isDirectory()) total += await fileBytes(p);
    else if (st.isFile()) total += st.size;
  }
  return total;
}

/** `du -sb DIR` (apparent bytes, directories included), 0 when absent. */
export async function duBytes(dir: string): Promise<number> {
  try {
    const r = await run('du', ['-sb', dir]);
    return Number(r.stdout.split('\t')[0]);
  } catch {
    return 0;
  }
}

/** Current resident set of a live process by kind (bytes): anonymous, file-backed, shared memory. */
export async function rssBreakdown(pid: number): Promise<Record<string, number> | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const out: Record<string, number> = {};
    for (const key of ['VmRSS', 'RssAnon', 'RssFile', 'RssShmem', 'VmHWM']) {
      const m = new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
      if (m?.[1]) out[key] = Number(m[1]) * 1024;
    }
    return out;
  } catch {
    return undefined;
  }
}

/** VmHWM (peak resident set) of a live process, bytes. */
export async function vmHwm(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    return m?.[1] ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

export async function removeTree(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
