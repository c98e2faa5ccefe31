import type { BenchConfig } from './config.js';
import { type DeltaCost, deltaCosts, deltaTable, deltaTargets } from './delta-report.js';
import type { TransferJson } from './peers.js';
import type { RsyncSample } from './rsync.js';
import { fmtBytes, MiB, maxOf, median, table } from './stats.js';
import type { TlsFloor } from './stream-floor.js';
import type { ZsyncPublished, ZsyncSample } from './zsync.js';

/** Turns the transfer benchmark's raw samples into tables, target checks and the JSON summary. */

/** One input as the transfer benchmark sees it: a v1/v2 pair, a file or a tree. */
export interface TransferInput {
  readonly label: string;
  readonly isTree: boolean;
  readonly v1: string;
  readonly v2: string;
  /** Logical bytes: a file's size, a tree's regular-file bytes (hard links once). */
  readonly v1Bytes: number;
  readonly v2Bytes: number;
  /** What a perfect delta from v1 to v2 carries (see the input's generator). */
  readonly trueChange: number;
  readonly description: string;
  readonly details: Record<string, unknown>;
}

export interface IngotCase {
  /** Wall clock of `ingot image pull NAME --server PEER --json` (it waits for the transfer). */
  readonly seconds: number;
  /** A `sync` right after, timed apart: what the receiver left unflushed. */
  readonly syncAfterSeconds: number;
  /** `--dry-run` just before: what the receiver lacked. */
  readonly dryRun: { readonly bytesMissing: number; readonly chunksMissing: number };
  readonly transfer: TransferJson;
  /**
   * Everything the two servers exchanged during the pull, counted on their peer ports (by the
   * kernel, or a relay: link-meter.ts; TLS, HTTP, manifest, digest lists, chunks); undefined
   * when not metered.
   * The transfer's own wireBytes counts chunk frames only.
   */
  readonly linkBytes: number | undefined;
  /** VmHWM of each server since its restart before this case. */
  readonly senderPeakRss: number | undefined;
  readonly receiverPeakRss: number | undefined;
  /** CPU each server used during the pull (user + system), to tell a busy pull from a waiting one. */
  readonly senderCpuSeconds: number | undefined;
  readonly receiverCpuSeconds: number | undefined;
  /** Whether the receiver's copy has the sender's digest. */
  readonly digestMatches: boolean;
  /** Seconds of each phase of the transfer (its job result's `phases`), when it says them. */
  readonly phases?: Readonly<Record<string, number>>;
}

export interface IngotRep {
  readonly full: IngotCase;
  readonly delta: IngotCase;
  readonly seeded: IngotCase;
  /** v2 added `--from` v1 by a CLI through the API (patches), onto a server holding v1. */
  readonly upload?: UploadCase;
}

export interface UploadCase {
  readonly seconds: number;
  /** Everything between the CLI and the server, both ways (counted on the API port: link-meter.ts). */
  readonly linkBytes: number;
  readonly sentRawBytes: number;
  readonly patchedChunks: number;
  readonly patchBytes: number;
}

export interface RsyncCase extends RsyncSample {
  readonly syncAfterSeconds: number;
}

export interface RsyncRep {
  readonly full: RsyncCase;
  readonly delta: RsyncCase;
}

export interface TransferRep {
  readonly ingot: IngotRep | undefined;
  readonly ingotError: string | undefined;
  readonly rsync: RsyncRep;
  readonly rsyncZstd: RsyncRep;
  /** zsync of v2 seeded with v1 (file-like inputs only). */
  readonly zsync: ZsyncSample | undefined;
  readonly zsyncError: string | undefined;
  /** `cp -a` + `sync` of v1 into an empty directory, timed together. */
  readonly cp: { readonly seconds: number };
  /** Node mutual TLS 1.3 between two processes on loopback, v1's byte count (stream-floor.ts). */
  readonly floor: TlsFloor | undefined;
  readonly floorError: string | undefined;
}

export interface TransferMeasured {
  readonly input: TransferInput;
  readonly reps: TransferRep[];
  readonly ingotSkipped: string | undefined;
  /** What zsyncmake made for v2, once for all reps; undefined with the reason when not run. */
  readonly zsync: ZsyncPublished | undefined;
  readonly zsyncSkipped: string | undefined;
}

