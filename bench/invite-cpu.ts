/**
 * The app's own cost per call attempt, with the SIP port faked (as test/helpers/harness.ts does)
 * and sessions answered from memory, so only maskbridge's code runs:
 * identify, lookup, decide, dial, scrub, answer, teardown, CDR, metrics, logging (pino 'silent').
 *
 *   npx tsx bench/invite-cpu.ts        (BENCH_INVITE_SCALE=0.2 for a quick run)
 *
 * One attempt at a time: INVITE -> callee answers -> caller hangs up, or an unknown caller
 * rejected with 404. Every attempt comes from a caller number never seen before, so the
 * number-normalisation memo (src/numbers/normalise.ts) never helps: the cost of a new caller.
 * CPU per attempt = process.cpuUsage() (user + system) / attempts; it includes the fake port and
 * this driver, so it is an upper bound on the app's own cost.
 */
import pino from 'pino';
import { CallRegistry } from '../src/calls/registry.js';
import { callDepsFromConfig, createInviteHandler } from '../src/calls/handler.js';
import type { Cdr, CdrSink } from '../src/cdr/cdr.js';
import { loadConfig } from '../src/config/load.js';
import { Metrics } from '../src/metrics/metrics.js';
import { FakeSipPort } from '../test/helpers/fake-sip.js';
import { NO_OPTIONS, type LookupResult, type SessionRecord } from '../src/sessions/contract.js';
import type { RecheckResult, SessionLookup } from '../src/sessions/store.js';
import { B, inviteFrom, SDP_A, V } from '../test/helpers/harness.js';
import { cpuUsSince, envNum } from './lib/harness.js';
import { header, int, num, summarize, summaryCells, table, verdict, type Summary } from './lib/report.js';

const SCALE = envNum('BENCH_INVITE_SCALE', 1);
const ATTEMPTS = Math.round(20_000 * SCALE);
const WARMUP = Math.round(3000 * SCALE);
const PHASE_LIMIT_MS = 60_000;
const CALLEE_SDP = 'v=0\r\no=callee 1 1 IN IP4 127.0.0.9\r\ns=callee\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';

/** A new caller number for every attempt of the run (warm-up included). */
let nextCaller = 0;
const newCaller = () => `+9196${String(nextCaller++).padStart(8, '0')}`;
/** Callers from this prefix are strangers; every other caller has an open session with B. */
const STRANGER = '+91969';

/** A store with an open session for every caller outside STRANGER's range: one map read, no scan. */
class EveryCallerHasASession implements SessionLookup {
  async lookup(virtualNumber: string, caller: string): Promise<LookupResult> {
    if (caller.startsWith(STRANGER)) return { kind: 'unknown' };
    const session: SessionRecord = {
      ...NO_OPTIONS, id: `bench-${caller}`, virtualNumber, a: caller, b: B, status: 'open', expiresAt: Date.now() + 3_600_000, createdAt: 0,
    };
    return { kind: 'found', session, callerRole: 'a', peer: B };
  }
  async lookupByPin(): Promise<LookupResult> {
    return { kind: 'unknown' };
  }
  async recheck(): Promise<RecheckResult> {
    return 'open';
  }
}

class CountingCdrSink implements CdrSink {
  readonly byDisposition = new Map<string, number>();
  write(cdr: Cdr): void {
    this.byDisposition.set(cdr.disposition, (this.byDisposition.get(cdr.disposition) ?? 0) + 1);
  }
}

const turn = () => new Promise<void>((r) => setImmediate(r));

function buildCallPath() {
  const config = loadConfig({ files: ['config/default.json', 'config/test.json'] });
  const log = pino({ level: 'silent' });
  const sip = new FakeSipPort();
  const sessions = new EveryCallerHasASession();
  const cdr = new CountingCdrSink();
  const registry = new CallRegistry(log);
  sip.onInvite(createInviteHandler(
    callDepsFromConfig(config, { sip, sessions, cdr, metrics: new Metrics(), log, callIdKey: 'bench', isDraining: () => registry.isDraining }),
    registry,
  ));
  return { sip, cdr, registry };
}

type Path = ReturnType<typeof buildCallPath>;

