#!/usr/bin/env bash
# An object per chunk against an object per segment on S3 (moto on loopback): see
# bench/s3-objects.ts. Settings: BENCH_REPS (default 5). Output: a table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v moto_server >/dev/null || { echo 'bench: needs moto_server (pip install "moto[server]")' >&2; exit 1; }
port=$(node -e 's=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
moto_server -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
moto=$!
trap 'kill $moto' EXIT
until curl -s -o /dev/null "http://127.0.0.1:$port/"; do sleep 0.2; done
export PATH="$PWD/node_modules/node/bin:$PATH"
# moto takes any credentials.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
MOTO_PID=$moto S3_ENDPOINT="http://127.0.0.1:$port" node_modules/.bin/tsx bench/s3-objects.ts "$@"
