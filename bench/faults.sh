#!/usr/bin/env bash
# Fault-injection run (not a timed test): kill -9 at random moments of ingest, pulls, syncs and
# bundle import, a full disk, flipped bytes, many pulls and deploys at once; a table of what
# a user would see. The full-disk cases mount a small tmpfs, so they run only as root.
# Settings come from the environment:
#   BENCH_DIR          work dir (default: <repo>/.bench)
#   BENCH_FAULT_KILLS  kill -9 per kind: ingest, pull (receiver), pull (sender), import (default 13;
#                      half that for each end of a template sync)
#   BENCH_FAULT_MIB    size of the images (default 64)
# Output: the table on stdout, progress on stderr, JSON in $BENCH_DIR/results-faults.json.
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib/preflight.sh
bench_require "apt-get install coreutils" head
if [[ ! -f dist/main/cli.js ]]; then
  echo "bench: dist/ is not built: run 'npm run build' first" >&2
  exit 2
fi
# The Node the project pins (package.json's node dependency) runs the run and the servers.
export PATH="$PWD/node_modules/.bin:$PATH"
exec node_modules/.bin/tsx bench/faults.ts "$@"
