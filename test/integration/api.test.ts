/** The HTTP API against a real redis-server: status codes, problem+json errors, auth, liveness/readiness, metrics. */
import { connect } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import { buildApi, type Api, type ApiDeps, type Health } from '../../src/api/server.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { createRedis, DeadlineError, StoreUnavailableError, type Redis } from '../../src/sessions/redis.js';
import { PoolStore } from '../../src/sessions/pools.js';
import { LiveCalls } from '../../src/calls/live-calls.js';
import { CdrReader } from '../../src/cdr/query.js';
import { SessionStore } from '../../src/sessions/store.js';
import { RedisServer } from '../helpers/redis-server.js';

let server: RedisServer;
let redis: Redis;
let api: Api;
let health: Health;
const TOKEN = 'test-token';
const auth = { authorization: `Bearer ${TOKEN}` };
const body = { id: 'order-1', virtualNumber: '+912240001000', a: '+919812341234', b: '09876549876', ttlSeconds: 3600 };
const allUp: Health = { redis: true, drachtio: true, liveCalls: 2, draining: false, cdrBacklog: 0, media: [] };

const extra: Api[] = [];
/** A second API over a stand-in store (and optionally another token), logging into `lines`. */
async function apiWith(store: ApiDeps['store'], opts: { token?: string; lines?: string[] } = {}): Promise<Api> {
  const lines = opts.lines ?? [];
  const a = buildApi({
    store, pools: failingPools(new Error('no pools here')), calls: new LiveCalls(redis, 'mb:', 500), lifecycle: { erase: () => Promise.reject(new Error('unused')) }, cdrs: new CdrReader(redis, 'mb:cdr', 500), recordingsDir: '/nonexistent', metrics: new Metrics(), token: opts.token ?? TOKEN, defaultRegion: 'IN', health: () => health,
    log: pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }),
  });
  await a.ready();
  extra.push(a);
  return a;
}
const failingStore = (err: Error): ApiDeps['store'] => ({
  create: () => Promise.reject(err),
  allocate: () => Promise.reject(err),
  get: () => Promise.reject(err),
  close: () => Promise.reject(err),
  extend: () => Promise.reject(err),
  update: () => Promise.reject(err),
  sessionsOf: () => Promise.reject(err),
  list: () => Promise.reject(err),
});
const failingPools = (err: Error): ApiDeps['pools'] => ({
  set: () => Promise.reject(err),
  get: () => Promise.reject(err),
  list: () => Promise.reject(err),
  add: () => Promise.reject(err),
  setState: () => Promise.reject(err),
  remove: () => Promise.reject(err),
  numbers: () => Promise.reject(err),
});

/** Checks the RFC 9457 shape and returns the body. */
function problem(r: LightMyRequestResponse, status: number, type: string): { title: string; detail: string; field?: string } {
  expect(r.statusCode, r.body).toBe(status);
  expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
  const p = r.json();
  expect(p).toMatchObject({ type, status });
  expect(typeof p.title).toBe('string');
  expect(typeof p.detail).toBe('string');
  expect(p.error).toBeUndefined();
  return p;
}
const URN = (kind: string) => `urn:maskbridge:problem:${kind}`;

beforeAll(async () => {
  server = await RedisServer.start();
  redis = createRedis({ url: server.url, commandTimeoutMs: 500 }, pino({ level: 'silent' }));
  await redis.connect();
  api = buildApi({
    store: new SessionStore(redis, 'mb:', 500), pools: new PoolStore(redis, 'mb:', 500), calls: new LiveCalls(redis, 'mb:', 500), lifecycle: { erase: () => Promise.reject(new Error('unused')) }, cdrs: new CdrReader(redis, 'mb:cdr', 500), recordingsDir: '/nonexistent', metrics: new Metrics(), token: TOKEN, defaultRegion: 'IN',
    health: () => health, log: pino({ level: 'silent' }),
  });
  await api.ready();
});

