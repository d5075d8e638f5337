#!/usr/bin/env bash
# Installs what the tests need and the machine lacks: npm packages (npm ci), and from Debian
# redis-server and redis-sentinel (integration tests; test/integration/sentinel.test.ts), docker-compose (1.29: validates docker/docker-compose.yml;
# no Docker daemon needed, and --no-install-recommends keeps docker.io out) and sipp (package
# sip-tester, end-to-end tests), and prometheus (for promtool: checks and unit-tests
# docker/prometheus/alerts.yml; about 19 MB, installed without recommends, the service not started).
# drachtio-server and FreeSWITCH are in neither registry: see docs/testing.md.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v redis-sentinel >/dev/null 2>&1 || missing+=(redis-sentinel)
command -v sipp >/dev/null 2>&1 || missing+=(sip-tester)
# Optional: without them (and without root to install them) the Compose and promtool checks are skipped, saying so.
optional=()
command -v docker-compose >/dev/null 2>&1 || optional+=(docker-compose)
command -v promtool >/dev/null 2>&1 || optional+=(prometheus)
if [ $((${#missing[@]} + ${#optional[@]})) -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing from Debian: ${missing[*]} ${optional[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" "${optional[@]}" >/dev/null
    # The Debian packages start a system redis on 6379 (and a sentinel on 26379); the tests start their own on free ports.
    (systemctl stop redis-server 2>/dev/null || service redis-server stop 2>/dev/null || true) >/dev/null 2>&1
    # Only promtool is wanted from the prometheus package, not the server it may start.
    (systemctl stop prometheus 2>/dev/null || service prometheus stop 2>/dev/null || true) >/dev/null 2>&1
    (systemctl stop redis-sentinel 2>/dev/null || service redis-sentinel stop 2>/dev/null || true) >/dev/null 2>&1
  elif [ ${#missing[@]} -gt 0 ]; then
    echo "missing ${missing[*]} ${optional[*]}: install them (apt-get install redis-server redis-tools redis-sentinel sip-tester docker-compose prometheus)" >&2
    exit 1
  else
    echo "${optional[*]} missing (apt-get install ${optional[*]}): the Compose file and promtool checks will be skipped" >&2
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
