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
BENCH_PID=
# Stops the benchmark process (what it started runs in the namespaces: wan_link_down ends it).
stop_bench() {
  [[ -n $BENCH_PID ]] || return 0
  kill -TERM "$BENCH_PID" 2>/dev/null || return 0
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    kill -0 "$BENCH_PID" 2>/dev/null || return 0
    sleep 0.5
  done
  kill -KILL "$BENCH_PID" 2>/dev/null || true
}
# The link is removed however the run ends: normal exit, error, Ctrl-C or kill.
trap wan_link_down EXIT
trap 'stop_bench; exit 130' INT
trap 'stop_bench; exit 143' TERM
wan_link_up "$BENCH_WAN_MBIT" "$BENCH_WAN_LOSS"
# In the background and waited for, so a signal reaches the traps at once, not when it ends.
node_modules/.bin/tsx bench/wan.ts "$@" &
BENCH_PID=$!
wait "$BENCH_PID"
