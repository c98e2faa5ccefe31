import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { type IngotBuild, usableBuild } from './lib/build.js';
import { loadConfig } from './lib/config.js';
import { startMeter } from './lib/link-meter.js';
import { buildStamp, firstLine, machineFacts } from './lib/machine.js';
import { PeerServer, pairUp, type TransferJson, warmUp } from './lib/peers.js';
import { bash, removeTree, run, sync, warm, warmPages } from './lib/proc.js';
import { RsyncDaemon, rsyncPush } from './lib/rsync.js';
import { makeCertPair, type TlsFloor, tlsFloor } from './lib/stream-floor.js';
import { makeTransferInputs } from './lib/transfer-inputs.js';
import {
  type IngotCase,
  type IngotRep,
  type RsyncCase,
  type RsyncRep,
  type TransferInput,
  type TransferMeasured,
  type TransferRep,
  transferReport,
  type UploadCase,
} from './lib/transfer-report.js';
import { HttpServer, type ZsyncPublished, type ZsyncSample, zsyncPull } from './lib/zsync.js';

// ext4-patched loop-mounts an image, so only root runs it unless BENCH_INPUTS names it.
const cfg = loadConfig(
  ['file', 'tree', 'ext4', 'ext4-patched', 'tar'],
  process.getuid?.() === 0
    ? ['file', 'tree', 'ext4', 'ext4-patched', 'tar']
    : ['file', 'tree', 'ext4', 'tar'],
);
const t0 = Date.now();
const log = (s: string) =>
  process.stderr.write(`[transfer ${((Date.now() - t0) / 1000).toFixed(0).padStart(5)}s] ${s}\n`);

/** A pull that has not finished in this time is a failure of the case, not a slow result. */
const PULL_TIMEOUT_SECONDS = 3600;
const RSYNC_FLAGS = ['-a'];
const RSYNC_ZSTD_FLAGS = ['-az', '--compress-choice=zstd'];
/** BENCH_TCP_METER=0: link bytes are not counted at all (link-meter.ts says how they are). */
const METERED = process.env.BENCH_TCP_METER !== '0';
const workDir = join(cfg.dir, 'work', 'transfer');
let build: IngotBuild | undefined;

async function ingotUsable(): Promise<string | undefined> {
  const r = await usableBuild(cfg.repo, join(workDir, 'build'), log);
  build = r.build;
  return r.missing;
}

async function timedSync(): Promise<number> {
  return (await run('sync', [])).seconds;
}

async function digestOf(server: PeerServer, image: string): Promise<string | undefined> {
  try {
    const r = await server.cli(['image', 'show', image, '--json']);
    return (JSON.parse(r.stdout) as { digest?: string }).digest;
  } catch {
    return undefined;
  }
}

/**
 * One pull, measured, between warm servers (each has served a warm-up pull, as a running
 * server has: its first request compiles routes and schemas, ~0.5 s a side). Each side's
 * VmHWM starts afresh (newPeak), so the peaks read afterwards are this pull's alone; both
 * stores are read once so neither side starts from a cold page cache.
 */
