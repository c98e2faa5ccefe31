#!/usr/bin/env bash
# URL import benchmark: `ingot image import --url` of a file served by nginx on loopback,
# against `curl -o` + `openssl dgst -sha256` of the same file in the same run.
#   BENCH_DIR       work dir for data, stores and results (default: <repo>/.bench)
#   BENCH_SIZE_GIB  size of the pseudo-random file (default 2)
#   BENCH_REPS      repetitions; medians are reported (default 3)
# Output: a table on stdout, progress on stderr, JSON in $BENCH_DIR/results-url-import.json.
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib/preflight.sh
bench_require "apt-get install nginx-light curl openssl" nginx curl openssl
if [[ ! -f dist/main/cli.js ]]; then
  echo "bench: dist/ is not built; run 'npm run build' first" >&2
  exit 1
fi

exec node_modules/.bin/tsx bench/url-import.ts "$@"
