import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import {
  duBytes,
  fileBytes,
  freePort,
  type RunResult,
  removeTree,
  rssBreakdown,
  run,
  sleep,
  sync,
  vmHwm,
  warmPages,
} from './proc.js';

/**
 * Driving Ingot as a user would: `ingot serve` in the background on loopback, then the CLI.
 * One rep = a fresh INGOT_HOME and a fresh server (so its VmHWM is this rep's alone), v1 added
 * as a new image, then v2 added `--from` v1.
 */

export interface ImageShow {
  readonly size?: number;
  readonly storedBytes?: number;
  readonly chunkCount?: number;
  readonly [k: string]: unknown;
}

export interface IngotAdd {
  readonly seconds: number;
  /** Peak RSS of the CLI process (/usr/bin/time). */
  readonly cliPeakRss: number | undefined;
  /** Server VmHWM read right after this command (a high-water mark since the server started). */
  readonly serverPeakRss: number | undefined;
  /** The server's current RSS by kind right after this command (anon vs file-backed), for diagnosis. */
  readonly serverRss: Record<string, number> | undefined;
  /** Chunk data added by this command: file bytes under store/chunks-v1 and store/packs-v1. */
  readonly chunkBytesAdded: number;
  /** Everything added under store/ (chunks, packs, pack index, manifests), `du -sb` (dirs included). */
  readonly duStoreBytesAdded: number;
  readonly show: ImageShow | undefined;
}

export interface IngotRep {
  readonly v1: IngotAdd;
  readonly v2: IngotAdd;
}

export class IngotServer {
  private constructor(
    readonly home: string,
    readonly url: string,
    private readonly child: ChildProcess,
  ) {}

  static async start(repo: string, home: string): Promise<IngotServer> {
    const port = await freePort();
    const listen = `127.0.0.1:${port}`;
    const log = createWriteStream(join(home, 'bench-server.log'));
    // The peer API too, or it takes 7481, which another server on this machine may hold.
    const peerListen = `127.0.0.1:${await freePort()}`;
    const child = spawn(
      join(repo, 'bin/ingot.js'),
      ['serve', '--listen', listen, '--peer-listen', peerListen],
      {
        env: { ...process.env, INGOT_HOME: home },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    let exited: number | null | undefined;
    child.on('exit', (code) => {
      exited = code;
    });
    const url = `http://${listen}`;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (exited !== undefined)
        throw new Error(`ingot serve exited ${exited}; see ${join(home, 'bench-server.log')}`);
      try {
        const res = await fetch(`${url}/healthz`);
        if (res.status === 200) return new IngotServer(home, url, child);
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    child.kill('SIGKILL');
    throw new Error(`ingot serve did not answer /healthz within 60s; see ${join(home, 'bench-server.log')}`);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  peakRss(): Promise<number | undefined> {
    return vmHwm(this.pid);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const done = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await done;
    clearTimeout(timer);
  }
}

export function ingotCli(
  repo: string,
  home: string,
  args: readonly string[],
  measureRss = false,
  prefix: readonly string[] = [],
): Promise<RunResult> {
  return run(join(repo, 'bin/ingot.js'), args, {
    env: { ...process.env, INGOT_HOME: home },
    measureRss,
    rssFile: join(home, 'bench-cli.rss'),
    prefix,
  });
}

/** Setup that is not measured: declares the image type unless it exists (base types are built in). */
async function ensureImageType(repo: string, home: string, type: string): Promise<void> {
  try {
    const r = await ingotCli(repo, home, ['imagetype', 'list', '--json']);
    if (r.stdout.includes(`"${type}"`)) return;
    await ingotCli(repo, home, ['imagetype', 'add', type, '--basetype', type]);
  } catch {
    // built in, or this CLI has no image types: `image add` will say if it matters
  }
}

export async function ingotRep(
  repo: string,
  scratch: string,
  v1: string,
  v2: string,
  isTree: boolean,
): Promise<IngotRep> {
  const home = join(scratch, 'ingot-home');
  await removeTree(home);
  await mkdir(home, { recursive: true });
  const server = await IngotServer.start(repo, home);
  try {
    const type = isTree ? 'OSIMAGE' : 'DISKIMAGE';
    await ensureImageType(repo, home, type);
    const src = isTree ? '--path' : '--file';
    const store = join(home, 'store');
    // The store keeps chunks as files (chunks-v1) or in pack files (packs-v1): count both.
    const chunkData = async () =>
      (await fileBytes(join(store, 'chunks-v1'))) + (await fileBytes(join(store, 'packs-v1')));
    const add = async (name: string, path: string, extra: string[]): Promise<IngotAdd> => {
      const beforeFiles = await chunkData();
      const beforeDu = await duBytes(store);
      await warmPages(scratch, await duBytes(path));
      const r = await ingotCli(repo, home, ['image', 'add', name, src, path, '--type', type, ...extra], true);
      const serverPeakRss = await server.peakRss();
      const serverRss = await rssBreakdown(server.pid);
      await sync();
      const show = await showImage(repo, home, name);
      return {
        seconds: r.seconds,
        cliPeakRss: r.peakRss,
        serverPeakRss,
        serverRss,
        chunkBytesAdded: (await chunkData()) - beforeFiles,
        duStoreBytesAdded: (await duBytes(store)) - beforeDu,
        show,
      };
    };
    const a = await add('bench_v1', v1, []);
    const b = await add('bench_v2', v2, ['--from', 'bench_v1']);
    await server.stop();
    await removeTree(home);
    await sync();
    return { v1: a, v2: b };
  } catch (err) {
    await server.stop();
    // Keep the home (server log, store) for a look; the next rep starts from a fresh one.
    const kept = `${home}.failed`;
    await removeTree(kept);
    await rename(home, kept);
    throw new Error(`${(err as Error).message}\n(ingot home kept in ${kept})`);
  }
}

async function showImage(repo: string, home: string, name: string): Promise<ImageShow | undefined> {
  try {
    const r = await ingotCli(repo, home, ['image', 'show', name, '--json']);
    return JSON.parse(r.stdout) as ImageShow;
  } catch {
    return undefined;
  }
}
