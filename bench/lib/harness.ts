/**
 * Shared by the benchmarks: the environment knobs, teardown (also on SIGINT/SIGTERM), a throwaway
 * redis-server with its sessions, a closed-loop driver and CPU counters.
 */
import pino from 'pino';
import { createRedis, type Redis } from '../../src/sessions/redis.js';
import { SessionStore } from '../../src/sessions/store.js';
import { RedisServer } from '../../test/helpers/redis-server.js';
import { findPid } from './host.js';

export const envNum = (name: string, def: number): number => Number(process.env[name] ?? def);
export const envFlag = (name: string): boolean => process.env[name] === '1';
export const envList = (name: string, def: string): string[] => (process.env[name] ?? def).split(',').map((s) => s.trim()).filter(Boolean);

/** A knob with a fixed set of values; an unknown one is refused, not taken as the default. */
export function envOneOf<T extends string>(name: string, def: T, allowed: readonly T[]): T {
  const value = process.env[name] ?? def;
  const found = allowed.find((a) => a === value);
  if (!found) throw new Error(`${name} must be one of ${allowed.join(', ')}, not "${value}"`);
  return found;
}

/** The virtual number of every benchmark session, and its callers and their peers (call i). */
export const V = '+912240001000';
export const caller = (i: number): string => `+9198100${String(i).padStart(5, '0')}`;
export const peer = (i: number): string => `+9198200${String(i).padStart(5, '0')}`;

export type OnExit = (stop: () => unknown) => void;
const live = new Set<() => unknown>();
let trapped = false;

/**
 * Runs `fn`; what it registers with `onExit` is stopped in reverse order on the way out, also when
 * it fails half way, and on SIGINT/SIGTERM (then the process exits).
 */
export async function withCleanup<T>(fn: (onExit: OnExit) => Promise<T>): Promise<T> {
  if (!trapped) {
    trapped = true;
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        console.error(`\n${signal}: stopping everything this benchmark started`);
        void Promise.allSettled([...live].map((stop) => stop())).then(() => process.exit(130));
      });
    }
  }
  const stops: Array<() => unknown> = [];
  try {
    return await fn((stop) => {
      stops.push(stop);
      live.add(stop);
    });
  } finally {
    for (const stop of stops.reverse()) if (live.delete(stop)) await Promise.resolve().then(stop).catch(() => undefined);
  }
}

export function redisClient(url: string, commandTimeoutMs: number): Redis {
  return createRedis({ url, commandTimeoutMs }, pino({ level: 'silent' }));
}

/** A throwaway redis-server and a connected client for `fn`; both stop after it. */
export function withRedis<T>(commandTimeoutMs: number, fn: (redis: Redis, server: RedisServer, onExit: OnExit) => Promise<T>): Promise<T> {
  return withCleanup(async (onExit) => {
    const server = await RedisServer.start();
    onExit(() => server.stop());
    const redis = redisClient(server.url, commandTimeoutMs);
    onExit(() => redis.isOpen && redis.close());
    await redis.connect();
    return fn(redis, server, onExit);
  });
}

export const redisPid = (server: RedisServer): number | null => findPid(`redis-server 127.0.0.1:${server.port}`) ?? findPid(`--port ${server.port} `);

/** Open sessions `${id}${i}` on V from `from(i)` to `to(i)`, i < n; returns their store. */
export async function seedSessions(redis: Redis, n: number, opts: { id?: string; from?: (i: number) => string; to?: (i: number) => string; record?: boolean; timeoutMs?: number } = {}): Promise<SessionStore> {
  const { id = 'bench-', from = caller, to = peer, record, timeoutMs = 2000 } = opts;
  const store = new SessionStore(redis, 'mb:', timeoutMs);
  const expiresAt = Date.now() + 3 * 3600_000;
  for (let i = 0; i < n; i++) await store.create({ id: `${id}${i}`, virtualNumber: V, a: from(i), b: to(i), expiresAt, ...(record ? { record } : {}) });
  return store;
}

/** The sum of the `fields` of INFO `section` (a commandstats line counts its calls). */
export async function redisInfo(redis: Redis, section: string, ...fields: string[]): Promise<number> {
  const text = await redis.info(section);
  return fields.reduce((n, f) => n + [...text.matchAll(new RegExp(`^${f}:(?:calls=)?([0-9.]+)`, 'gm'))].reduce((a, m) => a + Number(m[1]), 0), 0);
}

/** redis-server's own CPU time so far (user + sys), µs. */
export const redisCpuUs = async (redis: Redis): Promise<number> => (await redisInfo(redis, 'cpu', 'used_cpu_user', 'used_cpu_sys')) * 1e6;

/** Every CDR of mb:cdr, fields as strings, in stream order (at most 100,000). */
export async function readCdrs(redis: Redis): Promise<Array<Record<string, string>>> {
  const out: Array<Record<string, string>> = [];
  for (let page = 0, from = '-'; page < 100; page++) {
    const entries = await redis.xRange('mb:cdr', from, '+', { COUNT: 1000 });
    for (const e of entries) out.push(Object.fromEntries(Object.entries(e.message).map(([k, v]) => [k, String(v)])));
    if (entries.length < 1000) break;
    from = `(${entries.at(-1)!.id}`;
  }
  return out;
}

export function countBy<T>(items: T[], key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
}

/** This process's CPU (user + system) since `from` (process.cpuUsage()), µs. */
export function cpuUsSince(from: NodeJS.CpuUsage): number {
  const cpu = process.cpuUsage(from);
  return cpu.user + cpu.system;
}

/** Up to `total` ops with `workers` in flight (closed loop), none started after `limitMs`; latUs in the order they ended. */
export async function closedLoop(total: number, workers: number, op: (i: number, worker: number) => Promise<unknown>, limitMs = Infinity): Promise<{ ops: number; seconds: number; latUs: Float64Array }> {
  const lat = new Float64Array(total);
  let next = 0;
  let done = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: workers }, async (_, w) => {
    for (let i = next++; i < total; i = next++) {
      const t0 = performance.now();
      if (t0 - start > limitMs) return;
      await op(i, w);
      lat[done++] = (performance.now() - t0) * 1000;
    }
  }));
  return { ops: done, seconds: (performance.now() - start) / 1000, latUs: lat.subarray(0, done) };
}