export type Tool =
  | 'ingot pull'
  | 'rsync -a'
  | 'rsync -az zstd'
  | 'zsync'
  | 'cp -a + sync'
  | 'floor: node mTLS 1 stream'
  | 'floor: node mTLS 4 streams'
  | 'floor: mTLS + SHA-256 + write';

interface Cell {
  readonly bytes: number;
  readonly seconds: number[];
  readonly medianSeconds: number;
  readonly mbPerSec: number;
  readonly wireBytes: number | undefined;
  /** ingot: sender's and receiver's VmHWM; rsync: the client's; max over reps. */
  readonly peakRss: readonly (number | undefined)[];
  readonly syncAfterSeconds: number | undefined;
}

interface Row {
  readonly input: string;
  readonly tool: Tool;
  readonly full: Cell | undefined;
  readonly delta: Cell | undefined;
}

const RSS_LIMIT = 256 * MiB;

function cell(
  bytes: number,
  samples: readonly {
    seconds: number;
    wire?: number | undefined;
    rss: readonly (number | undefined)[];
    syncAfter?: number;
  }[],
): Cell | undefined {
  if (samples.length === 0) return undefined;
  const seconds = samples.map((s) => s.seconds);
  const med = median(seconds);
  const wires = samples.flatMap((s) => (s.wire === undefined ? [] : [s.wire]));
  const syncs = samples.flatMap((s) => (s.syncAfter === undefined ? [] : [s.syncAfter]));
  const width = Math.max(...samples.map((s) => s.rss.length));
  return {
    bytes,
    seconds,
    medianSeconds: med,
    mbPerSec: bytes / 1e6 / med,
    wireBytes: wires.length ? median(wires) : undefined,
    peakRss: Array.from({ length: width }, (_, i) => maxOf(samples.map((s) => s.rss[i]))),
    syncAfterSeconds: syncs.length ? median(syncs) : undefined,
  };
}

function rows(m: TransferMeasured): Row[] {
  const { v1Bytes, v2Bytes, label } = m.input;
  const ingot = m.reps.flatMap((r) => (r.ingot ? [r.ingot] : []));
  const fromIngot = (c: IngotCase) => ({
    seconds: c.seconds,
    wire: c.transfer.wireBytes,
    rss: [c.senderPeakRss, c.receiverPeakRss],
    syncAfter: c.syncAfterSeconds,
  });
  const fromRsync = (c: RsyncCase) => ({
    seconds: c.seconds,
    wire: c.wireBytes,
    rss: [c.peakRss],
    syncAfter: c.syncAfterSeconds,
  });
  const out: Row[] = [];
  if (m.ingotSkipped === undefined)
    out.push({
      input: label,
      tool: 'ingot pull',
      full: cell(
        v1Bytes,
        ingot.map((r) => fromIngot(r.full)),
      ),
      delta: cell(
        v2Bytes,
        ingot.map((r) => fromIngot(r.delta)),
      ),
    });
  for (const [tool, key] of [
    ['rsync -a', 'rsync'],
    ['rsync -az zstd', 'rsyncZstd'],
  ] as const) {
    out.push({
      input: label,
      tool,
      full: cell(
        v1Bytes,
        m.reps.map((r) => fromRsync(r[key].full)),
      ),
      delta: cell(
        v2Bytes,
        m.reps.map((r) => fromRsync(r[key].delta)),
      ),
    });
  }
  const zs = m.reps.flatMap((r) => (r.zsync ? [r.zsync] : []));
  if (m.zsync)
    out.push({
      input: label,
      tool: 'zsync',
      full: undefined,
      delta: cell(
        v2Bytes,
        zs.map((z) => ({ seconds: z.seconds, wire: z.linkBytes, rss: [z.peakRss] })),
      ),
    });
  const fullOnly = (tool: Tool, seconds: readonly number[]): Row => ({
    input: label,
    tool,
    full: cell(
      v1Bytes,
      seconds.map((s) => ({ seconds: s, rss: [] })),
    ),
    delta: undefined,
  });
  out.push(
    fullOnly(
      'cp -a + sync',
      m.reps.map((r) => r.cp.seconds),
    ),
  );
  const floors = m.reps.flatMap((r) => (r.floor ? [r.floor] : []));
  out.push(
    fullOnly(
      'floor: node mTLS 1 stream',
      floors.map((f) => f.one.seconds),
    ),
  );
  out.push(
    fullOnly(
      'floor: node mTLS 4 streams',
      floors.map((f) => f.four.seconds),
    ),
  );
  const verified = floors.flatMap((f) => (f.verified ? [f.verified.seconds] : []));
  if (verified.length > 0) out.push(fullOnly('floor: mTLS + SHA-256 + write', verified));
  return out;
}

