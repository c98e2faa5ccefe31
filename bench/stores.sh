#!/usr/bin/env bash
# Chunk stores benchmark entry point: a full ingot pull into receivers on the local pack
# store, on a shared directory store and on an S3 store (moto; PostgreSQL catalog), in one
# run. Settings:
#   BENCH_DIR       work dir (default: <repo>/.bench; the file input there is reused)
#   BENCH_SIZE_GIB  size of the pseudo-random file input (default 2; fractions allowed)
#   BENCH_REPS      repetitions; medians are reported (default 3)
# Output: a table on stdout, progress on stderr, JSON in $BENCH_DIR/results-stores.json.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f dist/main/cli.js ]]; then
  echo "bench: dist/ is not built; run 'npm run build' first" >&2
  exit 1
fi
export PATH="$PWD/node_modules/node/bin:$PATH"
exec node_modules/.bin/tsx bench/stores.ts "$@"