afterAll(async () => {
  await Promise.all([api, ...extra].map((a) => a.close()));
  await redis.close();
  await server.stop();
});

beforeEach(async () => {
  health = { ...allUp };
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

  it('keeps a per-session webhook URL', async () => {
    const r = await api.inject({ method: 'POST', url: '/v1/sessions', headers: auth, payload: { ...body, webhookUrl: 'https://backend.example/hooks?order=1' } });
    expect(r.statusCode).toBe(201);
    expect(r.json().webhookUrl).toBe('https://backend.example/hooks?order=1');
  });

  it('keeps unknownCaller, answers 409 naming the holder for a second one on V, and clears it on PATCH', async () => {
    const r = await api.inject({ method: 'POST', url: '/v1/sessions', headers: auth, payload: { ...body, unknownCaller: 'announce:order-delivered.wav' } });
    expect(r.statusCode, r.body).toBe(201);
    expect(r.json().unknownCaller).toBe('announce:order-delivered.wav');
    expect(await redis.get('mb:unknown:+912240001000')).toBe('order-1');
    const other = { ...body, id: 'order-2', a: '+919800000001', b: '+919800000002', unknownCaller: 'connect-b' };
    const conflict = await api.inject({ method: 'POST', url: '/v1/sessions', headers: auth, payload: other });
    expect(problem(conflict, 409, URN('conflict')).detail).toContain('open session order-1');
    const patched = await api.inject({ method: 'PATCH', url: '/v1/sessions/order-1', headers: auth, payload: { unknownCaller: 'reject' } });
    expect(patched.json().unknownCaller).toBe('reject');
    expect((await api.inject({ method: 'POST', url: '/v1/sessions', headers: auth, payload: other })).json()).toMatchObject({ id: 'order-2', unknownCaller: 'connect-b' });
    expect((await api.inject({ method: 'GET', url: '/v1/sessions/order-2', headers: auth })).json().unknownCaller).toBe('connect-b');
    const plain = await api.inject({ method: 'POST', url: '/v1/sessions', headers: auth, payload: { ...body, id: 'order-3', virtualNumber: '+912240009000' } });
    expect(plain.json().unknownCaller).toBeNull();
  });

  it('accepts an ISO expiry', async () => {
    const expiresAt = new Date(Date.now() + 60_000).toISOString();
    const { ttlSeconds: _ttl, ...rest } = body;
    const r = await api.inject({ method: 'POST', url: '/v1/sessions', headers: auth, payload: { ...rest, expiresAt } });
    expect(r.statusCode).toBe(201);
    expect(r.json().expiresAt).toBe(expiresAt);
  });

  it.each([
    [{ ...body, a: 'not-a-number' }, 'body/a'],
    [{ ...body, virtualNumber: '12' }, 'body/virtualNumber'],
    [{ ...body, id: 'has spaces' }, 'body/id'],
    [{ ...body, b: body.a }, 'body/b'],
    [{ ...body, ttlSeconds: 0 }, 'body/ttlSeconds'],
    [{ ...body, ttlSeconds: undefined }, 'body/expiresAt'],
    [{ ...body, expiresAt: 'tomorrow' }, 'body/expiresAt'],
    [{ ...body, colour: 'red' }, 'body/colour'],
    [{ ...body, webhookUrl: 'ftp://backend.example/' }, 'body/webhookUrl'],
    [{ ...body, webhookUrl: 'https://' }, 'body/webhookUrl'],
    [{ ...body, unknownCaller: 'connect-c' }, 'body/unknownCaller'],
    [{ ...body, unknownCaller: 'announce:../secret.wav' }, 'body/unknownCaller'],
    [(({ a: _a, ...r }) => r)(body), 'body/a'],
    [[body], 'body'],
  ])('answers a 400 problem naming the field for %j', async (payload, field) => {
    const r = await api.inject({ method: 'POST', url: '/v1/sessions', headers: auth, payload });
    expect(problem(r, 400, URN('validation')).field).toBe(field);
  });

  it('answers a 400 problem naming params/id for a malformed id in the path', async () => {
    const r = await api.inject({ method: 'GET', url: '/v1/sessions/has%20spaces', headers: auth });
    expect(problem(r, 400, URN('validation')).field).toBe('params/id');
  });

  it.each([['not JSON', '{"id":'], ['empty', '']])('answers a 400 problem naming the body for a body that is %s', async (_what, payload) => {
    const r = await api.inject({ method: 'POST', url: '/v1/sessions', headers: { ...auth, 'content-type': 'application/json' }, payload });
    expect(problem(r, 400, URN('validation')).field).toBe('body');
  });

  it('answers a plain 413 problem for a body over the size limit', async () => {
    const r = await api.inject({ method: 'POST', url: '/v1/sessions', headers: { ...auth, 'content-type': 'application/json' }, payload: `"${'x'.repeat(1_100_000)}"` });
    expect(problem(r, 413, 'about:blank').title).toBe('Payload Too Large');
  });

  it('answers problems for a body in the wrong content type', async () => {
    const xml = await api.inject({ method: 'POST', url: '/v1/sessions', headers: { ...auth, 'content-type': 'application/xml' }, payload: '<id/>' });
    expect(problem(xml, 415, URN('unsupported-media-type')).field).toBe('headers/content-type');
    const text = await api.inject({ method: 'POST', url: '/v1/sessions', headers: { ...auth, 'content-type': 'text/plain' }, payload: 'id=1' });
    expect(problem(text, 400, URN('validation')).field).toBe('body');
  });

  it('answers a 409 problem for a second open session of a participant on the same virtual number', async () => {
    await api.inject({ method: 'POST', url: '/v1/sessions', headers: auth, payload: body });
    const r = await api.inject({ method: 'POST', url: '/v1/sessions', headers: auth, payload: { ...body, id: 'order-2', b: '+919800000001' } });
    expect(problem(r, 409, URN('conflict')).detail).toContain('order-1');
  });

  it('never replaces a session: an existing id gets 409, and the old one stays as it was', async () => {
    await api.inject({ method: 'POST', url: '/v1/sessions', headers: auth, payload: body });
    const r = await api.inject({ method: 'POST', url: '/v1/sessions', headers: auth, payload: { ...body, virtualNumber: '+912240009999' } });
    expect(problem(r, 409, URN('conflict')).detail).toContain('already exists');
    const kept = await api.inject({ method: 'GET', url: '/v1/sessions/order-1', headers: auth });
    expect(kept.json()).toMatchObject({ virtualNumber: body.virtualNumber });
  });

  it('gives a repeated create with the same Idempotency-Key the session it made; another body with that key is a 409', async () => {
    const headers = { ...auth, 'idempotency-key': 'req-7f3a' };
    const first = await api.inject({ method: 'POST', url: '/v1/sessions', headers, payload: body });
    const again = await api.inject({ method: 'POST', url: '/v1/sessions', headers, payload: body });
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    const other = await api.inject({ method: 'POST', url: '/v1/sessions', headers, payload: { ...body, label: 'changed' } });
    problem(other, 409, URN('conflict'));
    const bad = await api.inject({ method: 'POST', url: '/v1/sessions', headers: { ...auth, 'idempotency-key': 'has space' }, payload: { ...body, id: 'order-9' } });
    expect(problem(bad, 400, URN('validation')).field).toBe('headers/idempotency-key');
  });

  it('answers a 404 problem for an unknown session and for an unknown route', async () => {
    expect(problem(await api.inject({ method: 'GET', url: '/v1/sessions/nope', headers: auth }), 404, URN('not-found')).detail).toContain('nope');
    problem(await api.inject({ method: 'DELETE', url: '/v1/sessions/nope', headers: auth }), 404, URN('not-found'));
    expect(problem(await api.inject({ method: 'GET', url: '/v2/whatever?x=1' }), 404, URN('not-found')).detail).toBe('no route for GET /v2/whatever');
    problem(await api.inject({ method: 'PUT', url: '/v1/sessions/order-1', headers: auth }), 404, URN('not-found'));
  });

  it.each([
    ['no header', undefined],
    ['a wrong token', 'Bearer wrong'],
    ['a token of the same length', `Bearer ${'x'.repeat(TOKEN.length)}`],
    ['the token with a suffix', `Bearer ${TOKEN}x`],
    ['a prefix of the token', `Bearer ${TOKEN.slice(0, -1)}`],
    ['another scheme', `Basic ${TOKEN}`],
    ['the token without a scheme', TOKEN],
    ['an empty bearer', 'Bearer '],
  ])('answers a 401 problem for %s', async (_what, authorization) => {
    const headers = authorization === undefined ? {} : { authorization };
    const r = await api.inject({ method: 'POST', url: '/v1/sessions', headers, payload: body });
    problem(r, 401, URN('unauthorized'));
    expect(r.headers['www-authenticate']).toBe('Bearer');
    expect(await redis.exists('mb:session:order-1')).toBe(0);
  });

  it('accepts the right token, with the scheme in any case', async () => {
    expect((await api.inject({ method: 'POST', url: '/v1/sessions', headers: auth, payload: body })).statusCode).toBe(201);
    expect((await api.inject({ method: 'GET', url: '/v1/sessions/order-1', headers: { authorization: `bearer ${TOKEN}` } })).statusCode).toBe(200);
  });

  it('answers a 503 problem when Redis is down, and the process goes on', async () => {
    await server.stop();
    try {
      const r = await api.inject({ method: 'GET', url: '/v1/sessions/order-1', headers: auth });
      expect(problem(r, 503, URN('store-unavailable')).title).toBe('store unavailable');
      expect(r.headers['retry-after']).toBe('1');
    } finally {
      await server.start();
      for (let i = 0; i < 100 && !redis.isReady; i++) await new Promise((res) => setTimeout(res, 50));
    }
    expect((await api.inject({ method: 'GET', url: '/v1/sessions/order-1', headers: auth })).statusCode).toBe(404);
  });

  it.each([
    ['a deadline', new DeadlineError(2000)],
    ['a StoreUnavailableError', new StoreUnavailableError(new Error('socket closed'))],
  ])('answers a 503 problem for %s', async (_what, err) => {
    const a = await apiWith(failingStore(err));
    problem(await a.inject({ method: 'POST', url: '/v1/sessions', headers: auth, payload: body }), 503, URN('store-unavailable'));
    problem(await a.inject({ method: 'GET', url: '/v1/sessions/x', headers: auth }), 503, URN('store-unavailable'));
  });

  it('answers a 500 "internal error" problem for an unexpected error, and logs it with its stack and numbers masked', async () => {
    const lines: string[] = [];
    const a = await apiWith(failingStore(new Error('bug while writing +919812341234')), { lines });
    const r = await a.inject({ method: 'POST', url: '/v1/sessions', headers: auth, payload: body });
    expect(problem(r, 500, URN('internal')).title).toBe('internal error');
    expect(r.body).not.toContain('bug while writing');
    const logged = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'API internal error');
    expect(logged?.err.stack).toContain('bug while writing +91******1234');
    expect(lines.join('\n')).not.toContain('+919812341234');
  });

  it('answers a 500 problem naming the record problem for a malformed stored session', async () => {
    await redis.hSet('mb:session:order-9', { v: '+912240001000', a: '+919812341234', b: '+919876549876', status: 'bogus', expires_at: String(Date.now() + 60_000) });
    const r = await api.inject({ method: 'GET', url: '/v1/sessions/order-9', headers: auth });
    const p = problem(r, 500, URN('malformed-record'));
    expect(p.detail).toContain('mb:session:order-9');
    expect(p.detail).toContain('field status is neither "open" nor "closed"');
  });
});

