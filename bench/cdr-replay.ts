/**
 * CDR spool replay into a real redis-server on loopback: 100,000 CDRs left in the spool by an
 * earlier process (as after a long Redis outage), replayed by RedisCdrSink with the production
 * settings while calls go on (write() at 300 CDRs/s throughout), then checked: every record in
 * the stream exactly once, the spool's in order before the new ones.
 *
 *   npx tsx bench/cdr-replay.ts        (BENCH_CDR_RECORDS=20000 for a quick run)
 *
 * Targets: the spool drained in <= 30 s; no event-loop stall over 20 ms (monitorEventLoopDelay,
 * 1 ms resolution, over the whole replay). Exits non-zero when a record is missing or doubled.
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, monitorEventLoopDelay } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pino from 'pino';
import { RedisCdrSink } from '../src/cdr/redis-sink.js';
import { cdrToFields } from '../src/cdr/cdr.js';
import { withDeadline, type Redis } from '../src/sessions/redis.js';
import { cdr } from '../test/helpers/cdr.js';
import { cpuUsSince, envNum, redisInfo, withRedis } from './lib/harness.js';
import { processCpuUs } from './lib/host.js';
import { header, int, median, num, sleep, table, verdict } from './lib/report.js';

const RECORDS = envNum('BENCH_CDR_RECORDS', 100_000);
const CALLS_PER_S = 300;
const LIMIT_MS = 120_000;
const STREAM = 'mb:cdr';
const CONTROL_MS = 5000;
const STEADY_ROUNDS = 3;
const STEADY_MS = 4000;
const COMMAND_TIMEOUT_MS = 250; // the production default (redis.commandTimeoutMs); the sink gets 4x, as in app.ts

/** A full garbage collection (gc() without starting node with --expose-gc). */
function fullGc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** CPU time of this process's main thread (the event loop), µs (Linux). */
const mainThreadCpuUs = () => processCpuUs('self', process.pid);

/**
 * No backlog, CDRs at 300/s, one at a time (as calls end): main-thread CPU per CDR of the sink
 * (spool append, then the script) next to a plain XADD per CDR (what the sink did before it spooled
 * first), alternating, STEADY_ROUNDS rounds of STEADY_MS each.
 */
async function steadyState(redis: Redis, spoolFile: string, log: pino.Logger): Promise<void> {
  const sink = new RedisCdrSink(redis, { streamKey: 'mb:steady', maxLen: 0, spoolFile, timeoutMs: COMMAND_TIMEOUT_MS * 4 }, log);
  await sink.ready;
  const ways: Record<string, (n: number) => void> = {
    'spool + script (RedisCdrSink)': (n) => sink.write(cdr(n, randomUUID())),
    'XADD only': (n) => void withDeadline(redis.xAdd('mb:plain', '*', cdrToFields(cdr(n, randomUUID()))), COMMAND_TIMEOUT_MS * 4).catch(() => undefined),
  };
  const perCdr: Record<string, number[]> = {};
  const rates: number[] = [];
  let n = 0;
  for (let round = 0; round < STEADY_ROUNDS; round++) {
    for (const [name, write] of Object.entries(ways)) {
      const timer = setInterval(() => write(n++), 1000 / CALLS_PER_S);
      await sleep(500); // settle
      const [cpu0, n0] = [mainThreadCpuUs(), n];
      await sleep(STEADY_MS);
      (perCdr[name] ??= []).push((mainThreadCpuUs() - cpu0) / (n - n0));
      rates.push(((n - n0) * 1000) / STEADY_MS);
      clearInterval(timer);
      await sleep(200);
    }
  }
  await sink.close(1000);
  console.log(`\n### Steady state: ${int(median(rates))} CDRs/s one at a time, no backlog, ${STEADY_ROUNDS} alternating rounds of ${STEADY_MS / 1000} s; main-thread CPU per CDR (µs)\n`);
  console.log(table(['path', 'median', 'rounds'], Object.entries(perCdr).map(([name, v]) => [name, num(median(v), 0), v.map((x) => num(x, 0)).join(', ')])));
}

