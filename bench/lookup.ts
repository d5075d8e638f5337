/**
 * Session lookup path against a real redis-server on loopback: SessionStore.lookup (one EVALSHA
 * round trip plus parsing) next to a plain GET of the same route key, in the same run.
 *
 *   npx tsx bench/lookup.ts        (BENCH_LOOKUP_SCALE=0.2 for a quick run)
 *
 * Sequential: one request in flight, latency per request. Concurrent: N requests in flight
 * (closed loop), throughput. Lookup and GET phases alternate so drift hits both alike.
 * Every phase is bounded by a request count and a time limit.
 */
import pino from 'pino';
import { RedisServer } from '../test/helpers/redis-server.js';
import { createRedis, type Redis } from '../src/sessions/redis.js';
import { SessionStore } from '../src/sessions/store.js';
import { header, int, median, num, ratio, summarize, table, verdict, type Summary } from './lib/report.js';

const SCALE = Number(process.env.BENCH_LOOKUP_SCALE ?? '1');
const SESSIONS = 1000;
const V = '+912240001000';
const SEQ_BLOCKS = 10;
const SEQ_BLOCK_OPS = Math.round(2000 * SCALE);
const CONC_OPS = Math.round(60_000 * SCALE);
const CONC_ROUNDS = 3;
const CONCURRENCY = [32, 64];
const PHASE_LIMIT_MS = 20_000;
const COMMAND_TIMEOUT_MS = 250; // the production default (redis.commandTimeoutMs)

const caller = (i: number) => `+9198100${String(i).padStart(5, '0')}`;
const peer = (i: number) => `+9198200${String(i).padStart(5, '0')}`;

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

/** redis-server's own CPU time so far (user + sys), µs. */
async function redisCpuUs(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6;
}

/** Runs up to `total` ops with `concurrency` in flight, stopping early at `limitMs`. */
async function closedLoop(redis: Redis, total: number, concurrency: number, op: Op, limitMs = PHASE_LIMIT_MS): Promise<Phase> {
  const lat = new Float64Array(total);
  const redisCpu0 = await redisCpuUs(redis);
  const cpu0 = process.cpuUsage();
  let next = 0;
  let done = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(limitMs) * 1_000_000n;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      const t0 = process.hrtime.bigint();
      if (t0 > deadline) return;
      await op(i);
      lat[done++] = Number(process.hrtime.bigint() - t0) / 1000;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const redisCpu = (await redisCpuUs(redis)) - redisCpu0;
  return {
    ops: done,
    seconds,
    latencyUs: summarize(lat.subarray(0, done)),
    nodeCpuUs: (cpu.user + cpu.system) / done,
    redisCpuUs: redisCpu / done,
  };
}

