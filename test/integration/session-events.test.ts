/**
 * Session events in Redis (the contract's side of webhooks): session.closed appended by mb_close
 * and mb_erase, session.expired by mb_expire_due exactly once however many instances sweep, and
 * nothing at all while webhooks are off.
 */
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fcall } from '../../src/sessions/library.js';
import { SessionEvents } from '../../src/sessions/session-events.js';
import { SessionInputError, SessionStore } from '../../src/sessions/store.js';
import { useRedis } from '../helpers/redis-server.js';

const V = '+912240001000';
const A = '+919812341234';
const B = '+919876549876';
const db = useRedis({ beforeAll, afterAll });
const log = pino({ level: 'silent' });
let store: SessionStore;
const sweeper = () => new SessionEvents(db.redis, { prefix: 'mb:', everyMs: 60_000, timeoutMs: 1000 }, log);
const events = async () => (await db.redis.xRange('mb:events', '-', '+')).map((e) => e.message);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(() => {
  store = new SessionStore(db.redis, 'mb:', 1000);
});
beforeEach(async () => {
  await db.redis.flushAll();
});

describe('session events', () => {
  it('are not written while webhooks are off: no stream, no expiry index', async () => {
    await store.create({ id: 'o1', virtualNumber: V, a: A, b: B, expiresAt: Date.now() + 60_000 });
    await store.close('o1');
    expect(await db.redis.exists(['mb:events', 'mb:expiries'])).toBe(0);
  });

  it('session.closed carries the session\'s own URL, the participants apart from the payload, and a stable id', async () => {
    await sweeper().pass();
    // The mark lapses an hour after the last sweep: webhooks turned off stop filling the outbox.
    expect(await db.redis.pTTL('mb:events:on')).toBeGreaterThan(3_500_000);
    await store.create({ id: 'o1', virtualNumber: V, a: A, b: B, expiresAt: Date.now() + 60_000, webhookUrl: 'https://backend.example/hooks/o1' });
    await store.close('o1');
    await store.close('o1'); // closing again announces nothing
    const [e, ...rest] = await events();
    expect(rest).toHaveLength(0);
    expect(e).toMatchObject({ type: 'session.closed', session: 'o1', url: 'https://backend.example/hooks/o1' });
    expect(e?.id).toMatch(/^session\.closed:o1:\d+$/);
    expect(JSON.parse(e?.parties ?? '')).toEqual({ a: A, b: B });
    const data = JSON.parse(e?.data ?? '') as Record<string, unknown>;
    expect(data).toMatchObject({ virtual_number: V, reason: 'closed' });
    expect(JSON.stringify(data)).not.toContain(A.slice(-10));
    expect(await db.redis.zScore('mb:expiries', 'o1')).toBeNull();
  });

  it('session.expired is announced exactly once, by one of several sweeping instances, after the expiry', async () => {
    await sweeper().pass();
    for (let i = 0; i < 20; i++) await store.create({ id: `o${i}`, virtualNumber: V, a: `+9198123400${String(i).padStart(2, '0')}`, b: `+9198765400${String(i).padStart(2, '0')}`, expiresAt: Date.now() + 300 });
    expect(await sweeper().pass()).toBe(0); // not yet
    await sleep(350);
    const counts = await Promise.all([sweeper().pass(), sweeper().pass(), sweeper().pass()]);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(20);
    const expired = (await events()).filter((e) => e.type === 'session.expired');
    expect(expired).toHaveLength(20);
    expect(new Set(expired.map((e) => e.id)).size).toBe(20);
    expect(await db.redis.zCard('mb:expiries')).toBe(0);
    expect(await sweeper().pass()).toBe(0);
  });

  it('an extended session is not announced at its first expiry, and a closed one never expires', async () => {
    await sweeper().pass();
    await store.create({ id: 'ext', virtualNumber: V, a: A, b: B, expiresAt: Date.now() + 200 });
    await store.create({ id: 'closed', virtualNumber: V, a: '+919812340000', b: '+919876540000', expiresAt: Date.now() + 200 });
    await store.extend('ext', Date.now() + 60_000);
    await store.close('closed');
    await sleep(250);
    expect(await sweeper().pass()).toBe(0);
    expect((await events()).map((e) => e.type)).toEqual(['session.closed']);
    expect(Number(await db.redis.zScore('mb:expiries', 'ext'))).toBeGreaterThan(Date.now() + 50_000);
  });

  it('erasing a participant announces their sessions closed, without their numbers', async () => {
    await sweeper().pass();
    await store.create({ id: 'o1', virtualNumber: V, a: A, b: B, expiresAt: Date.now() + 60_000 });
    await store.erase(A);
    const [e] = await events();
    expect(e).toMatchObject({ type: 'session.closed', session: 'o1', parties: '', id: 'session.closed:o1:erased' });
    expect(JSON.parse(e?.data ?? '')).toMatchObject({ reason: 'erased' });
    expect(await db.redis.zCard('mb:expiries')).toBe(0);
  });

  it('a webhook URL that is not http(s) is refused by the store and by the function', async () => {
    await expect(store.create({ id: 'bad', virtualNumber: V, a: A, b: B, expiresAt: Date.now() + 60_000, webhookUrl: 'ftp://x.example/' })).rejects.toBeInstanceOf(SessionInputError);
    const keys = ['mb:session:bad', `mb:route:${V}:${A}`, `mb:route:${V}:${B}`, `mb:party:${A}`, `mb:party:${B}`];
    const reply = await fcall(db.redis, 'mb_create', keys, ['', '', 'v', V, 'a', A, 'b', B, 'expires_at', String(Date.now() + 60_000), 'webhook_url', 'javascript:alert(1)']);
    expect(reply).toEqual(['invalid', 'webhook_url', 'has an invalid value']);
  });
});
