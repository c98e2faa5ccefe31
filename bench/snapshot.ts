import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from './lib/config.js';
import { ingotCli } from './lib/ingot.js';
import { machineFacts } from './lib/machine.js';
import { PeerServer } from './lib/peers.js';
import { RandomBytes } from './lib/prng.js';
import { duBytes, removeTree, sync } from './lib/proc.js';

/**
 * `export snapshot` and `import snapshot` of a server holding BENCH_IMAGES small images:
 * the images are ingested by the server's own job (not timed), then the export (catalog,
 * sealed keys, every image as a bundle) runs against the running server, and the import
 * rebuilds it on a fresh home (catalog restore, then the bundle through a loopback server).
 * A second export without images shows what the catalog and the keys alone cost.
 */
const cfg = loadConfig(['file']);
const count = Number(process.env.BENCH_IMAGES ?? 1000);
const imageBytes = Number(process.env.BENCH_IMAGE_KIB ?? 4) * 1024;
const t0 = Date.now();
const log = (s: string) =>
  process.stderr.write(`[snapshot ${((Date.now() - t0) / 1000).toFixed(0).padStart(5)}s] ${s}\n`);
const work = join(cfg.dir, 'work', 'snapshot');
const load = () =>
  loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');

interface Job {
  id: number;
  state: string;
  error: string | null;
}

async function api<T>(url: string, token: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Ingests `count` small files through the local-ingest route, 8 jobs in flight. */
async function fill(server: PeerServer, data: string): Promise<void> {
  const { url } = JSON.parse(await readFile(join(server.home, 'server.json'), 'utf8')) as { url: string };
  const token = (await readFile(join(server.home, 'token'), 'utf8')).trim();
  await mkdir(data, { recursive: true });
  let next = 0;
  const one = async () => {
    for (let i = next++; i < count; i = next++) {
      const name = `IMG_${String(i).padStart(5, '0')}`;
      const path = join(data, `${name}.bin`);
      await writeFile(path, new RandomBytes(name).take(imageBytes));
      let job = await api<Job>(url, token, 'POST', '/api/v1/images/ingest', {
        name,
        path,
        kind: 'file',
        type: 'DISKIMAGE',
      });
      while (job.state !== 'succeeded') {
        if (job.state === 'failed') throw new Error(`ingest of ${name} failed: ${job.error}`);
        job = await api<Job>(url, token, 'GET', `/api/v1/jobs/${job.id}?wait=5`);
      }
      if (i % 100 === 0) log(`ingested ${i + 1}/${count}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, one));
}

async function timed(what: string, fn: () => Promise<unknown>): Promise<number> {
  log(`${what} (load ${load()})`);
  const start = process.hrtime.bigint();
  await fn();
  await sync();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function main(): Promise<void> {
  await removeTree(work);
  await mkdir(work, { recursive: true });
  const pass = join(work, 'pass.txt');
  await writeFile(pass, 'benchmark passphrase\n', { mode: 0o600 });
  const loadStart = load();
  const server = await PeerServer.create(cfg.repo, join(work, 'home-a'), 'SNAP_BENCH', false);
  const rows: { step: string; seconds: number; bytes?: number }[] = [];
  try {
    await fill(server, join(work, 'data'));
    const full = join(work, 'snap-full');
    const bare = join(work, 'snap-bare');
    rows.push({
      step: `export snapshot --with-images (${count} images)`,
      seconds: await timed('export with images', () =>
        server.cli([
          'export',
          'snapshot',
          '--to',
          full,
          '--with-images',
          '--passphrase-file',
          pass,
          '--quiet',
        ]),
      ),
      bytes: await duBytes(full),
    });
    rows.push({
      step: 'export snapshot (no images)',
      seconds: await timed('export without images', () =>
        server.cli(['export', 'snapshot', '--to', bare, '--passphrase-file', pass, '--quiet']),
      ),
      bytes: await duBytes(bare),
    });
    await server.stop();
    for (const [step, dir, home] of [
      [`import snapshot, ${count} images`, full, join(work, 'home-b')],
      ['import snapshot, no images', bare, join(work, 'home-c')],
    ] as const) {
      let restored = 0;
      const seconds = await timed(step, async () => {
        const r = await ingotCli(cfg.repo, home, [
          'import',
          'snapshot',
          dir,
          '--passphrase-file',
          pass,
          '--json',
        ]);
        restored = (JSON.parse(r.stdout) as { images: number }).images;
      });
      rows.push({ step: `${step} (${restored} restored)`, seconds });
    }
  } finally {
    await server.dispose();
  }
  const facts = machineFacts(cfg);
  const lines = [
    `Ingot snapshot benchmark: ${count} images of ${imageBytes} B each; work dir ${work}`,
    `  machine: ${facts.cpus} CPUs, node ${facts.node}, commit ${facts.gitHead}; load average ${loadStart} at start, ${load()} at end`,
    '',
    `${'step'.padEnd(52)}  ${'wall s'.padStart(7)}  ${'size'.padStart(10)}`,
    `${'-'.repeat(52)}  ${'-'.repeat(7)}  ${'-'.repeat(10)}`,
    ...rows.map(
      (r) =>
        `${r.step.padEnd(52)}  ${r.seconds.toFixed(2).padStart(7)}  ${(r.bytes === undefined ? '' : `${(r.bytes / 2 ** 20).toFixed(1)} MiB`).padStart(10)}`,
    ),
    '',
    '  wall: the CLI command from start to exit, then sync; size: du of the snapshot directory.',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  await writeFile(
    join(cfg.dir, 'results-snapshot.json'),
    `${JSON.stringify({ date: new Date().toISOString(), count, imageBytes, facts, rows }, null, 2)}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
