/** Fail closed: with Redis down or frozen, callers get 503 within the timeout; calls work again after. */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallRegistry } from '../../src/calls/registry.js';
import { callDepsFromConfig, createInviteHandler } from '../../src/calls/handler.js';
import { loadConfig } from '../../src/config/load.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { createRedis, type Redis } from '../../src/sessions/redis.js';
import { SessionStore } from '../../src/sessions/store.js';
import { FakeSipPort, type FakeInboundCall } from '../helpers/fake-sip.js';
import { A, B, MemoryCdrSink, V, inviteFrom } from '../helpers/harness.js';
import { RedisServer } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

const TIMEOUT_MS = 200;
let server: RedisServer;
let redis: Redis;
let store: SessionStore;
let sip: FakeSipPort;
let cdr: MemoryCdrSink;

async function finalStatusOf(call: FakeInboundCall, withinMs: number): Promise<{ status: number | undefined; ms: number }> {
  const t0 = Date.now();
  while (call.finalStatus === undefined && sip.dials.length === 0 && Date.now() - t0 < withinMs) {
    await new Promise((r) => setTimeout(r, 5));
  }
  return { status: call.finalStatus, ms: Date.now() - t0 };
}


beforeAll(async () => {
  server = await RedisServer.start();
  const log = pino({ level: 'silent' });
  const config = loadConfig({ files: ['config/default.json', 'config/test.json'], overrides: { redis: { url: server.url, commandTimeoutMs: TIMEOUT_MS } } });
  redis = createRedis({ url: config.redis.url, commandTimeoutMs: TIMEOUT_MS }, log);
  await redis.connect();
  store = new SessionStore(redis, 'mb:', TIMEOUT_MS);
  sip = new FakeSipPort();
  cdr = new MemoryCdrSink();
  const registry = new CallRegistry(log);
  sip.onInvite(createInviteHandler(
    callDepsFromConfig(config, { sip, sessions: store, cdr, metrics: new Metrics(), log, callIdKey: 'test', isDraining: () => false }),
    registry,
  ));
});

afterAll(async () => {
  await redis.close().catch(() => undefined);
  await server.stop();
});

async function seed(): Promise<void> {
  await store.create({ id: 'order-1', virtualNumber: V, a: A, b: B, expiresAt: Date.now() + 600_000 });
}

describe('Redis outage', () => {
  it('bridges while Redis is up', async () => {
    await seed();
    const call = sip.invite(inviteFrom(A));
    await finalStatusOf(call, 2000);
    expect(sip.dials).toHaveLength(1);
    sip.dials[0]!.fail(486);
  });

  it('answers 503 within the command timeout when Redis is frozen, and never bridges', async () => {
    sip.dials.length = 0;
    server.pause();
    try {
      const call = sip.invite(inviteFrom(A));
      const { status, ms } = await finalStatusOf(call, 3000);
      expect(status).toBe(503);
      expect(ms).toBeLessThan(TIMEOUT_MS + 150);
      expect(sip.dials).toHaveLength(0);
    } finally {
      server.resume();
    }
  });

  it('answers 503 at once when Redis is down, without queueing the lookup', async () => {
    sip.dials.length = 0;
    await server.stop();
    await until(() => !redis.isReady);
    const call = sip.invite(inviteFrom(A));
    const { status, ms } = await finalStatusOf(call, 3000);
    expect(status).toBe(503);
    expect(ms).toBeLessThan(TIMEOUT_MS + 150);
    expect(sip.dials).toHaveLength(0);
    expect(cdr.records.at(-1)).toMatchObject({ disposition: 'store-unavailable', finalStatus: 503 });
  });

  it('recovers when Redis returns', async () => {
    await server.start();
    await until(() => redis.isReady);
    await seed();
    const call = sip.invite(inviteFrom(B));
    await finalStatusOf(call, 2000);
    expect(sip.dials).toHaveLength(1);
    expect(sip.dials[0]!.req.uri).toContain(A);
  });
});
