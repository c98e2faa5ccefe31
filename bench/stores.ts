/**
 * A full `ingot image pull` of one image into receivers that differ only in their chunk
 * store: the local pack store (the default, SQLite catalog), the local pack store on a
 * PostgreSQL catalog, a shared directory store on that PostgreSQL, and an S3 store (moto on
 * loopback, a fresh bucket each) on it (what several nodes of one server run). Same
 * sender, same bytes, same run; medians over BENCH_REPS. Each receiver first pulls two small
 * images (warmUp, as bench/transfer.sh does), so the timed pull meets a warm server.
 * Output: a table on stdout, progress on stderr, JSON in $BENCH_DIR/results-stores.json.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createBucket, type RunningMoto, startMoto } from '../test/support/moto.js';
import { freshPgDatabase, startPostgres } from '../test/support/postgres.js';
import { loadConfig } from './lib/config.js';
import { PeerServer, pairUp, type TransferJson, warmUp } from './lib/peers.js';
import { makeFileInput } from './lib/random-file.js';
import { MiB, median, table } from './lib/stats.js';

const log = (s: string) => process.stderr.write(`${s}\n`);
const cfg = loadConfig(['file']);
const work = join(cfg.dir, 'stores');

interface Receiver {
  readonly label: string;
  args(pgUrl: string, scratch: string): Promise<string[]>;
}

const moto: RunningMoto = await startMoto();

const ALL_RECEIVERS: readonly Receiver[] = [
  { label: 'local pack store, SQLite catalog (default)', args: async () => [] },
  {
    label: 'local pack store, PostgreSQL catalog',
    args: async (pg) => ['--db', (await freshPgDatabase(pg)).url],
  },
  {
    label: 'shared directory store, PostgreSQL catalog',
    args: async (pg, scratch) => [
      '--db',
      (await freshPgDatabase(pg)).url,
      '--store',
      join(scratch, 'shared'),
    ],
  },
  {
    label: 'S3 store (moto), PostgreSQL catalog',
    args: async (pg) => [
      '--db',
      (await freshPgDatabase(pg)).url,
      '--store',
      `s3://${await createBucket(moto)}/ingot?endpoint=${moto.endpoint}&region=us-east-1`,
    ],
  },
];
/** BENCH_STORES=s3,shared keeps the default and the receivers whose label says so. */
const only = process.env.BENCH_STORES?.split(',').map((w) => w.trim().toLowerCase());
const RECEIVERS = ALL_RECEIVERS.filter(
  (r, i) => i === 0 || !only || only.some((w) => r.label.toLowerCase().includes(w)),
);

async function pullInto(sender: PeerServer, r: Receiver, pgUrl: string, rep: number): Promise<number> {
  const scratch = join(work, `rx-${RECEIVERS.indexOf(r)}-${rep}`);
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { recursive: true });
  const args = await r.args(pgUrl, scratch);
  const receiver = await PeerServer.create(cfg.repo, join(scratch, 'home'), `RX_${rep}`, false, undefined, {
    args,
    env: moto.credentials,
  });
  try {
    await pairUp(sender, receiver, scratch);
    // A running node has served pulls before: the first one's compiles and connections are not timed.
    await warmUp(sender, receiver, work);
    const run = await receiver.cliWithin(1800, ['image', 'pull', 'V1', '--server', sender.name, '--json']);
    const t = JSON.parse(run.stdout) as TransferJson;
    if (t.state !== 'succeeded') throw new Error(`pull into ${r.label} ended ${t.state}: ${String(t.error)}`);
    return run.seconds;
  } finally {
    await receiver.dispose();
    await sender.cli(['unregister', 'server', '--server', receiver.name]).catch(() => undefined);
  }
}

const pg = await startPostgres();
try {
  const input = await makeFileInput(join(cfg.dir, 'data'), cfg.sizeBytes, log);
  const sender = await PeerServer.create(cfg.repo, join(work, 'sender'), 'SRC', false);
  try {
    await sender.cli(['image', 'add', 'V1', '--file', input.v1]);
    const seconds = RECEIVERS.map(() => [] as number[]);
    for (let rep = 0; rep < cfg.reps; rep++) {
      for (const [i, r] of RECEIVERS.entries()) {
        log(`rep ${rep + 1}/${cfg.reps}: full pull of ${input.v1Bytes / MiB} MiB into ${r.label}`);
        seconds[i]?.push(await pullInto(sender, r, pg.url, rep));
      }
    }
    const base = median(seconds[0] ?? []);
    const rows = RECEIVERS.map((r, i) => {
      const s = seconds[i] ?? [];
      const m = median(s);
      const range = `${Math.min(...s).toFixed(1)}-${Math.max(...s).toFixed(1)}`;
      return [
        r.label,
        `${m.toFixed(1)} s (${range})`,
        `${(input.v1Bytes / MiB / m).toFixed(0)} MiB/s`,
        `${(base / m).toFixed(2)}x`,
      ];
    });
    process.stdout.write(`${table(['receiver store', 'full pull', 'rate', 'vs default'], rows)}\n`);
    await writeFile(
      join(cfg.dir, 'results-stores.json'),
      JSON.stringify(
        {
          bytes: input.v1Bytes,
          receivers: RECEIVERS.map((r, i) => ({ label: r.label, seconds: seconds[i] })),
        },
        null,
        2,
      ),
    );
  } finally {
    await sender.dispose();
  }
} finally {
  await pg.stop();
  await moto.stop();
}
