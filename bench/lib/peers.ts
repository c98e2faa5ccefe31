import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ingotCli } from './ingot.js';
import { type ByteMeter, startMeter } from './link-meter.js';
import {
  cpuSecondsOf,
  freePort,
  type RunResult,
  removeTree,
  resetPeakRss,
  run,
  sleep,
  vmHwm,
} from './proc.js';

/**
 * Two (or more) Ingot servers on loopback that know each other as peers, each a real
 * `ingot serve` process with its own INGOT_HOME, driven by the CLI as an administrator would.
 *
 * A server keeps its peer port across restarts: the other side registered that endpoint.
 * Restarting is how a case gets its own VmHWM (the kernel's high-water mark never goes down).
 * With a meter, every byte its peers exchange with it is counted: by the kernel, or by a
 * relay in front of its peer port that it then advertises (see link-meter.ts). With a placement, the server
 * and its CLI run elsewhere (a network namespace) and advertise what the placement puts in front
 * of the peer port (a relay across an emulated link, see wan.ts).
 */

/** The transfer record `ingot image pull --json` prints. */
export interface TransferJson {
  readonly jobId: number;
  readonly direction: string;
  readonly image: string;
  readonly digest: string;
  readonly bytesTotal: number;
  readonly bytesDone: number;
  readonly bytesPresent: number;
  readonly wireBytes: number;
  readonly chunksTotal: number;
  readonly chunksSent: number;
  readonly outcome: string | null;
  readonly state: string;
  readonly attempts: number;
  readonly rate: number | null;
  readonly startedAt: string | null;
  readonly updatedAt: string;
  readonly [k: string]: unknown;
}

/** What peers reach a placed server's peer port through; its URL is advertised. */
export interface PeerFront {
  readonly url: string;
  close(): Promise<void>;
}

/** Where a server runs when it is not beside the benchmark on its loopback. */
export interface PeerPlacement {
  /** Words that run the server and its CLI there, e.g. `ip netns exec NS`. */
  readonly prefix: readonly string[];
  readonly front: (peerPort: number) => Promise<PeerFront>;
}

interface ServerJson {
  readonly url: string;
  readonly peerUrl: string;
  readonly pid: number;
}

/** More for `ingot serve`: flags (e.g. --db, --store) and environment. */
export interface ServeExtras {
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

export class PeerServer {
  private child: ChildProcess | undefined;
  private starts = 0;

  private constructor(
    readonly repo: string,
    readonly home: string,
    readonly name: string,
    readonly peerPort: number,
    readonly meter: ByteMeter | undefined,
    private readonly prefix: readonly string[] = [],
    private readonly front: PeerFront | undefined = undefined,
    private readonly extra: ServeExtras = {},
  ) {}

  /** A fresh home (whatever was there is removed) and a running server. */
  static async create(
    repo: string,
    home: string,
    name: string,
    metered: boolean,
    placement?: PeerPlacement,
    extra: ServeExtras = {},
  ): Promise<PeerServer> {
    await removeTree(home);
    await mkdir(home, { recursive: true });
    // A namespace of the benchmark's own has nothing listening: a port free here is free there.
    const peerPort = await freePort();
    const meter = metered && !placement ? await startMeter(peerPort) : undefined;
    const front = await placement?.front(peerPort);
    const server = new PeerServer(repo, home, name, peerPort, meter, placement?.prefix, front, extra);
    try {
      await server.start();
    } catch (err) {
      await meter?.close();
      await front?.close();
      throw err;
    }
    return server;
  }

  get pid(): number {
    return this.child?.pid ?? -1;
  }

