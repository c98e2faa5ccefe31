/**
 * The snapshot's catalog copy with many rows: a SQLite catalog of BENCH_CATALOG_IMAGES images
 * (one lineage broken every 50, children before parents by name) is dumped as `export
 * snapshot` dumps it and restored as `import snapshot` restores it, each step in a process
 * of its own, which reports its wall time, its peak RSS and its heap after a full GC
 * sampled every half second (the figure that stays flat when nothing holds the rows).
 *
 *   npx tsx bench/catalog-copy.ts            # BENCH_CATALOG_IMAGES=100000 (Node 24 from npx)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { dumpCatalog } from '../src/db/catalog-copy.js';
import { restoreCatalog } from '../src/db/catalog-restore.js';
import { openDatabase } from '../src/db/database.js';
import { imageRow } from '../test/support/catalog-rows.js';

const count = Number(process.env.BENCH_CATALOG_IMAGES ?? 100_000);
const dir = resolve(process.env.BENCH_DIR ?? '.bench', 'work', 'catalog-copy');
const name = (i: number) => `IMG_${String(i).padStart(7, '0')}`;
const parent = (i: number) => (i + 1 < count && i % 50 !== 0 ? name(i + 1) : null);

async function fill(): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const db = await openDatabase({ url: `sqlite:${join(dir, 'from.sqlite')}` });
  for (let top = count; top > 0; top -= 500) {
    const rows = [];
    for (let i = top - 1; i >= Math.max(0, top - 500); i--)
      rows.push({ ...imageRow(name(i), parent(i)), signature: 's'.repeat(120) });
    await db.kysely.insertInto('images').values(rows).execute();
  }
  await db.close();
}

async function step(which: string): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  let heap = 0;
  const sample = setInterval(() => {
    gc?.();
    heap = Math.max(heap, process.memoryUsage().heapUsed);
  }, 500);
  const started = Date.now();
  if (which === 'dump') {
    const db = await openDatabase({ url: `sqlite:${join(dir, 'from.sqlite')}` });
    await dumpCatalog(db, join(dir, 'copy'), join(dir, 'scratch.sqlite'));
    await db.close();
  } else {
    rmSync(join(dir, 'to.sqlite'), { force: true });
    const db = await openDatabase({ url: `sqlite:${join(dir, 'to.sqlite')}` });
    await restoreCatalog(db, join(dir, 'copy'), new Set(Array.from({ length: count }, (_, i) => name(i))));
    await db.close();
  }
  clearInterval(sample);
  const mib = (n: number) => `${Math.round(n / 1024 / 1024)} MiB`;
  console.log(
    `${which.padEnd(8)} ${count} images  ${((Date.now() - started) / 1000).toFixed(1)} s  peak RSS ${mib(process.resourceUsage().maxRSS * 1024)}  heap after GC ${mib(heap)}`,
  );
}

const which = process.argv[2];
if (which) await step(which);
else {
  await fill();
  for (const s of ['dump', 'restore'])
    execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', import.meta.filename, s], {
      stdio: 'inherit',
    });
}