header(`cdr-replay: ${int(RECORDS)} spooled CDRs into a real redis-server while calls go on at ${CALLS_PER_S}/s`);
await withRedis(COMMAND_TIMEOUT_MS, async (redis, _server, onExit) => {
  const log = pino({ level: 'silent' });
  const dir = mkdtempSync(join(tmpdir(), 'mb-bench-cdr-'));
  onExit(() => rmSync(dir, { recursive: true, force: true }));
  const spoolFile = join(dir, 'cdr-spool.jsonl');
  let sink: RedisCdrSink | null = null;
  onExit(() => sink?.close(0));
  // Only the ids stay in memory (the check at the end needs them). The fixture's garbage is
  // collected before the clock starts: it is not the sink's, and a process that replays a spool
  // at start has not just built one.
  const spooled = Array.from({ length: RECORDS }, () => randomUUID());
  for (let i = 0; i < RECORDS; i += 1000) {
    appendFileSync(spoolFile, spooled.slice(i, i + 1000).map((id, k) => `${JSON.stringify(cdr(i + k, id))}\n`).join(''));
  }
  fullGc();
  // Control: the same histogram over an idle event loop, to tell the host's stalls from the sink's.
  const idle = monitorEventLoopDelay({ resolution: 1 });
  idle.enable();
  await sleep(CONTROL_MS);
  idle.disable();
  await redis.sendCommand(['CONFIG', 'RESETSTAT']);
  const mem0 = await redisInfo(redis, 'memory', 'used_memory');

  const delay = monitorEventLoopDelay({ resolution: 1 });
  const gcPauses: number[] = [];
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcPauses.push(e.duration);
  });
  const live: string[] = [];
  gc.observe({ entryTypes: ['gc'] });
  delay.enable();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  sink = new RedisCdrSink(redis, { streamKey: STREAM, maxLen: 0, spoolFile, timeoutMs: COMMAND_TIMEOUT_MS * 4 }, log);
  const constructorMs = performance.now() - t0;
  const s = sink;
  const calls = setInterval(() => {
    for (let i = 0; i < CALLS_PER_S / 100; i++) {
      const c = cdr(RECORDS + live.length, randomUUID());
      live.push(c.id);
      s.write(c);
    }
  }, 10);
  let drainedMs = Number.NaN;
  try {
    while (performance.now() - t0 < LIMIT_MS) {
      await sleep(50);
      if ((await redis.xLen(STREAM)) >= RECORDS) {
        drainedMs = performance.now() - t0;
        break;
      }
    }
    await sleep(2000); // calls go on after the backlog is gone
  } finally {
    clearInterval(calls);
  }
  await sink.flush(10_000);
  delay.disable();
  gc.disconnect();
  const cpuUs = cpuUsSince(cpu0);

  const entries = await redis.xRange(STREAM, '-', '+');
  const got = entries.map((e) => e.message.id as string);
  const unique = new Set(got);
  const expected = [...spooled, ...live];
  const inOrder = got.length === expected.length && got.every((id, i) => id === expected[i]);
  const missing = expected.filter((id) => !unique.has(id)).length;
  const scriptCalls = await redisInfo(redis, 'commandstats', 'cmdstat_evalsha', 'cmdstat_eval');
  const streamBytes = Number(await redis.sendCommand(['MEMORY', 'USAGE', STREAM]));
  const seenBytes = (await redisInfo(redis, 'memory', 'used_memory')) - mem0 - streamBytes;
  const ms = (ns: number) => num(ns / 1e6, 1);

  console.log('### Replay\n');
  console.log(table(
    ['spooled', 'drained in', 'records/s', 'script calls', 'records/call', 'node CPU (all threads)', 'constructor'],
    [[
      int(RECORDS), `${num(drainedMs / 1000, 2)} s`, int(RECORDS / (drainedMs / 1000)), int(scriptCalls), num(got.length / scriptCalls, 0),
      `${num(cpuUs / 1000, 0)} ms`, `${num(constructorMs, 2)} ms`,
    ]],
  ));
  console.log(`\n### Event-loop delay (ms): over the replay and the 2 s after it, and over ${CONTROL_MS / 1000} s of an idle loop just before\n`);
  const row = (name: string, h: typeof delay, gcs: string[]) => [name, ms(h.percentile(50)), ms(h.percentile(90)), ms(h.percentile(99)), ms(h.percentile(99.9)), ms(h.max), ...gcs];
  console.log(table(
    ['loop', 'p50', 'p90', 'p99', 'p99.9', 'max', 'GC pauses', 'longest GC pause'],
    [row('replay', delay, [int(gcPauses.length), num(Math.max(0, ...gcPauses), 1)]), row('idle (control)', idle, ['', ''])],
  ));
  console.log('\n### The stream\n');
  console.log(table(
    ['written during replay', 'stream length', 'unique ids', 'missing', 'spool first, in order', 'seen keys, bytes/record'],
    [[int(live.length), int(got.length), int(unique.size), int(missing), inOrder ? 'yes' : 'NO', int(seenBytes / unique.size)]],
  ));
  console.log('\n### Targets\n');
  console.log(table(['target', 'measured', 'verdict'], [
    ['drained in <= 30 s', `${num(drainedMs / 1000, 2)} s`, verdict(drainedMs <= 30_000)],
    ['no stall over 20 ms', `max ${ms(delay.max)} ms, p99 ${ms(delay.percentile(99))} ms`, verdict(delay.max <= 20e6)],
    ['exactly once (length == unique ids == records)', `${int(got.length)} / ${int(unique.size)} / ${int(expected.length)}`, verdict(got.length === unique.size && missing === 0)],
  ]));
  if (got.length !== unique.size || missing > 0 || !inOrder) process.exitCode = 1;
  await sink.close(0);
  sink = null;
  await steadyState(redis, join(dir, 'steady.jsonl'), log);
});
