#!/usr/bin/env bash
# The test command (README, CI): installs what is missing, then type-checks, lints and runs
# every test layer. Integration tests start their own redis-server on free loopback ports.
# End-to-end tests run when drachtio (and FreeSWITCH) are available, else they are skipped
# with the reason printed (docs/testing.md).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
npx tsc -p tsconfig.json --noEmit
npx eslint .
mkdir -p var
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json=var/vitest-report.json "$@" || status=$?
# One plain summary line for CI: "tests: N passed, N failed, N skipped".
node -e '
  const r = JSON.parse(require("fs").readFileSync("var/vitest-report.json", "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' || true
exit $status
