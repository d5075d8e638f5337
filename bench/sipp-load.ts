/**
 * Signalling under load: sipp plays the carrier trunk (UAC) and the called phones (UAS, behind
 * the outbound gateway) against a real drachtio-server, with (a) maskbridge and (b) a bare
 * drachtio-srf B2BUA (bench/bare-b2bua.ts) in the same run, at the same rates, one after the other.
 *
 *   MB_E2E_DRACHTIO_BIN=/opt/drachtio/bin/drachtio npx tsx bench/sipp-load.ts
 *   env: BENCH_SIPP_CALLS (3000), BENCH_SIPP_RATES (100,300), BENCH_SIPP_HOLD_MS (1000),
 *        BENCH_SIPP_ROUNDS (2: the targets in order, then in reverse), BENCH_SIPP_CPU_PROF=1 (V8 profiles),
 *        BENCH_SIPP_TARGETS (bare,bare+get,maskbridge; bare must be one of them), BENCH_SIPP_PIN=1 (pin processes to CPUs),
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
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createRedis, type Redis } from '../src/sessions/redis.js';
import { SessionStore } from '../src/sessions/store.js';
import { RedisServer } from '../test/helpers/redis-server.js';
import { DRACHTIO_LOG_LEVELS, freeUdpPort, onPath, resolveDrachtio, type DrachtioLogLevel, type DrachtioTarget, type StartOptions } from '../test/e2e/support/servers.js';
import { busyShare, counterDelta, cpuTimes, findPid, pinToCpu, sysctl, udpCounters, udpReceiveBuffer, watchRun, type UdpSocketSample } from './lib/host.js';
import { header, int, num, ratio, sleep, summarize, table, verdict } from './lib/report.js';
import { buildChildren, childRuntime, spawnChild, type ChildStats } from './lib/server-child.js';
import { exitOrKill, readLegSplit, readRttMs, readShortMessages, readStatCsv, runSipp, uacScenario, uasScenario, writeInjectionFile, type LegSplit } from './lib/sipp-load.js';

const CALLS = Number(process.env.BENCH_SIPP_CALLS ?? '3000');
const RATES = (process.env.BENCH_SIPP_RATES ?? '100,300').split(',').map(Number);
const HOLD_MS = Number(process.env.BENCH_SIPP_HOLD_MS ?? '1000');
const ROUNDS = Number(process.env.BENCH_SIPP_ROUNDS ?? '2');
const WARMUP_CALLS = Number(process.env.BENCH_SIPP_WARMUP ?? '1000');
const WARMUP_RATE = 100;
const V = '+912240001000';
const SIPP_BUFFER = 1 << 20;
/** Set to write a V8 CPU profile of each B2BUA process into its run directory. */
const CPU_PROF = process.env.BENCH_SIPP_CPU_PROF === '1';
/**
 * Set to pin every process to a CPU, the same way for every target: drachtio and redis on CPU 0,
 * the B2BUA and both sipps on CPU 1 (about the same CPU per call each side at 100/s). Without it
 * the scheduler places and moves them as it likes, which is part of the run-to-run variance.
 */
const PIN = process.env.BENCH_SIPP_PIN === '1';
/** drachtio-server's log level for the run: info (the default) writes every SIP message to its log. */
const DRACHTIO_LOG_LEVEL = drachtioLogLevel(process.env.BENCH_DRACHTIO_LOGLEVEL ?? 'info');

function drachtioLogLevel(value: string): DrachtioLogLevel {
  const level = DRACHTIO_LOG_LEVELS.find((l) => l === value);
  // drachtio-server itself would take an unknown level as info without a word.
  if (!level) throw new Error(`BENCH_DRACHTIO_LOGLEVEL must be one of ${DRACHTIO_LOG_LEVELS.join(', ')}, not "${value}"`);
  return level;
}
const CPU_OF = { drachtio: 0, redis: 0, server: 1, uac: 1, uas: 1 } as const;
const pin = (pid: number | null, role: keyof typeof CPU_OF, notes: string[]): void => {
  if (PIN && !pinToCpu(pid, CPU_OF[role])) notes.push(`could not pin ${role} (pid ${pid})`);
};