/** INVITE -> dial -> callee answers -> caller hangs up. Returns false when the flow went wrong. */
async function answeredCall(p: Path, i: number): Promise<boolean> {
  const call = p.sip.invite({ ...inviteFrom(newCaller(), { v: V }), callId: `bench-a-${i}`, sdp: SDP_A });
  await turn();
  const dial = p.sip.dials.pop();
  if (!dial) return false;
  dial.answer(CALLEE_SDP);
  await turn();
  if (!call.leg || call.finalStatus !== 200) return false;
  call.leg.remoteHangup();
  return dial.leg?.hangups === 1;
}

/** An unknown caller: rejected with 404, nobody dialled. */
async function rejectedCall(p: Path, i: number): Promise<boolean> {
  const call = p.sip.invite({ ...inviteFrom(`${STRANGER}${String(nextCaller++).padStart(7, '0')}`), callId: `bench-r-${i}` });
  await turn();
  return call.finalStatus === 404 && p.sip.dials.length === 0;
}

async function measure(p: Path, attempts: number, rejectEvery: number): Promise<{ attempts: number; failures: number; cpuUsPerAttempt: number; wallUsPerAttempt: number; latencyUs: Summary }> {
  const lat = new Float64Array(attempts);
  let failures = 0;
  let n = 0;
  const deadline = Date.now() + PHASE_LIMIT_MS;
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  for (; n < attempts && Date.now() < deadline; n++) {
    const t0 = process.hrtime.bigint();
    const ok = rejectEvery > 0 && n % rejectEvery === 0 ? await rejectedCall(p, n) : await answeredCall(p, n);
    lat[n] = Number(process.hrtime.bigint() - t0) / 1000;
    if (!ok) failures++;
  }
  const wallUs = Number(process.hrtime.bigint() - start) / 1000;
  return { attempts: n, failures, cpuUsPerAttempt: cpuUsSince(cpu0) / n, wallUsPerAttempt: wallUs / n, latencyUs: summarize(lat.subarray(0, n)) };
}

async function main(): Promise<void> {
  header('invite-cpu: per-call-attempt cost of the call path, SIP port faked');
  const p = buildCallPath();
  await measure(p, WARMUP, 10);
  // An empty driver turn loop, to show what the two event-loop turns alone cost.
  const idle = await (async () => {
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < ATTEMPTS; i++) {
      await turn();
      await turn();
    }
    return cpuUsSince(cpu0) / ATTEMPTS;
  })();
  const phases: Array<[string, number]> = [['answered only', 0], ['rejected only (unknown caller, 404)', 1], ['mix: 90% answered, 10% rejected', 10]];
  const rows: string[][] = [];
  let mixCpu = Number.NaN;
  let failures = 0;
  for (const [name, rejectEvery] of phases) {
    const r = await measure(p, ATTEMPTS, rejectEvery);
    failures += r.failures;
    if (rejectEvery === 10) mixCpu = r.cpuUsPerAttempt;
    rows.push([name, int(r.attempts), String(r.failures), num(r.cpuUsPerAttempt), num(r.wallUsPerAttempt), ...summaryCells(r.latencyUs, ['p50', 'p99', 'p999'])]);
  }
  console.log(table(['phase', 'attempts', 'failed', 'CPU µs/attempt', 'wall µs/attempt', 'wall p50 µs', 'wall p99 µs', 'wall p99.9 µs'], rows));
  console.log(`\ndriver alone (2 setImmediate turns, no call): ${num(idle)} µs CPU per iteration; mix CPU net of it: ${num(mixCpu - idle)} µs`);
  await turn(); // lets the registry drop the last call
  console.log(`CDRs by disposition: ${JSON.stringify(Object.fromEntries(p.cdr.byDisposition))}; live calls left: ${p.registry.size}`);
  console.log('\n### Target\n');
  console.log(table(['target', 'measured (mix)', 'verdict'], [['< 200 µs CPU per call attempt', `${num(mixCpu)} µs`, verdict(mixCpu < 200)]]));
  if (failures > 0 || p.registry.size > 0) process.exitCode = 1;
}

await main();
