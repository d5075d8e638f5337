#!/usr/bin/env bash
# The benchmarks (npm run bench); results and how to read them: docs/benchmarks.md.
# Not tests: nothing here passes or fails a build. Each benchmark prints markdown tables and its
# targets; the script exits non-zero only when a benchmark itself broke (wrong answers, errors).
#
#   1. bench/lookup.ts      SessionStore.lookup vs GET against a throwaway redis-server
#   2. bench/invite-cpu.ts  CPU per call attempt of the call path, SIP port faked
#   3. bench/sipp-load.ts   sipp at 100 and 300 calls/s through drachtio-server: maskbridge vs a
#                           bare drachtio-srf B2BUA; skipped when drachtio-server is not found
#                           (MB_E2E_DRACHTIO_BIN, or `drachtio` on PATH)
#   4. bench/media-load.ts  media-anchored, recorded calls through drachtio-server and FreeSWITCH:
#                           concurrent calls in steps with every recording checked, and INVITE->200
#                           anchored vs signalling-only; skipped unless drachtio-server and
#                           FreeSWITCH are both found (MB_E2E_FREESWITCH_BIN, or `freeswitch` on PATH)
#   5. bench/cdr-replay.ts  100,000 spooled CDRs replayed into a throwaway redis-server while
#                           CDRs keep being written at 300/s; drain time, event-loop delay, exactly once
#   6. bench/pools.ts       contract v2: a 10,000-number pool filled to 1,000,000 sessions;
#                           allocations/s, lookups/s, Redis memory per session
#   7. bench/fleet-faults.ts 2 maskbridge, 1 drachtio-server, 2 FreeSWITCH, Redis with Sentinel: the
#                           highest call rate carried without a fault, then kill -9 of an app,
#                           kill of a FreeSWITCH and a failover at that rate; skipped unless
#                           drachtio-server, FreeSWITCH and redis-sentinel are all found
#
# Everything runs on 127.0.0.1 and stops by itself; each run is bounded in requests and time.
set -uo pipefail
cd "$(dirname "$0")/.."

for bin in redis-server sipp; do
  command -v "$bin" >/dev/null || echo "bench: $bin not found (scripts/install-deps.sh installs it)" >&2
done

status=0
for b in lookup invite-cpu sipp-load media-load cdr-replay pools fleet-faults; do
  echo "=== bench/$b.ts"
  npx tsx "bench/$b.ts" || { echo "bench/$b.ts failed with $?" >&2; status=1; }
done
exit $status
