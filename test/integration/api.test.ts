/** The HTTP API against a real redis-server: status codes, field-naming errors, auth, health, metrics. */
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildApi, type Api, type Health } from '../../src/api/server.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { createRedis, type Redis } from '../../src/sessions/redis.js';
import { SessionStore } from '../../src/sessions/store.js';
import { RedisServer } from '../helpers/redis-server.js';

let server: RedisServer;
let redis: Redis;
let api: Api;
let health: Health;
const TOKEN = 'test-token';
const auth = { authorization: `Bearer ${TOKEN}` };
const body = { id: 'order-1', virtualNumber: '+912240001000', a: '+919812341234', b: '09876549876', ttlSeconds: 3600 };

beforeAll(async () => {
  server = await RedisServer.start();
  redis = createRedis({ url: server.url, commandTimeoutMs: 500 }, pino({ level: 'silent' }));
  await redis.connect();
  health = { redis: true, drachtio: true, liveCalls: 0, draining: false, cdrBacklog: 0, media: [] };
  api = buildApi({
    store: new SessionStore(redis, 'mb:', 500), metrics: new Metrics(), token: TOKEN, defaultRegion: 'IN',
    health: () => health, log: pino({ level: 'silent' }),
  });
  await api.ready();
});

afterAll(async () => {
  await api.close();
  await redis.close();
  await server.stop();
});

beforeEach(async () => {
  await redis.flushAll();
});

describe('sessions API', () => {
  it('creates, reads and closes a session, normalising numbers to E.164', async () => {
    const created = await api.inject({ method: 'POST', url: '/v1/sessions', headers: auth, payload: body });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ id: 'order-1', b: '+919876549876', status: 'open', record: null });
    const got = await api.inject({ method: 'GET', url: '/v1/sessions/order-1', headers: auth });
    expect(got.json()).toMatchObject({ virtualNumber: '+912240001000', status: 'open' });
    const closed = await api.inject({ method: 'DELETE', url: '/v1/sessions/order-1', headers: auth });
    expect(closed.statusCode).toBe(204);
    expect((await api.inject({ method: 'GET', url: '/v1/sessions/order-1', headers: auth })).json()).toMatchObject({ status: 'closed' });
  });

  it('accepts an ISO expiry', async () => {
    const expiresAt = new Date(Date.now() + 60_000).toISOString();
    const { ttlSeconds: _ttl, ...rest } = body;
    const r = await api.inject({ method: 'POST', url: '/v1/sessions', headers: auth, payload: { ...rest, expiresAt } });
    expect(r.statusCode).toBe(201);
    expect(r.json().expiresAt).toBe(expiresAt);
  });

  it.each([
    [{ ...body, a: 'not-a-number' }, 'a'],
    [{ ...body, virtualNumber: '12' }, 'virtualNumber'],
    [{ ...body, id: 'has spaces' }, 'id'],
    [{ ...body, b: body.a }, 'b'],
    [{ ...body, ttlSeconds: 0 }, 'ttlSeconds'],
    [{ ...body, ttlSeconds: undefined }, 'expiresAt'],
    [{ ...body, expiresAt: 'tomorrow' }, 'expiresAt'],
    [{ ...body, colour: 'red' }, 'colour'],
    [(({ a: _a, ...r }) => r)(body), 'a'],
  ])('answers 400 naming the field for %j', async (payload, field) => {
    const r = await api.inject({ method: 'POST', url: '/v1/sessions', headers: auth, payload });
    expect(r.statusCode).toBe(400);
    expect(r.json().field).toBe(field);
  });

  it('answers 400 for a body that is not JSON', async () => {
    const r = await api.inject({ method: 'POST', url: '/v1/sessions', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"id":' });
    expect(r.statusCode).toBe(400);
  });

  it('answers 409 for a second open session of a participant on the same virtual number', async () => {
    await api.inject({ method: 'POST', url: '/v1/sessions', headers: auth, payload: body });
    const r = await api.inject({ method: 'POST', url: '/v1/sessions', headers: auth, payload: { ...body, id: 'order-2', b: '+919800000001' } });
    expect(r.statusCode).toBe(409);
  });

  it('answers 404 for an unknown session', async () => {
    expect((await api.inject({ method: 'GET', url: '/v1/sessions/nope', headers: auth })).statusCode).toBe(404);
    expect((await api.inject({ method: 'DELETE', url: '/v1/sessions/nope', headers: auth })).statusCode).toBe(404);
  });

  it('answers 401 without the bearer token', async () => {
    expect((await api.inject({ method: 'GET', url: '/v1/sessions/order-1' })).statusCode).toBe(401);
    expect((await api.inject({ method: 'POST', url: '/v1/sessions', headers: { authorization: 'Bearer wrong' }, payload: body })).statusCode).toBe(401);
  });

  it('answers 503 when Redis is down, and the process goes on', async () => {
    await server.stop();
    try {
      const r = await api.inject({ method: 'GET', url: '/v1/sessions/order-1', headers: auth });
      expect(r.statusCode).toBe(503);
    } finally {
      await server.start();
      for (let i = 0; i < 100 && !redis.isReady; i++) await new Promise((res) => setTimeout(res, 50));
    }
  });
});

describe('operations endpoints', () => {
  it('health is 200 when everything is up and 503 otherwise', async () => {
    expect((await api.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    health = { ...health, drachtio: false };
    const r = await api.inject({ method: 'GET', url: '/healthz' });
    expect(r.statusCode).toBe(503);
    expect(r.json()).toMatchObject({ drachtio: false, redis: true });
    health = { ...health, drachtio: true, media: [{ server: 'fs1:8021', healthy: false, active: 0 }] };
    expect((await api.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(503);
    health = { ...health, media: [] };
  });

  it('serves Prometheus metrics and the OpenAPI document', async () => {
    const m = await api.inject({ method: 'GET', url: '/metrics' });
    expect(m.body).toContain('maskbridge_active_calls');
    const doc = await api.inject({ method: 'GET', url: '/openapi.json' });
    expect(doc.json().paths['/v1/sessions']).toBeDefined();
  });
});