  async start(): Promise<void> {
    this.starts++;
    const logPath = join(this.home, `bench-server-${this.starts}.log`);
    const log = createWriteStream(logPath);
    const args = ['serve', '--name', this.name, '--listen', '127.0.0.1:0'];
    args.push('--peer-listen', `127.0.0.1:${this.peerPort}`);
    args.push(...(this.extra.args ?? []));
    if (this.front) args.push('--advertise', this.front.url);
    else if (this.meter) args.push('--advertise', `https://127.0.0.1:${this.meter.port}`);
    const [file, ...argv] = [...this.prefix, join(this.repo, 'bin/ingot.js'), ...args];
    const child = spawn(file as string, argv, {
      env: { ...process.env, ...this.extra.env, INGOT_HOME: this.home },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    this.child = child;
    let exited: number | null | undefined;
    child.on('exit', (code) => {
      exited = code;
    });
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (exited !== undefined)
        throw new Error(`ingot serve (${this.name}) exited ${exited}; see ${logPath}`);
      // server.json survives a stop: only the one this process wrote counts.
      const info = await readServerJson(this.home);
      // Placed elsewhere, its API is out of this namespace's reach; server.json is written
      // only once both ports listen (src/main/serve.ts), which is as good a sign.
      if (info && info.pid === child.pid && this.prefix.length) return;
      if (info && info.pid === child.pid) {
        try {
          const res = await fetch(`${info.url}/healthz`);
          if (res.status === 200) return;
        } catch {
          // not answering yet
        }
      }
      await sleep(100);
    }
    child.kill('SIGKILL');
    throw new Error(`ingot serve (${this.name}) did not come up within 60s; see ${logPath}`);
  }

  peakRss(): Promise<number | undefined> {
    return vmHwm(this.pid);
  }

  /**
   * Starts a new peak: VmHWM back to the current RSS, so peakRss() afterwards is what ran
   * since. Where the kernel refuses that, the server is restarted instead (a cold server).
   */
  async newPeak(): Promise<void> {
    if (!(await resetPeakRss(this.pid))) await this.restart();
  }

  /** User + system CPU seconds the server process has used since it started. */
  cpuSeconds(): Promise<number | undefined> {
    return cpuSecondsOf(this.pid);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const done = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await done;
    clearTimeout(timer);
  }

  /** kill -9: the server gets no chance to finish anything (a crash, a power cut). */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const done = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await done;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Stops the server and its meter or front. */
  async dispose(): Promise<void> {
    await this.stop();
    await this.meter?.close();
    await this.front?.close();
  }

  cli(args: readonly string[]): Promise<RunResult> {
    return ingotCli(this.repo, this.home, args, false, this.prefix);
  }

  /** The CLI under `timeout`, so a transfer that never ends fails the case instead of the run. */
  cliWithin(seconds: number, args: readonly string[]): Promise<RunResult> {
    return run('timeout', [String(seconds), join(this.repo, 'bin/ingot.js'), ...args], {
      env: { ...process.env, INGOT_HOME: this.home },
      prefix: this.prefix,
    });
  }
}

async function readServerJson(home: string): Promise<ServerJson | undefined> {
  try {
    return JSON.parse(await readFile(join(home, 'server.json'), 'utf8')) as ServerJson;
  } catch {
    return undefined;
  }
}

/** A server whose CLI can export and register server data (a PeerServer, a cluster's node). */
export interface Pairable {
  readonly name: string;
  cli(args: readonly string[]): Promise<unknown>;
}

/** Each side exports its server data and registers the other's, as two administrators would. */
export async function pairUp(a: Pairable, b: Pairable, scratch: string): Promise<void> {
  const fileA = join(scratch, `${a.name}.serverdata.json`);
  const fileB = join(scratch, `${b.name}.serverdata.json`);
  await a.cli(['export', 'server', '--serverdata', fileA]);
  await b.cli(['export', 'server', '--serverdata', fileB]);
  await b.cli(['register', 'server', '--server', a.name, '--serverdata', fileA]);
  await a.cli(['register', 'server', '--server', b.name, '--serverdata', fileB]);
}

/**
 * A full and a delta pull of a small image (8 MiB, then a copy with 1% of its 4 KiB blocks
 * rewritten), not timed: every route, schema and code path a measured pull uses has run once.
 */
export async function warmUp(sender: PeerServer, receiver: PeerServer, scratch: string): Promise<void> {
  const [w1, w2] = [join(scratch, 'warm-1.bin'), join(scratch, 'warm-2.bin')];
  if (!existsSync(w2)) {
    const bytes = Buffer.alloc(8 * 2 ** 20);
    for (let i = 0; i < bytes.length; i += 4)
      bytes.writeUInt32LE((Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0, i);
    await writeFile(w1, bytes);
    for (let b = 0; b < bytes.length / 4096; b += 100) bytes.fill(b & 255, b * 4096, b * 4096 + 4096);
    await writeFile(w2, bytes);
  }
  const names = await sender.cli(['image', 'list', '--json']);
  if (!names.stdout.includes('"WARM_2"')) {
    await sender.cli(['image', 'add', 'WARM_1', '--file', w1, '--type', 'DISKIMAGE']);
    await sender.cli(['image', 'add', 'WARM_2', '--file', w2, '--type', 'DISKIMAGE', '--from', 'WARM_1']);
  }
  for (const image of ['WARM_1', 'WARM_2'])
    await receiver.cli(['image', 'pull', image, '--server', sender.name]);
}
