import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { type IngotBuild, usableBuild } from './lib/build.js';
import { loadConfig } from './lib/config.js';
import { type CpuShare, cpuSample, cpuShare } from './lib/cpu-share.js';
import { firstLine, machineFacts } from './lib/machine.js';
import { PeerServer, pairUp, type TransferJson } from './lib/peers.js';
import { removeTree, sync, warm } from './lib/proc.js';
import { makeFileInput } from './lib/random-file.js';
import { RsyncDaemon, rsyncPush } from './lib/rsync.js';
import { probePing, probeSend, startProbeServer } from './lib/stream-floor.js';
import {
  countSince,
  type PacketCount,
  packetCount,
  type Relay,
  startRelay,
  wanLinkFromEnv,
} from './lib/wan-link.js';
import { type LinkCheck, type WanRep, wanReport } from './lib/wan-report.js';

/**
 * The emulated WAN benchmark (run by wan.sh, which makes the link): a full `ingot image pull`
 * from a server on side A to one on side B, and `rsync -a` from A to a daemon on B, on the same
 * pseudo-random file, with the link itself measured in every repetition.
 */

const cfg = loadConfig(['file']);
const link = wanLinkFromEnv();
const t0 = Date.now();
const log = (s: string) =>
  process.stderr.write(`[wan ${((Date.now() - t0) / 1000).toFixed(0).padStart(5)}s] ${s}\n`);

const mib = Number(process.env.BENCH_WAN_MIB ?? 256);
if (!Number.isFinite(mib) || mib <= 0) throw new Error(`BENCH_WAN_MIB must be a positive number`);
const imageBytes = Math.round((mib * 2 ** 20) / 4096) * 4096;
/** The link check moves this much: enough for seconds at the nominal rate, not minutes. */
const LINK_CHECK_BYTES = Math.min(imageBytes, 64 * 2 ** 20);
/** Every timed command is bounded: 4x the time the nominal rate needs, and at least 5 minutes. */
const TIMEOUT_SECONDS = Math.max(300, Math.ceil((4 * imageBytes) / 1e6 / link.mbPerSec));
const workDir = join(cfg.dir, 'work', 'wan');

/**
 * Runs a timed part, with the packets that arrived at B meanwhile and the CPU the rest of the
 * machine took (our running helpers are `pids`; `parents` also count their reaped children).
 */
async function timed<T>(
  fn: () => Promise<T>,
  pids: readonly number[],
  parents: readonly number[] = [],
): Promise<{ value: T; packets: PacketCount; cpu: CpuShare }> {
  const before = await packetCount(link.b);
  const cpu0 = await cpuSample(pids, parents);
  const value = await fn();
  const cpu = cpuShare(cpu0, await cpuSample(pids, parents));
  return { value, packets: countSince(before, await packetCount(link.b)), cpu };
}

/** RTT and plain TCP throughput A -> B through a relay on B: the link as the others see it. */
async function linkCheck(): Promise<LinkCheck> {
  const server = await startProbeServer({ prefix: link.b.prefix }, '127.0.0.1');
  let relay: Relay | undefined;
  try {
    relay = await startRelay(link, link.b, server.port);
    const a = { prefix: link.a.prefix };
    const rttMs = await probePing(a, relay.host, relay.port, 20);
    const via = relay;
    const r = await timed(() => probeSend(a, via.host, via.port, LINK_CHECK_BYTES, 1), [server.pid, via.pid]);
    return { rttMs, one: { ...r.value, packets: r.packets, cpu: r.cpu } };
  } finally {
    await relay?.close();
    await server.stop();
  }
}

async function digestOf(server: PeerServer, image: string): Promise<string | undefined> {
  const r = await server.cli(['image', 'show', image, '--json']);
  return (JSON.parse(r.stdout) as { digest?: string }).digest;
}

