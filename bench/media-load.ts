/**
 * Media under load: maskbridge with media.mode=anchor (FreeSWITCH via drachtio-fsmrf) and every
 * call recorded, sipp sending G.711 A-law RTP on both legs, against a real drachtio-server and
 * FreeSWITCH on 127.0.0.1.
 *
 *   MB_E2E_DRACHTIO_BIN=/opt/drachtio/bin/drachtio MB_E2E_FREESWITCH_BIN=/opt/freeswitch/bin/freeswitch npx tsx bench/media-load.ts
 *   env: BENCH_MEDIA_STEPS (50,100,150,200,250,300,400), BENCH_MEDIA_HOLD_S (30), BENCH_MEDIA_DELAY_CALLS (300),
 *        BENCH_MEDIA_DELAY_RATE (10), BENCH_MEDIA_DELAY_HOLD_S (3), BENCH_MEDIA_DELAY_ROUNDS (2),
 *        BENCH_MEDIA_PARTS (capacity,delay), BENCH_MEDIA_KEEP=1 (keep the recordings of passed runs),
 *        BENCH_MEDIA_LOG_LEVEL (info; or warn, debug)
 *
 * sipp sends the RTP with its rtp_stream action (a raw A-law tone, 20 ms packets), not pcap play,
 * which sipp 3.6 sends through raw sockets (Linux then copies every UDP datagram on the host to
 * each of them: full queues, millions of drops, the whole host's CPU per packet).
 *
 * 1. Capacity: steps of N concurrent calls. Each step gets a fresh drachtio-server, FreeSWITCH
 *    (4 RTP ports per call) and maskbridge process; sipp places N calls (-m N -l N), each from
 *    its own caller with its own open session, at a rate that has all N up by half the hold
 *    time, holds each for BENCH_MEDIA_HOLD_S with RTP both ways (a 400 Hz caller, a 700 Hz
 *    callee), and the caller hangs up. Then: were all channels released, and is every answered
 *    call's recording complete (bench/lib/recordings.ts)? The ramp stops at the first step
 *    that fails.
 * 2. Added delay: INVITE->200 of media.mode=anchor (recorded) next to media.mode=none through the
 *    same drachtio-server, at a fixed rate, alternating none, anchor, anchor, none. Timed from
 *    the sipp UAC's -trace_shortmsg log (µs timestamps), as bench/sipp-load.ts does.
 *
 * Every sipp run is bounded (-m, -timeout, a last-resort kill); every process started here is
 * stopped on the way out, also on failure and on SIGINT/SIGTERM.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from '../src/sessions/redis.js';
import { channelCount, eslApi, type FreeswitchTarget } from '../test/e2e/support/freeswitch.js';
import { freeUdpPort, type DrachtioTarget, type Resolved } from '../test/e2e/support/servers.js';
import { caller, countBy, envFlag, envList, envNum, envOneOf, readCdrs, redisPid, seedSessions, withCleanup, withRedis, type OnExit } from './lib/harness.js';
import { allProcessesCpuUs, cpuTimes, findPid, processCpuUs, udpSockets } from './lib/host.js';
import type { MediaServerConfig } from './lib/maskbridge-media.js';
import { checkRecordings, type Tones } from './lib/recordings.js';
import { int, kv, num, pooled, ratio, sleep, summarize, table, verdict } from './lib/report.js';
import { spawnChild, type ChildStats } from './lib/server-child.js';
import { readShortMessages, runSippPair, sipBench, uacScenario, uasScenario, writeInjectionFile, writeToneAlaw } from './lib/sipp-load.js';

const STEPS = envList('BENCH_MEDIA_STEPS', '50,100,150,200,250,300,400').map(Number);
const HOLD_S = envNum('BENCH_MEDIA_HOLD_S', 30);
const DELAY_CALLS = envNum('BENCH_MEDIA_DELAY_CALLS', 300);
const DELAY_RATE = envNum('BENCH_MEDIA_DELAY_RATE', 10);
const DELAY_HOLD_S = envNum('BENCH_MEDIA_DELAY_HOLD_S', 3);
const DELAY_ROUNDS = envNum('BENCH_MEDIA_DELAY_ROUNDS', 2);
const PARTS = envList('BENCH_MEDIA_PARTS', 'capacity,delay');
const KEEP = envFlag('BENCH_MEDIA_KEEP');
const LOG_LEVEL = envOneOf<MediaServerConfig['logLevel']>('BENCH_MEDIA_LOG_LEVEL', 'info', ['info', 'warn', 'debug']);
/** The ramp never places calls slower than this (calls/s). */
const MIN_RATE = 10;
/** The target from the issue. */
const TARGET_CONCURRENT = 200;
const TONES: Tones = { caller: 400, callee: 700 };
const SIPP_BUFFER = 1 << 20;

