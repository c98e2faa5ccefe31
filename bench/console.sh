#!/usr/bin/env bash
# Web console benchmark: 10,000 images in the catalog, then the time the Images page takes
# to paint its first rows in Debian's Chromium on loopback (target < 1 s), and a search.
# Settings come from the environment:
#   BENCH_DIR              work dir for results (default: <repo>/.bench)
#   BENCH_CONSOLE_IMAGES   images to commit (default 10000)
#   BENCH_REPS             page loads and searches measured (default 5)
# Output: a table on stdout, progress on stderr, JSON in $BENCH_DIR/results-console.json.
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib/preflight.sh
bench_require "apt-get install chromium" chromium
if [[ ! -f dist/main/cli.js || ! -f dist/console/index.html ]]; then
  echo "bench: dist/ is not built; run 'npm run build' first" >&2
  exit 2
fi
exec node_modules/.bin/tsx bench/console.ts "$@"