/** 'bare+get': the bare B2BUA plus one Redis GET per INVITE (bench/bare-b2bua.ts), the floor of a B2BUA that asks Redis. */
type Target = 'bare' | 'bare+get' | 'maskbridge';
const TARGETS: Target[] = (process.env.BENCH_SIPP_TARGETS ?? 'bare,bare+get,maskbridge').split(',') as Target[];

const caller = (i: number) => `+9198100${String(i).padStart(5, '0')}`;
const peer = (i: number) => `+9198200${String(i).padStart(5, '0')}`;
/** Warm-up calls use callers and sessions of their own, so nothing measured was seen before. */
const warmCaller = (i: number) => `+9198300${String(i).padStart(5, '0')}`;
const warmPeer = (i: number) => `+9198400${String(i).padStart(5, '0')}`;

interface RunResult {
  target: Target;
  rate: number;
  round: number;
  attempted: number;
  succeeded: number;
  failed: number;
  failedReasons: string;
  uasFailed: number;
  retransmissions: number;
  uacExit: number | null;
  uasExit: number | null;
  elapsedSec: number;
  /** INVITE -> 200 and INVITE -> 180 per call, ms, from the UAC's -trace_shortmsg (µs resolution). */
  toAnswer: number[];
  toRinging: number[];
  /** INVITE->200 split at the phone: see LegSplit (bench/lib/sipp-load.ts). */
  split: LegSplit;
  /** sipp's own rtd INVITE -> 200 values (whole ms on its clock tick). */
  rtd: number[];
  /** CPU µs per call attempt by process while the load ran. */
  cpuPerCall: Record<'server' | 'drachtio' | 'redis' | 'uac' | 'uas', number>;
  hostBusy: number;
  udp: Record<string, UdpSocketSample>;
  udpErrors: Record<string, number>;
  drachtioRcvBuf: number | null;
  cdrs: string;
  notes: string[];
  /** BENCH_WIRE_TRACE=1: the segments inside the B2BUA process (WireTracer.summary()), else null. */
  inside: Record<string, number> | null;
}

/** The keys bench/lib/wire-trace.ts adds to a child's stats. */
const TRACE_KEY = /^(traceSamples|(inToOut|inToStore|storeToReply|replyToOut)P\d+)$/;

const intOf = (s: string | undefined) => (s === undefined || s === '' ? 0 : Number(s));

/** redis-server's CPU time so far (user + sys), µs. */
async function redisCpuUs(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6;
}

async function countCdrs(redis: Redis): Promise<string> {
  const counts = new Map<string, number>();
  let from = '-';
  for (let page = 0; page < 100; page++) {
    const entries = await redis.xRange('mb:cdr', from, '+', { COUNT: 1000 });
    for (const e of entries) counts.set(String(e.message.disposition), (counts.get(String(e.message.disposition)) ?? 0) + 1);
    if (entries.length < 1000) break;
    from = `(${entries.at(-1)!.id}`;
  }
  return [...counts].map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
}

interface RunOptions {
  target: Target;
  rate: number;
  round: number;
  dir: string;
  startDrachtio: (dir: string, opts?: StartOptions) => Promise<DrachtioTarget>;
  redisUrl: string;
  redis: Redis;
  injection: string;
  warmInjection: string;
}

