import { cpSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Haproxy, startHaproxy } from '../../test/support/haproxy.js';
import { type IngotServer, startIngot } from '../../test/support/ingot.js';
import { type PeerServer, pairUp } from './peers.js';
import { cpuSecondsOf, removeTree, run } from './proc.js';

/**
 * One server on many nodes, as an operator runs it: `ingot serve` processes on one
 * PostgreSQL and one `--store` directory, each home holding the first node's keys and token,
 * every node advertising the balancer's peer address; HAProxy in front of their peer ports.
 * The homes stay across starts, so peers paired once reach whichever nodes run.
 */
export class Cluster {
  private constructor(
    readonly name: string,
    private readonly homes: readonly string[],
    private readonly args: readonly string[],
    private readonly db: string,
    readonly balancerPort: number,
  ) {}

  /** Starts the first node on a fresh home and makes the other homes its copies. */
  static async create(opts: {
    name: string;
    dir: string;
    db: string;
    store: string;
    balancerPort: number;
    nodes: number;
  }): Promise<{ cluster: Cluster; first: IngotServer }> {
    await removeTree(opts.dir);
    const homes = Array.from({ length: opts.nodes }, (_, i) => join(opts.dir, `node-${i + 1}`));
    for (const home of homes) mkdirSync(home, { recursive: true });
    const args = ['--store', opts.store, '--advertise', `https://127.0.0.1:${opts.balancerPort}`];
    const cluster = new Cluster(opts.name, homes, args, opts.db, opts.balancerPort);
    const first = await cluster.startNode(0);
    for (const home of homes.slice(1)) {
      cpSync(join(first.home, 'keys'), join(home, 'keys'), { recursive: true });
      cpSync(join(first.home, 'token'), join(home, 'token'));
    }
    return { cluster, first };
  }

  private startNode(i: number): Promise<IngotServer> {
    const home = this.homes[i] as string;
    return startIngot({ name: this.name, db: this.db, home, args: this.args });
  }

  /** The first `count` nodes, the i-th pinned to `cores[i]` when given, behind HAProxy. */
  async start(count: number, cores: readonly string[] = []): Promise<RunningCluster> {
    const nodes = await Promise.all(Array.from({ length: count }, (_, i) => this.startNode(i)));
    // -a: every thread (the CPU pool's workers too); threads made later inherit it.
    await Promise.all(
      cores.map((core, i) => run('taskset', ['-a', '-cp', core, String(nodes[i]?.proc.pid)])),
    );
    const names = nodes.map((_, i) => `n${i + 1}`);
    const port = (i: number, url: string) => [names[i] as string, Number(new URL(url).port)] as const;
    const lb = await startHaproxy(Object.fromEntries(nodes.map((n, i) => [names[i], n.peerPort])), {
      port: this.balancerPort,
      checkPorts: Object.fromEntries(nodes.map((n, i) => port(i, n.url))),
    });
    await Promise.all(names.map((n) => lb.until(n, 'UP')));
    return new RunningCluster(nodes, lb);
  }
}

export class RunningCluster {
  constructor(
    readonly nodes: readonly IngotServer[],
    readonly lb: Haproxy,
  ) {}

  async stop(): Promise<void> {
    await this.lb.stop();
    await Promise.all(this.nodes.map((n) => n.stop()));
  }
}

/** The peer's side of pairUp for a node of the cluster (its CLI is the test support's). */
export async function pairWithCluster(
  cluster: Cluster,
  first: IngotServer,
  rx: PeerServer,
  scratch: string,
): Promise<void> {
  const cli = async (args: readonly string[]) => {
    const r = await first.cli(args);
    if (r.code !== 0) throw new Error(`ingot ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  };
  await pairUp({ name: cluster.name, cli }, rx, scratch);
}

/** Read and write syscalls of a live process (files and sockets alike), from /proc/PID/io. */
export async function syscallsOf(pid: number): Promise<{ reads: number; writes: number }> {
  const text = await readFile(`/proc/${pid}/io`, 'utf8').catch(() => '');
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN);
  return { reads: field('syscr'), writes: field('syscw') };
}

/** CPU seconds a set of processes used between two readings (processes gone since count 0). */
export async function cpuOf(pids: readonly number[]): Promise<() => Promise<number>> {
  const before = await Promise.all(pids.map((p) => cpuSecondsOf(p)));
  return async () => {
    const after = await Promise.all(pids.map((p) => cpuSecondsOf(p)));
    return after.reduce<number>((sum, a, i) => sum + Math.max(0, (a ?? 0) - (before[i] ?? a ?? 0)), 0);
  };
}
