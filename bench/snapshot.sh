#!/usr/bin/env bash
# Snapshot benchmark: `ingot export snapshot` of a running server with many small images,
# and `ingot import snapshot` of it on a fresh home, timed, with the snapshot's size.
# Settings come from the environment:
#   BENCH_DIR      work dir for homes, snapshots and results (default: <repo>/.bench)
#   BENCH_IMAGES   how many images the server holds (default 1000)
#   BENCH_IMAGE_KIB  size of each image, KiB (default 4)
# Output: a table on stdout, progress on stderr, JSON in $BENCH_DIR/results-snapshot.json.
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib/preflight.sh
bench_require "apt-get install coreutils" du sync
if [[ ! -f dist/main/cli.js ]]; then
  echo "bench: dist/ is not built; run 'npm run build' first" >&2
  exit 2
fi

exec node_modules/.bin/tsx bench/snapshot.ts "$@"