async function pullCase(sender: PeerServer, receiver: PeerServer, image: string): Promise<IngotCase> {
  const linked = () =>
    sender.meter && receiver.meter ? sender.meter.bytes + receiver.meter.bytes : Number.NaN;
  const plan = JSON.parse(
    (await receiver.cli(['image', 'pull', image, '--server', sender.name, '--dry-run', '--json'])).stdout,
  ) as { bytesMissing: number; chunksMissing: number };
  await warmPages(receiver.home, plan.bytesMissing);
  await warm(join(sender.home, 'store'));
  await warm(join(receiver.home, 'store'));
  await sync();
  await sender.newPeak();
  await receiver.newPeak();
  const linkBefore = linked();
  const cpuBefore = [await sender.cpuSeconds(), await receiver.cpuSeconds()];
  const r = await receiver.cliWithin(PULL_TIMEOUT_SECONDS, [
    'image',
    'pull',
    image,
    '--server',
    sender.name,
    '--json',
  ]);
  const linkBytes = linked() - linkBefore;
  const cpuAfter = [await sender.cpuSeconds(), await receiver.cpuSeconds()];
  const cpu = cpuAfter.map((a, i) => {
    const b = cpuBefore[i];
    return a === undefined || b === undefined ? undefined : a - b;
  });
  const senderPeakRss = await sender.peakRss();
  const receiverPeakRss = await receiver.peakRss();
  const syncAfterSeconds = await timedSync();
  const transfer = JSON.parse(r.stdout) as TransferJson;
  if (transfer.state !== 'succeeded')
    throw new Error(`pull of ${image} ended ${transfer.state}: ${String(transfer.error)}`);
  const [want, got] = [await digestOf(sender, image), await digestOf(receiver, image)];
  const job = await receiver.cli(['job', 'show', String(transfer.jobId), '--json']);
  const phases = (JSON.parse(job.stdout) as { result?: { phases?: Record<string, number> } }).result?.phases;
  return {
    ...(phases ? { phases } : {}),
    seconds: r.seconds,
    syncAfterSeconds,
    dryRun: { bytesMissing: plan.bytesMissing, chunksMissing: plan.chunksMissing },
    transfer,
    linkBytes: Number.isFinite(linkBytes) ? linkBytes : undefined,
    senderPeakRss,
    receiverPeakRss,
    senderCpuSeconds: cpu[0],
    receiverCpuSeconds: cpu[1],
    digestMatches: want !== undefined && want === got,
  };
}

/**
 * `image add V2 --from LOCAL_COPY` (v1's bytes) as a remote CLI does it: through the API,
 * its port metered, so the link bytes are all the CLI and server exchanged.
 */
async function uploadCase(server: PeerServer, src: string, path: string, type: string): Promise<UploadCase> {
  const info = JSON.parse(await readFile(join(server.home, 'server.json'), 'utf8')) as { url: string };
  const meter = await startMeter(Number(new URL(info.url).port));
  try {
    const token = (await readFile(join(server.home, 'token'), 'utf8')).trim();
    const url = `http://127.0.0.1:${meter.port}`;
    const args = ['--url', url, '--token', token, 'image', 'add', 'V2_UPLOADED', src, path, '--upload'];
    const r = await server.cliWithin(PULL_TIMEOUT_SECONDS, [
      ...args,
      '--type',
      type,
      '--from',
      'LOCAL_COPY',
      '--json',
    ]);
    const up = (JSON.parse(r.stdout) as { upload: Omit<UploadCase, 'seconds' | 'linkBytes'> }).upload;
    return {
      seconds: r.seconds,
      linkBytes: meter.bytes,
      sentRawBytes: up.sentRawBytes,
      patchedChunks: up.patchedChunks,
      patchBytes: up.patchBytes,
    };
  } finally {
    await meter.close();
  }
}

