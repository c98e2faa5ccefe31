import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { type IngotBuild, snapshotBuild } from './lib/build.js';
import { loadConfig } from './lib/config.js';
import { cpuSample, cpuShare } from './lib/cpu-share.js';
import { egressBetween, egressSnapshot } from './lib/egress.js';
import {
  type BundleRep,
  type DirectRep,
  type FanoutRep,
  fanoutReport,
  type Member,
  type SyncJson,
  type Tier,
  type TieredRep,
} from './lib/fanout-report.js';
import { ingotCli } from './lib/ingot.js';
import { firstLine, machineFacts } from './lib/machine.js';
import { PeerServer, pairUp } from './lib/peers.js';
import { bash, removeTree, run, sync, warm } from './lib/proc.js';
import { makeFileInput } from './lib/random-file.js';

// Each rep runs seven servers and three ingests: one is the default here, unlike the others.
process.env.BENCH_REPS ||= '1';
const cfg = loadConfig(['file']);
const t0 = Date.now();
const log = (s: string) =>
  process.stderr.write(`[fanout ${((Date.now() - t0) / 1000).toFixed(0).padStart(5)}s] ${s}\n`);

const IMAGE = 'WIN';
const TEMPLATE = 'STORE_PCS';
/** A sync that has not ended in this time fails the case rather than hanging the run. */
const SYNC_TIMEOUT_SECONDS = 3600;
/** BENCH_TCP_METER=0: no relay in front of HQ; its egress is then read from /proc wchar. */
const METERED = process.env.BENCH_TCP_METER !== '0';
const workDir = join(cfg.dir, 'work', 'fanout');

const elapsed = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;

async function timedSync(): Promise<number> {
  return (await run('sync', [])).seconds;
}

async function digestOf(server: PeerServer, image: string): Promise<string | undefined> {
  try {
    return (JSON.parse((await server.cli(['image', 'show', image, '--json'])).stdout) as { digest?: string })
      .digest;
  } catch {
    return undefined;
  }
}

/**
 * Servers of one case under `base`, all stopped at the end; on failure the homes are kept
 * (logs, stores) beside it for a look.
 */
class Fleet {
  readonly servers: PeerServer[] = [];

  constructor(
    readonly root: string,
    readonly base: string,
  ) {}

  async add(name: string, metered = false): Promise<PeerServer> {
    const s = await PeerServer.create(this.root, join(this.base, name.toLowerCase()), name, metered);
    this.servers.push(s);
    return s;
  }

  /** A CPU reading that counts these servers as the benchmark's own. */
  cpu() {
    return cpuSample(this.servers.map((s) => s.pid));
  }

  async stopAll(): Promise<void> {
    for (const s of this.servers) await s.dispose();
  }

  async close(): Promise<void> {
    await this.stopAll();
    await removeTree(this.base);
    await sync();
  }

  async keep(err: unknown): Promise<Error> {
    await this.stopAll();
    const kept = `${this.base}.failed`;
    await removeTree(kept);
    await rename(this.base, kept);
    return new Error(`${(err as Error).message}\n(server homes kept in ${kept})`);
  }
}

/**
 * HQ with the image in a published template (not timed), then restarted so its VmHWM is the
 * fan-out's alone, and its store read once so it serves from the page cache as cp reads
 * its source from it.
 */
async function prepareHq(hq: PeerServer, file: string): Promise<string> {
  log(`${hq.name}: image add ${IMAGE} (${basename(file)}), template ${TEMPLATE} published (not timed)`);
  await hq.cli(['image', 'add', IMAGE, '--file', file, '--type', 'DISKIMAGE']);
  await hq.cli(['template', 'create', TEMPLATE]);
  await hq.cli(['template', 'add', TEMPLATE, '--image', IMAGE]);
  await hq.cli(['template', 'publish', TEMPLATE]);
  const digest = await digestOf(hq, IMAGE);
  if (!digest) throw new Error(`${hq.name} does not show ${IMAGE} after adding it`);
  await hq.restart();
  await warm(join(hq.home, 'store'));
  await sync();
  return digest;
}

