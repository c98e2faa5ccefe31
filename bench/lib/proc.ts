import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { lstat, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** Running commands and reading what the kernel knows about them. */

export interface RunResult {
  readonly seconds: number;
  /** Peak RSS in bytes from /usr/bin/time (undefined when not measured). */
  readonly peakRss: number | undefined;
  /** User + system CPU seconds from /usr/bin/time, the command's reaped children included. */
  readonly cpuSeconds: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Wrap in /usr/bin/time to get the peak RSS and CPU of the command (not of a pipeline's parts). */
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
      ? ['/usr/bin/time', ['-f', '%M %U %S', '-o', rssFile, ...line]]
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
  let cpuSeconds: number | undefined;
  if (opts.measureRss && rssFile) {
    // The last line: a command killed by a signal gets a "Command terminated" line first.
    const [kib, user, sys] = ((await readFile(rssFile, 'utf8')).trim().split('\n').pop() ?? '')
      .split(' ')
      .map(Number);
    peakRss = kib !== undefined && Number.isFinite(kib) ? kib * 1024 : undefined;
    const cpu = (user ?? Number.NaN) + (sys ?? Number.NaN);
    cpuSeconds = Number.isFinite(cpu) ? cpu : undefined;
  }
  return { seconds, peakRss, cpuSeconds, stdout, stderr };
}

/** `bash -o pipefail -c script` with positional arguments $1..., timed. */
export function bash(
  script: string,
  args: readonly string[] = [],
  opts: RunOptions = {},
): Promise<RunResult> {
  return run('bash', ['-o', 'pipefail', '-euc', script, 'bench', ...args], opts);
}

/**
 * Flushes dirty pages, then waits until the block device has stopped stalling tasks (see
 * ioQuiet): every timed case starts after one.
 */
export async function sync(): Promise<void> {
  await run('sync', []);
  await ioQuiet();
}

/**
 * Waits (at most `maxMs`) until tasks stalled on I/O less than 1% of a half-second
 * (/proc/pressure/io "some" total), and says so on stderr when that took over a second.
 * This VM's root file system is mounted with `discard`: the trees a run removed are trimmed
 * for minutes after, and meanwhile rsync -a and cp -a of a 30,000-file tree took 5-10x their
 * time (docs/benchmarks.md, "Counting link bytes in the kernel"). Without PSI, no wait.
 */
export async function ioQuiet(maxMs = 60_000): Promise<void> {
  const stalled = async (): Promise<number | undefined> => {
    try {
      const text = await readFile('/proc/pressure/io', 'utf8');
      const m = /^some .*total=(\d+)/m.exec(text);
      return m?.[1] ? Number(m[1]) : undefined;
    } catch {
      return undefined;
    }
  };
  const start = Date.now();
  let before = await stalled();
  if (before === undefined) return;
  for (;;) {
    await sleep(500);
    const now = await stalled();
    if (now === undefined || now - before < 5_000 || Date.now() - start > maxMs) break;
    before = now;
  }
  const waited = Date.now() - start;
  if (waited > 1_500)
    process.stderr.write(`[bench] waited ${(waited / 1000).toFixed(1)} s for the disk to settle\n`);
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

/**
 * Sets the process's VmHWM back to its current RSS (Linux clear_refs, value 5), so the next
 * read is the peak of what ran since; false where the kernel or permissions refuse it.
 */
export async function resetPeakRss(pid: number): Promise<boolean> {
  try {
    await writeFile(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** USER_HZ: /proc reports CPU time in these units; 100 on every Linux port in use. */
const CLOCK_TICKS = 100;

/**
 * User + system CPU seconds of a live process (all its threads) from /proc/PID/stat; with
 * `reaped`, the CPU of the children it has waited for is added (a forking daemon's work).
 */
export async function cpuSecondsOf(pid: number, reaped = false): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may hold spaces: utime, stime, cutime, cstime are 14-17.
    const f = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    const ticks = (f[11] ?? 0) + (f[12] ?? 0) + (reaped ? (f[13] ?? 0) + (f[14] ?? 0) : 0);
    return Number.isFinite(ticks) ? ticks / CLOCK_TICKS : undefined;
  } catch {
    return undefined;
  }
}

/** The pids of a process's live children (empty when it has none or is gone). */
export async function childPids(pid: number): Promise<number[]> {
  try {
    const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
    return text.split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Starts a long-running tool (a daemon kept in the foreground), its output to `logPath`, and
 * waits up to 20 s until `ready()` says it serves. Throws if it exits or never gets there.
 */
export async function startService(
  argv: readonly string[],
  logPath: string,
  ready: () => Promise<boolean>,
): Promise<ChildProcess> {
  const [file, ...args] = argv;
  const out = createWriteStream(logPath);
  const child = spawn(file as string, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  let exited: number | null | undefined;
  child.on('exit', (code) => {
    exited = code;
  });
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (exited !== undefined) throw new Error(`${file} exited ${exited}; see ${logPath}`);
    if (await ready()) return child;
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error(`${file} did not serve within 20s; see ${logPath}`);
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
