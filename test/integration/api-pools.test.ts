/** The HTTP API's contract v2 routes (pools, allocation, update/extend, participants) against a real Redis, through inject and a listening server. */
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildApi, type Api } from '../../src/api/server.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { PoolStore } from '../../src/sessions/pools.js';
import { LiveCalls } from '../../src/calls/live-calls.js';
import { DataLifecycle } from '../../src/lifecycle/data.js';
import { CdrReader } from '../../src/cdr/query.js';
import { recordingPaths } from '../../src/media/recording.js';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRedis, type Redis } from '../../src/sessions/redis.js';
import { SessionStore } from '../../src/sessions/store.js';
import { RedisServer } from '../helpers/redis-server.js';

const TOKEN = 't0ken';
const headers = { authorization: `Bearer ${TOKEN}` };
let server: RedisServer;
let redis: Redis;
let api: Api;
let recordings: string;

beforeAll(async () => {
  server = await RedisServer.start();
  redis = createRedis({ url: server.url, commandTimeoutMs: 1000 }, pino({ level: 'silent' }));
  await redis.connect();
  const store = new SessionStore(redis, 'mb:', 1000);
  recordings = mkdtempSync(join(tmpdir(), 'mb-api-rec-'));
  const lifecycle = new DataLifecycle(redis, store, { cdrStream: 'mb:cdr', cdrRetentionDays: 0, recordingsDir: recordings, recordingRetentionDays: 0, timeoutMs: 1000 }, pino({ level: 'silent' }));
  api = buildApi({
    store, lifecycle, cdrs: new CdrReader(redis, 'mb:cdr', 1000), recordingsDir: recordings, pools: new PoolStore(redis, 'mb:', 1000), calls: new LiveCalls(redis, 'mb:', 1000), metrics: new Metrics(), token: TOKEN,
    defaultRegion: 'IN', health: () => ({ redis: true, drachtio: true, liveCalls: 0, draining: false, cdrBacklog: 0, media: [] }), log: pino({ level: 'silent' }),
  });
  await api.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await api.close();
  await redis.close();
  await server.stop();
});
beforeEach(async () => {
  await redis.flushAll();
});

const req = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
  api.inject({ method, url, headers, ...(payload ? { payload } : {}) });

