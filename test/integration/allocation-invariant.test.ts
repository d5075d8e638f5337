/**
 * The allocation invariant under concurrency: across all open sessions, each (participant,
 * virtual number) pair is unique. 10,000 creates from 8 concurrent clients (6 node-redis
 * clients through SessionStore, 2 plain redis-cli processes calling FCALL mb_allocate and
 * mb_create by name), with closes interleaved; then the whole keyspace is checked.
 */
import { spawn } from 'node:child_process';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError } from '../../src/sessions/errors.js';
import { PoolStore } from '../../src/sessions/pools.js';
import { createRedis, type Redis } from '../../src/sessions/redis.js';
import { SessionStore } from '../../src/sessions/store.js';
import { RedisServer } from '../helpers/redis-server.js';

const CREATES = 10_000;
const NODE_CLIENTS = 6;
const CLI_CLIENTS = 2;
const NUMBERS = Array.from({ length: 120 }, (_, i) => `+9122400${String(10000 + i)}`);
const customer = (i: number) => `+9198100${String(10000 + (i % 400))}`;
const driver = (i: number) => `+9198700${String(10000 + (i % 25))}`;
let server: RedisServer;
const clients: Redis[] = [];

beforeAll(async () => {
  server = await RedisServer.start();
  for (let i = 0; i < NODE_CLIENTS; i++) {
    const c = createRedis({ url: server.url, commandTimeoutMs: 5000 }, pino({ level: 'silent' }));
    await c.connect();
    clients.push(c);
  }
});
afterAll(async () => {
  for (const c of clients) await c.close();
  await server.stop();
});

/** One redis-cli process reading `lines` on stdin; resolves with its output. */
function redisCli(lines: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('redis-cli', ['-p', String(server.port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`redis-cli exited ${code}`));
    });
    p.stdin.end(`${lines.join('\n')}\n`);
  });
}

describe('allocation under concurrency', () => {
  it(`keeps (participant, V) unique over ${CREATES} creates from ${NODE_CLIENTS + CLI_CLIENTS} clients with closes interleaved`, async () => {
    const pools = new PoolStore(clients[0] as Redis, 'mb:', 5000);
    await pools.set('city', { coolOffSec: 0 });
    await pools.add('city', NUMBERS);
    const exp = Date.now() + 3600_000;
    const perClient = CREATES / (NODE_CLIENTS + CLI_CLIENTS);
    const outcomes = { ok: 0, refused: 0 };

    const nodeWork = clients.map(async (c, ci) => {
      const store = new SessionStore(c, 'mb:', 5000);
      const mine: string[] = [];
      for (let i = 0; i < perClient; i++) {
        const k = ci * perClient + i;
        const id = `n${ci}-${i}`;
        try {
          // Most through allocation; every fifth names a number, as a backend choosing V itself would.
          const s = k % 5 === 0
            ? await store.create({ id, virtualNumber: NUMBERS[k % NUMBERS.length] as string, a: customer(k * 7), b: driver(k), expiresAt: exp })
            : await store.allocate({ id, pool: 'city', a: customer(k * 7), b: driver(k), expiresAt: exp });
          mine.push(s.id);
          outcomes.ok++;
        } catch (err) {
          if (!(err instanceof ConflictError)) throw err; // conflict or pool exhausted: refused, as it must be
          outcomes.refused++;
        }
        if (i % 2 === 1 && mine.length > 0) await store.close(mine.splice((k * 31) % mine.length, 1)[0] as string);
      }
    });
    const cliWork = Array.from({ length: CLI_CLIENTS }, (_, ci) => {
      const lines: string[] = [];
      for (let i = 0; i < perClient; i++) {
        const k = (NODE_CLIENTS + ci) * perClient + i;
        const a = customer(k * 7);
        const b = driver(k);
        const id = `c${ci}-${i}`;
        if (k % 5 === 0) {
          const v = NUMBERS[k % NUMBERS.length] as string;
          lines.push(`FCALL mb_create 5 mb:session:${id} mb:route:${v}:${a} mb:route:${v}:${b} mb:party:${a} mb:party:${b} "" "" v ${v} a ${a} b ${b} expires_at ${exp}`);
        } else {
          lines.push(`FCALL mb_allocate 3 mb:session:${id} mb:party:${a} mb:party:${b} city "" "" "" a ${a} b ${b} expires_at ${exp}`);
        }
        if (i % 3 === 2) lines.push(`FCALL mb_close 1 mb:session:c${ci}-${i - 2}`);
      }
      return redisCli(lines);
    });
    const [, ...cliOut] = await Promise.all([Promise.all(nodeWork), ...cliWork]);
    for (const out of cliOut) {
      expect(out).not.toMatch(/ERR|invalid/);
      outcomes.ok += (out.match(/^ok$/gm) ?? []).length;
      outcomes.refused += (out.match(/^(conflict|exhausted)$/gm) ?? []).length;
    }
    expect(outcomes.ok + outcomes.refused).toBe(CREATES);
    expect(outcomes.ok).toBeGreaterThan(CREATES / 2);

    // The whole keyspace: every open, unexpired session's pairs are unique, each participant's
    // index names it for its V (the lookup finds it), and there is no route key (key layout 2).
    const c = clients[0] as Redis;
    const store = new SessionStore(c, 'mb:', 5000);
    const pairs = new Map<string, string>();
    let open = 0;
    for await (const batch of c.scanIterator({ MATCH: 'mb:session:*', COUNT: 1000 })) {
      for (const key of batch) {
        const h = await c.hGetAll(key);
        if (h.status !== 'open' || Number(h.expires_at) <= Date.now()) continue;
        open++;
        const id = key.slice('mb:session:'.length);
        for (const who of [h.a, h.b]) {
          const pair = `${who}@${h.v}`;
          expect(pairs.get(pair), `${pair} held by ${pairs.get(pair)} and ${id}`).toBeUndefined();
          pairs.set(pair, id);
          expect(await c.hGet(`mb:party:${who}`, h.v as string), `${pair}`).toBe(id);
          expect(await store.lookup(h.v as string, who as string)).toMatchObject({ kind: 'found', session: { id } });
        }
      }
    }
    expect(open).toBeGreaterThan(100);
    expect(await c.keys('mb:route:*')).toEqual([]);
    console.info(`[invariant] ${outcomes.ok} created, ${outcomes.refused} refused, ${open} open at the end`);
  }, 120_000);
});
