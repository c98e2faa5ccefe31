#!/usr/bin/env bash
# Many nodes benchmark: 8 receivers pull one image at once through HAProxy from one server on
# 1 and on 3 `ingot serve` nodes (throwaway PostgreSQL with pg_stat_statements, one --store
# directory), then from 1 node pinned to core 0 and 2 nodes pinned to cores 0 and 1; the
# coordination cost per GiB moved (PostgreSQL statements, the nodes' syscalls, each role's
# CPU). Settings:
#   BENCH_DIR       work dir (default: <repo>/.bench; the file input there is reused)
#   BENCH_SIZE_GIB  size of the image (default 0.25; fractions allowed)
#   BENCH_REPS      runs of each setup; medians are reported (default 3)
# Output: tables on stdout, progress on stderr, JSON in $BENCH_DIR/results-nodes.json.
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib/preflight.sh
bench_require "apt-get install haproxy util-linux postgresql postgresql-contrib" haproxy taskset
if [[ ! -f dist/main/cli.js ]]; then
  echo "bench: dist/ is not built; run 'npm run build' first" >&2
  exit 1
fi

export BENCH_SIZE_GIB="${BENCH_SIZE_GIB:-0.25}"
exec node_modules/.bin/tsx bench/nodes.ts "$@"
