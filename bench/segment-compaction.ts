/**
 * gc's compaction of a shared directory store: a store where half of every segment is dead.
 *
 *   npx tsx bench/segment-compaction.ts    (BENCH_DIR, default .bench; COMPACT_BENCH_MIB=1024;
 *                                          COMPACT_BENCH_DB=sqlite, or postgresql: a throwaway
 *                                          server, test/support/postgres.ts)
 *
 * 1. Segments of 64 random 64 KiB chunks (4 MiB, as a transfer's batch), raw-encoded, until
 *    COMPACT_BENCH_MIB are stored; then every other chunk is deleted (half of each segment dead).
 * 2. compact({ graceMs: 0 }) runs, as `ingot gc --grace 0` does after its sweep, with the
 *    default budget of 1 GiB written per run, until a run rewrites nothing.
 * Prints one JSON object: segment bytes on disk before and after, each run's figures and
 * seconds, and seconds per GiB rewritten.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { Digest } from '../src/core/manifest.js';
import { openDatabase } from '../src/db/database.js';
import { DirectorySegments } from '../src/store/directory-segments.js';
import { SegmentChunkStore } from '../src/store/segment-chunk-store.js';
import type { SegmentTables } from '../src/store/segment-index.js';
import { freshPgDatabase, startPostgres } from '../test/support/postgres.js';
import { loadConfig } from './lib/config.js';

const CHUNK = 64 * 1024;
const PER_SEGMENT = 64;
const GIB = 2 ** 30;
const cfg = loadConfig();
const mib = Number(process.env.COMPACT_BENCH_MIB ?? 1024);
const work = join(cfg.dir, 'segment-compaction');
await rm(work, { recursive: true, force: true });
await mkdir(work, { recursive: true });

const onPostgres = process.env.COMPACT_BENCH_DB === 'postgresql';
const pg = onPostgres ? await startPostgres() : undefined;
const catalog = await openDatabase({
  url: pg ? (await freshPgDatabase(pg.url)).url : `sqlite:${join(work, 'catalog.sqlite')}`,
});
const store = await SegmentChunkStore.open(
  await DirectorySegments.open(join(work, 'shared')),
  catalog.kysely as unknown as Kysely<SegmentTables>,
);

async function segmentBytes(): Promise<number> {
  const dir = join(work, 'shared', 'segments-v1');
  let n = 0;
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true }))
    if (e.isFile()) n += (await stat(join(e.parentPath, e.name))).size;
  return n;
}

const dead: Digest[] = [];
for (let s = 0; s < (mib * 2 ** 20) / (PER_SEGMENT * CHUNK); s++) {
  const block = randomBytes(PER_SEGMENT * CHUNK);
  const items = Array.from({ length: PER_SEGMENT }, (_, i) => {
    const payload = block.subarray(i * CHUNK, (i + 1) * CHUNK);
    const digest = createHash('sha256').update(payload).digest('hex') as Digest;
    if (i % 2 === 1) dead.push(digest);
    return { digest, chunk: { encoding: 'raw' as const, payload }, rawLength: CHUNK };
  });
  await store.putManyHashed(items);
}
for (const d of dead) await store.delete(d);

const before = await segmentBytes();
const runs = [];
let rewritten = 0;
const t0 = performance.now();
for (;;) {
  const t = performance.now();
  const r = await store.compact({ graceMs: 0 });
  runs.push({ ...r, seconds: (performance.now() - t) / 1000 });
  rewritten += r.bytesRewritten;
  if (r.segmentsRewritten === 0) break;
}
const seconds = (performance.now() - t0) / 1000;
const after = await segmentBytes();
for (const d of dead.slice(0, 1)) if (await store.has(d)) throw new Error('a dead chunk came back');
await store.close();
await catalog.close();
await pg?.stop();
console.log(
  JSON.stringify(
    {
      storedMiB: mib,
      catalog: onPostgres ? 'postgresql' : 'sqlite',
      segmentBytesBefore: before,
      segmentBytesAfter: after,
      shrunkTo: Number((after / before).toFixed(3)),
      runs,
      secondsPerGiBRewritten: Number((seconds / (rewritten / GIB)).toFixed(2)),
    },
    null,
    2,
  ),
);
