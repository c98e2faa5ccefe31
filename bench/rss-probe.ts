import { mkdir, readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from './lib/config.js';
import { PeerServer, pairUp } from './lib/peers.js';
import { bash, removeTree, run, vmHwm } from './lib/proc.js';
import { makeFileInput } from './lib/random-file.js';

/**
 * Where a server's memory goes through a pull: two `ingot serve` processes, the file input's
 * v1 and v2 on the sender, then a full pull of v1 and a delta pull of v2 into the receiver.
 * Each side's /proc/PID/smaps is sampled every 250 ms; at each side's highest RSS the probe
 * keeps the resident bytes by kind of mapping (the main heap, malloc arenas, thread stacks,
 * other anonymous memory, files), so a peak can be told apart: V8 spaces, allocator arenas
 * or buffers. BENCH_SERVE_ENV adds environment to both servers (`K=V K=V`: an allocator
 * experiment such as LD_PRELOAD); BENCH_RSS_DELTA=0 skips v2 and the delta pull, and takes
 * the input's disk back once the sender holds it (an 8 GiB run then needs 16 GiB free, not 32).
 */

const cfg = loadConfig(['file'], ['file']);
const log = (s: string) => process.stderr.write(`[rss-probe] ${s}\n`);
const MiB = 2 ** 20;

interface Sample {
  readonly rss: number;
  readonly kinds: Record<string, number>;
}

/** Resident bytes by kind of mapping, from /proc/PID/smaps. */
async function smapsKinds(pid: number): Promise<Sample | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return undefined;
  }
  const kinds: Record<string, number> = {};
  let kind = 'other';
  let rss = 0;
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-([0-9a-f]+)\s+\S+\s+\S+\s+\S+\s+\d+\s*(.*)$/.exec(line);
    if (head) {
      const name = head[2] ?? '';
      kind = name === '' ? 'anon' : name.startsWith('[') ? name : name.includes('.so') ? 'libs' : 'files';
      continue;
    }
    const m = /^Rss:\s+(\d+) kB/.exec(line);
    if (m) {
      const bytes = Number(m[1]) * 1024;
      kinds[kind] = (kinds[kind] ?? 0) + bytes;
      rss += bytes;
    }
  }
  return { rss, kinds };
}

/** Anonymous mappings by size class: glibc arenas reserve 64 MiB (heap_info), V8 pages 256 KiB. */
async function anonBySize(pid: number): Promise<Record<string, number>> {
  const text = await readFile(`/proc/${pid}/smaps`, 'utf8').catch(() => '');
  const out: Record<string, number> = {};
  let cls: string | undefined;
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+)\s+\S+\s+\S+\s+\S+\s+\d+\s*(.*)$/.exec(line);
    if (head) {
      const size = Number.parseInt(head[2] as string, 16) - Number.parseInt(head[1] as string, 16);
      cls = head[3]
        ? undefined
        : size >= 60 * MiB
          ? 'anon>=60MiB'
          : size >= 8 * MiB
            ? 'anon 8-60MiB'
            : size >= MiB
              ? 'anon 1-8MiB'
              : 'anon<1MiB';
      continue;
    }
    const m = /^Rss:\s+(\d+) kB/.exec(line);
    if (m && cls) out[cls] = (out[cls] ?? 0) + Number(m[1]) * 1024;
  }
  return out;
}

