/**
 * Session lookup path against a real redis-server on loopback: SessionStore.lookup (one EVALSHA
 * round trip plus parsing) next to a plain HGET of the same participant index entry (what the
 * script reads first), in the same run.
 *
 *   npx tsx bench/lookup.ts        (BENCH_LOOKUP_SCALE=0.2 for a quick run)
 *
 * Sequential: one request in flight, latency per request. Concurrent: N requests in flight
 * (closed loop), throughput. Lookup and HGET phases alternate so drift hits both alike.
 * Every phase is bounded by a request count and a time limit.
 */
import type { Redis } from '../src/sessions/redis.js';
import { caller, closedLoop, cpuUsSince, envNum, peer, redisCpuUs, seedSessions, V, withRedis } from './lib/harness.js';
import { header, int, median, num, ratio, ratioCells, summarize, summaryCells, table, verdict, type Summary } from './lib/report.js';

const SCALE = envNum('BENCH_LOOKUP_SCALE', 1);
const SESSIONS = 1000;
const SEQ_BLOCKS = 10;
const SEQ_BLOCK_OPS = Math.round(2000 * SCALE);
const CONC_OPS = Math.round(60_000 * SCALE);
const CONC_ROUNDS = 3;
const CONCURRENCY = [32, 64];
const PHASE_LIMIT_MS = 20_000;
const COMMAND_TIMEOUT_MS = 250; // the production default (redis.commandTimeoutMs)

type Op = (i: number) => Promise<void>;

interface Phase {
  ops: number;
  seconds: number;
  latencyUs: Summary;
  /** CPU of this node process per request (user + system), µs. */
  nodeCpuUs: number;
  /** CPU of redis-server per request (INFO cpu), µs. */
  redisCpuUs: number;
}

/** Runs up to `total` ops with `concurrency` in flight, stopping early at PHASE_LIMIT_MS. */
async function phase(redis: Redis, total: number, concurrency: number, op: Op): Promise<Phase> {
  const redisCpu0 = await redisCpuUs(redis);
  const cpu0 = process.cpuUsage();
  const loop = await closedLoop(total, concurrency, op, PHASE_LIMIT_MS);
  const cpu = cpuUsSince(cpu0);
  const redisCpu = (await redisCpuUs(redis)) - redisCpu0;
  return { ops: loop.ops, seconds: loop.seconds, latencyUs: summarize(loop.latUs), nodeCpuUs: cpu / loop.ops, redisCpuUs: redisCpu / loop.ops };
}

header('lookup: SessionStore.lookup vs HGET, real redis-server on loopback');
await withRedis(COMMAND_TIMEOUT_MS, async (redis) => {
  const store = await seedSessions(redis, SESSIONS, { timeoutMs: COMMAND_TIMEOUT_MS });
  let wrong = 0;
  const lookup: Op = async (i) => {
    const r = await store.lookup(V, caller(i % SESSIONS));
    if (r.kind !== 'found' || r.peer !== peer(i % SESSIONS)) wrong++;
  };
  const get: Op = async (i) => {
    const id = await redis.hGet(store.keys.party(caller(i % SESSIONS)), V);
    if (id !== `bench-${i % SESSIONS}`) wrong++;
  };

  // Warm-up: JIT, script cache, connection.
  for (const c of [1, 32]) for (const op of [lookup, get]) await phase(redis, 5000, c, op);

  // (a) Sequential latency: alternating blocks, all samples pooled per kind.
  const seq = { lookup: [] as number[], get: [] as number[] };
  for (let b = 0; b < SEQ_BLOCKS; b++) {
    for (const [op, sink] of [[lookup, seq.lookup], [get, seq.get]] as const) {
      for (let i = 0; i < SEQ_BLOCK_OPS; i++) {
        const t0 = process.hrtime.bigint();
        await op(i);
        sink.push(Number(process.hrtime.bigint() - t0) / 1000);
      }
    }
  }
  const sl = summarize(seq.lookup);
  const sg = summarize(seq.get);
  const keys = ['mean', 'p50', 'p90', 'p99', 'p999'] as const;
  console.log(`### Sequential (1 in flight, ${int(sl.n)} lookups and ${int(sg.n)} HGETs, ${SEQ_BLOCKS} alternating blocks), latency in µs\n`);
  console.log(table(['op', 'n', 'mean', 'p50', 'p90', 'p99', 'p99.9', 'max'], [
    ['lookup', int(sl.n), ...summaryCells(sl, [...keys, 'max'])],
    ['HGET', int(sg.n), ...summaryCells(sg, [...keys, 'max'])],
    ['lookup/HGET', '', ...ratioCells(sl, sg, keys), ''],
  ]));

  // (b) Throughput with N in flight: rounds alternate lookup and HGET; median round reported.
  const rows: string[][] = [];
  let bestLookupRate = 0;
  const rate = (p: Phase) => p.ops / p.seconds;
  const mid = (ps: Phase[]) => [...ps].sort((x, y) => rate(x) - rate(y))[Math.floor(ps.length / 2)] as Phase;
  for (const c of CONCURRENCY) {
    const runs: Record<'lookup' | 'HGET', Phase[]> = { lookup: [], HGET: [] };
    for (let r = 0; r < CONC_ROUNDS; r++) {
      runs.lookup.push(await phase(redis, CONC_OPS, c, lookup));
      runs.HGET.push(await phase(redis, CONC_OPS, c, get));
    }
    const lr = median(runs.lookup.map(rate));
    const gr = median(runs.HGET.map(rate));
    bestLookupRate = Math.max(bestLookupRate, lr);
    for (const [name, ps, m] of [['lookup', runs.lookup, lr], ['HGET', runs.HGET, gr]] as const) {
      const p = mid(ps);
      const rates = ps.map(rate);
      rows.push([name, String(c), int(p.ops), int(m), `${int(Math.min(...rates))}–${int(Math.max(...rates))}`,
        ...summaryCells(p.latencyUs, ['p50', 'p99', 'p999']), num(p.nodeCpuUs), num(p.redisCpuUs)]);
    }
    const [ml, mg] = [mid(runs.lookup), mid(runs.HGET)];
    rows.push(['lookup/HGET', String(c), '', ratio(lr, gr), '', ...ratioCells(ml.latencyUs, mg.latencyUs, ['p50', 'p99']), '',
      ratio(ml.nodeCpuUs, mg.nodeCpuUs), ratio(ml.redisCpuUs, mg.redisCpuUs)]);
  }
  console.log(`\n### Concurrent (closed loop, ${CONC_ROUNDS} alternating rounds of up to ${int(CONC_OPS)} requests each; median round)\n`);
  console.log(table(['op', 'in flight', 'requests', 'req/s (median)', 'req/s (min–max)', 'p50 µs', 'p99 µs', 'p99.9 µs', 'node CPU µs/req', 'redis CPU µs/req'], rows));

  console.log('\n### Targets\n');
  console.log(table(['target', 'measured', 'verdict'], [
    ['>= 20,000 lookups/s', `${int(bestLookupRate)} lookups/s (best median over in-flight ${CONCURRENCY.join('/')})`, verdict(bestLookupRate >= 20_000)],
    ['p99 < 1 ms (sequential)', `${num(sl.p99)} µs`, verdict(sl.p99 < 1000)],
  ]));
  console.log(`\nwrong answers: ${wrong} (every lookup must find its session, every HGET its id)`);
  if (wrong > 0) process.exitCode = 1;
});