const secs = (c: Cell) =>
  `${c.medianSeconds.toFixed(2)} (${Math.min(...c.seconds).toFixed(2)}-${Math.max(...c.seconds).toFixed(2)})`;

function rssText(tool: Tool, c: Cell | undefined): string {
  if (!c || c.peakRss.length === 0) return '-';
  if (tool === 'ingot pull') return `${fmtBytes(c.peakRss[0])} / ${fmtBytes(c.peakRss[1])}`;
  return fmtBytes(c.peakRss[0]);
}

function cells(tool: Tool, c: Cell | undefined): string[] {
  if (!c) return ['-', '-', '-', '-'];
  return [secs(c), c.mbPerSec.toFixed(0), fmtBytes(c.wireBytes), rssText(tool, c)];
}

/** The delta's wire bytes as a multiple of the true change. */
function timesTrue(c: Cell | undefined, trueChange: number): string {
  return c?.wireBytes === undefined || trueChange <= 0 ? '-' : `${(c.wireBytes / trueChange).toFixed(2)}x`;
}

interface Target {
  readonly input: string;
  readonly what: string;
  readonly value: string;
  readonly pass: boolean | undefined;
}

function seeded(m: TransferMeasured): IngotCase[] {
  return m.reps.flatMap((r) => (r.ingot ? [r.ingot.seeded] : []));
}

function targets(m: TransferMeasured, rs: readonly Row[]): Target[] {
  const input = m.input.label;
  const find = (tool: Tool) => rs.find((r) => r.tool === tool);
  const ingot = find('ingot pull');
  const rsync = find('rsync -a');
  const zstd = find('rsync -az zstd');
  const out: Target[] = [];
  const speed = ingot?.full && rsync?.full ? ingot.full.mbPerSec / rsync.full.mbPerSec : Number.NaN;
  out.push({
    input,
    what: 'full: ingot MB/s / rsync -a MB/s >= 1',
    value: Number.isFinite(speed) ? `${speed.toFixed(2)}x` : '-',
    pass: Number.isFinite(speed) ? speed >= 1 : undefined,
  });
  const zw = zstd?.delta?.wireBytes;
  const deltas = m.reps.flatMap((r) => (r.ingot ? [r.ingot.delta] : []));
  const sd = seeded(m);
  for (const [what, pick] of [
    ['wireBytes', (c: IngotCase) => c.transfer.wireBytes],
    ['link bytes', (c: IngotCase) => c.linkBytes],
  ] as const) {
    const d = medianOf(deltas.map(pick));
    const wire = d !== undefined && zw ? d / zw : Number.NaN;
    out.push({
      input,
      what: `delta: ingot ${what} / rsync -az zstd wire <= 1`,
      value: Number.isFinite(wire) ? `${wire.toFixed(2)}x` : '-',
      pass: Number.isFinite(wire) ? wire <= 1 : undefined,
    });
    const s = medianOf(sd.map(pick));
    const pct = s === undefined ? Number.NaN : (100 * s) / m.input.v1Bytes;
    out.push({
      input,
      what: `seeded: ingot ${what} <= 1% of the image`,
      value: Number.isFinite(pct) ? `${pct.toFixed(3)}%` : '-',
      pass: Number.isFinite(pct) ? pct <= 1 : undefined,
    });
  }
  const all = m.reps.flatMap((r) => (r.ingot ? [r.ingot.full, r.ingot.delta, r.ingot.seeded] : []));
  const sender = maxOf(all.map((c) => c.senderPeakRss));
  const receiver = maxOf(all.map((c) => c.receiverPeakRss));
  out.push({
    input,
    what: 'peak RSS <= 256 MiB (sender / receiver)',
    value: `${fmtBytes(sender)} / ${fmtBytes(receiver)}`,
    pass:
      sender === undefined || receiver === undefined
        ? undefined
        : sender <= RSS_LIMIT && receiver <= RSS_LIMIT,
  });
  return out;
}

function medianOf(xs: readonly (number | undefined)[]): number | undefined {
  const d = xs.filter((x): x is number => x !== undefined);
  return d.length === xs.length && d.length > 0 ? median(d) : undefined;
}