describe('pools and allocation over HTTP', () => {
  it('creates a pool, adds numbers (naming an invalid one), allocates until exhausted, and closes', async () => {
    expect((await req('PUT', '/v1/pools/mumbai', { coolOffSec: 0, geo: 'country' })).json()).toMatchObject({ name: 'mumbai', geo: 'country' });
    const bad = await req('POST', '/v1/pools/mumbai/numbers', { numbers: ['+912240001000', 'call me'] });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ type: 'urn:maskbridge:problem:validation', field: 'body/numbers/1' });
    expect((await req('POST', '/v1/pools/mumbai/numbers', { numbers: ['+912240001000', '02240001001'] })).json()).toEqual({ added: 2 });

    const created = await req('POST', '/v1/sessions', { id: 'o1', pool: 'mumbai', a: '+919812341234', b: '+919876549876', ttlSeconds: 600, direction: 'a-to-b', meta: { order: 17 } });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({ id: 'o1', pool: 'mumbai', direction: 'a-to-b', meta: { order: 17 } });
    await req('POST', '/v1/sessions', { id: 'o2', pool: 'mumbai', a: '+919812341234', b: '+919876549877', ttlSeconds: 600 });
    const exhausted = await req('POST', '/v1/sessions', { id: 'o3', pool: 'mumbai', a: '+919812341234', b: '+919876549878', ttlSeconds: 600 });
    expect(exhausted.statusCode).toBe(409);
    expect(exhausted.json()).toMatchObject({ type: 'urn:maskbridge:problem:pool-exhausted', field: 'body/pool' });
    expect(exhausted.json().detail).toMatch(/pool mumbai is exhausted/);

    const listed = await req('GET', `/v1/participants/${encodeURIComponent('+919812341234')}/sessions`);
    expect(listed.json().sessions.map((s: { id: string }) => s.id).sort()).toEqual(['o1', 'o2']);
    expect((await req('GET', '/v1/pools/mumbai')).json()).toMatchObject({ counts: { active: 2, reserved: 0, draining: 0, quarantined: 0 } });
    expect((await req('PATCH', '/v1/pools/mumbai/numbers', { numbers: ['+912240001000'], state: 'quarantined' })).statusCode).toBe(204);
    expect((await req('GET', '/v1/pools/mumbai/numbers')).json().numbers).toEqual([
      { number: '+912240001000', state: 'quarantined' }, { number: '+912240001001', state: 'active' },
    ]);
    expect((await req('DELETE', '/v1/sessions/o1')).statusCode).toBe(204);
    expect((await req('GET', '/v1/sessions/o1')).json()).toMatchObject({ status: 'closed' });
  });

  it('extends and updates a session with PATCH, and refuses an empty or conflicting body', async () => {
    await req('POST', '/v1/sessions', { id: 'o9', virtualNumber: '+912240001000', a: '+919812341234', b: '+919876549876', ttlSeconds: 600 });
    const later = new Date(Date.now() + 7200_000).toISOString();
    const r = await req('PATCH', '/v1/sessions/o9', { expiresAt: later, label: 'order nine', record: true });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toMatchObject({ expiresAt: later, label: 'order nine', record: true });
    expect((await req('PATCH', '/v1/sessions/o9', {})).statusCode).toBe(400);
    expect((await req('PATCH', '/v1/sessions/o9', { expiresAt: later, ttlSeconds: 5 })).json()).toMatchObject({ field: 'body/expiresAt' });
    expect((await req('PATCH', '/v1/sessions/nope', { label: 'x' })).statusCode).toBe(404);
    const both = await req('POST', '/v1/sessions', { id: 'o10', virtualNumber: '+912240001000', pool: 'mumbai', a: '+919812341234', b: '+919876549876', ttlSeconds: 60 });
    expect(both.json()).toMatchObject({ status: 400, field: 'body/virtualNumber' });
  });

  it('erases a participant: their sessions, routes and recordings, and nobody else\'s', async () => {
    await req('POST', '/v1/sessions', { id: 'e1', virtualNumber: '+912240001000', a: '+919812341234', b: '+919876549876', ttlSeconds: 600 });
    await req('POST', '/v1/sessions', { id: 'e2', virtualNumber: '+912240001001', a: '+919812341234', b: '+919876549877', ttlSeconds: 600 });
    await req('DELETE', '/v1/sessions/e2'); // closed sessions go too
    expect((await req('POST', '/v1/sessions', { id: 'keep', virtualNumber: '+912240001002', a: '+919800000001', b: '+919876549876', ttlSeconds: 600 })).statusCode).toBe(201);
    const file = recordingPaths(recordings, new Date(), 'e1', 'c1').final;
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, 'RIFF');
    const r = await req('DELETE', `/v1/participants/${encodeURIComponent('+919812341234')}`);
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().sessions.sort()).toEqual(['e1', 'e2']);
    expect(r.json().recordingFolders).toBe(1);
    expect(existsSync(file)).toBe(false);
    expect((await req('GET', '/v1/sessions/e1')).statusCode).toBe(404);
    expect(await redis.exists(['mb:route:+912240001000:+919812341234', 'mb:route:+912240001000:+919876549876', 'mb:party:+919812341234'])).toBe(0);
    expect(await redis.hGet('mb:party:+919876549876', '+912240001000')).toBeNull(); // B's entry for the erased session went
    expect(await redis.hGet('mb:party:+919876549876', '+912240001002')).toBe('keep'); // B's other session is untouched
    expect((await req('GET', '/v1/sessions/keep')).json()).toMatchObject({ status: 'open' });
  });

  it('queries CDRs by session and time, a page at a time, and names a bad parameter', async () => {
    const t0 = Date.parse('2026-12-01T00:00:00Z');
    for (let i = 0; i < 30; i++) await redis.xAdd('mb:cdr', `${t0 + i * 60_000}-0`, { id: `cdr-${i}`, session_id: i % 3 === 0 ? 'order-x' : 'order-y' });
    const first = (await req('GET', '/v1/cdrs?sessionId=order-x&limit=4')).json();
    expect(first.cdrs.map((c: { id: string }) => c.id)).toEqual(['cdr-0', 'cdr-3', 'cdr-6', 'cdr-9']);
    const second = (await req('GET', `/v1/cdrs?sessionId=order-x&limit=100&cursor=${first.next}`)).json();
    expect(second.cdrs.map((c: { id: string }) => c.id)).toEqual(['cdr-12', 'cdr-15', 'cdr-18', 'cdr-21', 'cdr-24', 'cdr-27']);
    expect(second.next).toBeNull();
    const window = (await req('GET', `/v1/cdrs?from=${new Date(t0 + 10 * 60_000).toISOString()}&to=${new Date(t0 + 12 * 60_000).toISOString()}`)).json();
    expect(window.cdrs.map((c: { id: string }) => c.id)).toEqual(['cdr-10', 'cdr-11', 'cdr-12']);
    const bad = await req('GET', '/v1/cdrs?limit=5000');
    expect(bad.json()).toMatchObject({ status: 400, field: 'querystring/limit' });
  });

  it('lists a session\'s recordings and serves one whole or by Range, with the token only', async () => {
    const at = new Date('2026-12-01T10:00:00Z');
    const file = recordingPaths(recordings, at, 'rec-1', 'abc123').final;
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, Buffer.from('RIFF0123456789'));
    writeFileSync(recordingPaths(recordings, at, 'rec-1', 'still-writing').partial, 'RIFF');
    const list = (await req('GET', '/v1/sessions/rec-1/recordings')).json();
    expect(list.recordings).toEqual([{ name: 'abc123.wav', day: '2026-12-01', bytes: 14, url: '/v1/sessions/rec-1/recordings/2026-12-01/abc123.wav' }]);
    const url = list.recordings[0].url as string;
    const whole = await req('GET', url);
    expect(whole.statusCode).toBe(200);
    expect(whole.headers['content-type']).toBe('audio/wav');
    expect(whole.body).toBe('RIFF0123456789');
    const part = await api.inject({ method: 'GET', url, headers: { ...headers, range: 'bytes=4-7' } });
    expect(part.statusCode).toBe(206);
    expect(part.headers['content-range']).toBe('bytes 4-7/14');
    expect(part.body).toBe('0123');
    const tail = await api.inject({ method: 'GET', url, headers: { ...headers, range: 'bytes=-3' } });
    expect(tail.body).toBe('789');
    const beyond = await api.inject({ method: 'GET', url, headers: { ...headers, range: 'bytes=99-' } });
    expect(beyond.statusCode).toBe(416);
    expect(beyond.headers['content-range']).toBe('bytes */14');
    expect((await api.inject({ method: 'GET', url })).statusCode).toBe(401);
    expect((await req('GET', '/v1/sessions/rec-1/recordings/2026-12-01/nope.wav')).statusCode).toBe(404);
    expect((await req('GET', '/v1/sessions/rec-1/recordings/2026-12-01/..%2F..%2Fetc.wav')).statusCode).toBe(400);
  });

  it('lists sessions filtered by status, pool and number, page by page until the cursor ends', async () => {
    await req('PUT', '/v1/pools/p1', {});
    await req('POST', '/v1/pools/p1/numbers', { numbers: ['+912240005000', '+912240005001'] });
    for (let i = 0; i < 12; i++) {
      await req('POST', '/v1/sessions', { id: `l-${i}`, ...(i < 2 ? { pool: 'p1' } : { virtualNumber: '+912240006000' }), a: `+9198100${10000 + i}`, b: `+9198200${10000 + i}`, ttlSeconds: 600 });
    }
    await req('DELETE', '/v1/sessions/l-5');
    const seen = new Set<string>();
    let cursor: string | null = null;
    for (let pages = 0; pages < 50; pages++) {
      const page = (await req('GET', `/v1/sessions?status=open&limit=3${cursor ? `&cursor=${cursor}` : ''}`)).json() as { sessions: Array<{ id: string; status: string }>; next: string | null };
      for (const s of page.sessions) {
        expect(s.status).toBe('open');
        seen.add(s.id);
      }
      cursor = page.next;
      if (cursor === null) break;
    }
    expect([...seen].sort()).toEqual(Array.from({ length: 12 }, (_, i) => `l-${i}`).filter((id) => id !== 'l-5').sort());
    expect((await req('GET', '/v1/sessions?pool=p1&limit=100')).json().sessions.map((s: { id: string }) => s.id).sort()).toEqual(['l-0', 'l-1']);
    expect((await req('GET', '/v1/sessions?status=closed&limit=100')).json().sessions.map((s: { id: string }) => s.id)).toEqual(['l-5']);
    expect((await req('GET', '/v1/sessions?status=maybe')).json()).toMatchObject({ status: 400, field: 'querystring/status' });
  });

  it('serves the OpenAPI document browsable at /docs, listing the routes that exist', async () => {
    const ui = await api.inject({ method: 'GET', url: '/docs/' });
    expect(ui.statusCode).toBe(200);
    expect(ui.headers['content-type']).toMatch(/text\/html/);
    const doc = (await api.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> };
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) {
        // Every documented route answers something other than the not-found handler's 404 for its path.
        const url = path.replace('{id}', 'x').replace('{name}', 'x').replace('{number}', '%2B919812341234').replace('{callId}', 'x').replace('{day}', '2026-01-01');
        expect(api.hasRoute({ method: method.toUpperCase() as 'GET', url: path.replace(/\{(\w+)\}/g, ':$1') }), `${method} ${url}`).toBe(true);
      }
    }
  });
});
