/**
 * One server on many nodes (issue 12): 8 receivers pull one image at once from a cluster of
 * `ingot serve` nodes (one throwaway PostgreSQL, one shared --store directory) through
 * HAProxy, with 1 node and with 3, then with 1 node pinned to core 0 and 2 nodes pinned to
 * cores 0 and 1. Per GiB moved: PostgreSQL statements (pg_stat_statements), the nodes' read
 * and write syscalls, and the CPU seconds of nodes, receivers, PostgreSQL and HAProxy.
 * Output: tables on stdout, progress on stderr, JSON in $BENCH_DIR/results-nodes.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freshPgDatabase, startPostgres } from '../test/support/postgres.js';
import { Cluster, cpuOf, pairWithCluster, type RunningCluster, syscallsOf } from './lib/cluster.js';
import { loadConfig } from './lib/config.js';
import { machineFacts } from './lib/machine.js';
import { PeerServer, type TransferJson } from './lib/peers.js';
import { freePort } from './lib/proc.js';
import { makeFileInput } from './lib/random-file.js';
import { median, table } from './lib/stats.js';

const log = (s: string) => process.stderr.write(`${s}\n`);
const cfg = loadConfig(['file']);
const work = join(cfg.dir, 'nodes');
const RECEIVERS = 8;
const GiB = 2 ** 30;
const NAME = 'GOLD_1';

interface Setup {
  readonly label: string;
  readonly nodes: number;
  readonly cores?: readonly string[];
}

const SETUPS: readonly Setup[] = [
  { label: '1 node', nodes: 1 },
  { label: '3 nodes', nodes: 3 },
  { label: '1 node on core 0', nodes: 1, cores: ['0'] },
  { label: '2 nodes on cores 0, 1', nodes: 2, cores: ['0', '1'] },
];

interface Figures {
  readonly seconds: number;
  readonly pulls: readonly number[];
  readonly bytes: number;
  readonly presentBytes: number;
  readonly statements: number;
  readonly rows: number;
  /** The statements run most, by calls: what the coordination cost is made of. */
  readonly top: readonly { readonly query: string; readonly calls: number }[];
  readonly syscalls: { reads: number; writes: number };
  readonly cpu: { nodes: readonly number[]; receivers: number; postgres: number; haproxy: number };
}

/** The statements PostgreSQL ran for the cluster's database since the last reset. */
async function statements(admin: pg.Client, db: string): Promise<{ calls: number; rows: number }> {
  const r = await admin.query<{ calls: string; rows: string }>(
    `select coalesce(sum(s.calls), 0) as calls, coalesce(sum(s.rows), 0) as rows
       from pg_stat_statements s join pg_database d on d.oid = s.dbid where d.datname = $1`,
    [db],
  );
  return { calls: Number(r.rows[0]?.calls), rows: Number(r.rows[0]?.rows) };
}

/** The statements called most for the cluster's database since the last reset. */
async function topStatements(admin: pg.Client, db: string): Promise<{ query: string; calls: number }[]> {
  const r = await admin.query<{ query: string; calls: string }>(
    `select s.query, s.calls from pg_stat_statements s join pg_database d on d.oid = s.dbid
      where d.datname = $1 order by s.calls desc limit 12`,
    [db],
  );
  return r.rows.map((row) => ({
    query: row.query.replace(/\s+/g, ' ').slice(0, 90),
    calls: Number(row.calls),
  }));
}

async function backendPids(admin: pg.Client, db: string): Promise<number[]> {
  const r = await admin.query<{ pid: number }>('select pid from pg_stat_activity where datname = $1', [db]);
  return r.rows.map((row) => row.pid);
}

/** Every receiver without the image and its chunks, so each pull moves all of it. */
async function emptyReceivers(receivers: readonly PeerServer[]): Promise<void> {
  await Promise.all(
    receivers.map(async (rx) => {
      await rx.cli(['image', 'delete', 'V1']).catch(() => undefined);
      await rx.cli(['gc', '--grace', '0']);
    }),
  );
}

