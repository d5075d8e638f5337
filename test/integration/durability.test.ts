/**
 * Durability (docs/redis-contract.md): with redis.waitReplicas, the API and the CLI follow each
 * session write with WAIT and say whether the replica has it: MaskBridge-Replicated 1 with the
 * replica in sync, 0 (within redis.waitTimeoutMs) with it down; no header without waitReplicas.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi, type Api } from '../../src/api/server.js';
import { CdrReader } from '../../src/cdr/query.js';
import { RedisCdrSink } from '../../src/cdr/redis-sink.js';
import { cdr } from '../helpers/cdr.js';
import { LiveCalls } from '../../src/calls/live-calls.js';
import { runCli } from '../../src/cli/cli.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { Durability } from '../../src/sessions/durability.js';
import { PoolStore } from '../../src/sessions/pools.js';
import { createRedis, type Redis } from '../../src/sessions/redis.js';
import { SessionStore } from '../../src/sessions/store.js';
import { freePort, waitForTcp } from '../helpers/net.js';
import { RedisServer } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

const WAIT_MS = 100;
let primary: RedisServer;
let replica: ChildProcess | null = null;
let redis: Redis;
const log = pino({ level: 'silent' });

async function startReplica(): Promise<void> {
  const port = await freePort();
  replica = spawn(process.env.REDIS_SERVER_BIN ?? 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', mkdtempSync(join(tmpdir(), 'mb-replica-')), '--replicaof', '127.0.0.1', String(primary.port)], { stdio: 'ignore' });
  replica.on('error', () => undefined);
  await waitForTcp('127.0.0.1', port, 5000);
  await until(async () => String(await redis.sendCommand(['INFO', 'replication'])).includes('state=online'), 10_000);
}

async function stopReplica(): Promise<void> {
  const p = replica;
  replica = null;
  if (!p || p.exitCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGKILL');
  await exited;
  await until(async () => String(await redis.sendCommand(['INFO', 'replication'])).includes('connected_slaves:0'), 5000);
}

function api(durable: boolean): Api {
  const store = new SessionStore(redis, 'mb:', 500);
  return buildApi({
    store, pools: new PoolStore(redis, 'mb:', 500), calls: new LiveCalls(redis, 'mb:', 500), lifecycle: { erase: () => Promise.resolve({ number: '', sessions: [], recordingFolders: 0 }) },
    cdrs: new CdrReader(redis, 'mb:cdr', 500), recordingsDir: '/nonexistent', metrics: new Metrics(), token: '', defaultRegion: 'IN',
    health: () => ({ redis: true, drachtio: true, liveCalls: 0, draining: false, cdrBacklog: 0, media: [] }), log,
    ...(durable ? { durability: new Durability(redis, { replicas: 1, timeoutMs: WAIT_MS }) } : {}),
  });
}

const session = (id: string) => ({ id, virtualNumber: '+912240001000', a: '+919812341234', b: '+919876549876', ttlSeconds: 600 });

beforeAll(async () => {
  primary = await RedisServer.start();
  redis = createRedis({ url: primary.url, commandTimeoutMs: 500 }, log);
  await redis.connect();
});

afterAll(async () => {
  await stopReplica().catch(() => undefined);
  await redis.close().catch(() => undefined);
  await primary.stop();
});

describe('durability: WAIT after session writes', () => {
  it('says 1 when the replica has the write, 0 within the timeout when it is down', async () => {
    const a = api(true);
    await startReplica();
    const created = await a.inject({ method: 'POST', url: '/v1/sessions', payload: session('order-1') });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.headers['maskbridge-replicated']).toBe('1');
    const patched = await a.inject({ method: 'PATCH', url: '/v1/sessions/order-1', payload: { ttlSeconds: 900 } });
    expect(patched.headers['maskbridge-replicated']).toBe('1');

    await stopReplica();
    const t0 = Date.now();
    const closed = await a.inject({ method: 'DELETE', url: '/v1/sessions/order-1' });
    expect(closed.statusCode).toBe(204);
    expect(closed.headers['maskbridge-replicated']).toBe('0');
    expect(Date.now() - t0).toBeLessThan(WAIT_MS + 400);
    // A write that throws is not waited for and says nothing.
    const bad = await a.inject({ method: 'PATCH', url: '/v1/sessions/nope', payload: { ttlSeconds: 900 } });
    expect(bad.statusCode).toBe(404);
    expect(bad.headers['maskbridge-replicated']).toBeUndefined();
    await a.close();
  });

  it('sends no header without redis.waitReplicas', async () => {
    const a = api(false);
    const created = await a.inject({ method: 'POST', url: '/v1/sessions', payload: session('order-2') });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.headers['maskbridge-replicated']).toBeUndefined();
    await a.close();
  });

  it('CDRs: confirmed (out of the spool) only once replicated; resends meanwhile add nothing twice', async () => {
    await stopReplica();
    const sink = new RedisCdrSink(redis, {
      streamKey: 'mb:cdr', maxLen: 0, spoolFile: join(mkdtempSync(join(tmpdir(), 'mb-durable-cdr-')), 'spool.jsonl'),
      retryMs: 50, maxRetryMs: 100, waitReplicas: 1, waitTimeoutMs: WAIT_MS,
    }, log);
    sink.write(cdr(1));
    sink.write(cdr(2));
    await until(async () => (await redis.xLen('mb:cdr')) === 2);
    await new Promise((r) => setTimeout(r, 600)); // several resends
    expect(sink.backlog).toBe(2);
    expect(await redis.xLen('mb:cdr')).toBe(2);
    await startReplica();
    await until(() => sink.backlog === 0, 5000);
    expect((await redis.xRange('mb:cdr', '-', '+')).map((e) => e.message.id)).toEqual(['cdr-1', 'cdr-2']);
    await sink.close(1000);
    await stopReplica();
  });

  it('the CLI warns on stderr when a write is not replicated in time, and exits 0', async () => {
    const env = { MB_REDIS_URL: primary.url, MB_NUMBERS_DEFAULT_REGION: 'IN', MASKBRIDGE_CONFIG: 'config/default.json', MB_REDIS_WAIT_REPLICAS: '1', MB_REDIS_WAIT_TIMEOUT_MS: String(WAIT_MS) };
    const run = async (...argv: string[]) => {
      const err: string[] = [];
      const code = await runCli(['--json', ...argv], env, { out: () => undefined, err: (l) => err.push(l) });
      return { code, err: err.join('\n') };
    };
    const down = await run('session', 'close', 'order-2');
    expect(down.code, down.err).toBe(0);
    expect(down.err).toMatch(/not on 1 replica\(s\) within 100 ms/);
    await startReplica();
    const up = await run('session', 'create', '--id', 'order-3', '--virtual', '+912240001001', '--a', '+919812341234', '--b', '+919876549876', '--ttl', '60');
    expect(up).toEqual({ code: 0, err: '' });
  });
});
