import type { BenchConfig } from './config.js';
import type { CasyncRep, Sample } from './floors.js';
import type { IngotRep } from './ingot.js';
import type { FileInput } from './random-file.js';
import type { TreeInput } from './rootfs.js';
import { fmtBytes, MiB, maxOf, median, table } from './stats.js';

/** Turns the raw samples into the printed table, the target checks and the JSON summary. */

export interface RepResult {
  readonly openssl: { readonly v1: Sample; readonly v2: Sample };
  readonly cp: { readonly v1: Sample; readonly v2: Sample };
  /** File inputs: ingest-probe.ts (v1 read + hash + write + fdatasync; v2 read + hash). */
  readonly floor: { readonly v1: Sample; readonly v2: Sample } | undefined;
  readonly casync: CasyncRep;
  readonly ingot: IngotRep | undefined;
  readonly ingotError: string | undefined;
}

export interface Measured {
  readonly input: FileInput | TreeInput;
  readonly bytes: { readonly v1: number; readonly v2: number };
  readonly reps: RepResult[];
  readonly ingotSkipped: string | undefined;
}

type Tool = 'openssl sha256' | 'cp + sync' | 'ingest floor' | 'casync make' | 'ingot image add';
type Version = 'v1' | 'v2';

interface Row {
  readonly input: string;
  readonly tool: Tool;
  readonly version: Version;
  readonly bytes: number;
  readonly seconds: number[];
  readonly medianSeconds: number;
  readonly mbPerSec: number;
  readonly stored: number | undefined;
  readonly storedVs: number | undefined;
  readonly cliPeakRss: number | undefined;
  readonly serverPeakRss: number | undefined;
  readonly errors: string[];
}

const RSS_LIMIT = 256 * MiB;

function inputLabel(m: Measured): string {
  return m.input.kind === 'file' ? 'file' : `tree(${m.input.source})`;
}

function rows(m: Measured): Row[] {
  const out: Row[] = [];
  const trueChange = m.input.trueChange;
  for (const version of ['v1', 'v2'] as const) {
    const bytes = m.bytes[version];
    const mk = (
      tool: Tool,
      seconds: number[],
      extra: Partial<Pick<Row, 'stored' | 'cliPeakRss' | 'serverPeakRss' | 'errors'>> = {},
    ): Row => {
      const med = median(seconds);
      const stored = extra.stored;
      return {
        input: inputLabel(m),
        tool,
        version,
        bytes,
        seconds,
        medianSeconds: med,
        mbPerSec: bytes / 1e6 / med,
        stored,
        storedVs: stored === undefined ? undefined : stored / (version === 'v1' ? bytes : trueChange),
        cliPeakRss: extra.cliPeakRss,
        serverPeakRss: extra.serverPeakRss,
        errors: extra.errors ?? [],
      };
    };
    out.push(
      mk(
        'openssl sha256',
        m.reps.map((r) => r.openssl[version].seconds),
        { cliPeakRss: maxOf(m.reps.map((r) => r.openssl[version].peakRss)) },
      ),
    );
    out.push(
      mk(
        'cp + sync',
        m.reps.map((r) => r.cp[version].seconds),
      ),
    );
    const floors = m.reps.flatMap((r) => (r.floor ? [r.floor[version]] : []));
    if (floors.length > 0) {
      out.push(
        mk(
          'ingest floor',
          floors.map((f) => f.seconds),
          { cliPeakRss: maxOf(floors.map((f) => f.peakRss)) },
        ),
      );
    }
    out.push(
      mk(
        'casync make',
        m.reps.map((r) => r.casync[version].seconds),
        {
          stored: median(
            m.reps.map((r) =>
              version === 'v1' ? r.casync.storeAfterV1 : r.casync.storeAfterV2 - r.casync.storeAfterV1,
            ),
          ),
          cliPeakRss: maxOf(m.reps.map((r) => r.casync[version].peakRss)),
        },
      ),
    );
    if (m.ingotSkipped === undefined) {
      const ok = m.reps.flatMap((r) => (r.ingot ? [r.ingot[version]] : []));
      out.push(
        mk(
          'ingot image add',
          ok.map((a) => a.seconds),
          {
            stored: ok.length ? median(ok.map((a) => a.chunkBytesAdded)) : undefined,
            cliPeakRss: maxOf(ok.map((a) => a.cliPeakRss)),
            serverPeakRss: maxOf(ok.map((a) => a.serverPeakRss)),
            errors: m.reps.flatMap((r) => (r.ingotError ? [r.ingotError] : [])),
          },
        ),
      );
    }
  }
  return out;
}