async function pullAll(
  receivers: readonly PeerServer[],
): Promise<{ seconds: number; pulls: TransferJson[]; each: number[] }> {
  const start = process.hrtime.bigint();
  const runs = await Promise.all(
    receivers.map((rx) => rx.cliWithin(900, ['image', 'pull', 'V1', '--server', NAME, '--json'])),
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const pulls = runs.map((r) => JSON.parse(r.stdout) as TransferJson);
  const failed = pulls.find((t) => t.state !== 'succeeded');
  if (failed) throw new Error(`a pull ended ${failed.state}: ${String(failed.error)}`);
  return { seconds, pulls, each: runs.map((r) => r.seconds) };
}

async function measure(
  running: RunningCluster,
  receivers: readonly PeerServer[],
  admin: pg.Client,
  db: string,
): Promise<Figures> {
  const nodePids = running.nodes.map((n) => n.proc.pid as number);
  const nodeCpu = await Promise.all(nodePids.map((p) => cpuOf([p])));
  const rxCpu = await cpuOf(receivers.map((r) => r.pid));
  const pgCpu = await cpuOf(await backendPids(admin, db));
  const lbCpu = await cpuOf([running.lb.proc.pid as number]);
  const io = await Promise.all(nodePids.map(syscallsOf));
  await admin.query('select pg_stat_statements_reset()');
  const { seconds, pulls, each } = await pullAll(receivers);
  const stmts = await statements(admin, db);
  const top = await topStatements(admin, db);
  const ioAfter = await Promise.all(nodePids.map(syscallsOf));
  const delta = (k: 'reads' | 'writes') => ioAfter.reduce((s, a, i) => s + a[k] - (io[i]?.[k] ?? 0), 0);
  return {
    seconds,
    pulls: each,
    bytes: pulls.reduce((s, t) => s + t.bytesTotal - t.bytesPresent, 0),
    presentBytes: pulls.reduce((s, t) => s + t.bytesPresent, 0),
    statements: stmts.calls,
    rows: stmts.rows,
    top,
    syscalls: { reads: delta('reads'), writes: delta('writes') },
    cpu: {
      nodes: await Promise.all(nodeCpu.map((c) => c())),
      receivers: await rxCpu(),
      postgres: await pgCpu(),
      haproxy: await lbCpu(),
    },
  };
}

/** Nearest-rank percentile: of 8 pulls a run, p99 is the slowest. */
function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
}

const rate = (f: Figures) => f.bytes / 1e6 / f.seconds;
const perGiB = (f: Figures, x: number) => x / (f.bytes / GiB);
const cpuNodes = (f: Figures) => f.cpu.nodes.reduce((a, b) => a + b, 0);

function throughputRows(results: readonly Figures[][]): string[][] {
  return SETUPS.map((s, i) => {
    const runs = results[i] ?? [];
    const rates = runs.map(rate);
    const pulls = runs.flatMap((f) => f.pulls);
    return [
      s.label,
      `${median(rates).toFixed(0)} MB/s (${Math.min(...rates).toFixed(0)}-${Math.max(...rates).toFixed(0)})`,
      `${percentile(pulls, 50).toFixed(1)} s`,
      `${percentile(pulls, 99).toFixed(1)} s`,
    ];
  });
}

function costRows(results: readonly Figures[][]): string[][] {
  const m = (runs: readonly Figures[], x: (f: Figures) => number) => median(runs.map((f) => perGiB(f, x(f))));
  return SETUPS.map((s, i) => {
    const r = results[i] ?? [];
    const nodeSplit = r[0]?.cpu.nodes.length
      ? ` (${r[0].cpu.nodes.map((_, k) => m(r, (f) => f.cpu.nodes[k] ?? 0).toFixed(1)).join(' + ')})`
      : '';
    return [
      s.label,
      m(r, (f) => f.statements).toFixed(0),
      m(r, (f) => f.rows).toFixed(0),
      `${m(r, (f) => f.syscalls.reads).toFixed(0)} / ${m(r, (f) => f.syscalls.writes).toFixed(0)}`,
      `${m(r, cpuNodes).toFixed(1)}${nodeSplit}`,
      m(r, (f) => f.cpu.receivers).toFixed(1),
      m(r, (f) => f.cpu.postgres).toFixed(2),
      m(r, (f) => f.cpu.haproxy).toFixed(2),
    ];
  });
}

function ratio(results: readonly Figures[][], of: number, to: number): number {
  return median((results[of] ?? []).map(rate)) / median((results[to] ?? []).map(rate));
}

