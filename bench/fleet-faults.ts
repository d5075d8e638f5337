/**
 * The fleet fault run (test/e2e/fleet-faults.test.ts) at the highest rate this host carries
 * without faults: 2 maskbridge instances, 1 drachtio-server, 2 FreeSWITCH (media anchored, not
 * recorded) and Redis with Sentinel (1 primary, 1 replica, 3 sentinels), all on 127.0.0.1.
 *
 *   MB_E2E_DRACHTIO_BIN=/opt/drachtio/bin/drachtio MB_E2E_FREESWITCH_BIN=/opt/freeswitch/bin/freeswitch npx tsx bench/fleet-faults.ts
 *   env: BENCH_FLEET_RATES (10,12,15,20,30: calls/s tried without a fault, in order), BENCH_FLEET_SECONDS (12),
 *        BENCH_FLEET_TALK_MS (3000), BENCH_FLEET_SETUP_P99_MS (2000)
 *
 * 1. Ramp: a run without a fault at each rate; a rate is carried when every call is answered and
 *    ended by its caller, each has one CDR, nothing is left behind, and INVITE->200 p99 stays
 *    under BENCH_FLEET_SETUP_P99_MS. The ramp stops at the first rate that is not.
 * 2. At the highest rate carried: kill -9 of an app instance, kill of a FreeSWITCH, a Sentinel
 *    failover, one at a time, each a third of the way into its run; the fleet is whole again
 *    before the next.
 */
import { Fleet, type Fault, type FaultReport } from '../test/e2e/support/fleet.js';
import { resolveFreeswitch } from '../test/e2e/support/freeswitch.js';
import { resolveDrachtio } from '../test/e2e/support/servers.js';
import { sentinelUnavailable } from '../test/helpers/redis-sentinel.js';
import { envList, envNum, withCleanup } from './lib/harness.js';
import { machine, table } from './lib/report.js';

const RATES = envList('BENCH_FLEET_RATES', '10,12,15,20,30').map(Number);
const SECONDS = envNum('BENCH_FLEET_SECONDS', 12);
const TALK_MS = envNum('BENCH_FLEET_TALK_MS', 3000);
const SETUP_P99_MS = envNum('BENCH_FLEET_SETUP_P99_MS', 2000);
const FAULTS: Fault[] = ['kill -9 of an app instance', 'kill of a FreeSWITCH', 'Redis failover'];

const carried = (r: FaultReport) => r.failed === 0 && r.cut === 0 && r.cdrMissing + r.cdrDoubled + r.cdrStray === 0
  && r.registryLeft + r.channelsLeft + (r.drachtioDialogsLeft ?? 0) + r.calleeUnended === 0 && r.setupP99Ms <= SETUP_P99_MS;

const row = (r: FaultReport & { cdrWaitMs: number }) => [
  r.fault, String(r.rate), String(r.attempted), `${r.failed}${r.failed ? ` ${JSON.stringify(r.failedBy)} ${JSON.stringify(r.failedCause)}` : ''}`, String(r.failedSpanMs),
  `${r.cut}${r.cut ? ` ${JSON.stringify(r.cutBy)}` : ''}${r.mediaReroutes ? ` (${r.mediaReroutes} FreeSWITCH re-routes)` : ''}`, String(r.cutLatestMs), `${r.cdrMissing}/${r.cdrDoubled}/${r.cdrStray}`, String(r.cdrWaitMs),
  `${r.registryLeft}/${r.channelsLeft}/${r.drachtioDialogsLeft ?? '?'}/${r.calleeUnended}`, `${r.setupP50Ms} / ${r.setupP99Ms}`,
];
const HEADERS = ['fault', 'calls/s', 'attempted', 'failed', 'failed span ms', 'cut', 'last cut ends ms after', 'CDR missing/doubled/stray', 'CDRs in after ms',
  'left: registry/channels/dialogs/callee', 'INVITE->200 p50 / p99 ms'];

async function main(): Promise<void> {
  const drachtio = resolveDrachtio();
  const freeswitch = resolveFreeswitch();
  const missing = (drachtio.ok ? null : drachtio.reason) ?? (freeswitch.ok ? null : freeswitch.reason) ?? sentinelUnavailable();
  if (missing || !drachtio.ok || !freeswitch.ok) {
    console.log(`bench/fleet-faults.ts skipped: ${missing}`);
    return;
  }
  console.log(`# Fleet fault run\n\n${machine()}\n`);
  await withCleanup(async (onExit) => {
    // 1,000 RTP ports a FreeSWITCH: 250 anchored calls each.
    const fresh = async () => {
      const f = new Fleet({ drachtio, freeswitch }, { rtpPorts: 1000, logLevel: 'info' });
      onExit(() => f.stop());
      await f.start();
      return f;
    };
    let fleet = await fresh();
    const rows: string[][] = [];
    let best = 0;
    for (const rate of RATES) {
      const r = await fleet.run(`ramp-${rate}`, { fault: 'none', rate, seconds: SECONDS, talkMs: TALK_MS, faultAfterMs: 0 });
      rows.push(row(r));
      console.log(`ramp ${rate}/s: ${carried(r) ? 'carried' : 'not carried'} ${JSON.stringify(r)}`);
      if (!carried(r)) break;
      best = rate;
    }
    if (best === 0) {
      console.log(`\nNo rate of ${RATES.join(', ')} carried without a fault.\n\n${table(HEADERS, rows)}`);
      return;
    }
    // The rate that was not carried leaves an overloaded fleet behind (calls still retransmitting):
    // the fault runs get a fleet of their own.
    await fleet.stop();
    fleet = await fresh();
    for (const fault of FAULTS) {
      const r = await fleet.run(`${fault.replace(/\W+/g, '-')}-${best}`, { fault, rate: best, seconds: SECONDS, talkMs: TALK_MS, faultAfterMs: Math.round((SECONDS * 1000) / 3) });
      rows.push(row(r));
      console.log(`${fault} at ${best}/s: ${JSON.stringify(r)}`);
    }
    console.log(`\nHighest rate carried without a fault: ${best} calls/s (${SECONDS} s of calls, each talking ${TALK_MS} ms).\n\n${table(HEADERS, rows)}`);
  });
}

await main();
