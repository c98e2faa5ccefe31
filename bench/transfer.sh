#!/usr/bin/env bash
# Transfer benchmark entry point: ingot pull between two local servers against rsync (to a
# loopback daemon), zsync (from nginx on loopback, file-like inputs), cp, and node mutual TLS
# between two processes on loopback (the floor).
# Settings come from the environment:
#   BENCH_DIR       work dir for data, scratch homes and results (default: <repo>/.bench;
#                   the ingest benchmark's generated inputs there are reused)
#   BENCH_SIZE_GIB  size of the pseudo-random file input (default 2; fractions allowed)
#   BENCH_REPS      repetitions; medians are reported (default 3)
#   BENCH_ROOTFS    auto | debootstrap | generated (default auto: debootstrap, else generated)
#   BENCH_INPUTS    file,tree,ext4,ext4-patched,tar (default all; ext4-patched only as root)
#   BENCH_SKIP_INGOT=1  measure only the reference tools
# Output: tables on stdout, progress on stderr, JSON in $BENCH_DIR/results-transfer.json.
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib/preflight.sh
bench_require "apt-get install rsync e2fsprogs openssl time zsync nginx-light" rsync mkfs.ext4 openssl cp sync tar timeout /usr/bin/time zsync zsyncmake nginx cmp
if [[ ! -f dist/main/cli.js ]]; then
  echo "bench: dist/ is not built; the ingot rows need 'npm run build' (reference tools still run)" >&2
fi

exec node_modules/.bin/tsx bench/transfer.ts "$@"