describe('liveness and readiness', () => {
  const withMedia = (healthy: boolean): Health => ({ ...allUp, media: [{ server: 'fs1.internal:8021', healthy, active: 3 }] });

  it('/livez answers 200 whatever the dependencies say', async () => {
    health = { redis: false, drachtio: false, liveCalls: 0, draining: true, cdrBacklog: 9, media: [] };
    const r = await api.inject({ method: 'GET', url: '/livez' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ status: 'live' });
  });

  it('/readyz is 200 when Redis, drachtio and a media server are up and it is not draining', async () => {
    health = withMedia(true);
    const r = await api.inject({ method: 'GET', url: '/readyz' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ ready: true, redis: true, drachtio: true, draining: false, liveCalls: 2, cdrBacklog: 0, media: { configured: 1, healthy: 1 } });
  });

  it.each([
    ['Redis not answering', { ...allUp, redis: false }, 'redis'],
    ['drachtio disconnected', { ...allUp, drachtio: false }, 'drachtio'],
    ['no healthy media server', withMedia(false), 'media server'],
    ['draining', { ...allUp, draining: true }, 'draining'],
  ])('/readyz and /healthz are a 503 problem with %s', async (_what, h, why) => {
    health = h;
    for (const url of ['/readyz', '/healthz']) {
      const r = await api.inject({ method: 'GET', url });
      const p = problem(r, 503, URN('not-ready'));
      expect(p.detail).toContain(why);
      expect(r.json()).toMatchObject({ ready: false, redis: h.redis, drachtio: h.drachtio, draining: h.draining });
    }
  });

  it('shows media server addresses only to a caller with the token', async () => {
    for (const healthy of [true, false]) {
      health = withMedia(healthy);
      for (const headers of [{}, { authorization: 'Bearer wrong' }]) {
        const r = await api.inject({ method: 'GET', url: '/readyz', headers });
        expect(r.statusCode).toBe(healthy ? 200 : 503);
        expect(r.body).not.toContain('fs1.internal');
        expect(r.body).not.toContain('8021');
        expect(r.json().media).toEqual({ configured: 1, healthy: healthy ? 1 : 0 });
      }
      const authed = await api.inject({ method: 'GET', url: '/readyz', headers: auth });
      expect(authed.json().mediaServers).toEqual([{ server: 'fs1.internal:8021', healthy, active: 3 }]);
    }
  });

  it('with auth off (loopback only) readiness shows the detail to every caller', async () => {
    health = withMedia(true);
    const open = await apiWith(failingStore(new Error('unused')), { token: '' });
    expect((await open.inject({ method: 'GET', url: '/readyz' })).json().mediaServers).toHaveLength(1);
  });
});