/** One run; whatever it started is stopped on the way out, also when it fails half way. */
async function runOnce(opts: RunOptions): Promise<RunResult> {
  const cleanups: Array<() => unknown> = [];
  try {
    return await measureRun(opts, (fn) => cleanups.push(fn));
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

async function measureRun(opts: RunOptions, onExit: (fn: () => unknown) => void): Promise<RunResult> {
  const { target, rate } = opts;
  const dir = join(opts.dir, `${target}-${rate}-r${opts.round}`);
  mkdirSync(dir, { recursive: true });
  const notes: string[] = [];
  const drachtio = await opts.startDrachtio(dir, { drachtioLogLevel: DRACHTIO_LOG_LEVEL });
  onExit(() => drachtio.stop());
  const drachtioPid = findPid(join(dir, 'drachtio', 'etc', 'drachtio.conf.xml'));
  const gatewayPort = await freeUdpPort();
  const uacPort = await freeUdpPort();
  const admin = drachtio.admin;
  const nodeArgs = CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
  const server = target !== 'maskbridge'
    ? await spawnChild('bench/bare-b2bua.ts', { admin, uas: `127.0.0.1:${gatewayPort}`, virtualNumber: V, ...(target === 'bare+get' ? { redisUrl: opts.redisUrl } : {}) }, nodeArgs)
    : await spawnChild('bench/lib/maskbridge-media.ts', { admin, redisUrl: opts.redisUrl, gateway: `127.0.0.1:${gatewayPort}`, dir, mode: 'none', logLevel: 'info' }, nodeArgs);
  onExit(() => server.stop());
  pin(drachtioPid, 'drachtio', notes);
  pin(server.pid, 'server', notes);
  if (WARMUP_CALLS > 0) {
    const warm = await warmUp(join(dir, 'warmup'), `${drachtio.sip.host}:${drachtio.sip.port}`, gatewayPort, opts.warmInjection);
    notes.push(`warm-up: ${warm}`);
  }
  if (target === 'maskbridge') await opts.redis.del('mb:cdr');
  server.resetTrace(); // the trace, if on, counts the measured calls only

  const timeoutSec = Math.ceil(CALLS / rate + HOLD_MS / 1000 + 30);
  const common = ['-i', '127.0.0.1', '-m', String(CALLS), '-nostdin', '-buff_size', String(SIPP_BUFFER),
    '-timeout', `${timeoutSec}s`, '-trace_stat', '-fd', '1', '-trace_err'];
  const uas = runSipp('uas', dir, [
    '-sf', writeScenario(dir, 'uas.xml', uasScenario()), '-p', String(gatewayPort), '-mp', String(await freeUdpPort()),
    '-stf', 'uas-stat.csv', '-error_file', 'uas-errors.log', '-trace_shortmsg', '-shortmessage_file', 'uas-short.log', ...common,
  ]);
  onExit(() => uas.kill());
  pin(uas.pid, 'uas', notes);
  await sleep(300);
  const udpBefore = udpCounters();
  const cpuBefore = cpuTimes();
  const redisBefore = await redisCpuUs(opts.redis);
  const drachtioRcvBuf = udpReceiveBuffer(drachtio.sip.port);
  const t0 = Date.now();
  const uac = runSipp('uac', dir, [
    `${drachtio.sip.host}:${drachtio.sip.port}`, '-sf', writeScenario(dir, 'uac.xml', uacScenario(HOLD_MS)),
    '-inf', opts.injection, '-s', V, '-p', String(uacPort), '-mp', String(await freeUdpPort()),
    '-r', String(rate), '-rp', '1000', '-l', '5000', '-recv_timeout', '10000', '-timeout_error',
    '-trace_rtt', '-rtt_freq', '1', '-trace_shortmsg', '-shortmessage_file', 'uac-short.log',
    '-stf', 'uac-stat.csv', '-error_file', 'uac-errors.log', ...common,
  ]);
  onExit(() => uac.kill());
  pin(uac.pid, 'uac', notes);
  const watch = watchRun(
    { drachtio: drachtio.sip.port, uac: uacPort, uas: gatewayPort },
    { server: server.pid, drachtio: drachtioPid, uac: uac.pid, uas: uas.pid },
  );
  onExit(() => watch.stop());
  const uacExit = await exitOrKill(uac, (timeoutSec + 20) * 1000, () => notes.push(`uac killed after ${timeoutSec + 20}s`));
  const elapsedSec = (Date.now() - t0) / 1000;
  const uasExit = await exitOrKill(uas, 20_000, () => notes.push('uas killed 20 s after the uac ended'));
  const watched = watch.stop();
  const hostBusy = busyShare(cpuBefore, cpuTimes());
  const redisCpu = (await redisCpuUs(opts.redis)) - redisBefore;
  const udpErrors = counterDelta(udpBefore, udpCounters(), ['InErrors', 'RcvbufErrors', 'SndbufErrors']);
  const stats: ChildStats | null = await server.stop();
  const inside: Record<string, number> = {};
  if (!stats) notes.push('server process gave no stats');
  else {
    const { cpuUserUs: _u, cpuSystemUs: _s, ...rest } = stats;
    const counts = Object.entries(rest).filter(([k, v]) => (TRACE_KEY.test(k) ? ((inside[k] = v), false) : true));
    notes.push(`server: ${counts.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }
  const cdrs = target === 'maskbridge' ? await countCdrs(opts.redis) : '';
  await drachtio.stop();
  const drachtioLog = join(dir, 'drachtio.log');
  if (existsSync(drachtioLog)) notes.push(`drachtio log ${(statSync(drachtioLog).size / 1e6).toFixed(0)} MB`);
  const stderr = uac.stderr().replace(/Resolving remote host[^\n]*\n?/g, '').trim();
  if (stderr) notes.push(`uac stderr: ${stderr.split('\n')[0]}`);

  const uacStat = readStatCsv(join(dir, 'uac-stat.csv'));
  const uasStat = readStatCsv(join(dir, 'uas-stat.csv'));
  const failedReasons = Object.entries(uacStat)
    .filter(([k, v]) => /^Failed.+\(C\)$/.test(k) && Number(v) > 0)
    .map(([k, v]) => `${k.replace('(C)', '')} ${v}`)
    .join(', ');
  const timings = readShortMessages(join(dir, 'uac-short.log'));
  if (timings.toAnswer.length === 0) notes.push('no INVITE->200 timings in the short message log');
  const attempted = intOf(uacStat['OutgoingCall(C)']);
  const failed = intOf(uacStat['FailedCall(C)']);
  const uasFailed = intOf(uasStat['FailedCall(C)']);
  if (failed === 0 && uasFailed === 0 && attempted === CALLS) rmSync(drachtioLog, { force: true });
  const per = (us: number) => us / Math.max(1, attempted);
  return {
    target, rate, round: opts.round, attempted,
    succeeded: intOf(uacStat['SuccessfulCall(C)']),
    failed,
    failedReasons,
    uasFailed,
    retransmissions: intOf(uacStat['Retransmissions(C)']) + intOf(uasStat['Retransmissions(C)']),
    uacExit, uasExit, elapsedSec,
    toAnswer: timings.toAnswer,
    toRinging: timings.toRinging,
    // The phone sees peer(i) from maskbridge and caller(i) from the bare B2BUA: both end in i.
    split: readLegSplit(join(dir, 'uac-short.log'), join(dir, 'uas-short.log'), (uri) => {
      const m = /^sips?:\+?9198[12]00(\d{5})@/.exec(uri);
      return m ? Number(m[1]) : null;
    }),
    rtd: readRttMs(dir, 'uac'),
    cpuPerCall: {
      server: per(watched.cpuUs.server ?? Number.NaN),
      drachtio: per(watched.cpuUs.drachtio ?? Number.NaN),
      redis: per(redisCpu),
      uac: per(watched.cpuUs.uac ?? Number.NaN),
      uas: per(watched.cpuUs.uas ?? Number.NaN),
    },
    hostBusy, udp: watched.udp, udpErrors, drachtioRcvBuf, cdrs, notes,
    inside: Object.keys(inside).length > 0 ? inside : null,
  };
}

/**
 * WARMUP_CALLS calls at WARMUP_RATE through the B2BUA about to be measured, with their own phone
 * on the same gateway port (gone before the measured phone binds it). Returns a summary.
 */
async function warmUp(dir: string, drachtioAddr: string, gatewayPort: number, injection: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const timeoutSec = Math.ceil(WARMUP_CALLS / WARMUP_RATE + HOLD_MS / 1000 + 20);
  const common = ['-i', '127.0.0.1', '-m', String(WARMUP_CALLS), '-nostdin', '-timeout', `${timeoutSec}s`, '-trace_stat'];
  const uas = runSipp('warm-uas', dir, ['-sf', writeScenario(dir, 'uas.xml', uasScenario()), '-p', String(gatewayPort),
    '-mp', String(await freeUdpPort()), '-stf', 'uas-stat.csv', ...common]);
  await sleep(300);
  const uac = runSipp('warm-uac', dir, [drachtioAddr, '-sf', writeScenario(dir, 'uac.xml', uacScenario(HOLD_MS)), '-inf', injection, '-s', V,
    '-p', String(await freeUdpPort()), '-mp', String(await freeUdpPort()), '-r', String(WARMUP_RATE), '-rp', '1000', '-l', '5000',
    '-recv_timeout', '10000', '-stf', 'uac-stat.csv', ...common]);
  await exitOrKill(uac, (timeoutSec + 20) * 1000);
  await exitOrKill(uas, 10_000);
  const stat = readStatCsv(join(dir, 'uac-stat.csv'));
  return `${intOf(stat['SuccessfulCall(C)'])} of ${WARMUP_CALLS} calls ok at ${WARMUP_RATE}/s`;
}

function writeScenario(dir: string, name: string, text: string): string {
  writeFileSync(join(dir, name), text);
  return name;
}

async function main(): Promise<void> {
  const drachtio = resolveDrachtio();
  if (!drachtio.ok) {
    console.log(`drachtio-server not found: skipped (${drachtio.reason})`);
    return;
  }
  if (!onPath('sipp')) {
    console.log('sipp not found: skipped (Debian package sip-tester)');
    return;
  }
  buildChildren();
  header(`sipp-load: maskbridge vs bare drachtio-srf B2BUA, ${CALLS} calls per run, hold ${HOLD_MS} ms`);
  console.log(`UDP: net.core.rmem_default ${sysctl('/proc/sys/net/core/rmem_default')}, rmem_max ${sysctl('/proc/sys/net/core/rmem_max')}; sipp -buff_size ${SIPP_BUFFER}`);
  console.log(`drachtio-server log level: ${DRACHTIO_LOG_LEVEL} (BENCH_DRACHTIO_LOGLEVEL)`);
  console.log(`B2BUA processes: ${childRuntime() === 'compiled' ? 'tsc output under node (dist/, as npm start)' : 'TypeScript sources under tsx'} (BENCH_RUNTIME)\n`);

  const dir = mkdtempSync(join(tmpdir(), 'mb-bench-sipp-'));
  const redisServer = await RedisServer.start();
  if (PIN) {
    const pinNotes: string[] = [];
    pin(findPid(`redis-server 127.0.0.1:${redisServer.port}`), 'redis', pinNotes);
    console.log(`Pinned (BENCH_SIPP_PIN=1): drachtio and redis on CPU 0, the B2BUA and both sipps on CPU 1${pinNotes.length ? `; ${pinNotes.join('; ')}` : ''}\n`);
  }
  const redis: Redis = createRedis({ url: redisServer.url, commandTimeoutMs: 2000 }, pino({ level: 'silent' }));
  const results: RunResult[] = [];
  try {
    await redis.connect();
    const store = new SessionStore(redis, 'mb:', 2000);
    const expiresAt = Date.now() + 3 * 3600_000;
    for (let i = 0; i < CALLS; i++) {
      await store.create({ id: `bench-${i}`, virtualNumber: V, a: caller(i), b: peer(i), expiresAt });
    }
    const injection = join(dir, 'callers.csv');
    writeInjectionFile(injection, Array.from({ length: CALLS }, (_, i) => caller(i)));
    for (let i = 0; i < WARMUP_CALLS; i++) {
      await store.create({ id: `warm-${i}`, virtualNumber: V, a: warmCaller(i), b: warmPeer(i), expiresAt });
    }
    const warmInjection = join(dir, 'warm-callers.csv');
    writeInjectionFile(warmInjection, Array.from({ length: WARMUP_CALLS }, (_, i) => warmCaller(i)));

    for (const rate of RATES) {
      for (let round = 1; round <= ROUNDS; round++) {
        // Alternate which goes first so drift does not always favour the same one.
        const order: Target[] = round % 2 === 1 ? TARGETS : [...TARGETS].reverse();
        for (const target of order) {
          const r = await runOnce({ target, rate, round, dir, startDrachtio: drachtio.start, redisUrl: redisServer.url, redis, injection, warmInjection });
          results.push(r);
          const a = summarize(r.toAnswer);
          console.log(`[run] ${target} @ ${rate}/s round ${round}: ${r.succeeded}/${r.attempted} ok, ${r.failed} failed, INVITE->200 p50 ${num(a.p50, 2)} ms p99 ${num(a.p99, 2)} ms`);
        }
      }
    }
  } finally {
    if (redis.isOpen) await redis.close().catch(() => undefined);
    await redisServer.stop();
  }
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
        r.target, String(r.rate), String(r.round), int(r.attempted), int(r.succeeded), int(r.failed), int(r.uasFailed), int(r.retransmissions),
        ms(a.p50), ms(a.p90), ms(a.p99), ms(a.max), `${num(rtd.p50, 0)} / ${num(rtd.p99, 0)}`, num(r.elapsedSec, 1), `${num(r.hostBusy * 100, 0)}%`,
      ];
    }),
  ));
  console.log('\n### Per run: CPU µs per call attempt, by process, while the load ran\n');
  console.log(table(
    ['target', 'rate/s', 'round', 'B2BUA (node)', 'drachtio', 'redis', 'sipp uac', 'sipp uas'],
    results.map((r) => [r.target, String(r.rate), String(r.round), ...(['server', 'drachtio', 'redis', 'uac', 'uas'] as const).map((k) => int(r.cpuPerCall[k]))]),
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
    const pooled = (t: Target) => {
      const rs = results.filter((r) => r.rate === rate && r.target === t);
      return {
        answer: summarize(rs.flatMap((r) => r.toAnswer)),
        ringing: summarize(rs.flatMap((r) => r.toRinging)),
        inbound: summarize(rs.flatMap((r) => r.split.inbound)),
        answerBack: summarize(rs.flatMap((r) => r.split.answerBack)),
        calls: rs.reduce((a, r) => a + r.attempted, 0),
        failed: rs.reduce((a, r) => a + r.failed + r.uasFailed, 0),
        cpu: rs.reduce((a, r) => a + r.cpuPerCall.server * r.attempted, 0) / Math.max(1, rs.reduce((a, r) => a + r.attempted, 0)),
      };
    };
    const bare = pooled('bare');
    for (const t of TARGETS) {
      const p = pooled(t);
      rows.push([String(rate), t, int(p.calls), int(p.failed), ms(p.ringing.p50), ms(p.answer.p50), ms(p.answer.p90), ms(p.answer.p99),
        `${ms(p.inbound.p50)} / ${ms(p.inbound.p99)}`, `${ms(p.answerBack.p50)} / ${ms(p.answerBack.p99)}`, int(p.cpu)]);
    }
    for (const t of TARGETS.filter((x) => x !== 'bare')) {
      const p = pooled(t);
      rows.push([String(rate), `${t} / bare`, '', '', ratio(p.ringing.p50, bare.ringing.p50), ratio(p.answer.p50, bare.answer.p50),
        ratio(p.answer.p90, bare.answer.p90), ratio(p.answer.p99, bare.answer.p99),
        `${ratio(p.inbound.p50, bare.inbound.p50)} / ${ratio(p.inbound.p99, bare.inbound.p99)}`,
        `${ratio(p.answerBack.p50, bare.answerBack.p50)} / ${ratio(p.answerBack.p99, bare.answerBack.p99)}`, ratio(p.cpu, bare.cpu)]);
    }
    const mb = pooled('maskbridge');
    const r50 = mb.answer.p50 / bare.answer.p50;
    const r99 = mb.answer.p99 / bare.answer.p99;
    verdicts.push([`INVITE->200 within 1.10x of bare @ ${rate}/s`, `p50 ${ratio(mb.answer.p50, bare.answer.p50)}, p99 ${ratio(mb.answer.p99, bare.answer.p99)}`,
      `p50 ${verdict(r50 <= 1.1)}, p99 ${verdict(r99 <= 1.1)}`]);
    if (rate === 300) verdicts.push(['0 failed calls @ 300/s (maskbridge)', `${mb.failed} of ${mb.calls}`, verdict(mb.failed === 0 && mb.calls > 0)]);
  }
  console.log(table(['rate/s', 'target', 'calls', 'failed (uac+uas)', 'INVITE->180 p50', 'INVITE->200 p50', 'p90', 'p99',
    'INVITE in: trunk->phone p50 / p99', '200 back: phone->trunk p50 / p99', 'B2BUA CPU µs/call'], rows));
  console.log('\n### Targets\n');
  console.log(table(['target', 'measured', 'verdict'], verdicts));
}

await main();