const ratio = (a: Row, b: Row | undefined) => (b ? b.medianSeconds / a.medianSeconds : Number.NaN);
const x = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}x` : '-');

interface Target {
  readonly input: string;
  readonly what: string;
  readonly value: string;
  readonly pass: boolean | undefined;
}

function targets(all: Row[], inputs: string[]): Target[] {
  const out: Target[] = [];
  const find = (input: string, tool: Tool, v: Version) =>
    all.find((r) => r.input === input && r.tool === tool && r.version === v && r.seconds.length > 0);
  for (const input of inputs) {
    const i1 = find(input, 'ingot image add', 'v1');
    const i2 = find(input, 'ingot image add', 'v2');
    const check = (what: string, row: Row | undefined, ref: Row | undefined, min: number) => {
      const r = row && ref ? ratio(row, ref) : Number.NaN;
      out.push({ input, what, value: x(r), pass: Number.isFinite(r) ? r >= min : undefined });
    };
    check('new image >= 0.8x cp + sync', i1, find(input, 'cp + sync', 'v1'), 0.8);
    check('v2 --from v1 >= 0.5x openssl sha256', i2, find(input, 'openssl sha256', 'v2'), 0.5);
    check('new image >= 4x casync make', i1, find(input, 'casync make', 'v1'), 4);
    check('v2 --from v1 >= 4x casync make', i2, find(input, 'casync make', 'v2'), 4);
    const cli = maxOf([i1?.cliPeakRss, i2?.cliPeakRss]);
    const srv = maxOf([i1?.serverPeakRss, i2?.serverPeakRss]);
    out.push({
      input,
      what: 'peak RSS <= 256 MiB (CLI / server)',
      value: `${fmtBytes(cli)} / ${fmtBytes(srv)}`,
      pass: cli === undefined || srv === undefined ? undefined : cli <= RSS_LIMIT && srv <= RSS_LIMIT,
    });
  }
  return out;
}

function describe(m: Measured): string {
  const i = m.input;
  if (i.kind === 'file') {
    return (
      `file: v1 ${fmtBytes(i.v1Bytes)} pseudo-random; v2 = ${i.rewrittenBlocks} 4 KiB blocks rewritten + ` +
      `${fmtBytes(i.insertedBytes)} inserted at ${i.insertAt}; true change ${fmtBytes(i.trueChange)} (${i.trueChange} B)`
    );
  }
  const s = i.v1Stats;
  const what =
    i.source === 'debootstrap'
      ? `packages ${i.changedPackages.join(', ')} (${i.changedFiles} files)`
      : `${i.changedFiles} files`;
  return (
    `tree(${i.source}): v1 ${s.files} files (${s.hardLinks} extra hard links), ${s.symlinks} symlinks, ${s.dirs} dirs, ` +
    `${fmtBytes(s.bytes)}; v2 = ${what} replaced + ${i.newFiles} new files; true change ${fmtBytes(i.trueChange)} (${i.trueChange} B)`
  );
}

export function report(
  cfg: BenchConfig,
  measured: Measured[],
  notes: readonly string[],
): { text: string; json: Record<string, unknown> } {
  const all = measured.flatMap(rows);
  const lines: string[] = [];
  lines.push('');
  lines.push(`Ingot ingest benchmark: ${cfg.reps} reps, medians; MB = 10^6 bytes; work dir ${cfg.dir}`);
  for (const n of notes) lines.push(`  ${n}`);
  for (const m of measured) lines.push(`  ${describe(m)}`);
  lines.push('');
  const header = [
    'input',
    'tool',
    'ver',
    'MB/s',
    'median s (min-max)',
    'vs cp+sync',
    'vs openssl',
    'vs casync',
    'vs floor',
    'stored',
    'stored/(v1: input, v2: true chg)',
    'RSS tool/CLI',
    'RSS server',
  ];
  const body = all.map((r) => {
    const same = (tool: Tool) =>
      all.find((o) => o.input === r.input && o.version === r.version && o.tool === tool);
    const ok = r.seconds.length > 0;
    return [
      r.input,
      r.tool,
      r.version,
      ok ? r.mbPerSec.toFixed(0) : 'failed',
      ok
        ? `${r.medianSeconds.toFixed(2)} (${Math.min(...r.seconds).toFixed(2)}-${Math.max(...r.seconds).toFixed(2)})`
        : '-',
      ok ? x(ratio(r, same('cp + sync'))) : '-',
      ok ? x(ratio(r, same('openssl sha256'))) : '-',
      ok ? x(ratio(r, same('casync make'))) : '-',
      ok ? x(ratio(r, same('ingest floor'))) : '-',
      fmtBytes(r.stored),
      r.storedVs === undefined ? '-' : `${r.storedVs.toFixed(3)}x`,
      fmtBytes(r.cliPeakRss),
      fmtBytes(r.serverPeakRss),
    ];
  });
  lines.push(table(header, body));
  lines.push('');
  lines.push('  "vs X" = this row\'s throughput / X\'s on the same input and version (higher is faster).');
  lines.push(
    '  v1 = a new image into an empty store; v2 = the changed version, added with v1 already stored.',
  );
  lines.push(
    '  stored = chunk bytes added (ingot: files under store/chunks-v1 + store/packs-v1; casync: its .castr store).',
  );
  lines.push('  casync make is timed without a sync (it does not fsync); cp is timed with its sync.');
  lines.push(
    '  ingest floor = plain Node (bench/lib/ingest-probe.ts): v1 one read, SHA-256 of every byte on 2 worker',
  );
  lines.push(
    '    threads, a write to a fresh file + fdatasync; v2 read + SHA-256 only (its chunks are known).',
  );
  for (const input of new Set(all.map((r) => r.input))) {
    for (const v of ['v1', 'v2'] as const) {
      const get = (tool: Tool) =>
        all.find((r) => r.input === input && r.version === v && r.tool === tool && r.seconds.length > 0);
      const fl = get('ingest floor');
      if (!fl) continue;
      const cp = get('cp + sync');
      const ing = get('ingot image add');
      lines.push(
        `  ${input} ${v}: ingot/floor ${x(ing ? ratio(ing, fl) : Number.NaN)} of the floor's rate` +
          ` (${ing ? (ing.medianSeconds / fl.medianSeconds).toFixed(2) : '-'}x its time); floor/cp+sync ${x(cp ? ratio(fl, cp) : Number.NaN)}`,
      );
    }
  }
  for (const m of measured) {
    if (m.ingotSkipped) lines.push(`  ingot rows skipped for ${inputLabel(m)}: ${m.ingotSkipped}`);
    for (const r of m.reps)
      if (r.ingotError) lines.push(`  ingot failed on ${inputLabel(m)}: ${r.ingotError.split('\n')[0]}`);
  }
  lines.push('');
  const ts = targets(all, measured.map(inputLabel));
  lines.push(`Targets (file input ${cfg.sizeGiB} GiB):`);
  lines.push(
    table(
      ['input', 'target', 'measured', 'result'],
      ts.map((t) => [t.input, t.what, t.value, t.pass === undefined ? 'n/a' : t.pass ? 'PASS' : 'MISS']),
    ),
  );
  const judged = ts.filter((t) => t.pass !== undefined);
  lines.push(
    `${judged.filter((t) => t.pass).length}/${judged.length} targets met${judged.length < ts.length ? ` (${ts.length - judged.length} not measured)` : ''}`,
  );
  return {
    text: lines.join('\n'),
    json: {
      inputs: measured.map((m) => ({
        label: inputLabel(m),
        ...m.input,
        bytes: m.bytes,
        ingotSkipped: m.ingotSkipped,
      })),
      rows: all,
      targets: ts,
      reps: measured.map((m) => ({ input: inputLabel(m), reps: m.reps })),
    },
  };
}
