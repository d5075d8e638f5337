/**
 * Signalling under load: sipp plays the carrier trunk (UAC) and the called phones (UAS, behind
 * the outbound gateway) against a real drachtio-server, with (a) maskbridge and (b) a bare
 * drachtio-srf B2BUA (bench/bare-b2bua.ts) in the same run, at the same rates, one after the other.
 *
 *   MB_E2E_DRACHTIO_BIN=/opt/drachtio/bin/drachtio npx tsx bench/sipp-load.ts
 *   env: BENCH_SIPP_CALLS (3000), BENCH_SIPP_RATES (100,300), BENCH_SIPP_HOLD_MS (1000),
 *        BENCH_SIPP_ROUNDS (2: the targets in order, then in reverse), BENCH_SIPP_CPU_PROF=1 (V8 profiles),
 *        BENCH_SIPP_TARGETS (bare,bare+get,maskbridge; also maskbridge+webhooks, and maskbridge@REV, maskbridge+webhooks@REV:
 *        maskbridge built from git revision REV, bench/lib/revision.ts; bare must be one of them), BENCH_SIPP_PIN=1 (pin processes to CPUs),
 *        BENCH_DRACHTIO_LOGLEVEL (info: drachtio-server logs every SIP message; notice logs none of them),
 *        BENCH_WIRE_TRACE=1 (times each INVITE inside the B2BUA process: bench/lib/wire-trace.ts),
 *        BENCH_SIPP_WARMUP (1000 calls at 100/s into each fresh B2BUA process before the measured run; 0 = none)
 *
 * Each call: INVITE -> (100/180) -> 200 -> ACK -> hold -> caller's BYE -> 200. Every call has its
 * own caller number (sipp -inf, [field0]) with an open session in Redis. INVITE->200 per call is
 * read from the UAC's -trace_shortmsg log (µs timestamps); sipp's own response-time timer
 * (start_rtd/rtd, -trace_rtt -rtt_freq 1) is reported too, but it only has whole milliseconds.
 * Each run gets a fresh drachtio-server and a fresh server process, warmed up first with calls
 * from other callers (their own sessions), so V8's JIT has compiled the hot paths of both B2BUAs
 * before anything is measured, as in a process that has been up for a while; everything is on 127.0.0.1
 * and every process is bounded (-m, -timeout) with a last-resort kill. drachtio's log (~25 MB
 * a run at log level info) is deleted after a run without failures.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from '../src/sessions/redis.js';
import { DRACHTIO_LOG_LEVELS, freeUdpPort, type DrachtioTarget, type StartOptions } from '../test/e2e/support/servers.js';
import { caller, countBy, envFlag, envList, envNum, envOneOf, readCdrs, redisCpuUs, redisPid, seedSessions, V, withCleanup, withRedis, type OnExit } from './lib/harness.js';
import { busyShare, counterDelta, cpuTimes, findPid, pinToCpu, processCpuUs, sysctl, udpCounters, udpReceiveBuffer, watchRun, type RunWatch } from './lib/host.js';
import { buildRevision } from './lib/revision.js';
import { int, kv, num, pooled, ratio, summarize, table, verdict } from './lib/report.js';
import { spawnChild } from './lib/server-child.js';
import { readLegSplit, readRttMs, readShortMessages, runSippPair, sipBench, uacScenario, uasScenario, writeInjectionFile } from './lib/sipp-load.js';

const CALLS = envNum('BENCH_SIPP_CALLS', 3000);
const RATES = envList('BENCH_SIPP_RATES', '100,300').map(Number);
const HOLD_MS = envNum('BENCH_SIPP_HOLD_MS', 1000);
const ROUNDS = envNum('BENCH_SIPP_ROUNDS', 2);
const WARMUP_CALLS = envNum('BENCH_SIPP_WARMUP', 1000);
const WARMUP_RATE = 100;
const SIPP_BUFFER = 1 << 20;
/** Set to write a V8 CPU profile of each B2BUA process into its run directory. */
const CPU_PROF = envFlag('BENCH_SIPP_CPU_PROF');
/**
 * Set to pin every process to a CPU, the same way for every target: drachtio and redis on CPU 0,
 * the B2BUA and both sipps on CPU 1 (about the same CPU per call each side at 100/s). Without it
 * the scheduler places and moves them as it likes, which is part of the run-to-run variance.
 */
