/**
 * End to end, the fleet under faults (issue "Scale out and survive failures"): 2 maskbridge
 * instances on 1 drachtio-server, 2 FreeSWITCH as one pool and Redis behind Sentinel, under a
 * 10 calls/s sipp load; one fault at a time in the middle of a stream: kill -9 of an app
 * instance, kill of a FreeSWITCH, a Sentinel failover. Each run reports the calls attempted,
 * failed and cut, and checks that every call has exactly one CDR and that nothing is left: no
 * live-call registry entry, FreeSWITCH channel, drachtio-server dialog or unended callee dialog.
 * What each fault may cost is docs/operations.md's table ("What each failure costs").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet, type Fault, type FaultReport } from './support/fleet.js';
import { resolveFreeswitch } from './support/freeswitch.js';
import { resolveDrachtio } from './support/servers.js';
import { sippAvailable } from './support/sipp.js';
import { sentinelUnavailable } from '../helpers/redis-sentinel.js';

const drachtio = resolveDrachtio();
const freeswitch = resolveFreeswitch();
const skipReason = sippAvailable()
  ?? (drachtio.ok ? null : drachtio.reason)
  ?? (freeswitch.ok ? null : freeswitch.reason)
  ?? (process.env.MB_E2E_FREESWITCH ? 'MB_E2E_FREESWITCH names one running FreeSWITCH; this suite starts two and kills one' : null)
  ?? sentinelUnavailable();
if (skipReason) console.warn(`[e2e] fleet faults suite skipped: ${skipReason}`);

const RATE = 10;
const SECONDS = 12;
const TALK_MS = 3000;
const FAULT_AFTER_MS = 5000;
/** docs/operations.md: a lost instance's calls get their BYE within 4 heartbeats (8 s) plus a round trip, said as 10 s. */
const INSTANCE_LOST_BOUND_MS = 10_000;
/** docs/operations.md: a killed FreeSWITCH's calls end within a second (1 s of slack on a busy 2-core box). */
const MEDIA_LOST_BOUND_MS = 2000;
/** docs/operations.md, "Redis Sentinel": calls fail closed for at most the failover window (measured 1-2 s with these timeouts); 5 s of bound. */
const FAILOVER_WINDOW_MS = 5000;

describe.skipIf(skipReason !== null)(`a fleet under faults at ${RATE} calls/s${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const fleet = new Fleet({ drachtio: drachtio as Extract<typeof drachtio, { ok: true }>, freeswitch: freeswitch as Extract<typeof freeswitch, { ok: true }> });
  const reports: FaultReport[] = [];

  beforeAll(() => fleet.start(), 300_000);
  afterAll(async () => {
    for (const r of reports) console.info(`[e2e] fleet ${JSON.stringify(r)}`);
    await fleet.stop();
  }, 60_000);

  /** A run with `fault`, checked for what every fault must keep: one CDR a call, nothing left behind. */
  async function run(fault: Fault) {
    const r = await fleet.run(fault.replace(/\W+/g, '-'), { fault, rate: RATE, seconds: SECONDS, talkMs: TALK_MS, faultAfterMs: FAULT_AFTER_MS });
    reports.push(r);
    console.info(`[e2e] fleet, ${fault}: attempted ${r.attempted}, failed ${r.failed} ${JSON.stringify(r.failedBy)} ${JSON.stringify(r.failedCause)} over ${r.failedSpanMs} ms, cut ${r.cut} ${JSON.stringify(r.cutBy)} (FreeSWITCH re-routes ${r.mediaReroutes}); last CDR in the stream ${r.cdrWaitMs} ms after the calls settled; setup p50 ${r.setupP50Ms} ms p99 ${r.setupP99Ms} ms`);
    expect(r.attempted).toBe(RATE * SECONDS);
    // A call no live instance ever held has no CDR: an INVITE that drachtio-server handed to a
    // killed instance, or one it had not yet sent on (below). Every other call has exactly one.
    const unheld = fault === 'kill -9 of an app instance' ? r.failedBy.none ?? 0 : 0;
    expect(r.cdrMissing).toBeLessThanOrEqual(unheld);
    expect({ doubled: r.cdrDoubled, stray: r.cdrStray }).toEqual({ doubled: 0, stray: 0 });
    // Nothing left, but for the callee of a call that was being set up on a killed instance and
    // answered after it died: drachtio-server keeps that dialog, and the callee hears silence
    // until hanging up (docs/operations.md, "One fault at a time, measured").
    expect(r.calleeUnended).toBeLessThanOrEqual(unheld);
    expect({ registry: r.registryLeft, channels: r.channelsLeft, drachtio: r.drachtioDialogsLeft }).toEqual({ registry: 0, channels: 0, drachtio: r.calleeUnended });
    return r;
  }

  it('without a fault, every call is answered and ended by its caller', { timeout: 120_000 }, async () => {
    const r = await run('none');
    expect({ failed: r.failed, cut: r.cut }).toEqual({ failed: 0, cut: 0 });
  });

  it('kill -9 of an app instance: only its calls are cut, each within the bound; new calls go to the survivor', { timeout: 240_000 }, async () => {
    const r = await run('kill -9 of an app instance');
    expect(r.cut).toBeGreaterThan(0);
    expect(Object.keys(r.cutBy)).toEqual(['instance-lost']);
    expect(r.cutLatestMs).toBeLessThan(INSTANCE_LOST_BOUND_MS);
    // At most the calls in set-up on it at the kill (the survivor answers them 503 and writes
    // their CDRs, failed and instance-lost), and INVITEs drachtio-server gave it before noticing
    // its connection had closed (no final answer, no CDR: the carrier's INVITE timeout ends
    // them). Measured: 0-1 a kill at 10 calls/s.
    expect(r.failed).toBeLessThanOrEqual(2);
    expect(Object.keys(r.failedBy).filter((s) => s !== 'none' && s !== '503')).toEqual([]);
    expect(Object.keys(r.failedCause).filter((c) => c !== 'failed/instance-lost' && c !== 'no CDR')).toEqual([]);
  });

  it('kill of a FreeSWITCH: its calls are cut within a second, no call fails while the other is healthy', { timeout: 240_000 }, async () => {
    const r = await run('kill of a FreeSWITCH');
    expect(r.cut).toBeGreaterThan(0);
    expect(Object.keys(r.cutBy)).toEqual(['media-lost']);
    expect(r.cutLatestMs).toBeLessThan(MEDIA_LOST_BOUND_MS);
    expect(r.failed).toBe(0);
  });

  it('Redis failover: calls fail closed (503) within the failover window, none is cut, then all succeed', { timeout: 240_000 }, async () => {
    const r = await run('Redis failover');
    // A failover cuts no call. A call FreeSWITCH's own re-route race cut at answer (its callee
    // channel routed twice: 1-2 calls in 2 of 5 runs before src/media/reinvite-gate.ts, none in
    // the runs since; docs/operations.md) is counted apart: it shows, and does not fail a failover.
    expect(r.cut).toBeLessThanOrEqual(r.mediaReroutes);
    expect(Object.keys(r.cutBy).filter((k) => k !== 'media-lost')).toEqual([]);
    expect(Object.keys(r.failedBy).filter((s) => s !== '503')).toEqual([]);
    expect(r.failedSpanMs).toBeLessThanOrEqual(FAILOVER_WINDOW_MS);
  });

});