type Mode = 'none' | 'anchor';
type Proc = 'freeswitch' | 'drachtio' | 'maskbridge' | 'uac' | 'uas' | 'redis' | 'bench';
const PROCS: Proc[] = ['freeswitch', 'drachtio', 'maskbridge', 'uac', 'uas', 'redis', 'bench'];
const PROC_NAMES = ['FreeSWITCH', 'drachtio', 'maskbridge (node)', 'sipp uac', 'sipp uas', 'redis', 'this script', 'all these', 'other processes'];
/**
 * CPU by process in cores (1 = one core busy), their total, and what every other process on the
 * host used meanwhile (kernel threads included; another workload on the machine shows up here).
 * Per-process CPU is the scheduler's runtime (/proc/{pid}/stat scales utime+stime to it), so it
 * is exact; the host-wide /proc/stat counters are sampled at the timer tick and can misread a
 * periodic 20 ms RTP load.
 */
type Cores = Record<Proc | 'all' | 'others', number>;

// ---- sampling while a run goes ---------------------------------------------------------------

interface Sample {
  at: number;
  /** FreeSWITCH channels (`show channels count`); NaN when the event socket did not answer. */
  channels: number;
  /** cpuTimes(): busy, total and steal jiffies so far. */
  cpu: [number, number, number];
  procUs: Record<Proc, number>;
  /** CPU µs used since the previous sample by every process not in procUs (0 in the first sample). */
  othersUs: number;
}

interface Sampler {
  stop(): Promise<{ samples: Sample[]; fsRtpDrops: number }>;
}

/**
 * Every second: FreeSWITCH's channel count, host CPU, each process's CPU, and the drop counters
 * of the UDP sockets on FreeSWITCH's RTP ports (peak per port, summed). sipp's own media sockets
 * are not watched: sipp never reads the RTP sent to it, so they overflow by design.
 */
function startSampler(esl: FreeswitchTarget['esl'], pids: Record<Proc, number | null>, fsRtp: [number, number] | null): Sampler {
  const samples: Sample[] = [];
  const drops = new Map<number, number>();
  const ours = new Set(Object.values(pids).filter((p): p is number => p !== null));
  let previous: Map<number, number> | null = null;
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      const cpu = cpuTimes();
      const procUs = Object.fromEntries(PROCS.map((p) => [p, pids[p] === null ? Number.NaN : processCpuUs(pids[p])])) as Record<Proc, number>;
      const all = allProcessesCpuUs();
      let othersUs = 0;
      for (const [pid, us] of all) if (previous && !ours.has(pid)) othersUs += us - (previous.get(pid) ?? 0);
      previous = all;
      for (const [port, s] of udpSockets()) {
        if (fsRtp && port >= fsRtp[0] && port <= fsRtp[1]) drops.set(port, Math.max(drops.get(port) ?? 0, s.drops));
      }
      const channels = await channelCount(esl).catch(() => Number.NaN);
      samples.push({ at: started, channels, cpu, procUs, othersUs });
      await sleep(Math.max(0, 1000 - (Date.now() - started)));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { samples, fsRtpDrops: [...drops.values()].reduce((a, b) => a + b, 0) };
    },
  };
}

