#!/usr/bin/env -S node --max-semi-space-size=4
// The runtime is pinned to one Node major in one place, package.json's `node` dependency:
// npm installs that Node beside the others, and `npx ingot` runs on it. Started by any
// other Node, stop at once, before loading code that needs it.
import { readFileSync } from 'node:fs';
import * as nodeModule from 'node:module';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const major = Number(/\d+/.exec(pkg.dependencies.node)[0]);
if (Number(process.versions.node.split('.')[0]) !== major) {
  const { ERROR_CODES } = await import('../dist/core/errors.js');
  process.stderr.write(
    `ingot: needs Node.js ${major}; this is Node.js ${process.versions.node} (${process.execPath}).\n` +
      `  hint: run it through npm, which brings Node.js ${major} with the package (npx ingot ...),\n` +
      `        or install Node.js ${major} LTS and put it first on the PATH\n`,
  );
  process.exit(ERROR_CODES.UNSUPPORTED_RUNTIME.exit);
}
// Hashing, zstd, file I/O and fdatasync share libuv's pool; 4 threads starve a busy server.
// It must be set before anything uses the pool, hence before the import below.
process.env.UV_THREADPOOL_SIZE ??= '8';
const SERVE_MALLOC_TUNABLES = 'glibc.malloc.arena_max=2';
// A server's native memory is mostly ArrayBuffer stores of chunk bytes, malloc'd on the main
// thread and the CPU workers; glibc gives each busy thread an arena of its own and keeps
// what is freed in it. Two arenas held a 1 GiB pull's receiver 15-30 MiB lower at its peak
// (docs/benchmarks.md, "Peak RSS (2026-12-07)"). glibc reads its tunables only when a
// process starts, so `serve` replaces itself (same pid) with one started with them; a
// GLIBC_TUNABLES of the caller's own is left as it is. Other allocators ignore the variable.
if (process.argv[2] === 'serve' && process.env.GLIBC_TUNABLES === undefined) {
  const env = { ...process.env, GLIBC_TUNABLES: SERVE_MALLOC_TUNABLES };
  process.execve(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], env);
}
// V8 sizes the next old-generation limit from how fast it collects against how fast the
// program allocates there; a server's chunk bytes live outside the heap, so it allocates
// little there and V8 picks its smallest step (live size x 1.1). A pull then marked the
// whole ~50 MB heap every 100-200 ms: 1.2-1.4 CPU-s of V8's marking threads per side of an
// ext4 delta pull. Doubling the limit instead halved that (docs/benchmarks.md, "The heap's
// growing step").
if (process.argv[2] === 'serve') {
  const { setFlagsFromString } = await import('node:v8');
  setFlagsFromString('--heap-growing-percent=100');
}
// V8's compiled code for the modules below is kept on disk (node's own cache directory under
// the system temp dir): a CLI call takes ~0.84x the CPU to start (farm-bench, 15 runs of --version).
// A cache that cannot be written is only not used. (Imported whole: an older Node, stopped
// above, has no such export, and a named import would fail before that check ran.)
nodeModule.enableCompileCache();
// The shebang's smaller young generation: ingest churns through short-lived chunk buffers,
// and collecting them sooner keeps peak RSS down (measured: 239 -> 207 MiB adding a 190 MiB
// tree) at no throughput cost we could measure.
// (--optimize-for-size would hold an 8 GiB pull's receiver at 272 MiB instead of ~340, but
// it halves transfer throughput: a 1 GiB pull took 11.4 s instead of 6.7.)
const { main } = await import('../dist/main/cli.js');

let settled = false;
main(process.argv).then(
  (code) => {
    settled = true;
    process.exitCode = code;
  },
  (err) => {
    settled = true;
    process.stderr.write(`ingot: internal error: ${err?.stack ?? err}\n`);
    process.exitCode = 70;
  },
);
// Node exits 0 when nothing is left to wait for, even with the command still unsettled (a
// stream that ended without its error reaching anyone): that must never read as success.
process.once('beforeExit', () => {
  if (settled) return;
  process.stderr.write('ingot: internal error: the command stopped before it finished\n');
  process.exitCode = 70;
});
