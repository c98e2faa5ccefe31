/**
 * Pack chunk store throughput, against the disk's own sequential speed.
 *
 *   npx tsx bench/pack-store.ts            (BENCH_DIR, default .bench; PACK_BENCH_MIB=1024)
 *
 * 1. dd if=/dev/zero of=X bs=1M count=1024 conv=fsync in the bench dir: sequential write
 *    with one fsync, the ceiling.
 * 2. putManyEncoded into a fresh store: batches of 128 random 64 KiB chunks, raw-encoded,
 *    one batch in flight, then 4 in flight (as concurrent uploads would).
 * 3. missing() on 32k known digests (fresh: lookups only; then stale: lookups and touches),
 *    then on 32k unknown ones, and once more after reopening the store.
 * Prints one JSON object.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../src/core/manifest.js';
import { PackChunkStore } from '../src/store/pack-chunk-store.js';
import { loadConfig } from './lib/config.js';

const CHUNK = 64 * 1024;
const BATCH = 128;
const cfg = loadConfig();
const mib = Number(process.env.PACK_BENCH_MIB ?? 1024);
const work = join(cfg.dir, 'pack-store');
await rm(work, { recursive: true, force: true });
await mkdir(work, { recursive: true });

function dd(): number {
  const file = join(work, 'dd.bin');
  const out = execFileSync('sh', [
    '-c',
    `dd if=/dev/zero of=${file} bs=1M count=1024 conv=fsync 2>&1; rm -f ${file}`,
  ]);
  const m = /(\d+) bytes .* copied, ([\d.]+) s/.exec(out.toString());
  if (!m) throw new Error(`cannot parse dd output: ${out}`);
  return Number(m[1]) / Number(m[2]) / 1e6;
}

function makeBatches(n: number): { digest: Digest; chunk: { encoding: 'raw'; payload: Buffer } }[][] {
  const batches = [];
  for (let b = 0; b < n; b++) {
    const block = randomBytes(BATCH * CHUNK);
    const items = [];
    for (let i = 0; i < BATCH; i++) {
      const payload = block.subarray(i * CHUNK, (i + 1) * CHUNK);
      items.push({
        digest: createHash('sha256').update(payload).digest('hex') as Digest,
        chunk: { encoding: 'raw' as const, payload },
      });
    }
    batches.push(items);
  }
  return batches;
}

async function ingest(inFlight: number, batches: ReturnType<typeof makeBatches>, dir: string) {
  const store = await PackChunkStore.open(dir);
  const t = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < batches.length) {
        const batch = batches[next++];
        if (batch) await store.putManyEncoded(batch);
      }
    }),
  );
  const s = (performance.now() - t) / 1000;
  const stats = store.stats();
  await store.close();
  return {
    inFlight,
    seconds: +s.toFixed(2),
    MBps: +(stats.liveBytes / s / 1e6).toFixed(1),
    chunks: stats.chunks,
  };
}

const ddBefore = dd();
const nBatches = Math.round((mib * 2 ** 20) / (BATCH * CHUNK));
const batches = makeBatches(nBatches);
const seq = await ingest(1, batches, join(work, 's1'));
await rm(join(work, 's1'), { recursive: true, force: true });
const par = await ingest(4, batches, join(work, 's4'));
await rm(join(work, 's4'), { recursive: true, force: true });
const ddAfter = dd();

// missing() on 32k known digests: a store of 32k small chunks.
let skew = 0;
const store = await PackChunkStore.open(join(work, 'm'), {
  clock: { now: () => new Date(Date.now() + skew) },
});
const known: Digest[] = [];
for (let b = 0; b < 64; b++) {
  const items = Array.from({ length: 500 }, () => {
    const payload = randomBytes(256);
    return {
      digest: createHash('sha256').update(payload).digest('hex') as Digest,
      chunk: { encoding: 'raw' as const, payload },
    };
  });
  await store.putManyEncoded(items);
  for (const i of items) known.push(i.digest);
}
const unknown = Array.from(
  { length: 32_000 },
  () => createHash('sha256').update(randomBytes(8)).digest('hex') as Digest,
);
const timeIt = async (ds: Digest[]) => {
  const t = performance.now();
  const m = await store.missing(ds);
  return { ms: +(performance.now() - t).toFixed(1), missing: m.length };
};
// Just stored, so within the touch resolution: lookups only.
const missingKnown = [await timeIt(known), await timeIt(known), await timeIt(known)];
// Two minutes on, every row is stale: lookups plus 32k touched_at updates.
skew += 120_000;
const missingKnownStale = await timeIt(known);
const missingUnknown = await timeIt(unknown);
await store.close();
const t = performance.now();
const reopened = await PackChunkStore.open(join(work, 'm'));
const openMs = +(performance.now() - t).toFixed(1);
const t2 = performance.now();
await reopened.missing(known);
const missingAfterReopenMs = +(performance.now() - t2).toFixed(1);
await reopened.close();
await rm(work, { recursive: true, force: true });

console.log(
  JSON.stringify(
    {
      ddMBps: [+ddBefore.toFixed(1), +ddAfter.toFixed(1)],
      ingestMiB: mib,
      ingest: [seq, par],
      missingKnown,
      missingKnownStale,
      missingUnknown,
      open32kMs: openMs,
      missingAfterReopenMs,
    },
    null,
    2,
  ),
);