/**
 * Every member follows its upstream's template and at once syncs by hand, all members at the
 * same time. The scheduler may start the first sync itself in between; `sync --now` then
 * waits for that job instead of starting another, so either way it returns when the image
 * is here.
 */
async function followAndSync(
  group: readonly { server: PeerServer; upstream: string }[],
  digest: string,
): Promise<Tier> {
  const start = process.hrtime.bigint();
  const ended = await Promise.all(
    group.map(async ({ server, upstream }) => {
      await server.cli(['follow', '--upstream', upstream, '--template', TEMPLATE, '--every', '1h', '--json']);
      const r = await server.cliWithin(SYNC_TIMEOUT_SECONDS, ['sync', '--now', '--json']);
      return { server, upstream, seconds: elapsed(start), stdout: r.stdout };
    }),
  );
  const seconds = elapsed(start);
  const members: Member[] = [];
  for (const e of ended) {
    const results = JSON.parse(e.stdout) as SyncJson[];
    const following = JSON.parse((await e.server.cli(['following', '--json'])).stdout) as {
      upstream: string;
      template: string;
      lastStatus: string | null;
      lastVersion: number | null;
    }[];
    const f = following.find((x) => x.upstream === e.upstream && x.template === TEMPLATE);
    const jobs = JSON.parse((await e.server.cli(['job', 'list', '--kind', 'sync', '--json'])).stdout) as {
      state: string;
    }[];
    members.push({
      name: e.server.name,
      upstream: e.upstream,
      seconds: e.seconds,
      sync: results.find((r) => r.upstream === e.upstream && r.template === TEMPLATE),
      lastStatus: f?.lastStatus,
      lastVersion: f?.lastVersion,
      syncJobs: jobs.length,
      digestMatches: (await digestOf(e.server, IMAGE)) === digest,
      peakRss: await e.server.peakRss(),
    });
  }
  return { seconds, members };
}

async function directCase(root: string, file: string): Promise<DirectRep> {
  const fleet = new Fleet(root, join(workDir, 'direct'));
  await removeTree(fleet.base);
  await mkdir(fleet.base, { recursive: true });
  try {
    const hq = await fleet.add('HQ', METERED);
    const followers: PeerServer[] = [];
    for (let i = 1; i <= 4; i++) followers.push(await fleet.add(`STORE_${i}`));
    for (const f of followers) await pairUp(hq, f, fleet.base);
    const digest = await prepareHq(hq, file);
    log('direct: 4 followers follow HQ and sync at once');
    const before = await egressSnapshot(hq);
    const cpu0 = await fleet.cpu();
    const tier = await followAndSync(
      followers.map((server) => ({ server, upstream: hq.name })),
      digest,
    );
    const cpu = cpuShare(cpu0, await fleet.cpu());
    const egress = egressBetween(before, await egressSnapshot(hq));
    const hqPeakRss = await hq.peakRss();
    const syncAfterSeconds = await timedSync();
    log(`direct: ${tier.seconds.toFixed(1)} s`);
    await fleet.close();
    return { seconds: tier.seconds, followers: tier, egress, hqPeakRss, syncAfterSeconds, cpu };
  } catch (err) {
    throw await fleet.keep(err);
  }
}