const PIN = envFlag('BENCH_SIPP_PIN');
/** info (the default) writes every SIP message to drachtio's log; it would take an unknown level as info without a word. */
const DRACHTIO_LOG_LEVEL = envOneOf('BENCH_DRACHTIO_LOGLEVEL', 'info', DRACHTIO_LOG_LEVELS);
const CPU_OF = { drachtio: 0, redis: 0, server: 1, uac: 1, uas: 1 } as const;
const pin = (pid: number | null, role: keyof typeof CPU_OF, notes: string[]): void => {
  if (PIN && !pinToCpu(pid, CPU_OF[role])) notes.push(`could not pin ${role} (pid ${pid})`);
};

/** 'bare+get': the bare B2BUA plus one Redis GET per INVITE (bench/bare-b2bua.ts), the floor of a B2BUA that asks Redis. */
/** 'maskbridge+webhooks': webhooks on, every call's events delivered to a receiver in this process. */
/** 'maskbridge@REV', 'maskbridge+webhooks@REV': as git revision REV had it (bench/lib/revision.ts), started by REV's own bench/lib/maskbridge-media.ts. */
type Target = 'bare' | 'bare+get' | 'maskbridge' | 'maskbridge+webhooks' | `maskbridge@${string}` | `maskbridge+webhooks@${string}`;
const isTarget = (t: string): t is Target => /^(bare|bare\+get|maskbridge(\+webhooks)?(@[\w./~^-]+)?)$/.test(t);
/** The revision of a maskbridge@REV target, or null. */
const revOf = (t: Target): string | null => (/@(.+)$/.exec(t)?.[1] ?? null);
const TARGETS = envList('BENCH_SIPP_TARGETS', 'bare,bare+get,maskbridge').map((t) => {
  if (!isTarget(t)) throw new Error(`BENCH_SIPP_TARGETS: unknown target "${t}"`);
  return t;
});

/** Warm-up calls use callers and sessions of their own, so nothing measured was seen before. */
const warmCaller = (i: number) => `+9198300${String(i).padStart(5, '0')}`;
const warmPeer = (i: number) => `+9198400${String(i).padStart(5, '0')}`;

type RunResult = Awaited<ReturnType<typeof measureRun>>;

/** The keys bench/lib/wire-trace.ts adds to a child's stats. */
const TRACE_KEY = /^(traceSamples|(inToOut|inToStore|storeToReply|replyToOut)P\d+)$/;

interface RunOptions {
  target: Target;
  rate: number;
  round: number;
  dir: string;
  startDrachtio: (dir: string, opts?: StartOptions) => Promise<DrachtioTarget>;
  redis: Redis;
  redisUrl: string;
  /** The callers' files of the measured calls and of the warm-up. */
  injection: string;
  warmInjection: string;
  /** The webhook receiver (target maskbridge+webhooks) and its count of deliveries so far. */
  webhookUrl: string;
  delivered: () => number;
  /** REV -> its compiled tree (maskbridge@REV targets). */
  revisions: Map<string, string>;
}

