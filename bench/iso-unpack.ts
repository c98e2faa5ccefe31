import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ChunkRef } from '../src/core/manifest.js';
import { isoContent, readIso } from '../src/store/iso-reader.js';
import { PackChunkStore } from '../src/store/pack-chunk-store.js';
import { chunksOf } from '../src/store/source.js';
import { StoredFile } from '../src/store/stored-file.js';

/**
 * The ISO reader of `--unpack iso` against `bsdtar -xf` to a directory, same run, same ISO:
 * an ISO made by `xorriso -as mkisofs -R -J` of BENCH_ISO_TREE (default /usr/share, the
 * files Debian's packages install), stored chunked in a pack store first (not timed). Timed:
 * the reader alone (volume descriptors, directory records, Rock Ridge, every file's bytes
 * streamed from the chunks), then reader + chunker + SHA-256 (what the import does short of
 * storing, which dedupes against the ISO's own chunks), then bsdtar; BENCH_REPS times in turn
 * (default 3), medians. MB/s of file bytes, and CPU seconds (user + system, all threads: on
 * a shared machine the CPU figure is steadier than the wall clock).
 */
const dir = resolve(process.env.BENCH_DIR ?? '.bench', 'iso-unpack');
const treeRoot = process.env.BENCH_ISO_TREE ?? '/usr/share';
const reps = Number(process.env.BENCH_REPS ?? 3);

interface Row {
  readonly what: string;
  readonly entries: number;
  readonly bytes: number;
  readonly seconds: number;
  readonly cpu: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function storedIso(isoPath: string): Promise<{ file: StoredFile; store: PackChunkStore }> {
  const store = await PackChunkStore.open(join(dir, 'store'));
  const refs: ChunkRef[] = [];
  for await (const c of chunksOf({ kind: 'file', path: isoPath })) {
    if (c.ref.kind === 'data' && c.raw) await store.put(c.ref.digest, Buffer.from(c.raw));
    c.release?.();
    refs.push(c.ref);
  }
  return { file: new StoredFile(refs, (d) => store.get(d)), store };
}

async function ingot(file: StoredFile, what: string, chunk: boolean): Promise<Row> {
  const t = performance.now();
  const c0 = cpuNow();
  const tree = await readIso(file);
  let bytes = 0;
  const content = isoContent(file, tree);
  if (chunk)
    for await (const c of chunksOf({ kind: 'tree-stream', entries: tree.entries, content }))
      bytes += c.ref.length;
  else for await (const b of content) bytes += b.length;
  return {
    what,
    entries: tree.entries.length,
    bytes,
    seconds: (performance.now() - t) / 1000,
    cpu: cpuNow() - c0,
  };
}

function bsdtar(isoPath: string, like: Row): Row {
  const out = join(dir, 'bsdtar-out');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out);
  const t = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S', 'bsdtar', '-xf', isoPath, '-C', out], {
    encoding: 'utf8',
  });
  const seconds = (performance.now() - t) / 1000;
  const [user, sys] = (r.stderr.trim().split('\n').pop() ?? '0 0').split(' ').map(Number);
  rmSync(out, { recursive: true, force: true });
  return { ...like, what: 'bsdtar -xf ISO -C dir', seconds, cpu: (user ?? 0) + (sys ?? 0) };
}

async function main(): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const isoPath = join(dir, 'tree.iso');
  execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-J', '-joliet-long', '-o', isoPath, treeRoot], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const { file, store } = await storedIso(isoPath);
  const runs: Row[][] = [];
  for (let rep = 0; rep < reps; rep++) {
    const reader = await ingot(file, 'ingot ISO reader (from the chunk store)', false);
    const chunked = await ingot(file, 'ingot ISO reader + chunker + SHA-256', true);
    runs.push([reader, chunked, bsdtar(isoPath, reader)]);
  }
  await store.close();
  const rows = (runs[0] ?? []).map((r, k) => ({
    ...r,
    seconds: median(runs.map((x) => (x[k] as Row).seconds)),
    cpu: median(runs.map((x) => (x[k] as Row).cpu)),
  }));
  for (const r of rows) {
    const mbps = r.bytes / 1e6 / r.seconds;
    process.stdout.write(
      `${r.what.padEnd(42)} ${r.entries} entries ${(r.bytes / 1e6).toFixed(0)} MB ${r.seconds.toFixed(2)} s ${mbps.toFixed(0)} MB/s cpu ${r.cpu.toFixed(2)} s\n`,
    );
  }
  writeFileSync(join(dir, 'results.json'), JSON.stringify({ tree: treeRoot, reps, rows, runs }, null, 2));
}

await main();