/**
 * CPU over the intervals between consecutive samples that `keep` accepts: seconds, the share of
 * all CPUs busy and stolen by the hypervisor (/proc/stat, 0..1), cores by process.
 */
function cpuWindow(samples: Sample[], keep: (a: Sample, b: Sample) => boolean) {
  let wallMs = 0;
  let othersUs = 0;
  const jiffies = [0, 0, 0];
  const procUs = Object.fromEntries(PROCS.map((p) => [p, 0])) as Record<Proc, number>;
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1] as Sample;
    const b = samples[i] as Sample;
    if (!keep(a, b)) continue;
    wallMs += b.at - a.at;
    for (let k = 0; k < 3; k++) jiffies[k] = (jiffies[k] as number) + ((b.cpu[k] as number) - (a.cpu[k] as number));
    othersUs += b.othersUs;
    for (const p of PROCS) procUs[p] += b.procUs[p] - a.procUs[p];
  }
  const [busy = 0, total = 0, steal = 0] = jiffies;
  const perCore = (us: number) => (wallMs > 0 ? us / (wallMs * 1000) : Number.NaN);
  const cores = Object.fromEntries(PROCS.map((p) => [p, perCore(procUs[p])])) as Cores;
  cores.all = PROCS.reduce((n, p) => n + (Number.isFinite(cores[p]) ? cores[p] : 0), 0);
  cores.others = perCore(othersUs);
  return { seconds: wallMs / 1000, busy: total > 0 ? busy / total : Number.NaN, steal: total > 0 ? steal / total : Number.NaN, cores };
}

/** The seconds during which FreeSWITCH held at least 95 % of its peak channels. */
function plateau(samples: Sample[]) {
  const peakChannels = samples.reduce((m, s) => (Number.isFinite(s.channels) ? Math.max(m, s.channels) : m), 0);
  const high = (s: Sample) => peakChannels > 0 && s.channels >= 0.95 * peakChannels;
  return { peakChannels, ...cpuWindow(samples, (a, b) => high(a) && high(b)) };
}

// ---- one load run ------------------------------------------------------------------------------

type Servers = Awaited<ReturnType<typeof startServers>>;

interface Shared {
  base: string;
  redis: Redis;
  redisUrl: string;
  redisPid: number | null;
  injection: string;
  /** What each side sends (raw A-law files for rtp_stream). */
  media: { caller: string; callee: string };
}

interface LoadOptions {
  name: string;
  dir: string;
  mode: Mode;
  servers: Servers;
  /** sipp's -m, -r (calls/s) and -l (calls up at once), and how long each call is held. */
  calls: number;
  rate: number;
  limit: number;
  holdMs: number;
}

type LoadResult = Awaited<ReturnType<typeof runLoad>>;

/** Waits up to `ms` for FreeSWITCH to hold no channel; returns what is left. */
async function channelsAfter(esl: FreeswitchTarget['esl'], ms: number): Promise<number> {
  const deadline = Date.now() + ms;
  for (;;) {
    const count = await channelCount(esl).catch(() => Number.NaN);
    if (count === 0 || Date.now() > deadline) return count;
    await sleep(500);
  }
}

