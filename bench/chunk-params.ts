/**
 * Evidence for the chunker's default average size: chunks v1 and v2 of the benchmark inputs
 * with FastCDC (src/store/chunker.ts) at avg 16, 32, 64 and 128 KiB (min = avg/4,
 * max = avg*4) and prints, per setting, the chunk count of v1, the bytes of v2's chunks that
 * v1 does not have (what a v2 ingest stores and a transfer sends), that delta over the true
 * change, and the chunker's throughput.
 *
 *   npx tsx bench/chunk-params.ts          # same inputs and settings as bench/ingest.sh
 *
 * Trees are chunked one regular file at a time (each file is its own byte stream), in path
 * order; a chunk counts once however often it occurs.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { Chunker, type ChunkerParams, chunkStream } from '../src/store/chunker.js';
import { loadConfig } from './lib/config.js';
import { warm } from './lib/proc.js';
import { makeFileInput } from './lib/random-file.js';
import { makeTreeInput } from './lib/rootfs.js';
import { fmtBytes, median, table } from './lib/stats.js';
import { regularFiles } from './lib/tree-stats.js';

const cfg = loadConfig();
const log = (s: string) => process.stderr.write(`[chunk-params] ${s}\n`);
const AVGS = [16, 32, 64, 128].map((k) => k * 1024);
const READ_BUFFER = 1024 * 1024;
const SPEED_REPS = 5;
const SPEED_SAMPLE = 512 * 1024 * 1024;

interface Pass {
  readonly bytes: number;
  readonly chunks: number;
  /** Wall time of read + chunk + sha256 of every chunk. */
  readonly totalSeconds: number;
}

/** Chunks the streams in `paths`, calling `each(digest, length)` per chunk. */
async function chunkPaths(
  paths: readonly string[],
  params: ChunkerParams,
  each: (digest: string, length: number) => void,
): Promise<Pass> {
  let bytes = 0;
  let chunks = 0;
  const start = process.hrtime.bigint();
  for (const path of paths) {
    for await (const chunk of chunkStream(createReadStream(path, { highWaterMark: READ_BUFFER }), params)) {
      const digest = createHash('sha256').update(chunk).digest('base64');
      each(digest, chunk.length);
      bytes += chunk.length;
      chunks++;
    }
  }
  const totalNs = process.hrtime.bigint() - start;
  return { bytes, chunks, totalSeconds: Number(totalNs) / 1e9 };
}

/**
 * The chunker alone, on bytes already in memory: median MB/s over SPEED_REPS passes, the
 * settings interleaved per pass so a noisy neighbour hits them all alike.
 */
function chunkerSpeeds(streams: readonly (readonly Buffer[])[]): Map<number, number> {
  const bytes = streams.reduce((n, s) => n + s.reduce((m, b) => m + b.length, 0), 0);
  const samples = new Map<number, number[]>(AVGS.map((a) => [a, []]));
  // Pass 0 warms up the JIT and is not counted.
  for (let rep = 0; rep <= SPEED_REPS; rep++) {
    for (const avg of AVGS) {
      const params = { min: avg / 4, avg, max: avg * 4 };
      const t0 = process.hrtime.bigint();
      let n = 0;
      for (const stream of streams) {
        const c = new Chunker(params);
        for (const buf of stream) n += c.push(buf).length;
        if (c.finish()) n++;
      }
      if (n === 0) throw new Error('no chunks');
      if (rep > 0) samples.get(avg)?.push(bytes / 1e6 / (Number(process.hrtime.bigint() - t0) / 1e9));
    }
  }
  return new Map([...samples].map(([avg, xs]) => [avg, median(xs)]));
}

