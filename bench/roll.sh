#!/usr/bin/env bash
# Rolling self-update benchmark: the duration of a full roll of three `ingot serve` nodes
# (throwaway PostgreSQL, one --store directory, HAProxy in front, four readers through it)
# from this build onto a packed 0.2.0, as test/integration/roll.test.ts runs it, with the
# drain time that test gives (1.5 s a node). Settings:
#   BENCH_REPS  repetitions (default 3)
# Output: one line a repetition (the roll's seconds, each node's step, requests served and
# failed), then the median.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f dist/main/cli.js ]]; then
  echo "bench: dist/ is not built; run 'npm run build' first" >&2
  exit 1
fi
export PATH="$PWD/node_modules/node/bin:$PATH"
reps="${BENCH_REPS:-3}"
secs=()
for ((i = 1; i <= reps; i++)); do
  out=$(node_modules/.bin/vitest run test/integration/roll.test.ts -t 'rolls every node' 2>&1 || true)
  line=$(grep -E '^roll of 3 nodes' <<<"$out" || true)
  if [[ -z "$line" ]]; then
    echo "bench: repetition $i did not finish a roll:" >&2
    grep -E 'Error|×|timed out' <<<"$out" | head -20 >&2
    exit 1
  fi
  echo "$i: $line"
  secs+=("$(sed -E 's/^roll of 3 nodes: ([0-9.]+) s.*/\1/' <<<"$line")")
done
printf '%s\n' "${secs[@]}" | sort -n | awk '{a[NR]=$1} END {printf "median of %d: %.1f s\n", NR, (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'