describe('shutdown', () => {
  it('answers a request that arrives while the API closes with a 503 problem', async () => {
    let release!: () => void;
    const gate = new Promise<void>((res) => { release = res; });
    let inFlight = 0;
    const a = buildApi({
      store: { ...failingStore(new Error('unused')), get: async () => { inFlight++; await gate; return null; } },
      pools: failingPools(new Error('unused')), calls: new LiveCalls(redis, 'mb:', 500), lifecycle: { erase: () => Promise.reject(new Error('unused')) }, cdrs: new CdrReader(redis, 'mb:cdr', 500), recordingsDir: '/nonexistent', metrics: new Metrics(), token: '', defaultRegion: 'IN', health: () => health, log: pino({ level: 'silent' }),
    });
    await a.listen({ host: '127.0.0.1', port: 0 });
    const sock = connect((a.server.address() as { port: number }).port, '127.0.0.1');
    let data = '';
    sock.on('data', (d: Buffer) => { data += d.toString(); });
    const ended = new Promise((res) => sock.on('close', res));
    try {
      // One request keeps the connection busy while close() starts; the next one, pipelined on it, arrives during the close.
      sock.write('GET /v1/sessions/a HTTP/1.1\r\nHost: t\r\n\r\n');
      for (let i = 0; i < 200 && inFlight === 0; i++) await new Promise((res) => setTimeout(res, 10));
      const closed = a.close();
      sock.write('GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n');
      await new Promise((res) => setTimeout(res, 50));
      release();
      await Promise.race([ended, new Promise((res) => setTimeout(res, 5000))]);
      await closed;
    } finally {
      sock.destroy();
    }
    const second = data.slice(data.indexOf('HTTP/1.1', 1));
    expect(second).toMatch(/^HTTP\/1\.1 503 /);
    expect(second).toMatch(/content-type: application\/problem\+json/i);
    expect(JSON.parse(second.slice(second.indexOf('\r\n\r\n') + 4))).toMatchObject({ type: URN('shutting-down'), status: 503, title: 'shutting down' });
  });
});