/** Each phase's median over the cases, in the order the transfer runs them. */
function phasesText(cs: readonly IngotCase[]): string {
  const names = [...new Set(cs.flatMap((c) => Object.keys(c.phases ?? {})))];
  if (names.length === 0) return '-';
  return names
    .map((n) => `${n} ${(medianOf(cs.map((c) => c.phases?.[n])) ?? Number.NaN).toFixed(2)}`)
    .join(', ');
}

function rateText(cs: readonly IngotCase[]): string {
  const rates = cs.flatMap((c) => (c.transfer.rate === null ? [] : [c.transfer.rate]));
  return rates.length ? `${(median(rates) / 1e6).toFixed(1)} MB/s` : '-';
}

/** Full copies as a share of what bare Node mutual TLS moves on this machine in the same run. */
function floorLines(m: TransferMeasured, rs: readonly Row[]): string[] {
  const full = (tool: Tool) => rs.find((r) => r.tool === tool)?.full;
  const one = full('floor: node mTLS 1 stream');
  const four = full('floor: node mTLS 4 streams');
  const verified = full('floor: mTLS + SHA-256 + write');
  const lines: string[] = [];
  if (one && four) {
    const share = (tool: Tool) => {
      const c = full(tool);
      return c
        ? `${tool} ${(c.mbPerSec / one.mbPerSec).toFixed(2)}x / ${(c.mbPerSec / four.mbPerSec).toFixed(2)}x`
        : undefined;
    };
    const cipher = m.reps.find((r) => r.floor)?.floor?.one.cipher;
    lines.push(
      `  full vs the floor (node mTLS 1 stream / 4 streams, ${cipher}): ` +
        (['ingot pull', 'rsync -a'] as const).flatMap((t) => share(t) ?? []).join(', '),
    );
  }
  const ingot = full('ingot pull');
  const rsync = full('rsync -a');
  if (verified && rsync) {
    lines.push(
      `  a verifying receiver's floor (mTLS + SHA-256 + write, 1 stream) is ${(verified.mbPerSec / rsync.mbPerSec).toFixed(2)}x rsync -a` +
        (ingot
          ? `; ingot pull reaches ${(ingot.mbPerSec / verified.mbPerSec).toFixed(2)}x of that floor`
          : ''),
    );
  }
  for (const r of m.reps) if (r.floorError) lines.push(`  floor failed: ${r.floorError.split('\n')[0]}`);
  return lines;
}

function zsyncLines(m: TransferMeasured): string[] {
  const p = m.zsync;
  if (!p) return m.zsyncSkipped && !m.input.isTree ? [`  zsync skipped: ${m.zsyncSkipped}`] : [];
  const zs = m.reps.flatMap((r) => (r.zsync ? [r.zsync] : []));
  const lines = [
    `  zsync: zsyncmake default block size ${p.blockSize} B, control file ${fmtBytes(p.controlBytes)}, ` +
      `zsyncmake ${p.makeSeconds.toFixed(2)} s (once, not in the delta time); the client fetched ` +
      `${fmtBytes(medianOf(zs.map((z) => z.fetchedBytes)))} of ranges and took ${fmtBytes(medianOf(zs.map((z) => z.localBytes)))} ` +
      'from v1 (wire = all link bytes, control file included)',
  ];
  const bad = zs.filter((z) => !z.matches);
  if (bad.length) lines.push(`  WARNING: ${bad.length} zsync outputs differ from v2`);
  for (const r of m.reps) if (r.zsyncError) lines.push(`  zsync failed: ${r.zsyncError.split('\n')[0]}`);
  return lines;
}

