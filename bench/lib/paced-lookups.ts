/**
 * Lookups at a fixed rate from several load-generator processes (open loop), so that the latency
 * measured is Redis's and the INVITE path's, not one client process's queue: one node process
 * cannot parse 20,000 replies/s and keep its own timers on time, so the rate is split over
 * `procs` children, each with its own connection, each sending a few lookups every millisecond.
 * Latency runs from the moment a lookup is sent to its answer; a child that falls behind its
 * schedule by more than 2 ms counts the lookup as `late` (reported, so lateness never hides).
 *
 *   const r = await pacedLookups(url, pairs, { perSec: 20_000, procs: 4 });
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { createRedis } from '../../src/sessions/redis.js';
import { SessionStore } from '../../src/sessions/store.js';

type Pair = [virtualNumber: string, caller: string];
/** Lookups each child makes, unmeasured, before the paced run. */
const WARMUP = 5000;
interface Job { url: string; pairs: Pair[]; perSec: number; startAt: number }
interface Done { latUs: number[]; late: number; notFound: number; failed: number; seconds: number }

/** failed: lookups that got no answer within the store's deadline (10 s) or an error. */
export interface PacedResult { latUs: Float64Array; late: number; notFound: number; failed: number; seconds: number }

/** Looks up every pair once, at `perSec` in all, from `procs` child processes started together. */
export async function pacedLookups(url: string, pairs: Pair[], opts: { perSec: number; procs: number }): Promise<PacedResult> {
  const startAt = Date.now() + 1500; // every child connected and waiting by then
  const slices = Array.from({ length: opts.procs }, (_, p) => pairs.filter((_, i) => i % opts.procs === p));
  const results = await Promise.all(slices.map((slice) => new Promise<Done>((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--paced-lookup-child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000 + (slice.length / (opts.perSec / opts.procs)) * 2000);
    child.once('message', (m) => resolve(m as Done));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`paced lookup child exited (${String(code)}) without a result`));
    });
    child.send({ url, pairs: slice, perSec: opts.perSec / opts.procs, startAt } satisfies Job);
  })));
  return {
    latUs: Float64Array.from(results.flatMap((r) => r.latUs)),
    late: results.reduce((n, r) => n + r.late, 0),
    notFound: results.reduce((n, r) => n + r.notFound, 0),
    failed: results.reduce((n, r) => n + r.failed, 0),
    seconds: Math.max(...results.map((r) => r.seconds)),
  };
}

async function child(job: Job): Promise<Done> {
  const redis = createRedis({ url: job.url, commandTimeoutMs: 10_000 }, pino({ level: 'silent' }));
  await redis.connect();
  const store = new SessionStore(redis, 'mb:', 10_000);
  // Warm up (the script cached, the code compiled) on this child's own pairs before the clock starts.
  for (let i = 0; i < Math.min(WARMUP, job.pairs.length); i += 8) {
    await Promise.all(job.pairs.slice(i, i + 8).map(([v, caller]) => store.lookup(v, caller)));
  }
  await new Promise((r) => setTimeout(r, Math.max(0, job.startAt - Date.now())));
  const latUs: number[] = new Array<number>(job.pairs.length).fill(0);
  const pending: Array<Promise<void>> = [];
  let late = 0;
  let notFound = 0;
  let failed = 0;
  const start = performance.now();
  for (let sent = 0; sent < job.pairs.length;) {
    const due = Math.min(job.pairs.length, Math.floor(((performance.now() - start) / 1000) * job.perSec) + 1);
    const behindMs = ((due - sent) / job.perSec) * 1000;
    for (; sent < due; sent++) {
      const i = sent;
      const [v, caller] = job.pairs[i] as Pair;
      if (behindMs > 2) late++;
      const t0 = performance.now();
      pending.push(store.lookup(v, caller).then((r) => {
        latUs[i] = (performance.now() - t0) * 1000;
        if (r.kind !== 'found') notFound++;
      }, () => {
        latUs[i] = (performance.now() - t0) * 1000;
        failed++;
      }));
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(pending);
  const seconds = (performance.now() - start) / 1000;
  await redis.close();
  return { latUs, late, notFound, failed, seconds };
}

if (process.argv.includes('--paced-lookup-child')) {
  process.once('message', (job) => {
    child(job as Job).then((done) => process.send?.(done, () => process.exit(0)), (err: Error) => {
      console.error(`paced lookup child: ${err.message}`);
      process.exit(1);
    });
  });
}
