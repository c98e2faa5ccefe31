/**
 * Real `ingot serve` processes and the real `ingot` CLI for integration tests: each server
 * gets its own INGOT_HOME in a temp dir and a free port on 127.0.0.1.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '../..');
export const BIN = join(REPO, 'bin', 'ingot.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface IngotServer {
  readonly home: string;
  readonly url: string;
  /** The peer API (mutual TLS); its port stays the same across restarts. */
  readonly peerUrl: string;
  readonly peerPort: number;
  readonly token: string;
  readonly proc: ChildProcess;
  readonly logs: () => string;
  cli(args: readonly string[], opts?: { env?: Record<string, string> }): Promise<CliResult>;
  /** Parses stdout of a `--json` command. */
  json<T = unknown>(args: readonly string[]): Promise<T>;
  stop(): Promise<void>;
  kill9(): Promise<void>;
  /** Starts a new process on the same INGOT_HOME (after stop or kill9). */
  restart(): Promise<IngotServer>;
}

export function tempDir(prefix = 'ingot-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function runCli(args: readonly string[], env: Record<string, string | undefined>): Promise<CliResult> {
  return outcome(
    spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, INGOT_SERVER: undefined, INGOT_TOKEN: undefined, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}

/** The exit code and output of a child whose stdout and stderr are pipes (stdout may be closed). */
export function outcome(child: ChildProcess): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => {
      stdout += d;
    });
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? -1, stdout, stderr }));
  });
}

/** A port free right now; the peer API needs one that survives restarts, unlike port 0. */
export function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolvePromise(port));
    });
  });
}

export async function startIngot(
  opts: {
    name?: string;
    db?: string;
    home?: string;
    peerPort?: number;
    env?: Record<string, string>;
    /** More `ingot serve` flags, e.g. `['--metrics', 'token']`. */
    args?: readonly string[];
  } = {},
  attempt = 1,
): Promise<IngotServer> {
  const home = opts.home ?? tempDir('ingot-home-');
  const peerPort = opts.peerPort ?? (await freePort());
  const args = [
    'serve',
    '--listen',
    '127.0.0.1:0',
    '--peer-listen',
    `127.0.0.1:${peerPort}`,
    '--log-level',
    'info',
  ];
  if (opts.name) args.push('--name', opts.name);
  if (opts.db) args.push('--db', opts.db);
  args.push(...(opts.args ?? []));
  rmSync(join(home, 'server.json'), { force: true });
  const proc = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, INGOT_HOME: home, ...(opts.env ?? {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  proc.stdout?.on('data', (d) => {
    logs += d;
  });
  proc.stderr?.on('data', (d) => {
    logs += d;
  });
  const url = await waitForServer(home, proc, () => logs).catch((err: unknown) => {
    // freePort's port can be taken by another test's process before the server binds it.
    const raced =
      opts.peerPort === undefined && logs.includes(`address already in use 127.0.0.1:${peerPort}`);
    if (raced && attempt < 3) return undefined;
    throw err;
  });
  if (url === undefined) return startIngot({ ...opts, home }, attempt + 1);
  const token = readFileSync(join(home, 'token'), 'utf8').trim();
  const env = { INGOT_HOME: home };
  const server: IngotServer = {
    home,
    url,
    peerUrl: `https://127.0.0.1:${peerPort}`,
    peerPort,
    token,
    proc,
    logs: () => logs,
    cli: (a, o) => runCli(a, { ...env, ...(o?.env ?? {}) }),
    async json<T>(a: readonly string[]) {
      const r = await runCli([...a, '--json'], env);
      if (r.code !== 0) throw new Error(`ingot ${a.join(' ')} failed (${r.code}): ${r.stderr}`);
      return JSON.parse(r.stdout) as T;
    },
    stop: () => stopProcess(proc, 'SIGTERM'),
    kill9: () => stopProcess(proc, 'SIGKILL'),
    restart: () => startIngot({ ...opts, home, peerPort }),
  };
  return server;
}

/** Waits until the `ingot serve` of `proc` has written its server.json, and answers its URL. */
export async function waitForServer(home: string, proc: ChildProcess, logs: () => string): Promise<string> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`ingot serve exited ${proc.exitCode}:\n${logs()}`);
    try {
      const info = JSON.parse(readFileSync(join(home, 'server.json'), 'utf8')) as {
        url: string;
        pid: number;
      };
      if (info.pid === proc.pid) return info.url;
    } catch {
      // not yet written
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill('SIGKILL');
  throw new Error(`ingot serve did not start within 30 s:\n${logs()}`);
}

export function stopProcess(proc: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((r) => {
    proc.once('exit', () => r());
    proc.kill(signal);
  });
}
