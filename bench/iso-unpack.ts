import { execFileSync } from 'node:child_process';
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
 * storing, which dedupes against the ISO's own chunks), then bsdtar. MB/s of file bytes.
 */
const dir = resolve(process.env.BENCH_DIR ?? '.bench', 'iso-unpack');
const treeRoot = process.env.BENCH_ISO_TREE ?? '/usr/share';

async function main(): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const isoPath = join(dir, 'tree.iso');
  execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-J', '-joliet-long', '-o', isoPath, treeRoot], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const store = await PackChunkStore.open(join(dir, 'store'));
  const refs: ChunkRef[] = [];
  for await (const c of chunksOf({ kind: 'file', path: isoPath })) {
    if (c.ref.kind === 'data' && c.raw) await store.put(c.ref.digest, Buffer.from(c.raw));
    c.release?.();
    refs.push(c.ref);
  }
  const file = new StoredFile(refs, (d) => store.get(d));
  const timed = async (what: string, chunk: boolean) => {
    const t = performance.now();
    const tree = await readIso(file);
    let bytes = 0;
    const content = isoContent(file, tree);
    if (chunk)
      for await (const c of chunksOf({ kind: 'tree-stream', entries: tree.entries, content }))
        bytes += c.ref.length;
    else for await (const b of content) bytes += b.length;
    const s = (performance.now() - t) / 1000;
    return { what, entries: tree.entries.length, bytes, seconds: s, mbps: bytes / 1e6 / s };
  };
  const reader = await timed('ingot ISO reader (from the chunk store)', false);
  const chunked = await timed('ingot ISO reader + chunker + SHA-256', true);
  const out = join(dir, 'bsdtar-out');
  mkdirSync(out);
  const t = performance.now();
  execFileSync('bsdtar', ['-xf', isoPath, '-C', out]);
  const s = (performance.now() - t) / 1000;
  const bsdtar = {
    what: 'bsdtar -xf ISO -C dir',
    entries: reader.entries,
    bytes: reader.bytes,
    seconds: s,
    mbps: reader.bytes / 1e6 / s,
  };
  await store.close();
  const rows = [reader, chunked, bsdtar];
  for (const r of rows)
    process.stdout.write(
      `${r.what.padEnd(42)} ${r.entries} entries ${(r.bytes / 1e6).toFixed(0)} MB ${r.seconds.toFixed(2)} s ${r.mbps.toFixed(0)} MB/s\n`,
    );
  writeFileSync(join(dir, 'results.json'), JSON.stringify({ tree: treeRoot, rows }, null, 2));
  rmSync(out, { recursive: true, force: true });
}

await main();