async function tieredCase(root: string, file: string): Promise<TieredRep> {
  const fleet = new Fleet(root, join(workDir, 'tiered'));
  await removeTree(fleet.base);
  await mkdir(fleet.base, { recursive: true });
  try {
    const hq = await fleet.add('HQ', METERED);
    const sites: PeerServer[] = [];
    const edges: { server: PeerServer; upstream: string }[] = [];
    for (let s = 1; s <= 2; s++) {
      const site = await fleet.add(`SITE_${s}`);
      sites.push(site);
      await pairUp(hq, site, fleet.base);
      for (let e = 1; e <= 2; e++) {
        const edge = await fleet.add(`EDGE_${s}_${e}`);
        await pairUp(site, edge, fleet.base);
        edges.push({ server: edge, upstream: site.name });
      }
    }
    const digest = await prepareHq(hq, file);
    const before = await egressSnapshot(hq);
    const cpu0 = await fleet.cpu();
    const start = process.hrtime.bigint();
    log('tiered: tier 1, 2 sites follow HQ and sync at once');
    const siteTier = await followAndSync(
      sites.map((server) => ({ server, upstream: hq.name })),
      digest,
    );
    log(
      `tiered: tier 1 ${siteTier.seconds.toFixed(1)} s; tier 2, 4 edges follow their site and sync at once`,
    );
    const edgeTier = await followAndSync(edges, digest);
    const seconds = elapsed(start);
    const cpu = cpuShare(cpu0, await fleet.cpu());
    const egress = egressBetween(before, await egressSnapshot(hq));
    const hqPeakRss = await hq.peakRss();
    const syncAfterSeconds = await timedSync();
    log(`tiered: tier 2 ${edgeTier.seconds.toFixed(1)} s, total ${seconds.toFixed(1)} s`);
    await fleet.close();
    return { seconds, sites: siteTier, edges: edgeTier, egress, hqPeakRss, syncAfterSeconds, cpu };
  } catch (err) {
    throw await fleet.keep(err);
  }
}

async function filesBytes(paths: readonly string[]): Promise<number> {
  let n = 0;
  for (const p of paths) n += (await stat(p)).size;
  return n;
}

async function bundleCase(root: string, file: string): Promise<BundleRep> {
  const fleet = new Fleet(root, join(workDir, 'bundle'));
  await removeTree(fleet.base);
  await mkdir(fleet.base, { recursive: true });
  try {
    const hq = await fleet.add('HQ');
    const site = await fleet.add('SITE_1');
    // The site must know HQ's signing key to trust a bundle HQ made.
    await pairUp(hq, site, fleet.base);
    const digest = await prepareHq(hq, file);

    const usb = join(fleet.base, 'usb');
    await mkdir(usb, { recursive: true });
    log('bundle: create on HQ');
    const createCpu0 = await fleet.cpu();
    const made = await ingotCli(
      root,
      hq.home,
      ['bundle', 'create', '--image', IMAGE, '--out', usb, '--json'],
      true,
    );
    const createCpu = cpuShare(createCpu0, await fleet.cpu());
    const createJson = JSON.parse(made.stdout) as Record<string, unknown> & { files?: string[] };
    const files = (createJson.files ?? []).map((f) => (f.startsWith('/') ? f : join(usb, f)));
    const create = {
      seconds: made.seconds,
      cliPeakRss: made.peakRss,
      serverPeakRss: await hq.peakRss(),
      json: createJson,
      fileBytes: await filesBytes(files),
      cpu: createCpu,
    };
    // HQ's part is done; a server idle beside the import would only blur the picture.
    await hq.stop();

    const first = files.find((f) => f.endsWith('.ingot') || f.endsWith('.001')) ?? files[0];
    if (!first) throw new Error(`bundle create wrote no file: ${made.stdout}`);
    await warm(first);
    await sync();
    log(`bundle: import ${basename(first)} on the site`);
    const importCpu0 = await fleet.cpu();
    const imported = await ingotCli(root, site.home, ['bundle', 'import', first, '--json'], true);
    const importCpu = cpuShare(importCpu0, await fleet.cpu());
    const syncAfterSeconds = await timedSync();
    const importRep = {
      seconds: imported.seconds,
      syncAfterSeconds,
      cliPeakRss: imported.peakRss,
      serverPeakRss: await site.peakRss(),
      json: JSON.parse(imported.stdout) as Record<string, unknown>,
      digestMatches: (await digestOf(site, IMAGE)) === digest,
      cpu: importCpu,
    };
    await fleet.stopAll();
    await removeTree(usb);

    log('bundle: tar -cf + sync, cp + sync');
    const floors = join(fleet.base, 'floors');
    await mkdir(floors, { recursive: true });
    await warm(file);
    await sync();
    const tarCpu0 = await cpuSample([]);
    const tar = await bash('tar -cf "$1" -C "$2" "$3" && sync', [
      join(floors, 'x.tar'),
      dirname(file),
      basename(file),
    ]);
    const tarCpu = cpuShare(tarCpu0, await cpuSample([]));
    await removeTree(join(floors, 'x.tar'));
    await warm(file);
    await sync();
    const cpCpu0 = await cpuSample([]);
    const cp = await bash('cp "$1" "$2" && sync', [file, join(floors, 'image.bin')]);
    const cpCpu = cpuShare(cpCpu0, await cpuSample([]));
    await fleet.close();
    return {
      create,
      import: importRep,
      tar: { seconds: tar.seconds, cpu: tarCpu },
      cp: { seconds: cp.seconds, cpu: cpCpu },
    };
  } catch (err) {
    throw await fleet.keep(err);
  }
}