async function ingotRep(input: TransferInput, scratch: string, tag: string): Promise<IngotRep> {
  const root = build?.root;
  if (!root) throw new Error('no ingot build');
  const base = join(scratch, 'ingot');
  await removeTree(base);
  await mkdir(base, { recursive: true });
  const servers: PeerServer[] = [];
  const server = async (dir: string, name: string) => {
    const s = await PeerServer.create(root, join(base, dir), name, METERED);
    servers.push(s);
    return s;
  };
  try {
    const sender = await server('sender', 'FPPS_1');
    const receiver = await server('receiver', 'FPPS_2');
    await pairUp(sender, receiver, base);
    const type = input.isTree ? 'OSIMAGE' : 'DISKIMAGE';
    const src = input.isTree ? '--path' : '--file';
    log(`${tag}: ingot: image add V1, V2 --from V1 on the sender (not timed)`);
    await sender.cli(['image', 'add', 'V1', src, input.v1, '--type', type]);
    await sender.cli(['image', 'add', 'V2', src, input.v2, '--type', type, '--from', 'V1']);
    await warmUp(sender, receiver, base);
    log(`${tag}: ingot: pull V1 into an empty receiver (full)`);
    const full = await pullCase(sender, receiver, 'V1');
    log(`${tag}: ingot: pull V2 with V1 there (delta)`);
    const delta = await pullCase(sender, receiver, 'V2');
    await receiver.dispose();
    await removeTree(receiver.home);
    const seededReceiver = await server('seeded', 'FPPS_3');
    await pairUp(sender, seededReceiver, base);
    log(`${tag}: ingot: the same bytes as LOCAL_COPY on a third server (not timed), then pull V1 (seeded)`);
    await seededReceiver.cli(['image', 'add', 'LOCAL_COPY', src, input.v1, '--type', type]);
    await warmUp(sender, seededReceiver, base);
    const seeded = await pullCase(sender, seededReceiver, 'V1');
    log(`${tag}: ingot: image add V2 --from LOCAL_COPY on that server, by a CLI through the API (patches)`);
    const upload = await uploadCase(seededReceiver, src, input.v2, type);
    for (const s of servers) await s.dispose();
    await removeTree(base);
    await sync();
    return { full, delta, seeded, upload };
  } catch (err) {
    for (const s of servers) await s.dispose();
    // The homes keep the server logs and stores for a look; the next rep starts afresh.
    const kept = `${base}.failed`;
    await removeTree(kept);
    await rename(base, kept);
    throw new Error(`${(err as Error).message}\n(ingot homes kept in ${kept})`);
  }
}

/**
 * Where a tree input's finished copies go until the run is done. On ext4, creating files
 * within minutes of deleting thousands is several times slower (on the VM of the published
 * numbers, `cp -a` + `sync` of the 5.3k-file tree: about 1 s with no deletions nearby, 6-7 s
 * after deleting copies of it; the kernel time goes to inode allocation passing over
 * recently freed inodes), so deleting one tool's copy would slow whichever tool runs next.
 * A rename frees nothing. Single-file copies are deleted at once: they free a handful of
 * inodes, and keeping them would fill the disk.
 */
class Trash {
  private count = 0;

  constructor(readonly dir: string) {}

  async retire(path: string, isTree: boolean): Promise<void> {
    if (!isTree) return removeTree(path);
    if (!existsSync(path)) return;
    await mkdir(this.dir, { recursive: true });
    await rename(path, join(this.dir, `${process.pid}-${this.count++}`));
  }

  async empty(): Promise<void> {
    await removeTree(this.dir);
    await sync();
  }
}

/**
 * rsync pushing to the daemon. Full: into an empty directory. Delta: onto a copy of v1 (made
 * untimed); a single file keeps one name on the receiver so rsync's delta algorithm has v1
 * as its basis, a tree is synced onto the v1 tree with --delete.
 */
async function rsyncRep(
  daemon: RsyncDaemon,
  input: TransferInput,
  flags: readonly string[],
  scratch: string,
  trash: Trash,
): Promise<RsyncRep> {
  const rssFile = join(scratch, 'rsync.rss');
  const fullDir = join(daemon.root, 'full');
  await removeTree(fullDir);
  await mkdir(fullDir, { recursive: true });
  await warmPages(scratch, input.v1Bytes);
  await warm(input.v1);
  await sync();
  const f = input.isTree
    ? await rsyncPush(flags, `${input.v1}/`, daemon.url('full/'), rssFile, [], daemon)
    : await rsyncPush(flags, input.v1, daemon.url('full/image.bin'), rssFile, [], daemon);
  const full: RsyncCase = { ...f, syncAfterSeconds: await timedSync() };
  await trash.retire(fullDir, input.isTree);
  await sync();

  const deltaDir = join(daemon.root, 'delta');
  await removeTree(deltaDir);
  if (input.isTree) await bash('cp -a "$1" "$2"', [input.v1, deltaDir]);
  else {
    await mkdir(deltaDir, { recursive: true });
    await bash('cp -a "$1" "$2"', [input.v1, join(deltaDir, 'image.bin')]);
  }
  await sync();
  await warmPages(scratch, input.v2Bytes);
  await warm(input.v2);
  await warm(deltaDir);
  const d = input.isTree
    ? await rsyncPush([...flags, '--delete'], `${input.v2}/`, daemon.url('delta/'), rssFile, [], daemon)
    : await rsyncPush(flags, input.v2, daemon.url('delta/image.bin'), rssFile, [], daemon);
  const delta: RsyncCase = { ...d, syncAfterSeconds: await timedSync() };
  await trash.retire(deltaDir, input.isTree);
  await sync();
  return { full, delta };
}

