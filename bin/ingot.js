#!/usr/bin/env node
// Hashing, zstd, file I/O and fdatasync share libuv's pool; 4 threads starve a busy server.
// It must be set before anything uses the pool, hence before the import below.
process.env.UV_THREADPOOL_SIZE ??= '8';
const { main } = await import('../dist/main/cli.js');

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`ingot: internal error: ${err?.stack ?? err}\n`);
    process.exitCode = 70;
  },
);