async function rep(root: string, file: string, n: number): Promise<FanoutRep> {
  const out: {
    -readonly [K in keyof FanoutRep]: FanoutRep[K];
  } = {};
  const tag = `rep ${n}/${cfg.reps}`;
  const attempt = async <T>(what: string, f: () => Promise<T>): Promise<[T?, string?]> => {
    try {
      return [await f()];
    } catch (err) {
      const msg = (err as Error).message;
      log(`${tag}: ${what} failed: ${msg}`);
      return [undefined, msg];
    }
  };
  log(`${tag}: direct fan-out`);
  [out.direct, out.directError] = await attempt('direct', () => directCase(root, file));
  log(`${tag}: tiered fan-out`);
  [out.tiered, out.tieredError] = await attempt('tiered', () => tieredCase(root, file));
  log(`${tag}: bundle`);
  [out.bundle, out.bundleError] = await attempt('bundle', () => bundleCase(root, file));
  return out;
}

function machine(build: IngotBuild): Record<string, unknown> {
  return { ...machineFacts(cfg), tar: firstLine('tar', ['--version']), ingotBuild: build.describe };
}

async function main(): Promise<void> {
  const loadAtStart = loadavg();
  await mkdir(workDir, { recursive: true });
  log(`work dir ${cfg.dir}, image ${cfg.sizeGiB} GiB, ${cfg.reps} rep(s)`);
  const ref = process.env.BENCH_INGOT_REF || undefined;
  if (!ref && !existsSync(join(cfg.repo, 'dist/main/cli.js')))
    throw new Error('dist/ is not built: npm run build');
  const build = await snapshotBuild(cfg.repo, join(workDir, 'build'), ref, log);
  log(`ingot measured: ${build.describe}`);
  const input = await makeFileInput(join(cfg.dir, 'data'), cfg.sizeBytes, log);
  // Leftovers of a failed earlier run hold gigabytes: only the newest failure is kept.
  for (const name of await readdir(workDir))
    if (name.endsWith('.failed')) await removeTree(join(workDir, name));

  const reps: FanoutRep[] = [];
  for (let n = 1; n <= cfg.reps; n++) reps.push(await rep(build.root, input.v1, n));

  const load = (l: number[]) => l.map((v) => v.toFixed(2)).join(' ');
  const notes = [
    `machine: ${cpus().length} CPUs, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, node ${process.version}; ` +
      `load average ${load(loadAtStart)} at start, ${load(loadavg())} at end`,
    `ingot measured: ${build.describe}`,
    'every server is a separate `ingot serve` on loopback with its own home, fresh for each case;',
    '  HQ ingests the image (not timed) and is restarted before the timed part.',
  ];
  if (!METERED) notes.push('BENCH_TCP_METER=0: no relay in front of HQ; its egress is /proc wchar.');
  const { text, json } = fanoutReport(cfg, input.v1Bytes, reps, notes);
  process.stdout.write(`${text}\n`);
  const out = join(cfg.dir, 'results-fanout.json');
  await writeFile(
    out,
    `${JSON.stringify(
      { date: new Date().toISOString(), config: cfg, machine: machine(build), input, ...json },
      null,
      2,
    )}\n`,
  );
  log(`results written to ${out}`);
}

main().catch((err) => {
  process.stderr.write(`fanout bench: ${err?.stack ?? err}\n`);
  process.exitCode = 1;
});
