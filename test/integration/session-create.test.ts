/** SessionStore.create against a real Redis: never replaces, and a stale route is never a conflict. */
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createRedis, type Redis } from '../../src/sessions/redis.js';
import { SessionConflictError, SessionExistsError, SessionStore } from '../../src/sessions/store.js';
import { RedisServer } from '../helpers/redis-server.js';

const V = '+912240001000';
const V2 = '+912240002000';
const A = '+919812341234';
const B = '+919876549876';
let server: RedisServer;
let redis: Redis;
let store: SessionStore;
const inAnHour = () => Date.now() + 3600_000;

beforeAll(async () => {
  server = await RedisServer.start();
  redis = createRedis({ url: server.url, commandTimeoutMs: 500 }, pino({ level: 'silent' }));
  await redis.connect();
  store = new SessionStore(redis, 'mb:', 500);
});
afterAll(async () => {
  await redis.close();
  await server.stop();
});
beforeEach(async () => {
  await redis.flushAll();
});

describe('create', () => {
  it('never replaces a session with the same id, on any virtual number, and leaves no route behind', async () => {
    await store.create({ id: 'o1', virtualNumber: V, a: A, b: B, expiresAt: inAnHour() });
    await expect(store.create({ id: 'o1', virtualNumber: V2, a: A, b: B, expiresAt: inAnHour() })).rejects.toBeInstanceOf(SessionExistsError);
    expect(await redis.hGet('mb:session:o1', 'v')).toBe(V);
    expect(await redis.exists(`mb:route:${V2}:${A}`)).toBe(0);
  });

  it('refuses a second open session of a participant on the same virtual number', async () => {
    await store.create({ id: 'o1', virtualNumber: V, a: A, b: B, expiresAt: inAnHour() });
    const err = await store.create({ id: 'o2', virtualNumber: V, a: A, b: '+919800000001', expiresAt: inAnHour() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionConflictError);
    expect(err).not.toBeInstanceOf(SessionExistsError);
  });

  for (const [what, stale] of [
    ['closed', { v: V, status: 'closed', expires_at: String(inAnHour()) }],
    ['expired', { v: V, status: 'open', expires_at: String(Date.now() - 1) }],
    ['on another virtual number', { v: V2, status: 'open', expires_at: String(inAnHour()) }],
    ['gone', null],
    ['without this participant', { v: V, status: 'open', expires_at: String(inAnHour()), a: '+919800000002' }],
  ] as const) {
    it(`takes over a v1 route whose session is ${what}: a stale route is never a conflict`, async () => {
      await redis.set(`mb:route:${V}:${A}`, 'old');
      if (stale) await redis.hSet('mb:session:old', { a: A, b: '+919800000001', ...stale });
      const s = await store.create({ id: 'o3', virtualNumber: V, a: A, b: B, expiresAt: inAnHour() });
      expect(s.id).toBe('o3');
      expect(await redis.hGet(`mb:party:${A}`, V)).toBe('o3');
      expect(await store.lookup(V, A)).toMatchObject({ kind: 'found', session: { id: 'o3' } });
    });

    it(`takes over an index entry whose session is ${what}: a stale entry is never a conflict`, async () => {
      await redis.hSet(`mb:party:${A}`, V, 'old');
      if (stale) await redis.hSet('mb:session:old', { a: A, b: '+919800000001', ...stale });
      const s = await store.create({ id: 'o3', virtualNumber: V, a: A, b: B, expiresAt: inAnHour() });
      expect(s.id).toBe('o3');
      expect(await redis.hGet(`mb:party:${A}`, V)).toBe('o3');
      expect(await store.lookup(V, A)).toMatchObject({ kind: 'found', session: { id: 'o3' } });
    });
  }
});