async function ingotRep(build: IngotBuild, v1: string, tag: string): Promise<NonNullable<WanRep['ingot']>> {
  const base = join(workDir, 'ingot');
  await removeTree(base);
  await mkdir(base, { recursive: true });
  const servers: PeerServer[] = [];
  const relays: Relay[] = [];
  try {
    for (const [side, dir, name] of [
      [link.a, 'sender', 'FPPS_1'],
      [link.b, 'receiver', 'FPPS_2'],
    ] as const) {
      const front = async (port: number) => {
        const r = await startRelay(link, side, port);
        relays.push(r);
        return r;
      };
      servers.push(
        await PeerServer.create(build.root, join(base, dir), name, false, { prefix: side.prefix, front }),
      );
    }
    const [sender, receiver] = servers as [PeerServer, PeerServer];
    await pairUp(sender, receiver, base);
    log(`${tag}: ingot: image add V1 on A (not timed)`);
    await sender.cliWithin(TIMEOUT_SECONDS, ['image', 'add', 'V1', '--file', v1, '--type', 'DISKIMAGE']);
    await warm(join(sender.home, 'store'));
    await sync();
    log(`${tag}: ingot: pull V1 into an empty receiver on B`);
    const cpu0 = [await sender.cpuSeconds(), await receiver.cpuSeconds()];
    const r = await timed(
      () => receiver.cliWithin(TIMEOUT_SECONDS, ['image', 'pull', 'V1', '--server', sender.name, '--json']),
      [sender.pid, receiver.pid, ...relays.map((x) => x.pid)],
    );
    const cpu1 = [await sender.cpuSeconds(), await receiver.cpuSeconds()];
    const used = (i: number) => {
      const [a, b] = [cpu0[i], cpu1[i]];
      return a === undefined || b === undefined ? undefined : b - a;
    };
    const transfer = JSON.parse(r.value.stdout) as TransferJson;
    if (transfer.state !== 'succeeded')
      throw new Error(`pull ended ${transfer.state}: ${String(transfer.error)}`);
    const [want, got] = [await digestOf(sender, 'V1'), await digestOf(receiver, 'V1')];
    return {
      seconds: r.value.seconds,
      packets: r.packets,
      cpu: r.cpu,
      senderCpuSeconds: used(0),
      receiverCpuSeconds: used(1),
      rate: transfer.rate,
      digestMatches: want !== undefined && want === got,
    };
  } finally {
    for (const s of servers) await s.dispose();
    await removeTree(base);
  }
}

async function rsyncRep(daemon: RsyncDaemon, via: Relay, v1: string): Promise<WanRep['rsync']> {
  const dest = join(daemon.root, 'full');
  await removeTree(dest);
  await mkdir(dest, { recursive: true });
  await warm(v1);
  await sync();
  const r = await timed(
    () =>
      rsyncPush(
        ['-a'],
        v1,
        daemon.url('full/image.bin', `${via.host}:${via.port}`),
        join(workDir, 'rsync.rss'),
        [...link.a.prefix, 'timeout', String(TIMEOUT_SECONDS)],
      ),
    [via.pid],
    [daemon.pid],
  );
  await removeTree(dest);
  return { seconds: r.value.seconds, packets: r.packets, cpu: r.cpu, wireBytes: r.value.wireBytes };
}

async function main(): Promise<void> {
  const loadAtStart = loadavg();
  await mkdir(workDir, { recursive: true });
  log(
    `link ${link.a.ns} (${link.a.addr}) <-> ${link.b.ns} (${link.b.addr}): ${link.mbit} Mbit/s, ` +
      `loss ${link.loss}, RTT ${link.rttMs} ms; image ${mib} MiB, ${cfg.reps} reps`,
  );
  const { build, missing } = await usableBuild(cfg.repo, join(workDir, 'build'), log);
  if (missing) log(`ingot rows skipped: ${missing}`);
  const input = await makeFileInput(join(cfg.dir, 'data'), imageBytes, log);
  const daemon = await RsyncDaemon.start(join(workDir, 'rsyncd'), link.b.prefix);
  const via = await startRelay(link, link.b, daemon.port);
  const reps: WanRep[] = [];
  try {
    for (let rep = 1; rep <= cfg.reps; rep++) {
      const tag = `rep ${rep}/${cfg.reps}`;
      log(`${tag}: link check (RTT, plain TCP A -> B)`);
      const check = await linkCheck();
      let ingot: WanRep['ingot'];
      let ingotError: string | undefined;
      if (build && !missing) {
        try {
          ingot = await ingotRep(build, input.v1, tag);
        } catch (err) {
          ingotError = (err as Error).message;
          log(`${tag}: ingot failed: ${ingotError}`);
        }
      }
      log(`${tag}: rsync -a A -> daemon on B`);
      const rsync = await rsyncRep(daemon, via, input.v1);
      reps.push({ link: check, ingot, ingotError, rsync });
    }
  } finally {
    await via.close();
    await daemon.stop();
  }
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  const notes = [
    `load average ${load(loadAtStart)} at start, ${load(loadavg())} at end; node ${process.version}`,
    'delay by a user-space relay in front of each service on the link (no netem): TCP across the',
    'veth sees the rate and the loss with a sub-millisecond RTT, the applications see the 50 ms.',
  ];
  if (build) notes.push(`ingot measured: ${build.describe}`);
  if (cfg.reps < 3) notes.push(`only ${cfg.reps} reps (BENCH_REPS): the target wants medians of 3 or more`);
  const { text, json } = wanReport(
    { link, imageBytes, linkCheckBytes: LINK_CHECK_BYTES, reps, ingotSkipped: missing },
    notes,
  );
  process.stdout.write(`${text}\n`);
  const out = join(cfg.dir, 'results-wan.json');
  const machine = {
    ...machineFacts(cfg),
    rsync: firstLine('rsync', ['--version']),
    ingotBuild: build?.describe,
  };
  await writeFile(
    out,
    `${JSON.stringify({ date: new Date().toISOString(), config: cfg, machine, ...json }, null, 2)}\n`,
  );
  log(`results written to ${out}`);
}

main().catch((err) => {
  process.stderr.write(`wan bench: ${err?.stack ?? err}\n`);
  process.exitCode = 1;
});
