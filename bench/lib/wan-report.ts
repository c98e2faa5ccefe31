import type { CpuShare } from './cpu-share.js';
import { fmtBytes, median, table } from './stats.js';
import type { StreamSample } from './stream-floor.js';
import type { PacketCount, WanLink } from './wan-link.js';

/** Turns the WAN benchmark's raw samples into its table, the target check and the JSON summary. */

export interface TimedCase {
  readonly seconds: number;
  /** Packets arriving at the receiving side during the case, and how many the loss rule dropped. */
  readonly packets: PacketCount;
  /** CPU the rest of the machine (not this benchmark) took meanwhile. */
  readonly cpu: CpuShare;
}

export interface LinkCheck {
  /** Round trips of a one-byte request/response through the relay, milliseconds. */
  readonly rttMs: readonly number[];
  readonly one: StreamSample & Omit<TimedCase, 'seconds'>;
}

export interface IngotWanCase extends TimedCase {
  readonly digestMatches: boolean;
  /** The transfer's own figure: wire bytes / transfer time. */
  readonly rate: number | null;
  /** CPU (user + system) each server used during the pull. */
  readonly senderCpuSeconds: number | undefined;
  readonly receiverCpuSeconds: number | undefined;
}

export interface WanRep {
  readonly link: LinkCheck;
  readonly ingot: IngotWanCase | undefined;
  readonly ingotError: string | undefined;
  readonly rsync: TimedCase & { readonly wireBytes: number };
}

export interface WanMeasured {
  readonly link: WanLink;
  readonly imageBytes: number;
  readonly linkCheckBytes: number;
  readonly reps: readonly WanRep[];
  readonly ingotSkipped: string | undefined;
}

interface Row {
  readonly what: string;
  readonly bytes: number;
  readonly seconds: readonly number[];
  readonly mbPerSec: number;
  readonly packets: readonly PacketCount[];
  readonly cpu: readonly CpuShare[];
}

const TARGET = 0.8;

function row(what: string, bytes: number, cases: readonly TimedCase[]): Row {
  const seconds = cases.map((c) => c.seconds);
  return {
    what,
    bytes,
    seconds,
    mbPerSec: bytes / 1e6 / median(seconds),
    packets: cases.map((c) => c.packets),
    cpu: cases.map((c) => c.cpu),
  };
}

/** The median share of the machine's CPU that other processes took during the row's runs. */
function othersText(cs: readonly CpuShare[]): string {
  const shares = cs.filter((c) => c.availableSeconds > 0).map((c) => c.otherSeconds / c.availableSeconds);
  return shares.length ? `${(100 * median(shares)).toFixed(0)}%` : '-';
}

function lossText(ps: readonly PacketCount[]): string {
  const seen = ps.reduce((a, p) => a + p.seen, 0);
  const dropped = ps.reduce((a, p) => a + p.dropped, 0);
  return seen ? `${((100 * dropped) / seen).toFixed(2)}% of ${Math.round(seen / ps.length)}` : '-';
}

