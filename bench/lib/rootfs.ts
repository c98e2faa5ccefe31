import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { BenchConfig } from './config.js';
import { makeContent, mutate } from './content.js';
import { readMeta, writeMeta } from './meta.js';
import { Rng } from './prng.js';
import { bash, removeTree } from './proc.js';
import { generateTree } from './rootfs-generated.js';
import { regularFiles, type TreeStats, treeStats } from './tree-stats.js';

/**
 * Input (b): a root file system tree and its v2 ("a few packages changed").
 *
 * debootstrap: `debootstrap --variant=minbase bookworm` (time-boxed, cached in the bench dir;
 *   a failure is cached too, delete `<dir>/data/tree-debootstrap/failed.log` to retry). Device
 *   nodes, fifos and sockets are removed (a gold image's /dev comes from devtmpfs at boot).
 *   v2: the files of 5 packages (seeded choice among those with 100 KiB–20 MiB of files, from
 *   var/lib/dpkg/info/<pkg>.list) replaced by new versions, plus 4 new files.
 * generated: ~30k files from a seeded PRNG (see rootfs-generated.ts).
 *   v2: 0.5% of the regular files replaced by new versions, plus 4 new files.
 * A new version is written to a temp file and renamed over the old (as dpkg does), so a hard
 * link to the old version keeps the old bytes. The true change is the bytes of every new
 * version plus the new files.
 */

const GENERATOR = 'rootfs/2';

export interface TreeInput {
  readonly kind: 'tree';
  readonly source: 'debootstrap' | 'generated';
  readonly v1: string;
  readonly v2: string;
  readonly v1Stats: TreeStats;
  readonly v2Stats: TreeStats;
  readonly changedFiles: number;
  readonly changedPackages: readonly string[];
  readonly newFiles: number;
  readonly trueChange: number;
}

export async function makeTreeInput(cfg: BenchConfig, log: (s: string) => void): Promise<TreeInput> {
  if (cfg.rootfs !== 'generated') {
    const base = join(cfg.dir, 'data', 'tree-debootstrap');
    const ok = await debootstrap(cfg, base, log);
    if (ok) return withV2(base, 'debootstrap', log);
    if (cfg.rootfs === 'debootstrap') throw new Error('debootstrap failed and BENCH_ROOTFS=debootstrap');
  }
  const base = join(cfg.dir, 'data', 'tree-generated');
  const meta = join(base, 'v1.json');
  if (!(await readMeta(meta, { generator: GENERATOR }))) {
    await removeTree(base);
    await mkdir(base, { recursive: true });
    log('tree input: generating ~30k files from a seeded PRNG');
    await generateTree(join(base, 'v1'), 'rootfs-generated');
    await writeMeta(meta, { generator: GENERATOR });
  }
  return withV2(base, 'generated', log);
}

async function debootstrap(cfg: BenchConfig, base: string, log: (s: string) => void): Promise<boolean> {
  const marker = join(base, 'v1.json');
  if (await readMeta(marker, { generator: GENERATOR })) return true;
  const failed = join(base, 'failed.log');
  if (existsSync(failed)) {
    log(`tree input: debootstrap failed before (see ${failed}; delete it to retry); using a generated tree`);
    return false;
  }
  await removeTree(base);
  await mkdir(base, { recursive: true });
  const target = join(base, 'v1.tmp');
  log(
    `tree input: debootstrap --variant=minbase bookworm from ${cfg.mirror} (time box ${cfg.debootstrapTimeout}s)`,
  );
  try {
    await bash('timeout "$1" debootstrap --variant=minbase bookworm "$2" "$3" > "$4" 2>&1', [
      String(cfg.debootstrapTimeout),
      target,
      cfg.mirror,
      join(base, 'debootstrap.log'),
    ]);
  } catch (err) {
    const logText = existsSync(join(base, 'debootstrap.log'))
      ? await readFile(join(base, 'debootstrap.log'), 'utf8')
      : '';
    await writeFile(failed, `${String(err)}\n${logText}`);
    await removeTree(target);
    log(`tree input: debootstrap failed (${failed}); using a generated tree`);
    return false;
  }
  await bash('find "$1" -xdev \\( -type b -o -type c -o -type p -o -type s \\) -delete', [target]);
  await rename(target, join(base, 'v1'));
  await writeMeta(marker, { generator: GENERATOR, mirror: cfg.mirror, made: new Date().toISOString() });
  return true;
}