async function fileSample(path: string): Promise<Buffer[][]> {
  const fh = await open(path, 'r');
  const bufs: Buffer[] = [];
  try {
    for (let off = 0; off < SPEED_SAMPLE; off += READ_BUFFER) {
      const b = Buffer.alloc(READ_BUFFER);
      const { bytesRead } = await fh.read(b, 0, READ_BUFFER, off);
      if (bytesRead === 0) break;
      bufs.push(b.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return [bufs];
}

interface Result {
  readonly input: string;
  readonly params: ChunkerParams;
  readonly v1Bytes: number;
  readonly v1Chunks: number;
  readonly v1UniqueChunks: number;
  readonly v2NewChunks: number;
  readonly v2NewBytes: number;
  readonly trueChange: number;
  readonly deltaOverTrueChange: number;
  /** Chunker alone, in memory (see chunkerSpeeds). */
  readonly chunkMBps: number;
  /** Streamed from the page cache: read + chunk + sha256, v1 and v2 passes. */
  readonly streamedMBps: number;
}

async function measure(
  input: string,
  v1: string[],
  v2: string[],
  trueChange: number,
  speeds: Map<number, number>,
): Promise<Result[]> {
  const out: Result[] = [];
  for (const avg of AVGS) {
    const params = { min: avg / 4, avg, max: avg * 4 };
    const have = new Set<string>();
    const a = await chunkPaths(v1, params, (d) => have.add(d));
    const added = new Set<string>();
    let newBytes = 0;
    const b = await chunkPaths(v2, params, (d, len) => {
      if (have.has(d) || added.has(d)) return;
      added.add(d);
      newBytes += len;
    });
    const r: Result = {
      input,
      params,
      v1Bytes: a.bytes,
      v1Chunks: a.chunks,
      v1UniqueChunks: have.size,
      v2NewChunks: added.size,
      v2NewBytes: newBytes,
      trueChange,
      deltaOverTrueChange: newBytes / trueChange,
      chunkMBps: speeds.get(avg) ?? Number.NaN,
      streamedMBps: (a.bytes + b.bytes) / 1e6 / (a.totalSeconds + b.totalSeconds),
    };
    log(`${input} avg ${avg / 1024} KiB: ${r.v1Chunks} chunks, delta ${fmtBytes(newBytes)}`);
    out.push(r);
  }
  return out;
}

async function main(): Promise<void> {
  const results: Result[] = [];
  if (cfg.inputs.includes('file')) {
    const f = await makeFileInput(join(cfg.dir, 'data'), cfg.sizeBytes, log);
    await warm(f.v1);
    await warm(f.v2);
    const speeds = chunkerSpeeds(await fileSample(f.v1));
    results.push(...(await measure('file', [f.v1], [f.v2], f.trueChange, speeds)));
  }
  if (cfg.inputs.includes('tree')) {
    const t = await makeTreeInput(cfg, log);
    await warm(t.v1);
    await warm(t.v2);
    const files = async (root: string) => (await regularFiles(root)).map((r) => join(root, r));
    const v1Files = await files(t.v1);
    const speeds = chunkerSpeeds(await Promise.all(v1Files.map(async (p) => [await readFile(p)])));
    results.push(...(await measure(`tree(${t.source})`, v1Files, await files(t.v2), t.trueChange, speeds)));
  }
  const rows = results.map((r) => [
    r.input,
    `${r.params.avg / 1024}K (${r.params.min / 1024}K-${r.params.max / 1024}K)`,
    String(r.v1Chunks),
    fmtBytes(r.v1Bytes / r.v1Chunks),
    String(r.v2NewChunks),
    fmtBytes(r.v2NewBytes),
    fmtBytes(r.trueChange),
    `${r.deltaOverTrueChange.toFixed(2)}x`,
    r.chunkMBps.toFixed(0),
    r.streamedMBps.toFixed(0),
  ]);
  process.stdout.write(
    `\nload average at the end: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (${cpus().length} CPUs)\n` +
      `FastCDC parameters (src/store/chunker.ts), file input ${cfg.sizeGiB} GiB; MB = 10^6 bytes\n` +
      `${table(
        [
          'input',
          'avg (min-max)',
          'v1 chunks',
          'mean chunk',
          'v2 new chunks',
          'v2 delta',
          'true change',
          'delta/true',
          'chunker MB/s',
          'streamed MB/s',
        ],
        rows,
      )}\n` +
      '  v2 delta = bytes of v2 chunks whose digest v1 lacks (stored by a v2 ingest, sent by a transfer).\n' +
      `  chunker MB/s = the chunker alone on bytes in memory (file: first ${SPEED_SAMPLE / 2 ** 20} MiB of v1; tree: all of v1),\n` +
      `    median of ${SPEED_REPS} passes after a warm-up, one thread; streamed MB/s = read from page cache + chunk + sha256, v1 and v2.\n`,
  );
  const out = join(cfg.dir, 'results-chunk-params.json');
  await writeFile(
    out,
    `${JSON.stringify({ date: new Date().toISOString(), sizeGiB: cfg.sizeGiB, results }, null, 2)}\n`,
  );
  log(`results written to ${out}`);
}

main().catch((err) => {
  process.stderr.write(`chunk-params: ${err?.stack ?? err}\n`);
  process.exitCode = 1;
});