class Watch {
  peak: Sample | undefined;
  peakBySize: Record<string, number> = {};
  private stopped = false;
  private done: Promise<void>;
  constructor(private readonly pid: number) {
    this.done = this.loop();
  }
  private async loop(): Promise<void> {
    while (!this.stopped) {
      const s = await smapsKinds(this.pid);
      if (s && (!this.peak || s.rss > this.peak.rss)) {
        this.peak = s;
        this.peakBySize = await anonBySize(this.pid);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

const fmt = (r: Record<string, number>) =>
  Object.entries(r)
    .sort((a, b) => b[1] - a[1])
    .filter(([, v]) => v >= MiB)
    .map(([k, v]) => `${k} ${(v / MiB).toFixed(0)}`)
    .join(', ');

function serveEnv(): Record<string, string> {
  const raw = process.env.BENCH_SERVE_ENV ?? '';
  return Object.fromEntries(
    raw
      .split(' ')
      .filter((kv) => kv.includes('='))
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

async function pull(sender: PeerServer, receiver: PeerServer, image: string): Promise<void> {
  const sw = new Watch(sender.pid);
  const rw = new Watch(receiver.pid);
  const cpu0 = [await sender.cpuSeconds(), await receiver.cpuSeconds()];
  const r = await receiver.cliWithin(3600, ['image', 'pull', image, '--server', sender.name, '--json']);
  const cpu1 = [await sender.cpuSeconds(), await receiver.cpuSeconds()];
  await sw.stop();
  await rw.stop();
  const cpu = cpu1.map((c, i) => ((c ?? 0) - (cpu0[i] ?? 0)).toFixed(1));
  const hwm = [await vmHwm(sender.pid), await vmHwm(receiver.pid)].map((b) => ((b ?? 0) / MiB).toFixed(1));
  log(
    `${image} (pids ${sender.pid} / ${receiver.pid}): ${r.seconds.toFixed(2)} s, CPU ${cpu.join(' + ')} s, VmHWM sender / receiver ${hwm.join(' / ')} MiB`,
  );
  for (const [side, w] of [
    ['sender', sw],
    ['receiver', rw],
  ] as const) {
    log(`  ${side} at its peak ${((w.peak?.rss ?? 0) / MiB).toFixed(0)} MiB: ${fmt(w.peak?.kinds ?? {})}`);
    log(`  ${side} anonymous by mapping size: ${fmt(w.peakBySize)}`);
  }
}

/** v1 alone, the same bytes as the file input's (random-file.ts), for a run with no delta. */
async function v1Only(): Promise<{ v1: string }> {
  await mkdir(join(cfg.dir, 'work'), { recursive: true });
  const v1 = join(cfg.dir, 'work', `rss-probe-v1-${cfg.sizeBytes}.bin`);
  await bash(
    'set +o pipefail; openssl enc -aes-128-ctr -nosalt -pass pass:ingot -in /dev/zero 2>/dev/null | head -c "$1" > "$2"',
    [String(cfg.sizeBytes), v1],
  );
  return { v1 };
}

async function main(): Promise<void> {
  const delta = process.env.BENCH_RSS_DELTA !== '0';
  const input = delta ? await makeFileInput(join(cfg.dir, 'data'), cfg.sizeBytes, log) : await v1Only();
  const base = join(cfg.dir, 'work', 'rss-probe');
  const extra = { env: serveEnv() };
  log(
    `load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}; serve env ${JSON.stringify(extra.env)}`,
  );
  const sender = await PeerServer.create(cfg.repo, join(base, 'sender'), 'FPPS_1', false, undefined, extra);
  const receiver = await PeerServer.create(
    cfg.repo,
    join(base, 'receiver'),
    'FPPS_2',
    false,
    undefined,
    extra,
  );
  try {
    await pairUp(sender, receiver, base);
    const add = await sender.cli(['image', 'add', 'V1', '--file', input.v1, '--type', 'DISKIMAGE']);
    log(
      `image add V1: ${add.seconds.toFixed(2)} s, server VmHWM ${(((await vmHwm(sender.pid)) ?? 0) / MiB).toFixed(1)} MiB`,
    );
    if (!delta) await removeTree(input.v1);
    if ('v2' in input)
      await sender.cli(['image', 'add', 'V2', '--file', input.v2, '--type', 'DISKIMAGE', '--from', 'V1']);
    await sender.restart();
    await pull(sender, receiver, 'V1');
    if (delta) {
      await sender.restart();
      await receiver.restart();
      await pull(sender, receiver, 'V2');
    }
  } finally {
    await sender.dispose();
    await receiver.dispose();
    if (process.env.BENCH_RSS_KEEP !== '1') await removeTree(base);
    await run('true', []);
  }
  log(
    `load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
}

await main();
