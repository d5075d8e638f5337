/**
 * Contract v2 at scale, against a throwaway redis-server: a 10,000-number pool filled to
 * 1,000,000 open sessions (allocated by mb_allocate), then, at that size and in the same run:
 * allocations/s (FCALL mb_allocate, as a backend calls it) with latency percentiles, lookups/s
 * (SessionStore.lookup, the INVITE path) with latency percentiles, and Redis memory per session,
 * every key included (session hash, two routes, the participants' index entries, pool keys).
 *
 *   npx tsx bench/pools.ts      env: BENCH_POOL_SESSIONS (1000000), BENCH_POOL_NUMBERS (10000),
 *                               BENCH_POOL_IN_FLIGHT (4 per client, 4 clients, while measuring),
 *                               BENCH_POOL_PACED_PROCS (4: processes sending the paced lookups)
 *
 * Participants: 20,000 drivers with 50 sessions each, and 500,000 customers with 2 each, so
 * every allocation must find a number free for a driver holding 50 of them.
 */
import { PoolStore } from '../src/sessions/pools.js';
import { loadLibrary } from '../src/sessions/library.js';
import type { Redis } from '../src/sessions/redis.js';
import { SessionStore } from '../src/sessions/store.js';
import { closedLoop, envNum, redisClient, redisInfo, withRedis } from './lib/harness.js';
import { pacedLookups } from './lib/paced-lookups.js';
import { header, int, num, summarize, table, verdict } from './lib/report.js';

const SESSIONS = envNum('BENCH_POOL_SESSIONS', 1_000_000);
const NUMBERS = envNum('BENCH_POOL_NUMBERS', 10_000);
const CLIENTS = 4;
const FILL_IN_FLIGHT = 64; // per client, for the fill
/** Per client while measuring: 16 requests in flight in all, so latency is Redis's and not a queue's. */
const IN_FLIGHT = envNum('BENCH_POOL_IN_FLIGHT', 4);
const MEASURE = 50_000;
/** Load-generator processes for the paced lookups. */
const PACED_PROCS = envNum('BENCH_POOL_PACED_PROCS', 4);
const EXP = String(Date.now() + 24 * 3600_000);
const vnum = (i: number) => `+9122${String(40000000 + i)}`;
const driver = (i: number) => `+9197${String(10000000 + (i % 20_000))}`;
const customer = (i: number) => `+9198${String(10000000 + (i % 500_000))}`;

function allocate(redis: Redis, id: string, i: number): Promise<unknown> {
  const a = customer(i);
  const b = driver(i);
  return redis.sendCommand(['FCALL', 'mb_allocate', '3', `mb:session:${id}`, `mb:party:${a}`, `mb:party:${b}`, 'city', '', '', '', 'a', a, 'b', b, 'expires_at', EXP]);
}

