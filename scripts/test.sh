#!/usr/bin/env bash
# Installs what the tests need (node packages, PostgreSQL binaries, attr tools) and runs
# every test. The PostgreSQL server itself is started by the test setup in a temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v getfattr >/dev/null 2>&1 || need_apt+=(attr)
# The web console's tests drive Debian's Chromium (test/support/browser.ts).
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
# URL imports: an http(s) server, an ftp server and a proxy.
command -v nginx >/dev/null 2>&1 || need_apt+=(nginx-light)
command -v vsftpd >/dev/null 2>&1 || need_apt+=(vsftpd)
command -v tinyproxy >/dev/null 2>&1 || need_apt+=(tinyproxy)
# Unpacked imports: the tests make their ISOs and zips with these (the server needs neither).
command -v xorriso >/dev/null 2>&1 || need_apt+=(xorriso)
command -v zip >/dev/null 2>&1 || need_apt+=(zip)
# Rock Ridge's relocation of deep directories into rr_moved, as genisoimage writes it.
command -v genisoimage >/dev/null 2>&1 || need_apt+=(genisoimage)
# Many nodes of one server behind a load balancer.
command -v haproxy >/dev/null 2>&1 || need_apt+=(haproxy)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
  else
    echo "missing packages: ${need_apt[*]} (install them, or run as root)" >&2
  fi
fi

# The S3 store's tests talk to moto (test/support/moto.ts).
# Without it only those tests fail (saying so), not the whole run.
command -v moto_server >/dev/null 2>&1 || pip install -q "moto[server]" ||
  echo "moto_server is missing and pip could not install it: the S3 store's tests will fail" >&2

[ -d node_modules ] || npm run setup
npm run build --silent
npx vitest run "$@"
