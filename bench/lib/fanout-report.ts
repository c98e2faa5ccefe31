import type { BenchConfig } from './config.js';
import type { CpuShare } from './cpu-share.js';
import type { Egress } from './egress.js';
import { fmtBytes, maxOf, median, table } from './stats.js';

/** The fan-out benchmark's raw samples, and the tables, target checks and JSON made of them. */

/** What `ingot sync --now --json` prints for one followed template. */
export interface SyncJson {
  readonly upstream: string;
  readonly template: string;
  readonly version: number;
  readonly images: readonly {
    readonly name: string;
    readonly outcome: string;
    readonly bytesMissing: number;
    readonly wireBytes: number;
  }[];
  readonly bytesMissing: number;
  readonly wireBytes: number;
}

/** One server that followed an upstream and synced. */
export interface Member {
  readonly name: string;
  readonly upstream: string;
  /** From the start of the group's `follow` commands to this server's `sync --now` returning. */
  readonly seconds: number;
  readonly sync: SyncJson | undefined;
  /** `ingot following --json` afterwards: lastStatus, lastVersion. */
  readonly lastStatus: string | null | undefined;
  readonly lastVersion: number | null | undefined;
  /** Sync jobs the server ran for this case: more than one means the same pull twice. */
  readonly syncJobs: number;
  readonly digestMatches: boolean;
  readonly peakRss: number | undefined;
}

export interface Tier {
  /** Wall clock from the start of the `follow` commands until every member's sync returned. */
  readonly seconds: number;
  readonly members: readonly Member[];
}

export interface DirectRep {
  readonly seconds: number;
  readonly followers: Tier;
  /** HQ, during the timed part only. */
  readonly egress: Egress;
  readonly hqPeakRss: number | undefined;
  readonly syncAfterSeconds: number;
  /** Other processes' share of the machine during the timed part. */
  readonly cpu: CpuShare;
}

export interface TieredRep {
  /** Both tiers, one after the other. */
  readonly seconds: number;
  readonly sites: Tier;
  readonly edges: Tier;
  readonly egress: Egress;
  readonly hqPeakRss: number | undefined;
  readonly syncAfterSeconds: number;
  readonly cpu: CpuShare;
}

export interface BundleRep {
  readonly create: {
    readonly seconds: number;
    readonly cliPeakRss: number | undefined;
    readonly serverPeakRss: number | undefined;
    readonly json: Record<string, unknown>;
    /** Bytes of the files written (all parts). */
    readonly fileBytes: number;
    readonly cpu: CpuShare;
  };
  readonly import: {
    readonly seconds: number;
    readonly syncAfterSeconds: number;
    readonly cliPeakRss: number | undefined;
    readonly serverPeakRss: number | undefined;
    readonly json: Record<string, unknown>;
    readonly digestMatches: boolean;
    readonly cpu: CpuShare;
  };
  readonly tar: { readonly seconds: number; readonly cpu: CpuShare };
  readonly cp: { readonly seconds: number; readonly cpu: CpuShare };
}

export interface FanoutRep {
  readonly direct?: DirectRep;
  readonly directError?: string;
  readonly tiered?: TieredRep;
  readonly tieredError?: string;
  readonly bundle?: BundleRep;
  readonly bundleError?: string;
}

/** Which egress reading the ratios and targets use: the relay's when there is one. */
export function egressOf(e: Egress): { bytes: number | undefined; source: string } {
  if (e.link !== undefined) return { bytes: e.link, source: 'link relay' };
  if (e.procWrite !== undefined) return { bytes: e.procWrite, source: '/proc wchar' };
  return { bytes: e.metricSent, source: 'metric' };
}

const x = (n: number | undefined, digits = 2) =>
  n !== undefined && Number.isFinite(n) ? `${n.toFixed(digits)}x` : '-';
const secs = (xs: readonly number[]) => {
  if (xs.length === 0) return '-';
  const m = median(xs).toFixed(1);
  return xs.length === 1 ? m : `${m} (${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)})`;
};
const med = (xs: readonly (number | undefined)[]) => {
  const d = xs.filter((v): v is number => v !== undefined && Number.isFinite(v));
  return d.length ? median(d) : undefined;
};
const mbps = (bytes: number, seconds: number | undefined) =>
  seconds !== undefined && seconds > 0 ? (bytes / 1e6 / seconds).toFixed(0) : '-';

interface Target {
  readonly what: string;
  readonly value: string;
  readonly pass: boolean | undefined;
}