/** zsync of v2 with v1 as the seed, from nginx on loopback; the output is checked and removed. */
async function zsyncRep(
  http: HttpServer,
  published: ZsyncPublished,
  input: TransferInput,
  scratch: string,
): Promise<ZsyncSample> {
  await warmPages(scratch, input.v2Bytes);
  await warm(input.v1);
  await warm(input.v2);
  await sync();
  return zsyncPull(http, published, input.v1, input.v2, join(scratch, 'zsync'));
}

async function cpRep(input: TransferInput, scratch: string, trash: Trash): Promise<{ seconds: number }> {
  const dest = join(scratch, 'cp-dest');
  await removeTree(dest);
  await mkdir(dest, { recursive: true });
  await warmPages(scratch, input.v1Bytes);
  await warm(input.v1);
  await sync();
  const r = await bash('cp -a "$1" "$2/" && sync', [input.v1, dest]);
  await trash.retire(dest, input.isTree);
  await sync();
  return { seconds: r.seconds };
}

async function measure(
  input: TransferInput,
  daemon: RsyncDaemon,
  trash: Trash,
  ingotMissing: string | undefined,
  certs: string,
  http: HttpServer | undefined,
): Promise<TransferMeasured> {
  const slug = input.label.replace(/[^a-z0-9]+/gi, '-');
  const scratch = join(workDir, `input-${slug}`);
  await mkdir(scratch, { recursive: true });
  let published: ZsyncPublished | undefined;
  let zsyncSkipped: string | undefined = http ? undefined : 'no HTTP server';
  if (input.isTree) zsyncSkipped = 'a tree is not one file';
  else if (http) {
    log(`${input.label}: zsyncmake of v2 (the publisher's one-off cost, timed apart)`);
    try {
      published = await http.publish(input.v2, `${slug}-v2.img`);
    } catch (err) {
      zsyncSkipped = `zsyncmake failed: ${(err as Error).message.split('\n')[0]}`;
    }
  }
  const m: TransferMeasured = { input, reps: [], ingotSkipped: ingotMissing, zsync: published, zsyncSkipped };
  for (let rep = 1; rep <= cfg.reps; rep++) {
    const tag = `${input.label} rep ${rep}/${cfg.reps}`;
    // Tools interleaved per rep, so drift on a noisy machine spreads over all of them.
    let ingot: IngotRep | undefined;
    let ingotError: string | undefined;
    if (!ingotMissing) {
      try {
        ingot = await ingotRep(input, scratch, tag);
      } catch (err) {
        ingotError = (err as Error).message;
        log(`${tag}: ingot failed: ${ingotError}`);
      }
    }
    log(`${tag}: rsync -a (full, delta)`);
    const rsync = await rsyncRep(daemon, input, RSYNC_FLAGS, scratch, trash);
    log(`${tag}: rsync -az --compress-choice=zstd (full, delta)`);
    const rsyncZstd = await rsyncRep(daemon, input, RSYNC_ZSTD_FLAGS, scratch, trash);
    let zsync: ZsyncSample | undefined;
    let zsyncError: string | undefined;
    if (http && published) {
      log(`${tag}: zsync -i v1 of v2 from nginx (delta)`);
      try {
        zsync = await zsyncRep(http, published, input, scratch);
      } catch (err) {
        zsyncError = (err as Error).message;
        log(`${tag}: zsync failed: ${zsyncError}`);
      }
    }
    log(`${tag}: cp -a + sync`);
    const cp = await cpRep(input, scratch, trash);
    log(`${tag}: floor: node mutual TLS 1.3 on loopback, 1 stream, 4 streams, 1 into a verifying receiver`);
    let floor: TlsFloor | undefined;
    let floorError: string | undefined;
    try {
      await warmPages(scratch, input.v1Bytes);
      floor = await tlsFloor(certs, input.v1Bytes, join(scratch, 'floor-sink'));
    } catch (err) {
      floorError = (err as Error).message;
      log(`${tag}: floor failed: ${floorError}`);
    }
    const r: TransferRep = { ingot, ingotError, rsync, rsyncZstd, zsync, zsyncError, cp, floor, floorError };
    m.reps.push(r);
  }
  return m;
}

