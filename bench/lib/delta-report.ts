import { fmtBytes, MiB, median, table } from './stats.js';
import type { Tool, TransferMeasured, TransferRep } from './transfer-report.js';

/**
 * The delta pulls side by side across inputs: bytes against the true change, time, and the
 * CPU each end spent per MiB moved, for every tool that pulled a delta. A tool that moves few
 * bytes by burning CPU looks good on a loopback and bad on a busy server; this shows both.
 */

export interface DeltaCost {
  readonly input: string;
  readonly tool: Tool;
  readonly trueChange: number;
  /** What crossed the link (ingot: relay count, or wireBytes unmetered; rsync: --stats; zsync: relay). */
  readonly bytes: number | undefined;
  readonly seconds: number | undefined;
  /** The end that has v2: ingot's sender server, the rsync client, nginx. */
  readonly senderCpuSeconds: number | undefined;
  /** The end that has v1: ingot's receiver server, the rsync daemon, the zsync client. */
  readonly receiverCpuSeconds: number | undefined;
  /** (sender + receiver CPU) µs per MiB of `bytes`. */
  readonly cpuMicrosPerMiB: number | undefined;
}

interface DeltaSample {
  readonly bytes: number | undefined;
  readonly seconds: number;
  readonly sender: number | undefined;
  readonly receiver: number | undefined;
}

export interface DeltaTarget {
  readonly input: string;
  readonly what: string;
  readonly value: string;
  readonly pass: boolean | undefined;
}

/** Median of the defined values, undefined unless every sample has one. */
function med(xs: readonly (number | undefined)[]): number | undefined {
  const d = xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
  return d.length === xs.length && d.length > 0 ? median(d) : undefined;
}

const samplers: readonly [Tool, (r: TransferRep) => DeltaSample | undefined][] = [
  [
    'ingot pull',
    (r) =>
      r.ingot && {
        bytes: r.ingot.delta.linkBytes ?? r.ingot.delta.transfer.wireBytes,
        seconds: r.ingot.delta.seconds,
        sender: r.ingot.delta.senderCpuSeconds,
        receiver: r.ingot.delta.receiverCpuSeconds,
      },
  ],
  ...(['rsync', 'rsyncZstd'] as const).map((key): [Tool, (r: TransferRep) => DeltaSample] => [
    key === 'rsync' ? 'rsync -a' : 'rsync -az zstd',
    (r) => ({
      bytes: r[key].delta.wireBytes,
      seconds: r[key].delta.seconds,
      sender: r[key].delta.clientCpuSeconds,
      receiver: r[key].delta.daemonCpuSeconds,
    }),
  ]),
  [
    'zsync',
    (r) =>
      r.zsync && {
        bytes: r.zsync.linkBytes,
        seconds: r.zsync.seconds,
        sender: r.zsync.serverCpuSeconds,
        receiver: r.zsync.clientCpuSeconds,
      },
  ],
];

export function deltaCosts(m: TransferMeasured): DeltaCost[] {
  const out: DeltaCost[] = [];
  for (const [tool, pick] of samplers) {
    const ss = m.reps.flatMap((r) => pick(r) ?? []);
    if (ss.length === 0) continue;
    const bytes = med(ss.map((s) => s.bytes));
    const sender = med(ss.map((s) => s.sender));
    const receiver = med(ss.map((s) => s.receiver));
    const cpu = sender === undefined || receiver === undefined ? undefined : sender + receiver;
    out.push({
      input: m.input.label,
      tool,
      trueChange: m.input.trueChange,
      bytes,
      seconds: med(ss.map((s) => s.seconds)),
      senderCpuSeconds: sender,
      receiverCpuSeconds: receiver,
      cpuMicrosPerMiB: cpu === undefined || !bytes ? undefined : (cpu * 1e6) / (bytes / MiB),
    });
  }
  return out;
}

const fixed = (x: number | undefined, digits: number) => (x === undefined ? '-' : x.toFixed(digits));

export function deltaTable(costs: readonly DeltaCost[]): string {
  return table(
    [
      'input',
      'true change',
      'tool',
      'delta bytes',
      'x true',
      'delta s',
      'sender CPU s',
      'receiver CPU s',
      'CPU µs/MiB',
    ],
    costs.map((c) => [
      c.input,
      fmtBytes(c.trueChange),
      c.tool,
      fmtBytes(c.bytes),
      c.bytes === undefined || c.trueChange <= 0 ? '-' : `${(c.bytes / c.trueChange).toFixed(2)}x`,
      fixed(c.seconds, 2),
      fixed(c.senderCpuSeconds, 2),
      fixed(c.receiverCpuSeconds, 2),
      fixed(c.cpuMicrosPerMiB, 0),
    ]),
  );
}

/** The file input rewrites scattered 4 KiB blocks: a chunked delta should stay near them. */
const SCATTERED_LIMIT = 1.3;

export function deltaTargets(m: TransferMeasured, costs: readonly DeltaCost[]): DeltaTarget[] {
  const input = m.input.label;
  const ingot = costs.find((c) => c.tool === 'ingot pull');
  const zstd = costs.find((c) => c.tool === 'rsync -az zstd');
  const out: DeltaTarget[] = [];
  if (input === 'file') {
    const x = ingot?.bytes === undefined ? Number.NaN : ingot.bytes / m.input.trueChange;
    out.push({
      input,
      what: `delta (scattered writes): ingot link bytes / true change <= ${SCATTERED_LIMIT}`,
      value: Number.isFinite(x) ? `${x.toFixed(2)}x` : '-',
      pass: Number.isFinite(x) ? x <= SCATTERED_LIMIT : undefined,
    });
  }
  const t = ingot?.seconds !== undefined && zstd?.seconds ? ingot.seconds / zstd.seconds : Number.NaN;
  out.push({
    input,
    what: 'delta: ingot s / rsync -az zstd s <= 1',
    value: Number.isFinite(t) ? `${t.toFixed(2)}x` : '-',
    pass: Number.isFinite(t) ? t <= 1 : undefined,
  });
  return out;
}
