import type { ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { bash, childPids, cpuSecondsOf, freePort, removeTree, run, sleep, startService } from './proc.js';

/**
 * The reference for moving bytes between hosts: an rsync daemon on loopback and the rsync
 * client pushing to it, so both ends are separate processes talking over TCP as ingot's
 * servers do (a local `rsync SRC DEST` would switch to whole-file copies and skip the
 * delta algorithm).
 */

export interface RsyncSample {
  readonly seconds: number;
  /** Peak RSS of the client (/usr/bin/time). */
  readonly peakRss: number | undefined;
  /** From --stats, the client's view: literal data, checksums and protocol both ways. */
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly wireBytes: number;
  /** Literal data rsync had to send (the part its delta algorithm did not match). */
  readonly literalBytes: number | undefined;
  /** User + system CPU of the client (the sender of a push), /usr/bin/time. */
  readonly clientCpuSeconds: number | undefined;
  /** The daemon's, its forked connection handler and that one's children included. */
  readonly daemonCpuSeconds: number | undefined;
}

export class RsyncDaemon {
  private constructor(
    readonly port: number,
    /** Local path of the module, where the pushed files land. */
    readonly root: string,
    private readonly child: ChildProcess,
  ) {}

  /** With a prefix (`ip netns exec NS`), the daemon runs there, on that namespace's loopback. */
  static async start(dir: string, prefix: readonly string[] = []): Promise<RsyncDaemon> {
    await removeTree(dir);
    const root = join(dir, 'module');
    await mkdir(root, { recursive: true });
    const port = await freePort();
    const conf = join(dir, 'rsyncd.conf');
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    // uid/gid: a daemon started by root would otherwise write as nobody. munge symlinks is on
    // by default without chroot and would rewrite every symlink of the trees.
    await writeFile(
      conf,
      [
        `port = ${port}`,
        'address = 127.0.0.1',
        'use chroot = no',
        `log file = ${join(dir, 'rsyncd.log')}`,
        `pid file = ${join(dir, 'rsyncd.pid')}`,
        '',
        '[bench]',
        `  path = ${root}`,
        '  read only = no',
        `  uid = ${uid}`,
        `  gid = ${gid}`,
        '  munge symlinks = no',
        '  numeric ids = yes',
        '',
      ].join('\n'),
    );
    const child = await startService(
      [...prefix, 'rsync', '--daemon', '--no-detach', `--config=${conf}`],
      join(dir, 'daemon.out'),
      () => (prefix.length ? canConnectIn(prefix, port) : canConnect(port)),
    );
    return new RsyncDaemon(port, root, child);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /**
   * CPU seconds of the daemon and every connection it has served. The daemon forks one
   * process per connection, and a child's CPU reaches the parent's counters only once it is
   * reaped, so this waits (up to 5 s) until no child is left.
   */
  async cpuSeconds(): Promise<number | undefined> {
    const deadline = Date.now() + 5000;
    while ((await childPids(this.pid)).length > 0 && Date.now() < deadline) await sleep(20);
    return cpuSecondsOf(this.pid, true);
  }

  /** The module's URL, directly or through a relay at `via` (host:port) in front of the daemon. */
  url(path: string, via = `127.0.0.1:${this.port}`): string {
    return `rsync://${via}/bench/${path}`;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const done = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await done;
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function canConnectIn(prefix: readonly string[], port: number): Promise<boolean> {
  try {
    await bash('exec 3<>"/dev/tcp/127.0.0.1/$1"', [String(port)], { prefix });
    return true;
  } catch {
    return false;
  }
}

/**
 * `rsync FLAGS --stats SRC DEST`, timed, with the client's peak RSS and CPU, the daemon's CPU
 * when it is given, and the --stats byte counts.
 */
export async function rsyncPush(
  flags: readonly string[],
  src: string,
  dest: string,
  rssFile: string,
  prefix: readonly string[] = [],
  daemon?: RsyncDaemon,
): Promise<RsyncSample> {
  const daemonBefore = await daemon?.cpuSeconds();
  const r = await run('rsync', [...flags, '--stats', src, dest], { measureRss: true, rssFile, prefix });
  const daemonAfter = await daemon?.cpuSeconds();
  const sent = statNumber(r.stdout, 'Total bytes sent');
  const received = statNumber(r.stdout, 'Total bytes received');
  if (sent === undefined || received === undefined)
    throw new Error(`rsync --stats printed no byte totals:\n${r.stdout.slice(-2000)}`);
  return {
    seconds: r.seconds,
    peakRss: r.peakRss,
    bytesSent: sent,
    bytesReceived: received,
    wireBytes: sent + received,
    literalBytes: statNumber(r.stdout, 'Literal data'),
    clientCpuSeconds: r.cpuSeconds,
    daemonCpuSeconds:
      daemonBefore === undefined || daemonAfter === undefined ? undefined : daemonAfter - daemonBefore,
  };
}

function statNumber(stats: string, label: string): number | undefined {
  // Newer rsync groups digits with commas (or the locale's separator).
  const m = new RegExp(`^${label}:\\s+([\\d,.]+)`, 'm').exec(stats);
  if (!m?.[1]) return undefined;
  const n = Number(m[1].replace(/[,.]/g, ''));
  return Number.isFinite(n) ? n : undefined;
}