header(`Contract v2: ${int(SESSIONS)} sessions on a ${int(NUMBERS)}-number pool`);
await withRedis(10_000, async (redis, server, onExit) => {
  const clients = [redis];
  for (let i = 1; i < CLIENTS; i++) {
    const c = redisClient(server.url, 10_000);
    onExit(() => c.close());
    await c.connect();
    clients.push(c);
  }
  /** `count` ops from every client with `inFlight` each (closed loop); latency in ms, and the ops refused. */
  const drive = async (count: number, op: (c: Redis, i: number) => Promise<unknown>, from = 0, inFlight = IN_FLIGHT) => {
    let failed = 0;
    const loop = await closedLoop(count, CLIENTS * inFlight, async (k, w) => {
      const r = await op(clients[Math.floor(w / inFlight)] as Redis, from + k).catch(() => null);
      if (r === null || (Array.isArray(r) && r[0] !== 'ok' && r[0] !== 'found')) failed++;
    });
    return { ms: loop.seconds * 1000, lat: loop.latUs.map((us) => us / 1000), failed };
  };
  await loadLibrary(redis);
  const pools = new PoolStore(redis, 'mb:', 10_000);
  await pools.set('city', { coolOffSec: 0 });
  for (let i = 0; i < NUMBERS; i += 1000) await pools.add('city', Array.from({ length: Math.min(1000, NUMBERS - i) }, (_, k) => vnum(i + k)));
  const memBefore = await redisInfo(redis, 'memory', 'used_memory');

  const fill = await drive(SESSIONS, (c, i) => allocate(c, `f-${i}`, i), 0, FILL_IN_FLIGHT);
  const memAfter = await redisInfo(redis, 'memory', 'used_memory');
  const perSession = (memAfter - memBefore) / (SESSIONS - fill.failed);
  console.log(`fill: ${int(SESSIONS - fill.failed)} sessions in ${num(fill.ms / 1000)} s (${int(SESSIONS / (fill.ms / 1000))}/s), ${int(fill.failed)} refused`);

  // At full size: allocations for new pairs, then lookups of existing ones, in the same run.
  const alloc = await drive(MEASURE, (c, i) => allocate(c, `m-${i}`, i), SESSIONS);
  const stores = new Map(clients.map((c) => [c, new SessionStore(c, 'mb:', 10_000)]));
  // Which V each looked-up session got, read before the clock starts.
  const sample = Array.from({ length: MEASURE * 2 }, (_, k) => Math.floor((k * 7919) % SESSIONS));
  const vs = await Promise.all(sample.map((i) => redis.hGet(`mb:session:f-${i}`, 'v')));
  const lookups = await drive(MEASURE * 2, async (c, k) => {
    const r = await (stores.get(c) as SessionStore).lookup(vs[k] ?? '', customer(sample[k] as number));
    return r.kind === 'found' ? ['found'] : [r.kind];
  });
  // The target's rate exactly (open loop), from PACED_PROCS load-generator processes: latency at
  // 20,000/s, not at saturation, and not one client process's reply queue.
  const paced = await pacedLookups(server.url, sample.map((i, k) => [vs[k] ?? '', customer(i)]), { perSec: 20_000, procs: PACED_PROCS });
  const p = summarize(Array.from(paced.latUs, (us) => us / 1000));
  const a = summarize(alloc.lat);
  const l = summarize(lookups.lat);
  const allocRate = MEASURE / (alloc.ms / 1000);
  const lookupRate = (MEASURE * 2) / (lookups.ms / 1000);
  console.log(table(['measure', 'result', 'p50 ms', 'p99 ms', 'target', ''], [
    ['allocations/s (FCALL mb_allocate)', int(allocRate), num(a.p50, 2), num(a.p99, 2), '>= 5,000/s', verdict(allocRate >= 5000)],
    ['lookups/s (SessionStore.lookup, the INVITE path)', int(lookupRate), num(l.p50, 2), num(l.p99, 2), '>= 20,000/s, p99 < 1 ms', verdict(lookupRate >= 20_000 && l.p99 < 1)],
    [`lookups at 20,000/s, paced (open loop, ${PACED_PROCS} processes)`, int((MEASURE * 2) / paced.seconds), num(p.p50, 2), num(p.p99, 2), 'p99 < 1 ms', verdict(p.p99 < 1)],
    ['Redis memory per session (used_memory delta / sessions)', `${int(perSession)} B`, '', '', '<= 512 B', verdict(perSession <= 512)],
  ]));
  // Where the bytes go: MEMORY USAGE of the keys of 1,000 sessions (participants' hashes shared out per session).
  const parts = { session: 0, routes: 0, customer: 0, driver: 0 };
  for (let k = 0; k < 1000; k++) {
    const i = (k * 997) % SESSIONS;
    const v = vs[k % vs.length] === undefined ? '' : await redis.hGet(`mb:session:f-${i}`, 'v');
    parts.session += Number(await redis.memoryUsage(`mb:session:f-${i}`));
    parts.routes += Number(await redis.memoryUsage(`mb:route:${v}:${customer(i)}`)) + Number(await redis.memoryUsage(`mb:route:${v}:${driver(i)}`));
    parts.customer += Number(await redis.memoryUsage(`mb:party:${customer(i)}`)) / Math.ceil(SESSIONS / 500_000);
    parts.driver += Number(await redis.memoryUsage(`mb:party:${driver(i)}`)) / Math.ceil(SESSIONS / 20_000);
  }
  console.log(`\nMEMORY USAGE per session (bytes, mean of 1,000): session hash ${int(parts.session / 1000)}, two routes ${int(parts.routes / 1000)}, customer index ${int(parts.customer / 1000)}, driver index ${int(parts.driver / 1000)}`);
  console.log(`\nrefused during the measured allocations: ${alloc.failed}; lookups not found: ${lookups.failed} (paced: ${paced.notFound} not found, ${paced.failed} failed, ${paced.late} sent over 2 ms late)`);
  if (alloc.failed > MEASURE / 100 || lookups.failed > 0 || paced.notFound > 0 || paced.failed > 0) process.exitCode = 1;
});
