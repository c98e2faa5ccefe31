# Sourced by the bench entry scripts. bench_require "apt hint" tool...: every tool must be
# on the PATH, and tsx installed, or the benchmark stops before it starts (exit 2).

# The project's own Node (the `node` package) first on the PATH, as `npm run` does, so the
# benchmark and every `ingot` it starts run on it even when started as `bash bench/x.sh`.
PATH="$(pwd)/node_modules/.bin:$PATH"
export PATH
bench_require() {
  local hint="$1"
  shift
  local missing=()
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if ((${#missing[@]})); then
    echo "bench: missing tools: ${missing[*]} ($hint)" >&2
    exit 2
  fi
  if [[ ! -x node_modules/.bin/tsx ]]; then
    echo "bench: node_modules/.bin/tsx not found; run npm install first" >&2
    exit 2
  fi
}