async function main(): Promise<void> {
  header('lookup: SessionStore.lookup vs GET, real redis-server on loopback');
  const server = await RedisServer.start();
  const log = pino({ level: 'silent' });
  const redis: Redis = createRedis({ url: server.url, commandTimeoutMs: COMMAND_TIMEOUT_MS }, log);
  try {
    await redis.connect();
    const store = new SessionStore(redis, 'mb:', COMMAND_TIMEOUT_MS);
    const expiresAt = Date.now() + 3600_000;
    for (let i = 0; i < SESSIONS; i++) {
      await store.create({ id: `bench-${i}`, virtualNumber: V, a: caller(i), b: peer(i), expiresAt });
    }

    let wrong = 0;
    const lookup: Op = async (i) => {
      const r = await store.lookup(V, caller(i % SESSIONS));
      if (r.kind !== 'found' || r.peer !== peer(i % SESSIONS)) wrong++;
    };
    const get: Op = async (i) => {
      const id = await redis.get(store.keys.route(V, caller(i % SESSIONS)));
      if (id !== `bench-${i % SESSIONS}`) wrong++;
    };

    // Warm-up: JIT, script cache, connection.
    await closedLoop(redis, 5000, 1, lookup);
    await closedLoop(redis, 5000, 1, get);
    await closedLoop(redis, 5000, 32, lookup);
    await closedLoop(redis, 5000, 32, get);

    // (a) Sequential latency: alternating blocks, all samples pooled per kind.
    const seqLookup: number[] = [];
    const seqGet: number[] = [];
    for (let b = 0; b < SEQ_BLOCKS; b++) {
      for (const [op, sink] of [[lookup, seqLookup], [get, seqGet]] as const) {
        const lat: number[] = [];
        for (let i = 0; i < SEQ_BLOCK_OPS; i++) {
          const t0 = process.hrtime.bigint();
          await op(i);
          lat.push(Number(process.hrtime.bigint() - t0) / 1000);
        }
        sink.push(...lat);
      }
    }
    const sl = summarize(seqLookup);
    const sg = summarize(seqGet);
    console.log(`### Sequential (1 in flight, ${int(sl.n)} lookups and ${int(sg.n)} GETs, ${SEQ_BLOCKS} alternating blocks), latency in µs\n`);
    console.log(table(
      ['op', 'n', 'mean', 'p50', 'p90', 'p99', 'p99.9', 'max'],
      [
        ['lookup', int(sl.n), num(sl.mean), num(sl.p50), num(sl.p90), num(sl.p99), num(sl.p999), num(sl.max)],
        ['GET', int(sg.n), num(sg.mean), num(sg.p50), num(sg.p90), num(sg.p99), num(sg.p999), num(sg.max)],
        ['lookup/GET', '', ratio(sl.mean, sg.mean), ratio(sl.p50, sg.p50), ratio(sl.p90, sg.p90), ratio(sl.p99, sg.p99), ratio(sl.p999, sg.p999), ''],
      ],
    ));

    // (b) Throughput with N in flight: rounds alternate lookup and GET; median round reported.
    const rows: string[][] = [];
    let bestLookupRate = 0;
    for (const c of CONCURRENCY) {
      const runs: Record<'lookup' | 'GET', Phase[]> = { lookup: [], GET: [] };
      for (let r = 0; r < CONC_ROUNDS; r++) {
        runs.lookup.push(await closedLoop(redis, CONC_OPS, c, lookup));
        runs.GET.push(await closedLoop(redis, CONC_OPS, c, get));
      }
      const rate = (p: Phase) => p.ops / p.seconds;
      const mid = (ps: Phase[]) => [...ps].sort((x, y) => rate(x) - rate(y))[Math.floor(ps.length / 2)] as Phase;
      const lr = median(runs.lookup.map(rate));
      const gr = median(runs.GET.map(rate));
      bestLookupRate = Math.max(bestLookupRate, lr);
      for (const [name, ps, m] of [['lookup', runs.lookup, lr], ['GET', runs.GET, gr]] as const) {
        const p = mid(ps);
        const rates = ps.map(rate);
        rows.push([
          name, String(c), int(p.ops), int(m), `${int(Math.min(...rates))}–${int(Math.max(...rates))}`,
          num(p.latencyUs.p50), num(p.latencyUs.p99), num(p.latencyUs.p999), num(p.nodeCpuUs), num(p.redisCpuUs),
        ]);
      }
      const ml = mid(runs.lookup);
      const mg = mid(runs.GET);
      rows.push(['lookup/GET', String(c), '', ratio(lr, gr), '', ratio(ml.latencyUs.p50, mg.latencyUs.p50), ratio(ml.latencyUs.p99, mg.latencyUs.p99), '', ratio(ml.nodeCpuUs, mg.nodeCpuUs), ratio(ml.redisCpuUs, mg.redisCpuUs)]);
    }
    console.log(`\n### Concurrent (closed loop, ${CONC_ROUNDS} alternating rounds of up to ${int(CONC_OPS)} requests each; median round)\n`);
    console.log(table(['op', 'in flight', 'requests', 'req/s (median)', 'req/s (min–max)', 'p50 µs', 'p99 µs', 'p99.9 µs', 'node CPU µs/req', 'redis CPU µs/req'], rows));

    console.log('\n### Targets\n');
    console.log(table(['target', 'measured', 'verdict'], [
      ['>= 20,000 lookups/s', `${int(bestLookupRate)} lookups/s (best median over in-flight ${CONCURRENCY.join('/')})`, verdict(bestLookupRate >= 20_000)],
      ['p99 < 1 ms (sequential)', `${num(sl.p99)} µs`, verdict(sl.p99 < 1000)],
    ]));
    console.log(`\nwrong answers: ${wrong} (every lookup must find its session, every GET its id)`);
    if (wrong > 0) process.exitCode = 1;
  } finally {
    if (redis.isOpen) await redis.close().catch(() => undefined);
    await server.stop();
  }
}

await main();