/** One run: a fresh drachtio-server and B2BUA, warmed up, then the measured sipp pair. */
async function measureRun(opts: RunOptions, onExit: OnExit) {
  const { target, rate, redis } = opts;
  const dir = join(opts.dir, `${target}-${rate}-r${opts.round}`);
  mkdirSync(dir, { recursive: true });
  const notes: string[] = [];
  const drachtio = await opts.startDrachtio(dir, { drachtioLogLevel: DRACHTIO_LOG_LEVEL });
  onExit(() => drachtio.stop());
  const drachtioPid = findPid(join(dir, 'drachtio', 'etc', 'drachtio.conf.xml'));
  const sip = `${drachtio.sip.host}:${drachtio.sip.port}`;
  const gatewayPort = await freeUdpPort();
  const uacPort = await freeUdpPort();
  const admin = drachtio.admin;
  const nodeArgs = CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
  const isMb = target.startsWith('maskbridge');
  const webhookUrl = target.startsWith('maskbridge+webhooks') ? opts.webhookUrl : undefined;
  const server = !isMb
    ? await spawnChild('bench/bare-b2bua.ts', { admin, uas: `127.0.0.1:${gatewayPort}`, virtualNumber: V, ...(target === 'bare+get' ? { redisUrl: opts.redisUrl } : {}) }, nodeArgs)
    : await spawnChild('bench/lib/maskbridge-media.ts', { admin, redisUrl: opts.redisUrl, gateway: `127.0.0.1:${gatewayPort}`, dir, mode: 'none', logLevel: 'info', ...(webhookUrl ? { webhookUrl } : {}) },
      nodeArgs, 20_000, opts.revisions.get(revOf(target) ?? ''));
  onExit(() => server.stop());
  pin(drachtioPid, 'drachtio', notes);
  pin(server.pid, 'server', notes);
  if (WARMUP_CALLS > 0) {
    // Its own phone on the same gateway port, gone before the measured phone binds it.
    const warmDir = join(dir, 'warmup');
    mkdirSync(warmDir);
    const { stats } = await runSippPair({
      dir: warmDir, target: sip, injection: opts.warmInjection, calls: WARMUP_CALLS, rate: WARMUP_RATE, holdMs: HOLD_MS, slackSec: 20, uasGraceMs: 10_000, onExit,
      uas: { scenario: uasScenario(), port: gatewayPort, args: [] },
      uac: { scenario: uacScenario(HOLD_MS), args: ['-l', '5000', '-recv_timeout', '10000'] },
    });
    notes.push(`warm-up: ${stats.succeeded} of ${WARMUP_CALLS} calls ok at ${WARMUP_RATE}/s`);
  }
  if (isMb) await redis.del('mb:cdr');
  const deliveredBefore = opts.delivered();
  server.resetTrace(); // the trace, if on, counts the measured calls only

  const before = { udp: {} as Record<string, number>, cpu: [0, 0, 0], redisCpu: 0, rcvBuf: null as number | null, mainThread: 0 };
  const during: { watch?: RunWatch } = {};
  const run = await runSippPair({
    dir, target: sip, injection: opts.injection, calls: CALLS, rate, holdMs: HOLD_MS, slackSec: 30, uasGraceMs: 20_000, notes, onExit,
    common: ['-buff_size', String(SIPP_BUFFER), '-fd', '1', '-trace_err'],
    uas: { scenario: uasScenario(), port: gatewayPort, args: ['-error_file', 'uas-errors.log', '-trace_shortmsg', '-shortmessage_file', 'uas-short.log'] },
    uac: {
      scenario: uacScenario(HOLD_MS), port: uacPort, args: ['-l', '5000', '-recv_timeout', '10000', '-timeout_error',
        '-trace_rtt', '-rtt_freq', '1', '-trace_shortmsg', '-shortmessage_file', 'uac-short.log', '-error_file', 'uac-errors.log'],
    },
    beforeUac: async () => {
      Object.assign(before, { udp: udpCounters(), cpu: cpuTimes(), redisCpu: await redisCpuUs(redis), rcvBuf: udpReceiveBuffer(drachtio.sip.port), mainThread: processCpuUs(server.pid, server.pid) });
    },
    started: ({ uac, uas }) => {
      pin(uas, 'uas', notes);
      pin(uac, 'uac', notes);
      const watch = (during.watch = watchRun({ drachtio: drachtio.sip.port, uac: uacPort, uas: gatewayPort }, { server: server.pid, drachtio: drachtioPid, uac, uas }));
      onExit(() => watch.stop());
    },
  });
  const watched = (during.watch as RunWatch).stop();
  // The B2BUA's main thread alone (its task id is its pid): the event loop that handles the calls.
  const mainThreadUs = processCpuUs(server.pid, server.pid) - before.mainThread;
  const hostBusy = busyShare(before.cpu, cpuTimes());
  const redisCpu = (await redisCpuUs(redis)) - before.redisCpu;
  const udpErrors = counterDelta(before.udp, udpCounters(), ['InErrors', 'RcvbufErrors', 'SndbufErrors']);
  const stats = await server.stop();
  const inside: Record<string, number> = {};
  if (!stats) notes.push('server process gave no stats');
  else {
    const { cpuUserUs: _u, cpuSystemUs: _s, ...rest } = stats;
    const counts = Object.entries(rest).filter(([k, v]) => (TRACE_KEY.test(k) ? ((inside[k] = v), false) : true));
    notes.push(`server: ${counts.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }
  const cdrs = isMb ? kv(countBy(await readCdrs(redis), (c) => c.disposition ?? '?')) : '';
  if (webhookUrl) notes.push(`webhooks delivered during the run and its warm-up: ${opts.delivered() - deliveredBefore}`);
  await drachtio.stop();
  const drachtioLog = join(dir, 'drachtio.log');
  if (existsSync(drachtioLog)) notes.push(`drachtio log ${(statSync(drachtioLog).size / 1e6).toFixed(0)} MB`);
  const s = run.stats;
  const timings = readShortMessages(join(dir, 'uac-short.log'));
  if (timings.toAnswer.length === 0) notes.push('no INVITE->200 timings in the short message log');
  if (s.failedUac === 0 && s.failedUas === 0 && s.attempted === CALLS) rmSync(drachtioLog, { force: true });
  const per = (us: number | undefined) => (us ?? Number.NaN) / Math.max(1, s.attempted);
  const cpu = watched.cpuUs;
  // toAnswer, toRinging: INVITE -> 200 and -> 180 per call from the UAC's -trace_shortmsg (µs resolution); rtd: sipp's own
  // INVITE -> 200 timer (whole ms on its clock tick); cpuPerCall: µs per call attempt by process while the load ran;
  // inside: BENCH_WIRE_TRACE=1's segments inside the B2BUA process (WireTracer.summary()), else null.
  return {
    target, rate, round: opts.round, ...s, failedReasons: s.failures.uac.join(', '),
    uacExit: run.uacExit, uasExit: run.uasExit, elapsedSec: run.elapsedSec, ...timings,
    // The phone sees peer(i) from maskbridge and caller(i) from the bare B2BUA: both end in i.
    split: readLegSplit(join(dir, 'uac-short.log'), join(dir, 'uas-short.log'), (uri) => {
      const m = /^sips?:\+?9198[12]00(\d{5})@/.exec(uri);
      return m ? Number(m[1]) : null;
    }),
    rtd: readRttMs(dir, 'uac'),
    cpuPerCall: { server: per(cpu.server), serverMain: per(mainThreadUs), drachtio: per(cpu.drachtio), redis: per(redisCpu), uac: per(cpu.uac), uas: per(cpu.uas) },
    hostBusy, udp: watched.udp, udpErrors, drachtioRcvBuf: before.rcvBuf, cdrs, notes,
    inside: Object.keys(inside).length > 0 ? inside : null,
  };
}

async function main(): Promise<void> {
  const sip = sipBench(`sipp-load: maskbridge vs bare drachtio-srf B2BUA, ${CALLS} calls per run, hold ${HOLD_MS} ms`, 'B2BUA processes');
  if (!sip) return;
  console.log(`UDP: net.core.rmem_default ${sysctl('/proc/sys/net/core/rmem_default')}, rmem_max ${sysctl('/proc/sys/net/core/rmem_max')}; sipp -buff_size ${SIPP_BUFFER}`);
  console.log(`drachtio-server log level: ${DRACHTIO_LOG_LEVEL} (BENCH_DRACHTIO_LOGLEVEL)\n`);
  const { drachtio } = sip;
  const dir = mkdtempSync(join(tmpdir(), 'mb-bench-sipp-'));
  const results = await withRedis(2000, async (redis, redisServer, onExit) => {
    const revisions = new Map<string, string>();
    for (const rev of new Set(TARGETS.map(revOf).filter((r) => r !== null))) {
      const r = buildRevision(rev);
      onExit(() => r.remove());
      revisions.set(rev, r.root);
      console.log(`maskbridge@${rev}: commit ${r.commit}`);
    }
    if (PIN) {
      const pinNotes: string[] = [];
      pin(redisPid(redisServer), 'redis', pinNotes);
      console.log(`Pinned (BENCH_SIPP_PIN=1): drachtio and redis on CPU 0, the B2BUA and both sipps on CPU 1${pinNotes.length ? `; ${pinNotes.join('; ')}` : ''}\n`);
    }
    // A revision from before key layout 2 finds sessions by their route keys only: mark the store
    // layout 1, so the functions write routes as well (this revision still reads the index first).
    if (revisions.size > 0) await redis.set('mb:schema', '1');
    await seedSessions(redis, CALLS);
    await seedSessions(redis, WARMUP_CALLS, { id: 'warm-', from: warmCaller, to: warmPeer });
    const injection = join(dir, 'callers.csv');
    writeInjectionFile(injection, Array.from({ length: CALLS }, (_, i) => caller(i)));
    const warmInjection = join(dir, 'warm-callers.csv');
    writeInjectionFile(warmInjection, Array.from({ length: WARMUP_CALLS }, (_, i) => warmCaller(i)));
    // The webhook receiver for maskbridge+webhooks: another process would be more realistic, but
    // it only answers 200 (its CPU shows under 'bench' here, not under the B2BUA).
    let delivered = 0;
    const receiver = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        delivered++;
        res.end('ok');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const webhookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const out: RunResult[] = [];
    for (const rate of RATES) {
      for (let round = 1; round <= ROUNDS; round++) {
        // Alternate which goes first so drift does not always favour the same one.
        for (const target of round % 2 === 1 ? TARGETS : [...TARGETS].reverse()) {
          const r = await withCleanup((onExit) => measureRun({ target, rate, round, dir, startDrachtio: drachtio.start, redisUrl: redisServer.url, redis, injection, warmInjection, webhookUrl, delivered: () => delivered, revisions }, onExit));
          out.push(r);
          const a = summarize(r.toAnswer);
          console.log(`[run] ${target} @ ${rate}/s round ${round}: ${r.succeeded}/${r.attempted} ok, ${r.failedUac} failed, INVITE->200 p50 ${num(a.p50, 2)} ms p99 ${num(a.p99, 2)} ms`);
        }
      }
    }
    receiver.close();
    return out;
  });
  report(results);
  console.log(`\nsipp files, logs: ${dir}`);
}

function report(results: RunResult[]): void {
  const ms = (v: number) => num(v, 2);
  console.log('\n### Per run: calls, and INVITE->200 as the sipp UAC saw it (ms, from -trace_shortmsg timestamps)\n');
  console.log(table(
    ['target', 'rate/s', 'round', 'calls', 'ok', 'failed uac', 'failed uas', 'retrans', 'p50', 'p90', 'p99', 'max', 'sipp rtd p50 / p99', 'run s', 'host CPU busy'],
    results.map((r) => {
      const a = summarize(r.toAnswer);
      const rtd = summarize(r.rtd);
      return [
        r.target, String(r.rate), String(r.round), int(r.attempted), int(r.succeeded), int(r.failedUac), int(r.failedUas), int(r.retransmissions),
        ms(a.p50), ms(a.p90), ms(a.p99), ms(a.max), `${num(rtd.p50, 0)} / ${num(rtd.p99, 0)}`, num(r.elapsedSec, 1), `${num(r.hostBusy * 100, 0)}%`,
      ];
    }),
  ));
  console.log('\n### Per run: CPU µs per call attempt, by process, while the load ran\n');
  console.log(table(
    ['target', 'rate/s', 'round', 'B2BUA (node)', 'its main thread', 'drachtio', 'redis', 'sipp uac', 'sipp uas'],
    results.map((r) => [r.target, String(r.rate), String(r.round), ...(['server', 'serverMain', 'drachtio', 'redis', 'uac', 'uas'] as const).map((k) => int(r.cpuPerCall[k]))]),
  ));
  console.log('\n### Per run: UDP (peak receive queue bytes / drops per socket; netns UDP error counters)\n');
  console.log(table(
    ['target', 'rate/s', 'round', 'drachtio rcvbuf', 'drachtio rxq / drops', 'uac rxq / drops', 'uas rxq / drops', 'InErrors', 'RcvbufErrors', 'SndbufErrors'],
    results.map((r) => {
      const u = (k: string) => `${int(r.udp[k]?.rxQueue ?? Number.NaN)} / ${int(r.udp[k]?.drops ?? Number.NaN)}`;
      return [r.target, String(r.rate), String(r.round), r.drachtioRcvBuf === null ? 'n/a' : int(r.drachtioRcvBuf), u('drachtio'), u('uac'), u('uas'),
        int(r.udpErrors.InErrors ?? 0), int(r.udpErrors.RcvbufErrors ?? 0), int(r.udpErrors.SndbufErrors ?? 0)];
    }),
  ));
  const traced = results.filter((r) => r.inside);
  if (traced.length > 0) {
    console.log('\n### Per run: inside the B2BUA process (BENCH_WIRE_TRACE=1; µs, p50 / p90; INVITEs that had the process to themselves)\n');
    const seg = (r: RunResult, key: string) => `${num(r.inside?.[`${key}P50`] ?? Number.NaN, 0)} / ${num(r.inside?.[`${key}P90`] ?? Number.NaN, 0)}`;
    console.log(table(
      ['target', 'rate/s', 'round', 'INVITEs', 'INVITE in -> INVITE out', 'in -> Redis command written', 'written -> reply in', 'reply -> INVITE out'],
      traced.map((r) => [r.target, String(r.rate), String(r.round), int(r.inside?.traceSamples ?? 0),
        seg(r, 'inToOut'), seg(r, 'inToStore'), seg(r, 'storeToReply'), seg(r, 'replyToOut')]),
    ));
  }
  console.log('\n### Notes per run\n');
  for (const r of results) {
    const parts = [`sipp exit uac ${r.uacExit} uas ${r.uasExit}`];
    if (r.failedReasons) parts.push(`uac failures: ${r.failedReasons}`);
    if (r.cdrs) parts.push(`CDRs: ${r.cdrs}`);
    parts.push(...r.notes);
    console.log(`- ${r.target} @ ${r.rate}/s round ${r.round}: ${parts.join('; ')}`);
  }

  console.log('\n### maskbridge (and bare+get) vs bare, per rate (all rounds pooled)\n');
  const rows: string[][] = [];
  const verdicts: string[][] = [];
  for (const rate of RATES) {
    const pool = (t: Target) => {
      const rs = results.filter((r) => r.rate === rate && r.target === t);
      const p = pooled(rs);
      return {
        ...p, inbound: summarize(rs.flatMap((r) => r.split.inbound)), answerBack: summarize(rs.flatMap((r) => r.split.answerBack)),
        cpu: rs.reduce((a, r) => a + r.cpuPerCall.server * r.attempted, 0) / Math.max(1, p.calls),
        mainCpu: rs.reduce((a, r) => a + r.cpuPerCall.serverMain * r.attempted, 0) / Math.max(1, p.calls),
      };
    };
    const bare = pool('bare');
    for (const t of TARGETS) {
      const p = pool(t);
      rows.push([String(rate), t, int(p.calls), int(p.failed), ms(p.ringing.p50), ms(p.answer.p50), ms(p.answer.p90), ms(p.answer.p99),
        `${ms(p.inbound.p50)} / ${ms(p.inbound.p99)}`, `${ms(p.answerBack.p50)} / ${ms(p.answerBack.p99)}`, int(p.cpu), int(p.mainCpu)]);
    }
    for (const t of TARGETS.filter((x) => x !== 'bare')) {
      const p = pool(t);
      rows.push([String(rate), `${t} / bare`, '', '', ratio(p.ringing.p50, bare.ringing.p50), ratio(p.answer.p50, bare.answer.p50),
        ratio(p.answer.p90, bare.answer.p90), ratio(p.answer.p99, bare.answer.p99),
        `${ratio(p.inbound.p50, bare.inbound.p50)} / ${ratio(p.inbound.p99, bare.inbound.p99)}`,
        `${ratio(p.answerBack.p50, bare.answerBack.p50)} / ${ratio(p.answerBack.p99, bare.answerBack.p99)}`, ratio(p.cpu, bare.cpu), ratio(p.mainCpu, bare.mainCpu)]);
    }
    const mb = pool('maskbridge');
    const r50 = mb.answer.p50 / bare.answer.p50;
    const r99 = mb.answer.p99 / bare.answer.p99;
    verdicts.push([`INVITE->200 within 1.10x of bare @ ${rate}/s`, `p50 ${ratio(mb.answer.p50, bare.answer.p50)}, p99 ${ratio(mb.answer.p99, bare.answer.p99)}`,
      `p50 ${verdict(r50 <= 1.1)}, p99 ${verdict(r99 <= 1.1)}`]);
    if (rate === 300) verdicts.push(['0 failed calls @ 300/s (maskbridge)', `${mb.failed} of ${mb.calls}`, verdict(mb.failed === 0 && mb.calls > 0)]);
  }
  console.log(table(['rate/s', 'target', 'calls', 'failed (uac+uas)', 'INVITE->180 p50', 'INVITE->200 p50', 'p90', 'p99',
    'INVITE in: trunk->phone p50 / p99', '200 back: phone->trunk p50 / p99', 'B2BUA CPU µs/call', 'main thread µs/call'], rows));
  console.log('\n### Targets\n');
  console.log(table(['target', 'measured', 'verdict'], verdicts));
}

await main();