/** One sipp run against a fresh maskbridge process; whatever it started is stopped on the way out. */
async function runLoad(opts: LoadOptions, shared: Shared, onExit: OnExit) {
  const { dir, servers, mode } = opts;
  mkdirSync(dir, { recursive: true });
  const notes: string[] = [];
  const gatewayPort = await freeUdpPort();
  const serverConfig: MediaServerConfig = {
    admin: servers.drachtio.admin, redisUrl: shared.redisUrl, gateway: `127.0.0.1:${gatewayPort}`, dir, mode,
    logLevel: LOG_LEVEL,
    ...(mode === 'anchor'
      ? { freeswitch: { esl: `${servers.fs.esl.host}:${servers.fs.esl.port}:${servers.fs.esl.secret}`, recordingsDir: servers.fs.recordingsDir } }
      : {}),
  };
  const server = await spawnChild('bench/lib/maskbridge-media.ts', serverConfig);
  let stats: Promise<ChildStats | null> | undefined;
  const stopServer = () => (stats ??= server.stop());
  onExit(stopServer);
  await shared.redis.del('mb:cdr');

  let sampler: Sampler | null = null;
  const sampled: { samples: Sample[]; fsRtpDrops: number } = { samples: [], fsRtpDrops: 0 };
  const run = await runSippPair({
    dir, target: `${servers.drachtio.sip.host}:${servers.drachtio.sip.port}`, injection: shared.injection, calls: opts.calls, rate: opts.rate,
    // uasGraceMs: the UAS has seen every BYE by then; it only still waits if some calls never reached it.
    holdMs: opts.holdMs, slackSec: 60, uasGraceMs: 5000, notes, onExit,
    common: ['-buff_size', String(SIPP_BUFFER), '-fd', '1', '-trace_err'],
    uas: { scenario: uasScenario(shared.media.callee), port: gatewayPort, args: ['-error_file', 'uas-errors.log'] },
    uac: {
      scenario: uacScenario(opts.holdMs, shared.media.caller),
      args: ['-l', String(opts.limit), '-recv_timeout', '15000', '-timeout_error', '-trace_shortmsg', '-shortmessage_file', 'uac-short.log', '-error_file', 'uac-errors.log'],
    },
    started: ({ uac, uas }) => {
      const pids = { freeswitch: servers.fsPid, drachtio: servers.drachtioPid, maskbridge: server.pid, uac, uas, redis: shared.redisPid, bench: process.pid };
      const s = (sampler = startSampler(servers.fs.esl, pids, servers.fsRtp));
      onExit(() => s.stop());
    },
    uacEnded: async () => Object.assign(sampled, await sampler?.stop()),
  });
  writeFileSync(join(dir, 'samples.json'), JSON.stringify(sampled.samples));
  const channelsLeft = await channelsAfter(servers.fs.esl, 15_000);
  const child = await stopServer();
  if (!child) notes.push('maskbridge process gave no stats');
  const cdrs = await readCdrs(shared.redis);
  const recordings = mode === 'anchor' ? checkRecordings(cdrs, servers.fs.recordingsDir, TONES) : null;
  if (recordings && recordings.complete === recordings.answered && !KEEP) {
    for (const c of cdrs) if (c.recording_path) rmSync(c.recording_path, { force: true });
  }
  notes.push(`sipp exit uac ${run.uacExit} uas ${run.uasExit}`);
  const s = run.stats;
  const timings = readShortMessages(join(dir, 'uac-short.log'));
  return {
    // answered: calls whose INVITE got a 200 (the UAC's log); run: CPU from the first to the last sample;
    // channelsLeft: still up on FreeSWITCH 15 s after sipp ended; fsRtpDrops: a lower bound (sampled every second).
    name: opts.name, mode, rate: opts.rate, attempted: s.attempted, answered: timings.toAnswer.length, failedUac: s.failedUac, failedUas: s.failedUas,
    failedReasons: [...s.failures.uac.map((f) => `uac ${f}`), ...s.failures.uas.map((f) => `uas ${f}`)].join(', '),
    retransmissions: s.retransmissions, ...timings, elapsedSec: run.elapsedSec,
    run: cpuWindow(sampled.samples, () => true), plateau: plateau(sampled.samples), channelsLeft, child,
    dispositions: countBy(cdrs, (c) => c.disposition ?? '?'), recordings, fsRtpDrops: sampled.fsRtpDrops, notes,
  };
}

// ---- servers -----------------------------------------------------------------------------------

interface Resolvers {
  drachtio: Extract<Resolved<DrachtioTarget>, { ok: true }>;
  freeswitch: Extract<Resolved<FreeswitchTarget>, { ok: true }>;
}