interface FanRow {
  readonly label: string;
  readonly receivers: number;
  readonly seconds: number[];
  readonly egress: Egress[] | undefined;
  readonly wireBytes: number[];
  readonly hqRss: (number | undefined)[];
  readonly receiverRss: (number | undefined)[];
}

function tierWire(t: Tier): number {
  return t.members.reduce((n, m) => n + (m.sync?.wireBytes ?? 0), 0);
}

function tierRss(t: Tier): number | undefined {
  return maxOf(t.members.map((m) => m.peakRss));
}

export function fanoutReport(
  cfg: BenchConfig,
  imageBytes: number,
  reps: readonly FanoutRep[],
  notes: readonly string[],
): { text: string; json: Record<string, unknown> } {
  const direct = reps.flatMap((r) => (r.direct ? [r.direct] : []));
  const tiered = reps.flatMap((r) => (r.tiered ? [r.tiered] : []));
  const bundle = reps.flatMap((r) => (r.bundle ? [r.bundle] : []));
  const lines: string[] = [];
  const head = `Ingot fan-out benchmark: image ${fmtBytes(imageBytes)} (${imageBytes} B) pseudo-random, ${cfg.reps} rep(s)`;
  lines.push('', `${head}${cfg.reps > 1 ? ', medians (min-max)' : ''}; MB = 10^6 bytes; work dir ${cfg.dir}`);
  for (const n of notes) lines.push(`  ${n}`);
  lines.push('');

  const fan: FanRow[] = [];
  if (direct.length) {
    fan.push({
      label: 'direct: HQ -> 4 followers',
      receivers: 4,
      seconds: direct.map((d) => d.seconds),
      egress: direct.map((d) => d.egress),
      wireBytes: direct.map((d) => tierWire(d.followers)),
      hqRss: direct.map((d) => d.hqPeakRss),
      receiverRss: direct.map((d) => d.followers.members[0]?.peakRss),
    });
  }
  if (tiered.length) {
    fan.push({
      label: 'tiered: HQ -> 2 sites -> 4 edges',
      receivers: 6,
      seconds: tiered.map((t) => t.seconds),
      egress: tiered.map((t) => t.egress),
      wireBytes: tiered.map((t) => tierWire(t.sites) + tierWire(t.edges)),
      hqRss: tiered.map((t) => t.hqPeakRss),
      receiverRss: tiered.map((t) => t.sites.members[0]?.peakRss),
    });
    fan.push({
      label: '  tier 1: HQ -> 2 sites',
      receivers: 2,
      seconds: tiered.map((t) => t.sites.seconds),
      egress: undefined,
      wireBytes: tiered.map((t) => tierWire(t.sites)),
      hqRss: [],
      receiverRss: tiered.map((t) => tierRss(t.sites)),
    });
    fan.push({
      label: '  tier 2: each site -> 2 edges',
      receivers: 4,
      seconds: tiered.map((t) => t.edges.seconds),
      egress: undefined,
      wireBytes: tiered.map((t) => tierWire(t.edges)),
      hqRss: [],
      receiverRss: tiered.map((t) => tierRss(t.edges)),
    });
  }
  const source = [...direct, ...tiered].map((d) => egressOf(d.egress).source)[0] ?? 'link relay';
  const fanRows = fan.map((r) => {
    const s = median(r.seconds);
    const eg = r.egress ? med(r.egress.map((e) => egressOf(e).bytes)) : undefined;
    return {
      label: r.label,
      seconds: r.seconds,
      medianSeconds: s,
      aggregateMBps: (r.receivers * imageBytes) / 1e6 / s,
      hqEgressBytes: eg,
      hqEgressSource: r.egress ? source : undefined,
      hqEgressRatio: eg === undefined ? undefined : eg / imageBytes,
      hqMetricSentBytes: r.egress ? med(r.egress.map((e) => e.metricSent)) : undefined,
      hqProcWriteBytes: r.egress ? med(r.egress.map((e) => e.procWrite)) : undefined,
      receiversWireBytes: med(r.wireBytes),
      hqPeakRss: maxOf(r.hqRss),
      receiverPeakRss: maxOf(r.receiverRss),
      receivers: r.receivers,
    };
  });
  if (fanRows.length) {
    lines.push(
      table(
        [
          'case',
          'wall s',
          'MB/s (all copies)',
          `HQ egress (${source})`,
          '/ image',
          'HQ metric sent',
          'HQ wchar',
          'receivers wireBytes',
          'RSS HQ',
          'RSS receiver',
        ],
        fanRows.map((r) => [
          r.label,
          secs(r.seconds),
          r.aggregateMBps.toFixed(0),
          r.hqEgressBytes === undefined ? '' : fmtBytes(r.hqEgressBytes),
          r.hqEgressRatio === undefined ? '' : x(r.hqEgressRatio),
          r.hqMetricSentBytes === undefined ? '' : fmtBytes(r.hqMetricSentBytes),
          r.hqProcWriteBytes === undefined ? '' : fmtBytes(r.hqProcWriteBytes),
          fmtBytes(r.receiversWireBytes),
          r.hqPeakRss === undefined ? '' : fmtBytes(r.hqPeakRss),
          fmtBytes(r.receiverPeakRss),
        ]),
      ),
    );
    lines.push('');
    lines.push(
      "  wall: from the start of the receivers' `ingot follow` (all at once) until every `ingot sync --now`",
      '    (started right after each follow) returned; tiered = tier 1, then tier 2.',
      '  MB/s (all copies) = receivers x image bytes / wall.',
      `  HQ egress (${source}): ${egressExplained(source)}`,
      '  HQ metric sent = HQ\'s ingot_peer_wire_bytes_total{direction="sent"} summed over peers (chunk frames).',
      "  HQ wchar = /proc/<HQ pid>/io wchar: all HQ's write() bytes (sockets after TLS, log, database).",
      "  receivers wireBytes = the sum of the `wireBytes` the receivers' syncs report (chunk frames).",
      '  RSS = VmHWM: HQ restarted after the ingest; receiver = the first follower / site (case rows),',
      '    the largest of the tier (tier rows).',
    );
    for (const d of direct) lines.push(`  direct, follower end times (s): ${ends(d.followers)}`);
    for (const t of tiered) {
      lines.push(`  tiered, site end times (s): ${ends(t.sites)}; edge end times (s): ${ends(t.edges)}`);
    }
    lines.push('');
  }

  let bundleRows: Record<string, unknown>[] = [];
  if (bundle.length) {
    const create = bundle.map((b) => b.create.seconds);
    const imp = bundle.map((b) => b.import.seconds);
    const tar = bundle.map((b) => b.tar.seconds);
    const cp = bundle.map((b) => b.cp.seconds);
    bundleRows = [
      {
        step: 'ingot bundle create (HQ)',
        seconds: create,
        vs: median(tar) / median(create),
        floor: 'tar -cf + sync',
        cliPeakRss: maxOf(bundle.map((b) => b.create.cliPeakRss)),
        serverPeakRss: maxOf(bundle.map((b) => b.create.serverPeakRss)),
      },
      { step: 'tar -cf + sync', seconds: tar },
      {
        step: 'ingot bundle import (site)',
        seconds: imp,
        vs: median(cp) / median(imp),
        floor: 'cp + sync',
        cliPeakRss: maxOf(bundle.map((b) => b.import.cliPeakRss)),
        serverPeakRss: maxOf(bundle.map((b) => b.import.serverPeakRss)),
      },
      { step: 'cp + sync', seconds: cp },
    ].map((r) => ({
      ...r,
      medianSeconds: median(r.seconds),
      mbPerSec: imageBytes / 1e6 / median(r.seconds),
    }));
    lines.push(
      table(
        ['step', 'wall s', 'MB/s', 'vs floor', 'RSS CLI', 'RSS server'],
        bundleRows.map((r) => [
          r.step as string,
          secs(r.seconds as number[]),
          mbps(imageBytes, r.medianSeconds as number),
          r.vs === undefined ? '' : `${x(r.vs as number)} ${r.floor as string}`,
          r.cliPeakRss === undefined ? '' : fmtBytes(r.cliPeakRss as number),
          r.serverPeakRss === undefined ? '' : fmtBytes(r.serverPeakRss as number),
        ]),
      ),
    );
    const b0 = bundle[0];
    lines.push('');
    lines.push(
      '  MB/s = image bytes / wall. create: the CLI reads the chunks from HQ over its API and writes one',
      '    .ingot file, fsynced; tar writes the image into one .tar, then sync. import: the CLI checks the',
      '    whole file first, then sends the chunks the site lacks; cp copies the image, then sync.',
      `  bundle file ${fmtBytes(b0?.create.fileBytes)} for a ${fmtBytes(imageBytes)} image; a sync after the import took ` +
        `${secs(bundle.map((b) => b.import.syncAfterSeconds))} s (not in its wall).`,
      '',
    );
  }

  const busy: string[] = [];
  const share = (what: string, c: CpuShare | undefined) => {
    if (c && c.availableSeconds > 0)
      busy.push(
        `${what} ${c.otherSeconds.toFixed(1)} s (${((100 * c.otherSeconds) / c.availableSeconds).toFixed(0)}%)`,
      );
  };
  for (const d of direct) share('direct', d.cpu);
  for (const t of tiered) share('tiered', t.cpu);
  for (const b of bundle) {
    share('bundle create', b.create.cpu);
    share('import', b.import.cpu);
    share('tar', b.tar.cpu);
    share('cp', b.cp.cpu);
  }
  if (busy.length) {
    lines.push(
      "  CPU time of other processes (anything not this benchmark's, kernel threads included) during each",
      `  timed part, and its share of CPUs x wall: ${busy.join(', ')}.`,
      '',
    );
  }

  const targets: Target[] = [];
  const dRow = fanRows.find((r) => r.label.startsWith('direct'));
  if (dRow) {
    targets.push({
      what: 'direct: HQ egress ~4x image (each follower pulls it once; judged <= 4.2x)',
      value: x(dRow.hqEgressRatio),
      pass: dRow.hqEgressRatio === undefined ? undefined : dRow.hqEgressRatio <= 4.2,
    });
  }
  const tRow = fanRows.find((r) => r.label.startsWith('tiered'));
  if (tRow) {
    targets.push({
      what: 'tiered: HQ egress <= 2.1x image',
      value: x(tRow.hqEgressRatio),
      pass: tRow.hqEgressRatio === undefined ? undefined : tRow.hqEgressRatio <= 2.1,
    });
  }
  const imp = bundleRows.find((r) => (r.step as string).startsWith('ingot bundle import'));
  if (imp) {
    targets.push({
      what: 'bundle import >= 0.8x cp + sync (MB/s)',
      value: x(imp.vs as number),
      pass: Number.isFinite(imp.vs as number) ? (imp.vs as number) >= 0.8 : undefined,
    });
  }
  const failures = reps.flatMap((r, i) =>
    [
      ['direct', r.directError],
      ['tiered', r.tieredError],
      ['bundle', r.bundleError],
    ].flatMap(([c, e]) => (e ? [`rep ${i + 1}: ${c} failed: ${(e as string).split('\n')[0]}`] : [])),
  );
  for (const f of failures) lines.push(`  ${f}`);
  const problems = [...direct.map((d) => d.followers), ...tiered.flatMap((t) => [t.sites, t.edges])]
    .flatMap((t) => t.members)
    .flatMap((m) => {
      const p: string[] = [];
      if (!m.digestMatches) p.push('digest differs from HQ or image missing');
      if (m.lastStatus !== 'ok') p.push(`following lastStatus ${String(m.lastStatus)}`);
      if (m.syncJobs !== 1) p.push(`${m.syncJobs} sync jobs`);
      return p.length ? [`${m.name}: ${p.join('; ')}`] : [];
    });
  for (const b of bundle) if (!b.import.digestMatches) problems.push('bundle import: digest differs from HQ');
  for (const p of problems) lines.push(`  check: ${p}`);
  if (failures.length || problems.length) lines.push('');
  lines.push(`Targets (image ${cfg.sizeGiB} GiB):`);
  lines.push(
    table(
      ['target', 'measured', 'result'],
      targets.map((t) => [t.what, t.value, t.pass === undefined ? 'n/a' : t.pass ? 'PASS' : 'MISS']),
    ),
  );
  const judged = targets.filter((t) => t.pass !== undefined);
  lines.push(`${judged.filter((t) => t.pass).length}/${judged.length} targets met`);
  return {
    text: lines.join('\n'),
    json: { imageBytes, fanout: fanRows, bundle: bundleRows, targets, checks: problems, failures, reps },
  };
}

function ends(t: Tier): string {
  return t.members.map((m) => `${m.name} ${m.seconds.toFixed(1)}`).join(', ');
}

function egressExplained(source: string): string {
  if (source === 'link relay')
    return "every byte HQ's peers exchanged with it, both ways, counted by a relay in front of its peer port.";
  if (source === '/proc wchar') return "HQ's write() bytes (no relay: BENCH_TCP_METER=0).";
  return "HQ's own counter of chunk bytes sent.";
}