describe('metrics and OpenAPI', () => {
  it('serves Prometheus metrics', async () => {
    const m = await api.inject({ method: 'GET', url: '/metrics' });
    expect(m.headers['content-type']).toMatch(/^text\/plain/);
    expect(m.body).toContain('maskbridge_active_calls');
  });

  it('lists the problem+json error responses on every route', async () => {
    const doc = (await api.inject({ method: 'GET', url: '/openapi.json' })).json();
    const expected: Record<string, string[]> = {
      'post /v1/sessions': ['400', '401', '404', '409', '415', '500', '503'],
      'get /v1/sessions/{id}': ['400', '401', '404', '500', '503'],
      'get /v1/sessions': ['400', '401', '500', '503'],
      'patch /v1/sessions/{id}': ['400', '401', '404', '415', '500', '503'],
      'delete /v1/sessions/{id}': ['400', '401', '404', '500', '503'],
      'get /v1/participants/{number}/sessions': ['400', '401', '500', '503'],
      'delete /v1/participants/{number}': ['400', '401', '500', '503'],
      'get /v1/cdrs': ['400', '401', '500', '503'],
      'get /v1/sessions/{id}/recordings': ['400', '401', '500', '503'],
      'get /v1/sessions/{id}/recordings/{day}/{name}': ['400', '401', '404', '416', '500', '503'],
      'get /v1/pools': ['401', '500', '503'],
      'put /v1/pools/{name}': ['400', '401', '415', '500', '503'],
      'get /v1/pools/{name}': ['400', '401', '404', '500', '503'],
      'get /v1/pools/{name}/numbers': ['400', '401', '404', '500', '503'],
      'post /v1/pools/{name}/numbers': ['400', '401', '404', '409', '415', '500', '503'],
      'patch /v1/pools/{name}/numbers': ['400', '401', '404', '415', '500', '503'],
      'delete /v1/pools/{name}/numbers': ['400', '401', '404', '415', '500', '503'],
      'get /v1/calls': ['400', '401', '500', '503'],
      'delete /v1/calls/{callId}': ['400', '401', '404', '500', '503'],
      'get /readyz': ['500', '503'],
      'get /healthz': ['500', '503'],
      'get /livez': ['500', '503'],
      'get /metrics': ['500', '503'],
    };
    const seen: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: { properties: Record<string, unknown> } }> }> }>>)) {
      for (const [method, op] of Object.entries(ops)) {
        const route = `${method} ${path}`;
        seen.push(route);
        const errors = Object.keys(op.responses).filter((s) => Number(s) >= 400);
        expect(errors.sort(), route).toEqual(expected[route]);
        for (const s of errors) {
          const schema = op.responses[s]?.content?.['application/problem+json']?.schema;
          expect(Object.keys(schema?.properties ?? {}), `${route} ${s}`).toEqual(expect.arrayContaining(['type', 'title', 'status', 'detail']));
        }
      }
    }
    expect(seen.sort()).toEqual(Object.keys(expected).sort());
  });
});