function machine(): Record<string, unknown> {
  return {
    ...machineFacts(cfg),
    rsync: firstLine('rsync', ['--version']),
    mke2fs: firstLine('bash', ['-c', 'mke2fs -V 2>&1']),
    zsync: firstLine('zsync', ['-V']),
    nginx: firstLine('bash', ['-c', 'nginx -v 2>&1']),
    // The tree is often uncommitted while the benchmark runs: say which build was measured.
    ingotBuild: build?.describe,
  };
}

async function main(): Promise<void> {
  const loadAtStart = loadavg();
  const stampAtStart = buildStamp(cfg.repo);
  await mkdir(cfg.dir, { recursive: true });
  log(`work dir ${cfg.dir}, file input ${cfg.sizeGiB} GiB, ${cfg.reps} reps, inputs ${cfg.inputs.join(',')}`);
  const ingotMissing = await ingotUsable();
  if (ingotMissing) log(`ingot rows skipped: ${ingotMissing}`);
  const inputs = await makeTransferInputs(cfg, log);
  const certs = await makeCertPair(join(workDir, 'floor-certs'));
  const daemon = await RsyncDaemon.start(join(workDir, 'rsyncd'));
  log(`rsync daemon on 127.0.0.1:${daemon.port}`);
  const http = inputs.some((i) => !i.isTree) ? await HttpServer.start(join(workDir, 'http')) : undefined;
  if (http) log(`nginx for zsync at ${http.url('')}`);
  const measured: TransferMeasured[] = [];
  // Emptied once at the end: the slowdown after a mass delete lasts minutes, not seconds.
  const trash = new Trash(join(workDir, 'trash'));
  try {
    for (const input of inputs) measured.push(await measure(input, daemon, trash, ingotMissing, certs, http));
  } finally {
    await daemon.stop();
    await http?.stop();
    await trash.empty();
  }
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  const notes = [
    `machine: ${cpus().length} CPUs, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, node ${process.version}; ` +
      `load average ${load(loadAtStart)} at start, ${load(loadavg())} at end`,
  ];
  if (build) notes.push(`ingot measured: ${build.describe}`);
  if (build && !process.env.BENCH_INGOT_REF && buildStamp(cfg.repo) !== stampAtStart) {
    notes.push(
      "note: the repository's dist/ was rebuilt during the run; this run used its copy from the start.",
    );
  }
  if (!METERED) notes.push('BENCH_TCP_METER=0: ingot servers reached directly, link bytes not counted.');
  const { text, json } = transferReport(cfg, measured, notes);
  process.stdout.write(`${text}\n`);
  const out = join(cfg.dir, 'results-transfer.json');
  await writeFile(
    out,
    `${JSON.stringify({ date: new Date().toISOString(), config: cfg, machine: machine(), ...json }, null, 2)}\n`,
  );
  log(`results written to ${out}`);
}

main().catch((err) => {
  process.stderr.write(`transfer bench: ${err?.stack ?? err}\n`);
  process.exitCode = 1;
});