async function withV2(
  base: string,
  source: TreeInput['source'],
  log: (s: string) => void,
): Promise<TreeInput> {
  const v1 = join(base, 'v1');
  const v2 = join(base, 'v2');
  const metaPath = join(base, 'v2.json');
  const cached = await readMeta<TreeInput>(metaPath, { generator: GENERATOR, source });
  if (cached && existsSync(v2)) {
    log(`tree input: reusing ${base}`);
    return { ...cached, v1, v2 };
  }
  log(`tree input: making v2 of the ${source} tree`);
  await removeTree(v2);
  await bash('cp -a "$1" "$2"', [v1, v2]);
  const change = source === 'debootstrap' ? await changePackages(v2) : await changeGenerated(v2);
  const input: TreeInput = {
    kind: 'tree',
    source,
    v1,
    v2,
    v1Stats: await treeStats(v1),
    v2Stats: await treeStats(v2),
    ...change,
  };
  await writeMeta(metaPath, { generator: GENERATOR, ...input });
  return input;
}

interface Change {
  readonly changedFiles: number;
  readonly changedPackages: readonly string[];
  readonly newFiles: number;
  readonly trueChange: number;
}

/** Writes the new version of `rel` next to it and renames it into place; returns its size. */
async function replaceFile(root: string, rel: string, seed: string): Promise<number> {
  const path = join(root, rel);
  const next = mutate(await readFile(path), seed);
  const st = await stat(path);
  await writeFile(`${path}.bench-new`, next, { mode: st.mode & 0o7777 });
  await rename(`${path}.bench-new`, path);
  return next.length;
}

async function addNewFiles(root: string, dirs: readonly string[], seed: string): Promise<number> {
  const rng = new Rng(seed);
  const sizes: [string, 'text' | 'binary', number][] = [
    ['NEWS.v2', 'text', 24 * 1024],
    ['release-notes.v2.txt', 'text', 48 * 1024],
    ['libbench-v2.so.1', 'binary', 256 * 1024],
    ['bench-v2-helper', 'binary', 640 * 1024],
  ];
  let bytes = 0;
  for (const [name, kind, size] of sizes) {
    const rel = join(rng.pick(dirs), name);
    await mkdir(dirname(join(root, rel)), { recursive: true });
    const buf = makeContent(kind, `${seed}:${rel}`, size);
    await writeFile(join(root, rel), buf);
    bytes += buf.length;
  }
  return bytes;
}

async function changePackages(root: string): Promise<Change> {
  const info = join(root, 'var/lib/dpkg/info');
  const lists = (await readdir(info)).filter((n) => n.endsWith('.list')).sort();
  const candidates: { pkg: string; files: string[] }[] = [];
  for (const list of lists) {
    const files: string[] = [];
    let bytes = 0;
    for (const line of (await readFile(join(info, list), 'utf8')).split('\n')) {
      const rel = line.replace(/^\/+/, '');
      if (!rel || rel === '.') continue;
      try {
        const st = await lstat(join(root, rel));
        if (st.isFile()) {
          files.push(rel);
          bytes += st.size;
        }
      } catch {
        // listed but not present (e.g. removed by a maintainer script)
      }
    }
    if (bytes >= 100 * 1024 && bytes <= 20 * 2 ** 20) candidates.push({ pkg: list.slice(0, -5), files });
  }
  const rng = new Rng('rootfs-v2-packages');
  const chosen = rng.sample(candidates.length, Math.min(5, candidates.length)).map((i) => candidates[i]);
  let trueChange = 0;
  let changedFiles = 0;
  const done = new Set<string>();
  for (const c of chosen) {
    if (!c) continue;
    for (const rel of c.files) {
      if (done.has(rel)) continue;
      done.add(rel);
      trueChange += await replaceFile(root, rel, `v2:${rel}`);
      changedFiles++;
    }
  }
  const pkgs = chosen.flatMap((c) => (c ? [c.pkg] : []));
  const dirs = pkgs.map((p) => `usr/share/doc/${p.split(':')[0]}`);
  trueChange += await addNewFiles(root, dirs, 'rootfs-v2-new');
  return { changedFiles, changedPackages: pkgs, newFiles: 4, trueChange };
}

async function changeGenerated(root: string): Promise<Change> {
  const files = await regularFiles(root);
  const rng = new Rng('rootfs-v2-files');
  const chosen = rng.sample(files.length, Math.round(files.length * 0.005));
  let trueChange = 0;
  for (const i of chosen) {
    const rel = files[i];
    if (rel) trueChange += await replaceFile(root, rel, `v2:${rel}`);
  }
  trueChange += await addNewFiles(root, ['usr/share/doc/bench-v2', 'usr/lib/bench-v2'], 'rootfs-v2-new');
  return { changedFiles: chosen.length, changedPackages: [], newFiles: 4, trueChange };
}