export function wanReport(
  m: WanMeasured,
  notes: readonly string[],
): { text: string; json: Record<string, unknown> } {
  const { link } = m;
  const ingotCases = m.reps.flatMap((r) => (r.ingot ? [r.ingot] : []));
  const rows: Row[] = [
    row(
      'link: plain TCP through the relay',
      m.linkCheckBytes,
      m.reps.map((r) => r.link.one),
    ),
    row(
      'rsync -a (full)',
      m.imageBytes,
      m.reps.map((r) => r.rsync),
    ),
  ];
  if (m.ingotSkipped === undefined && ingotCases.length)
    rows.splice(1, 0, row('ingot pull (full)', m.imageBytes, ingotCases));
  const lines: string[] = [''];
  lines.push(
    `Ingot WAN benchmark: ${m.reps.length} reps, medians; MB = 10^6 bytes; emulated link ${link.mbit} Mbit/s ` +
      `(${link.mbPerSec} MB/s), ${(100 * link.loss).toFixed(2)}% random loss each way, ${link.rttMs} ms RTT`,
  );
  for (const n of notes) lines.push(`  ${n}`);
  lines.push('');
  const rtts = m.reps.flatMap((r) => r.link.rttMs);
  lines.push(
    `link check: RTT of a 1-byte request/response through the relay: median ${median(rtts).toFixed(1)} ms ` +
      `(min ${Math.min(...rtts).toFixed(1)}, max ${Math.max(...rtts).toFixed(1)}, ${rtts.length} round trips); ` +
      `plain TCP ${fmtBytes(m.linkCheckBytes)} A -> B, 1 stream, rate at the receiver`,
  );
  lines.push('');
  lines.push(
    table(
      ['what', 'median s (min-max)', 'MB/s', 'x link rate', 'loss seen at B (packets/rep)', 'others CPU'],
      rows.map((r) => [
        r.what,
        `${median(r.seconds).toFixed(2)} (${Math.min(...r.seconds).toFixed(2)}-${Math.max(...r.seconds).toFixed(2)})`,
        r.mbPerSec.toFixed(1),
        `${(r.mbPerSec / link.mbPerSec).toFixed(2)}x`,
        lossText(r.packets),
        othersText(r.cpu),
      ]),
    ),
  );
  lines.push('');
  lines.push(
    `  image: ${fmtBytes(m.imageBytes)} pseudo-random file (lib/random-file.ts v1); full = into an empty receiver.`,
  );
  lines.push(
    '  ingot: wall clock of `ingot image pull` on the receiver (B) from the sender (A), peer API through the relays;',
  );
  lines.push('  rsync: wall clock of `rsync -a` on A pushing to an rsync daemon on B through a relay.');
  lines.push(
    '  x link rate = MB/s / the nominal rate; a TCP payload cannot reach 1.00x (Ethernet, IP and TCP headers: ~0.96x).',
  );
  lines.push(
    "  loss seen = packets B's loss rule dropped / packets that arrived at B (data; A sees the ACKs).",
  );
  lines.push(
    "  others CPU = the machine's busy time outside this benchmark's processes / (wall x CPUs), median (cpu-share.ts).",
  );
  const sCpu = ingotCases.flatMap((c) => (c.senderCpuSeconds === undefined ? [] : [c.senderCpuSeconds]));
  const rCpu = ingotCases.flatMap((c) => (c.receiverCpuSeconds === undefined ? [] : [c.receiverCpuSeconds]));
  if (sCpu.length && rCpu.length)
    lines.push(
      `  ingot CPU (sender + receiver, during the pull): ${median(sCpu).toFixed(1)} + ${median(rCpu).toFixed(1)} s ` +
        `in ${median(ingotCases.map((c) => c.seconds)).toFixed(1)} s`,
    );
  const rates = ingotCases.flatMap((c) => (c.rate === null ? [] : [c.rate]));
  if (rates.length)
    lines.push(`  ingot transfer rate (the server's figure): ${(median(rates) / 1e6).toFixed(1)} MB/s`);
  const bad = ingotCases.filter((c) => !c.digestMatches).length;
  if (bad) lines.push(`  WARNING: ${bad} pulls left a copy whose digest differs from the sender's`);
  if (m.ingotSkipped) lines.push(`  ingot rows skipped: ${m.ingotSkipped}`);
  for (const r of m.reps) if (r.ingotError) lines.push(`  ingot failed: ${r.ingotError.split('\n')[0]}`);
  const ingot = rows.find((r) => r.what.startsWith('ingot'));
  const ratio = ingot ? ingot.mbPerSec / link.mbPerSec : Number.NaN;
  const target = {
    what: `ingot full pull >= ${TARGET}x the link rate (${(TARGET * link.mbPerSec).toFixed(1)} MB/s)`,
    value: Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : '-',
    pass: Number.isFinite(ratio) ? ratio >= TARGET : undefined,
  };
  lines.push('');
  lines.push(`Target (${fmtBytes(m.imageBytes)} image):`);
  lines.push(
    table(
      ['target', 'measured', 'result'],
      [[target.what, target.value, target.pass === undefined ? 'n/a' : target.pass ? 'PASS' : 'MISS']],
    ),
  );
  return { text: lines.join('\n'), json: { link, imageBytes: m.imageBytes, rows, target, reps: m.reps } };
}