function section(m: TransferMeasured, rs: readonly Row[]): string[] {
  const i = m.input;
  const lines: string[] = [];
  lines.push(`${i.label}: ${i.description}`);
  const header = [
    'tool',
    'full s (min-max)',
    'MB/s',
    'wire',
    'peak RSS',
    'delta s (min-max)',
    'MB/s',
    'wire',
    'x true',
    'peak RSS',
  ];
  lines.push(
    table(
      header,
      rs.map((r) => {
        const d = cells(r.tool, r.delta);
        return [
          r.tool,
          ...cells(r.tool, r.full),
          ...d.slice(0, 3),
          timesTrue(r.delta, i.trueChange),
          ...d.slice(3),
        ];
      }),
    ),
  );
  const ing = m.reps.flatMap((r) => (r.ingot ? [r.ingot] : []));
  if (ing.length) {
    const sd = ing.map((r) => r.seeded);
    const wire = median(sd.map((c) => c.transfer.wireBytes));
    const s = median(sd.map((c) => c.seconds));
    lines.push(
      `  ingot seeded (receiver holds the same bytes as another image): ${s.toFixed(2)} s, ` +
        `wire ${fmtBytes(wire)} = ${((100 * wire) / i.v1Bytes).toFixed(3)}% of ${fmtBytes(i.v1Bytes)}; ` +
        `dry run: ${fmtBytes(median(sd.map((c) => c.dryRun.bytesMissing)))} missing; ` +
        `peak RSS ${fmtBytes(maxOf(sd.map((c) => c.senderPeakRss)))} / ${fmtBytes(maxOf(sd.map((c) => c.receiverPeakRss)))}`,
    );
    lines.push(
      `  ingot transfer rate (the server's figure, wire bytes / transfer time): full ${rateText(ing.map((r) => r.full))}, ` +
        `delta ${rateText(ing.map((r) => r.delta))}, seeded ${rateText(sd)}`,
    );
    const up = ing.flatMap((r) => (r.upload ? [r.upload] : []));
    if (up.length) {
      const bytes = median(up.map((u) => u.linkBytes));
      lines.push(
        `  ingot image add V2 --from V1 through the API (a remote CLI; patches) onto a server holding v1: ` +
          `${median(up.map((u) => u.seconds)).toFixed(2)} s, link ${fmtBytes(bytes)} ` +
          `(${i.trueChange > 0 ? (bytes / i.trueChange).toFixed(2) : '-'}x true change); ` +
          `${fmtBytes(median(up.map((u) => u.sentRawBytes)))} of chunks missing, ` +
          `${median(up.map((u) => u.patchedChunks))} sent as patches in ${fmtBytes(median(up.map((u) => u.patchBytes)))}`,
      );
    }
    const link = (cs: readonly IngotCase[]) => fmtBytes(medianOf(cs.map((c) => c.linkBytes)));
    lines.push(
      `  ingot link bytes (all traffic between the servers, TLS included): full ${link(ing.map((r) => r.full))}, ` +
        `delta ${link(ing.map((r) => r.delta))}, seeded ${link(sd)}`,
    );
    const cpu = (cs: readonly IngotCase[]) => {
      const s = medianOf(cs.map((c) => c.senderCpuSeconds));
      const r = medianOf(cs.map((c) => c.receiverCpuSeconds));
      const wall = median(cs.map((c) => c.seconds));
      return s === undefined || r === undefined
        ? '-'
        : `${s.toFixed(1)} + ${r.toFixed(1)} s in ${wall.toFixed(1)} s`;
    };
    lines.push(
      `  ingot CPU (sender + receiver, during the pull): full ${cpu(ing.map((r) => r.full))}, ` +
        `delta ${cpu(ing.map((r) => r.delta))}`,
    );
    lines.push(
      `  ingot phases (medians, s): full ${phasesText(ing.map((r) => r.full))}; delta ${phasesText(ing.map((r) => r.delta))}`,
    );
    const d = ing.map((r) => r.delta);
    lines.push(
      `  ingot delta: dry run ${fmtBytes(median(d.map((c) => c.dryRun.bytesMissing)))} missing in ` +
        `${median(d.map((c) => c.dryRun.chunksMissing))} chunks; true change ${fmtBytes(i.trueChange)}; ` +
        `rsync -a literal data ${fmtBytes(median(m.reps.flatMap((r) => (r.rsync.delta.literalBytes === undefined ? [] : [r.rsync.delta.literalBytes]))))}`,
    );
    const bad = ing.flatMap((r) => [r.full, r.delta, r.seeded]).filter((c) => !c.digestMatches);
    if (bad.length)
      lines.push(`  WARNING: ${bad.length} pulls left a copy whose digest differs from the sender's`);
  }
  lines.push(...zsyncLines(m));
  const syncs = rs
    .filter((r) => r.full?.syncAfterSeconds !== undefined)
    .map((r) => `${r.tool} ${r.full?.syncAfterSeconds?.toFixed(2)} s`);
  if (syncs.length) lines.push(`  sync after a full copy (not in the times above): ${syncs.join(', ')}`);
  lines.push(...floorLines(m, rs));
  if (m.ingotSkipped) lines.push(`  ingot rows skipped: ${m.ingotSkipped}`);
  for (const r of m.reps) if (r.ingotError) lines.push(`  ingot failed: ${r.ingotError.split('\n')[0]}`);
  return lines;
}

