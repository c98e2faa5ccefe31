#!/usr/bin/env bash
# Emulated WAN benchmark entry point: an ingot full pull and rsync -a across a link of
# BENCH_WAN_MBIT (200) Mbit/s, BENCH_WAN_LOSS (0.01) random loss and BENCH_WAN_RTT_MS (50) ms
# round trip, built in network namespaces this run makes and removes. Needs root. Settings:
#   BENCH_DIR        work dir (default: <repo>/.bench; the file input there is reused)
#   BENCH_WAN_MIB    size of the pseudo-random image (default 256)
#   BENCH_REPS       repetitions, at least 3; medians are reported (default 3)
# Output: tables on stdout, progress on stderr, JSON in $BENCH_DIR/results-wan.json.
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib/preflight.sh
bench_require "apt-get install iproute2 iptables rsync openssl time" ip tc iptables rsync openssl timeout /usr/bin/time
if [[ $(id -u) != 0 ]]; then
  echo "bench: the WAN benchmark makes network namespaces: run it as root" >&2
  exit 2
fi
if [[ ! -f dist/main/cli.js ]]; then
  echo "bench: dist/ is not built; the ingot rows need 'npm run build' (reference tools still run)" >&2
fi

# The Node the project pins (package.json's node dependency) runs the benchmark and the servers.
export PATH="$PWD/node_modules/.bin:$PATH"
export BENCH_WAN_MBIT="${BENCH_WAN_MBIT:-200}"
export BENCH_WAN_LOSS="${BENCH_WAN_LOSS:-0.01}"
export BENCH_WAN_RTT_MS="${BENCH_WAN_RTT_MS:-50}"
source bench/lib/wan-link.sh
# Removed however the run ends: normal exit, error, Ctrl-C or kill.
trap wan_link_down EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
wan_link_up "$BENCH_WAN_MBIT" "$BENCH_WAN_LOSS"
# Not exec: the trap must outlive the benchmark process.
node_modules/.bin/tsx bench/wan.ts "$@"
