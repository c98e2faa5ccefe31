import type { ChildProcess } from 'node:child_process';
import { mkdir, open, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { type ByteMeter, startMeter } from './link-meter.js';
import { bash, cpuSecondsOf, freePort, removeTree, run, startService } from './proc.js';

/**
 * zsync, the other way to pull a delta of one big file: the publisher runs `zsyncmake` once
 * per version and serves the file and its `.zsync` (block checksums) from any HTTP server;
 * the client reads its old copy, matches blocks against the checksums and fetches the rest
 * with range requests. Here nginx serves them on 127.0.0.1 behind a counting relay, so the
 * link bytes are everything the client exchanged (the `.zsync` file, HTTP, the ranges).
 */

export interface ZsyncSample {
  readonly seconds: number;
  readonly peakRss: number | undefined;
  /** Both directions through the relay: the control file, HTTP headers, the ranges fetched. */
  readonly linkBytes: number;
  /** zsync's own "fetched" figure (range payloads; the control file not included). */
  readonly fetchedBytes: number | undefined;
  /** zsync's "used ... local": bytes it took from the seed. */
  readonly localBytes: number | undefined;
  /** The zsync client's CPU (it does the matching and the writing: the receiver). */
  readonly clientCpuSeconds: number | undefined;
  /** nginx's, a single process here (the sender). */
  readonly serverCpuSeconds: number | undefined;
  /** The output has v2's bytes. */
  readonly matches: boolean;
}

/** What `zsyncmake` made for one v2, once per run. */
export interface ZsyncPublished {
  readonly url: string;
  readonly blockSize: number;
  readonly controlBytes: number;
  readonly makeSeconds: number;
}

/**
 * nginx as a plain static server: one process (`master_process off`) so its CPU is one pid's,
 * logging to its own directory, listening on 127.0.0.1 only.
 */
export class HttpServer {
  private constructor(
    readonly root: string,
    private readonly child: ChildProcess,
    readonly meter: ByteMeter,
  ) {}

  static async start(dir: string): Promise<HttpServer> {
    await removeTree(dir);
    const root = join(dir, 'www');
    const tmp = join(dir, 'tmp');
    await mkdir(root, { recursive: true });
    await mkdir(tmp, { recursive: true });
    const port = await freePort();
    const conf = join(dir, 'nginx.conf');
    await writeFile(
      conf,
      [
        'daemon off;',
        'master_process off;',
        'worker_processes 1;',
        `pid ${join(dir, 'nginx.pid')};`,
        `error_log ${join(dir, 'error.log')};`,
        'events { worker_connections 64; }',
        'http {',
        `  access_log ${join(dir, 'access.log')};`,
        ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${tmp};`),
        '  sendfile on;',
        `  server { listen 127.0.0.1:${port}; root ${root}; }`,
        '}',
        '',
      ].join('\n'),
    );
    const up = () =>
      bash('exec 3<>"/dev/tcp/127.0.0.1/$1"', [String(port)]).then(
        () => true,
        () => false,
      );
    const child = await startService(['nginx', '-c', conf, '-p', dir], join(dir, 'nginx.out'), up);
    return new HttpServer(root, child, await startMeter(port));
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.meter.port}/${path}`;
  }

  cpuSeconds(): Promise<number | undefined> {
    return cpuSecondsOf(this.child.pid ?? -1);
  }

  /**
   * Serves `file` under `name` (a symlink, so no copy) next to its `.zsync`, made by
   * `zsyncmake` with its default block size; timed, as the publisher's one-off cost.
   */
  async publish(file: string, name: string): Promise<ZsyncPublished> {
    const served = join(this.root, name);
    await rm(served, { force: true });
    await symlink(file, served);
    const control = join(this.root, `${name}.zsync`);
    const r = await run('zsyncmake', ['-u', name, '-o', control, served]);
    return {
      url: this.url(`${name}.zsync`),
      blockSize: await controlBlockSize(control),
      controlBytes: (await stat(control)).size,
      makeSeconds: r.seconds,
    };
  }

  async stop(): Promise<void> {
    await this.meter.close();
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const done = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await done;
  }
}

/** The `Blocksize:` line of a .zsync header. */
async function controlBlockSize(control: string): Promise<number> {
  const fh = await open(control, 'r');
  try {
    const head = Buffer.alloc(1024);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const m = /^Blocksize: (\d+)$/m.exec(head.subarray(0, bytesRead).toString('latin1'));
    if (!m?.[1]) throw new Error(`${control} has no Blocksize line`);
    return Number(m[1]);
  } finally {
    await fh.close();
  }
}

/**
 * `zsync -i SEED -o OUT URL` into `dir`, timed, with the client's peak RSS and CPU, nginx's
 * CPU and the relay's byte count; then OUT is compared with `expect` (untimed) and removed.
 * Not `-q`: it also silences the "used N local, fetched N" line read here.
 */
export async function zsyncPull(
  server: HttpServer,
  published: ZsyncPublished,
  seed: string,
  expect: string,
  dir: string,
): Promise<ZsyncSample> {
  await removeTree(dir);
  await mkdir(dir, { recursive: true });
  const out = join(dir, basename(expect));
  const linkBefore = server.meter.bytes;
  const cpuBefore = await server.cpuSeconds();
  // No proxy: the URL is on loopback. zsync takes any http_proxy that is set, even an empty
  // one (it then fails to parse it), so the variables are removed, not blanked.
  const env = { ...process.env };
  delete env.http_proxy;
  delete env.HTTP_PROXY;
  const r = await run('zsync', ['-i', seed, '-o', out, published.url], {
    measureRss: true,
    rssFile: join(dir, 'zsync.rss'),
    cwd: dir,
    env,
  });
  const cpuAfter = await server.cpuSeconds();
  const linkBytes = server.meter.bytes - linkBefore;
  const said = `${r.stdout}\n${r.stderr}`;
  const used = /used (\d+) local, fetched (\d+)/.exec(said);
  let matches = true;
  try {
    await run('cmp', ['-s', out, expect]);
  } catch {
    matches = false;
  }
  await removeTree(dir);
  return {
    seconds: r.seconds,
    peakRss: r.peakRss,
    linkBytes,
    fetchedBytes: used?.[2] === undefined ? undefined : Number(used[2]),
    localBytes: used?.[1] === undefined ? undefined : Number(used[1]),
    clientCpuSeconds: r.cpuSeconds,
    serverCpuSeconds: cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore,
    matches,
  };
}