export function transferReport(
  cfg: BenchConfig,
  measured: readonly TransferMeasured[],
  notes: readonly string[],
): { text: string; json: Record<string, unknown> } {
  const lines: string[] = [];
  lines.push('');
  lines.push(
    `Ingot transfer benchmark: ${cfg.reps} reps, medians; MB = 10^6 bytes; loopback; work dir ${cfg.dir}`,
  );
  for (const n of notes) lines.push(`  ${n}`);
  const allRows: Row[] = [];
  const allTargets: Target[] = [];
  const allCosts: DeltaCost[] = [];
  for (const m of measured) {
    const rs = rows(m);
    const costs = deltaCosts(m);
    allRows.push(...rs);
    allCosts.push(...costs);
    allTargets.push(...targets(m, rs), ...deltaTargets(m, costs));
    lines.push('');
    lines.push(...section(m, rs));
  }
  lines.push('');
  lines.push('Delta pulls (v2 onto v1): bytes on the link against the true change, time, CPU of each end');
  lines.push(deltaTable(allCosts));
  lines.push(
    '  delta bytes: ingot = link bytes (peer ports); rsync = --stats totals; zsync = link bytes (control file,',
  );
  lines.push(
    '  HTTP, ranges). Sender = the end with v2 (ingot sender server, rsync client, nginx); receiver = the end',
  );
  lines.push(
    '  with v1 (ingot receiver server, rsync daemon and its forks, zsync client). CPU µs/MiB = (sender +',
  );
  lines.push('  receiver CPU) / delta bytes.');
  lines.push('');
  lines.push(
    '  full = v1 into an empty receiver; delta = v2 with v1 already there (times and bytes of v2 only).',
  );
  lines.push("  MB/s = the image's logical bytes (v1 for full, v2 for delta) / wall seconds.");
  lines.push(
    '  wire: ingot = the transfer\'s wireBytes (chunk frames only); rsync = "Total bytes sent" + "Total bytes received" of --stats;',
  );
  lines.push(
    "  zsync = all bytes on nginx's port. x true = delta wire / the input's true change. Link bytes are counted",
  );
  lines.push(
    '  by the kernel (iptables counters on loopback, less 52 header bytes a packet) as root, else by a relay.',
  );
  lines.push(
    '  peak RSS: ingot = VmHWM of sender / receiver server, reset before each case (clear_refs); rsync, zsync = the client.',
    '  ingot servers are warm (each has served a small full and delta pull first, not timed), as a running server is.',
  );
  lines.push(
    "  floor: v1's byte count of random buffers from one node process to another over mutual TLS 1.3 on",
  );
  lines.push(
    '  loopback, rate at the receiver (1 stream, then 4 in parallel): what the machine allows a Node peer;',
  );
  lines.push(
    '  then 1 stream into a receiver that SHA-256es and writes every byte and fdatasyncs (stream-probe.ts).',
  );
  lines.push(
    '  Before each timed copy a file of the image size is written and removed (warmPages): on this VM the',
  );
  lines.push(
    '  first write into never-used memory costs ~3 s of kernel time per GiB, and whoever ran first paid it.',
  );
  lines.push('');
  lines.push(`Targets (file input ${cfg.sizeGiB} GiB):`);
  lines.push(
    table(
      ['input', 'target', 'measured', 'result'],
      allTargets.map((t) => [
        t.input,
        t.what,
        t.value,
        t.pass === undefined ? 'n/a' : t.pass ? 'PASS' : 'MISS',
      ]),
    ),
  );
  const judged = allTargets.filter((t) => t.pass !== undefined);
  lines.push(
    `${judged.filter((t) => t.pass).length}/${judged.length} targets met` +
      (judged.length < allTargets.length ? ` (${allTargets.length - judged.length} not measured)` : ''),
  );
  return {
    text: lines.join('\n'),
    json: {
      inputs: measured.map((m) => ({
        ...m.input,
        ingotSkipped: m.ingotSkipped,
        zsync: m.zsync,
        zsyncSkipped: m.zsyncSkipped,
      })),
      rows: allRows,
      deltaCosts: allCosts,
      targets: allTargets,
      reps: measured.map((m) => ({ input: m.input.label, reps: m.reps })),
    },
  };
}
