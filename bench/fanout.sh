#!/usr/bin/env bash
# Fan-out benchmark entry point: one image from HQ to four followers at once, to two sites
# and their four edges, and by bundle (create on HQ, import on a site) next to tar and cp.
# Settings come from the environment:
#   BENCH_DIR        work dir for data, scratch homes and results (default: <repo>/.bench;
#                    the other benchmarks' generated file input there is reused)
#   BENCH_SIZE_GIB   size of the pseudo-random image (default 2; fractions allowed, e.g. 0.25)
#   BENCH_REPS       repetitions, each of all three cases; medians when more than one (default 1)
#   BENCH_INGOT_REF  a commit to compile apart from the working tree and measure
#   BENCH_TCP_METER=0  no counting relay in front of HQ (its egress is then read from /proc)
# Output: tables on stdout, progress on stderr, JSON in $BENCH_DIR/results-fanout.json.
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib/preflight.sh
bench_require "apt-get install openssl tar coreutils time" openssl cp sync tar timeout /usr/bin/time
if [[ -z "${BENCH_INGOT_REF:-}" && ! -f dist/main/cli.js ]]; then
  echo "bench: dist/ is not built; run 'npm run build' first" >&2
  exit 2
fi

export BENCH_REPS="${BENCH_REPS:-1}"
exec node_modules/.bin/tsx bench/fanout.ts "$@"
