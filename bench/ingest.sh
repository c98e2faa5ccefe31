#!/usr/bin/env bash
# Ingest benchmark entry point (npm run bench). Settings come from the environment:
#   BENCH_DIR       work dir for data, stores and results (default: <repo>/.bench)
#   BENCH_SIZE_GIB  size of the pseudo-random file input (default 2)
#   BENCH_REPS      repetitions; medians are reported (default 3)
#   BENCH_ROOTFS    auto | debootstrap | generated (default auto: debootstrap, else generated)
#   BENCH_INPUTS    file,tree (default both)
#   BENCH_SKIP_INGOT=1  measure only the reference tools
# Output: a table on stdout, progress on stderr, JSON in $BENCH_DIR/results-ingest.json.
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib/preflight.sh
bench_require "apt-get install openssl casync time" openssl casync tar cp sync du /usr/bin/time
if [[ ! -f dist/main/cli.js ]]; then
  echo "bench: dist/ is not built; the ingot rows need 'npm run build' (reference tools still run)" >&2
fi

exec node_modules/.bin/tsx bench/ingest.ts "$@"
