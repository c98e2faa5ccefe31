#!/usr/bin/env bash
# ISO reader benchmark (`image import --unpack iso`) against `bsdtar -xf`, same ISO, same run.
#   BENCH_DIR       work dir (default: <repo>/.bench)
#   BENCH_ISO_TREE  the tree the ISO is made of (default /usr/share)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib/preflight.sh
bench_require "apt-get install xorriso libarchive-tools" xorriso bsdtar
exec node_modules/.bin/tsx bench/iso-unpack.ts "$@"