function printReport(results: readonly Figures[][], sizeBytes: number, load: number[]): void {
  const out = (s: string) => process.stdout.write(`${s}\n`);
  out(
    `${RECEIVERS} concurrent full pulls of one ${(sizeBytes / 2 ** 20).toFixed(0)} MiB image through HAProxy,`,
  );
  out(`${cfg.reps} run(s) a setup; load average ${load.map((l) => l.toFixed(1)).join(' ')} at start`);
  out(table(['cluster', 'aggregate', 'pull p50', 'pull p99'], throughputRows(results)));
  out('\nper GiB moved (medians over the runs):');
  const head = ['cluster', 'pg statements', 'pg rows', 'node syscalls r/w', 'node CPU s', 'receivers CPU s'];
  out(table([...head, 'pg CPU s', 'haproxy CPU s'], costRows(results)));
  for (const i of [0, 1]) {
    const last = results[i]?.at(-1);
    if (!last) continue;
    out(`\nstatements run most, ${SETUPS[i]?.label} (last run, ${last.seconds.toFixed(1)} s):`);
    const rows = last.top.map((t) => [
      perGiB(last, t.calls).toFixed(0),
      (t.calls / last.seconds).toFixed(1),
      t.query,
    ]);
    out(table(['per GiB', 'per s', 'statement'], rows));
  }
  out(`\n3 nodes vs 1: ${ratio(results, 1, 0).toFixed(2)}x (target >= 1.0)`);
  out(`2 nodes on 2 cores vs 1 on 1: ${ratio(results, 3, 2).toFixed(2)}x (target >= 1.7)`);
}

async function makeReceivers(): Promise<PeerServer[]> {
  return Promise.all(
    Array.from({ length: RECEIVERS }, (_, i) =>
      PeerServer.create(cfg.repo, join(work, `rx-${i + 1}`, 'home'), `RX_${i + 1}`, false),
    ),
  );
}

async function main(): Promise<void> {
  const load = loadavg();
  const pgServer = await startPostgres([
    'shared_preload_libraries=pg_stat_statements',
    'pg_stat_statements.track=all',
  ]);
  const admin = new pg.Client({ connectionString: pgServer.url });
  const receivers: PeerServer[] = [];
  try {
    await admin.connect();
    await admin.query('create extension if not exists pg_stat_statements');
    const db = await freshPgDatabase(pgServer.url);
    const dbName = new URL(db.url).pathname.slice(1);
    const input = await makeFileInput(join(cfg.dir, 'data'), cfg.sizeBytes, log);
    const store = join(work, 'store');
    await mkdir(store, { recursive: true });
    const opts = {
      name: NAME,
      dir: join(work, 'cluster'),
      db: db.url,
      store,
      balancerPort: await freePort(),
    };
    const { cluster, first } = await Cluster.create({ ...opts, nodes: 3 });
    try {
      log(`adding a ${input.v1Bytes / 2 ** 20} MiB image; starting ${RECEIVERS} receivers`);
      const add = await first.cli(['image', 'add', 'V1', '--file', input.v1]);
      if (add.code !== 0) throw new Error(`image add exited ${add.code}: ${add.stderr}`);
      receivers.push(...(await makeReceivers()));
      for (const rx of receivers) await pairWithCluster(cluster, first, rx, rx.home);
    } finally {
      await first.stop();
    }
    const results: Figures[][] = SETUPS.map(() => []);
    for (let rep = 0; rep < cfg.reps; rep++) {
      for (const [i, s] of SETUPS.entries()) {
        log(`rep ${rep + 1}/${cfg.reps}: ${s.label}`);
        await emptyReceivers(receivers);
        const running = await cluster.start(s.nodes, s.cores);
        try {
          results[i]?.push(await measure(running, receivers, admin, dbName));
        } finally {
          await running.stop();
        }
      }
    }
    printReport(results, input.v1Bytes, load);
    const json = { machine: machineFacts(cfg), load, receivers: RECEIVERS, bytes: input.v1Bytes };
    const setups = SETUPS.map((s, i) => ({ ...s, runs: results[i] }));
    await writeFile(join(cfg.dir, 'results-nodes.json'), JSON.stringify({ ...json, setups }, null, 2));
  } finally {
    await Promise.all(receivers.map((r) => r.dispose()));
    await admin.end().catch(() => undefined);
    await pgServer.stop();
  }
}

await main();