/** FreeSWITCH's RTP range from its environment (test/e2e/support/freeswitch.ts passes it there). */
function rtpRange(pid: number | null): [number, number] | null {
  if (pid === null) return null;
  try {
    const env = Object.fromEntries(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    const start = Number(env.MB_FS_RTP_START);
    const end = Number(env.MB_FS_RTP_END);
    return Number.isFinite(start) && Number.isFinite(end) && start > 0 ? [start, end] : null;
  } catch {
    return null;
  }
}

/** A fresh drachtio-server and FreeSWITCH in `dir`, stopped through `onExit`. */
async function startServers(resolvers: Resolvers, dir: string, rtpPorts: number, onExit: OnExit) {
  mkdirSync(dir, { recursive: true });
  const drachtio = await resolvers.drachtio.start(dir);
  onExit(() => drachtio.stop());
  const fs = await resolvers.freeswitch.start(dir, { rtpPorts });
  onExit(() => fs.stop());
  const fsPid = findPid(join(dir, 'freeswitch', 'etc'));
  // fsRtp: FreeSWITCH's RTP port range, read from its environment.
  return { drachtio, fs, drachtioPid: findPid(join(dir, 'drachtio', 'etc', 'drachtio.conf.xml')), fsPid, fsRtp: rtpRange(fsPid) };
}

// ---- the two parts -----------------------------------------------------------------------------

interface Step {
  target: number;
  result: LoadResult | null;
  error: string;
  pass: boolean;
  why: string[];
}

function judgeStep(target: number, r: LoadResult): string[] {
  const why: string[] = [];
  if (r.attempted !== target) why.push(`${r.attempted} of ${target} calls placed`);
  if (r.failedUac + r.failedUas > 0) why.push(`${r.failedUac + r.failedUas} failed calls`);
  if (r.answered !== target) why.push(`${r.answered} of ${target} answered`);
  if (Math.floor(r.plateau.peakChannels / 2) < target) why.push(`peak ${Math.floor(r.plateau.peakChannels / 2)} concurrent`);
  const rec = r.recordings;
  if (!rec || rec.complete !== target) why.push(`${rec?.complete ?? 0} of ${target} recordings complete`);
  if (rec && rec.partialLeft > 0) why.push(`${rec.partialLeft} .partial.wav left`);
  if (r.channelsLeft !== 0) why.push(`${num(r.channelsLeft, 0)} FreeSWITCH channels left`);
  return why;
}

async function capacity(resolvers: Resolvers, shared: Shared): Promise<Step[]> {
  const steps: Step[] = [];
  for (const target of STEPS) {
    const rate = Math.max(MIN_RATE, Math.ceil((2 * target) / HOLD_S));
    const name = `capacity-${target}`;
    const dir = join(shared.base, name);
    let result: LoadResult | null = null;
    let error = '';
    try {
      result = await withCleanup(async (onExit) => {
        const servers = await startServers(resolvers, dir, 4 * target + 200, onExit);
        return runLoad({ name, dir, mode: 'anchor', servers, calls: target, rate, limit: target, holdMs: HOLD_S * 1000 }, shared, onExit);
      });
    } catch (err) {
      error = (err as Error).message;
    }
    const why = result ? judgeStep(target, result) : [`run failed: ${error}`];
    const step: Step = { target, result, error, pass: why.length === 0, why };
    steps.push(step);
    const r = result;
    console.log(`[capacity] ${target} concurrent @ ${rate}/s: ${r ? `${r.answered}/${r.attempted} answered, ${r.failedUac + r.failedUas} failed, peak ${Math.floor(r.plateau.peakChannels / 2)} concurrent, recordings ${r.recordings?.complete ?? 0}/${r.recordings?.answered ?? 0} complete, CPU at peak ${num(r.plateau.cores.all, 2)} cores` : error} -> ${step.pass ? 'pass' : `FAIL (${why.join('; ')})`}`);
    if (!step.pass) break;
  }
  return steps;
}

function delay(resolvers: Resolvers, shared: Shared): Promise<LoadResult[]> {
  const dir = join(shared.base, 'delay');
  const concurrent = Math.ceil(DELAY_RATE * (DELAY_HOLD_S + 2));
  return withCleanup(async (onExit) => {
    const servers = await startServers(resolvers, dir, 4 * concurrent + 200, onExit);
    const results: LoadResult[] = [];
    for (let round = 1; round <= DELAY_ROUNDS; round++) {
      // Alternate which goes first so drift does not always favour the same one.
      for (const mode of (round % 2 === 1 ? ['none', 'anchor'] : ['anchor', 'none']) as Mode[]) {
        const name = `delay-${mode}-r${round}`;
        const r = await withCleanup((stopAfter) => runLoad({ name, dir: join(dir, name), mode, servers, calls: DELAY_CALLS, rate: DELAY_RATE, limit: DELAY_CALLS, holdMs: DELAY_HOLD_S * 1000 }, shared, stopAfter));
        results.push(r);
        const a = summarize(r.toAnswer);
        console.log(`[delay] ${mode} round ${round}: ${r.answered}/${r.attempted} answered, ${r.failedUac + r.failedUas} failed, INVITE->200 p50 ${num(a.p50, 2)} ms p99 ${num(a.p99, 2)} ms`);
      }
    }
    return results;
  });
}

// ---- report ------------------------------------------------------------------------------------

const ms = (v: number) => num(v, 2);
const pct = (v: number) => `${num(v * 100, 0)}%`;
const cores = (c: Cores) => [...PROCS, 'all' as const, 'others' as const].map((p) => num(c[p], 2));

function reportCapacity(steps: Step[]): void {
  console.log(`\n### Capacity: media-anchored, recorded calls held ${HOLD_S} s, RTP both ways (PCMA, 20 ms)\n`);
  const done = steps.filter((s): s is Step & { result: LoadResult } => s.result !== null);
  console.log(table(
    ['concurrent (target)', 'calls/s', 'attempted', 'answered', 'failed uac / uas', 'peak concurrent (FS channels / 2)', 'peak live calls (maskbridge)',
      'CPU at peak: all processes, cores / host busy (/proc/stat)', 'recordings complete', '.partial.wav left', 'FS channels left', 'INVITE->200 p50 / p99 ms', 'verdict'],
    done.map(({ target, result: r, pass }) => {
      const a = summarize(r.toAnswer);
      return [
        int(target), String(r.rate), int(r.attempted), int(r.answered), `${int(r.failedUac)} / ${int(r.failedUas)}`,
        num(r.plateau.peakChannels / 2, 1), int(r.child?.peakLiveCalls ?? Number.NaN),
        `${num(r.plateau.cores.all, 2)} / ${pct(r.plateau.busy)}`,
        `${int(r.recordings?.complete ?? 0)} / ${int(r.recordings?.answered ?? 0)}`, int(r.recordings?.partialLeft ?? Number.NaN),
        num(r.channelsLeft, 0), `${ms(a.p50)} / ${ms(a.p99)}`, pass ? 'pass' : '**FAIL**',
      ];
    }),
  ));
  console.log(`\nWhile FreeSWITCH held >= 95 % of its peak channels: CPU by process, in cores (the host has ${availableParallelism()}), and over the whole step:\n`);
  console.log(table(
    ['concurrent', 'seconds at peak', ...PROC_NAMES, 'host busy (/proc/stat)', 'steal', 'whole step: all / host busy'],
    done.map(({ target, result: r }) => [int(target), num(r.plateau.seconds, 0), ...cores(r.plateau.cores), pct(r.plateau.busy), `${num(r.plateau.steal * 100, 1)}%`,
      `${num(r.run.cores.all, 2)} / ${pct(r.run.busy)}`]),
  ));
  console.log('\nRecorded audio (1 s windows of the talk time; a window carries a tone when RMS > 500 and the tone is > 50 % of its energy) and RTP drops:\n');
  console.log(table(
    ['concurrent', 'recordings', 'max |recording - talk time| s', 'min share of windows with own tone', 'recordings with a gap (a window without the tone)',
      'silent 20 ms frames (all / worst recording)', 'datagrams dropped on FS RTP sockets'],
    done.map(({ target, result: r }) => {
      const rec = r.recordings;
      return rec
        ? [int(target), int(rec.answered), num(rec.maxDriftSec, 2), pct(rec.minToneWindows), int(rec.withGaps),
            `${num(rec.silentFrames * 100, 2)}% / ${num(rec.worstSilentFrames * 100, 1)}%`, int(r.fsRtpDrops)]
        : [int(target), 'n/a', '', '', '', '', int(r.fsRtpDrops)];
    }),
  ));
  console.log('\nNotes per step:\n');
  for (const s of steps) {
    const r = s.result;
    const parts = r
      ? [`CDRs: ${kv(r.dispositions)}`, ...(r.failedReasons ? [`failures: ${r.failedReasons}`] : []), `retransmissions ${r.retransmissions}`,
          ...(r.recordings && Object.keys(r.recordings.problems).length ? [`recording problems: ${kv(r.recordings.problems)}`] : []),
          ...(r.child ? [`maskbridge: peak media channels ${r.child.peakMediaChannels}, live calls at stop ${r.child.liveCallsAtStop}`] : []),
          `run ${num(r.elapsedSec, 0)} s`, ...r.notes]
      : [s.error];
    if (!s.pass) parts.push(`failed: ${s.why.join('; ')}`);
    console.log(`- ${s.target}: ${parts.join('; ')}`);
  }
  const best = steps.filter((s) => s.pass).at(-1)?.target ?? 0;
  const firstFail = steps.find((s) => !s.pass);
  console.log('\n### Capacity target\n');
  console.log(table(['target', 'measured', 'verdict'], [[
    `>= ${TARGET_CONCURRENT} concurrent media-anchored, recorded calls, every recording complete`,
    `${best} (largest passing step)${firstFail ? `; ${firstFail.target} failed: ${firstFail.why.join('; ')}` : '; no step failed'}`,
    verdict(best >= TARGET_CONCURRENT),
  ]]));
}

function reportDelay(results: LoadResult[]): void {
  console.log(`\n### Added delay: INVITE->200 (ms, from -trace_shortmsg), media.mode=anchor (recorded) vs none, ${DELAY_RATE} calls/s, hold ${DELAY_HOLD_S} s\n`);
  console.log(table(
    ['mode', 'run', 'calls', 'answered', 'failed uac / uas', 'retrans', 'INVITE->18x p50', 'INVITE->200 p50', 'p90', 'p99', 'max', 'CPU: all processes, cores / host busy', 'recordings complete'],
    results.map((r) => {
      const a = summarize(r.toAnswer);
      return [r.mode, r.name, int(r.attempted), int(r.answered), `${int(r.failedUac)} / ${int(r.failedUas)}`, int(r.retransmissions),
        ms(summarize(r.toRinging).p50), ms(a.p50), ms(a.p90), ms(a.p99), ms(a.max), `${num(r.run.cores.all, 2)} / ${pct(r.run.busy)}`,
        r.recordings ? `${int(r.recordings.complete)} / ${int(r.recordings.answered)}` : 'n/a'];
    }),
  ));
  console.log(`\nCPU by process over each run, in cores (the host has ${availableParallelism()}):\n`);
  console.log(table(
    ['mode', 'run', 'seconds', ...PROC_NAMES],
    results.map((r) => [r.mode, r.name, num(r.run.seconds, 0), ...cores(r.run.cores)]),
  ));
  for (const r of results) {
    const extra = r.recordings && Object.keys(r.recordings.problems).length ? `; recording problems: ${kv(r.recordings.problems)}` : '';
    console.log(`- ${r.name}: CDRs ${kv(r.dispositions)}; FS channels left ${num(r.channelsLeft, 0)}${r.failedReasons ? `; failures: ${r.failedReasons}` : ''}${extra}; ${r.notes.join('; ')}`);
  }
  const none = pooled(results.filter((r) => r.mode === 'none'));
  const anchor = pooled(results.filter((r) => r.mode === 'anchor'));
  console.log('\nPooled per mode:\n');
  console.log(table(
    ['mode', 'calls', 'failed', 'INVITE->18x p50', 'INVITE->200 p50', 'p90', 'p99', 'max'],
    [
      ...([['none (signalling only)', none], ['anchor (FreeSWITCH, recorded)', anchor]] as const).map(([name, p]) =>
        [name, int(p.calls), int(p.failed), ms(p.ringing.p50), ms(p.answer.p50), ms(p.answer.p90), ms(p.answer.p99), ms(p.answer.max)]),
      ['anchor / none', '', '', ratio(anchor.ringing.p50, none.ringing.p50), ratio(anchor.answer.p50, none.answer.p50),
        ratio(anchor.answer.p90, none.answer.p90), ratio(anchor.answer.p99, none.answer.p99), ratio(anchor.answer.max, none.answer.max)],
      ['anchor - none (ms)', '', '', ms(anchor.ringing.p50 - none.ringing.p50), ms(anchor.answer.p50 - none.answer.p50),
        ms(anchor.answer.p90 - none.answer.p90), ms(anchor.answer.p99 - none.answer.p99), ''],
    ],
  ));
}

// ---- main --------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const sip = sipBench(`media-load: media-anchored, recorded calls through drachtio-server and FreeSWITCH (${PARTS.join(', ')})`, 'maskbridge process', true);
  if (!sip?.freeswitch) return;
  console.log('');
  const sippVersion = /SIPp v\S+/.exec(spawnSync('sipp', ['-v'], { encoding: 'utf8' }).stdout ?? '')?.[0] ?? 'sipp ?';
  const base = mkdtempSync(join(tmpdir(), 'mb-bench-media-'));
  const maxCalls = Math.max(...(PARTS.includes('capacity') ? STEPS : [0]), PARTS.includes('delay') ? DELAY_CALLS : 0);
  const media = { caller: join(base, 'caller.alaw'), callee: join(base, 'callee.alaw') };
  const toneSec = Math.max(HOLD_S, DELAY_HOLD_S) + 5;
  writeToneAlaw(media.caller, TONES.caller, toneSec);
  writeToneAlaw(media.callee, TONES.callee, toneSec);
  const injection = join(base, 'callers.csv');
  writeInjectionFile(injection, Array.from({ length: maxCalls }, (_, i) => caller(i)));

  const resolvers: Resolvers = { drachtio: sip.drachtio, freeswitch: sip.freeswitch };
  const { steps, delays } = await withRedis(5000, async (redis, redisServer) => {
    await seedSessions(redis, maxCalls, { id: 'bench-media-', record: true });
    // The FreeSWITCH version, from a throwaway instance.
    const version = await withCleanup(async (onExit) => eslApi((await startServers(resolvers, join(base, 'version'), 16, onExit)).fs.esl, 'version').catch(() => '?'));
    console.log(`${version.trim()} | ${sippVersion} | ${maxCalls} sessions, one caller per call | RTP by sipp rtp_stream, ${toneSec} s of tone, ${TONES.caller} Hz caller / ${TONES.callee} Hz callee | maskbridge log level ${LOG_LEVEL}\n`);
    const shared: Shared = { base, redis, redisUrl: redisServer.url, redisPid: redisPid(redisServer), injection, media };
    return {
      steps: PARTS.includes('capacity') ? await capacity(resolvers, shared) : [],
      delays: PARTS.includes('delay') ? await delay(resolvers, shared) : [],
    };
  });
  if (steps.length) reportCapacity(steps);
  if (delays.length) reportDelay(delays);
  console.log(`\nsipp files, logs${KEEP ? ', recordings' : ' (recordings of failed runs only)'}: ${base}`);
}

await main();
