/**
 * Key layout 2 (docs/redis-contract.md, "Key layout"): sessions are found through the
 * participant index `mb:party:{number}` (V -> id); the functions write no route keys, v1 routes
 * written with plain commands are still read, and a store marked layout 1 keeps getting routes.
 */
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fcall, loadLibrary } from '../../src/sessions/library.js';
import { PoolStore } from '../../src/sessions/pools.js';
import { createRedis, type Redis } from '../../src/sessions/redis.js';
import { SessionConflictError, SessionStore } from '../../src/sessions/store.js';
import { RedisServer } from '../helpers/redis-server.js';

const V = '+912240001000';
const V2 = '+912240001001';
const A = '+919812341234';
const B = '+919876549876';
const C = '+919800000001';
let server: RedisServer;
let redis: Redis;
let store: SessionStore;
const inAnHour = () => Date.now() + 3600_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  server = await RedisServer.start();
  redis = createRedis({ url: server.url, commandTimeoutMs: 2000 }, pino({ level: 'silent' }));
  await redis.connect();
  store = new SessionStore(redis, 'mb:', 2000);
});
afterAll(async () => {
  await redis.close();
  await server.stop();
});
beforeEach(async () => {
  await redis.flushAll();
  await loadLibrary(redis);
});

/** A v1 session, written with plain commands as contract v1 says (docs/redis-contract.md, create-v1). */
async function v1Session(id: string, v: string, a: string, b: string, status = 'open'): Promise<void> {
  const pxat = inAnHour() + 60_000;
  await redis.hSet(`mb:session:${id}`, { v, a, b, status, expires_at: String(inAnHour()) });
  await redis.pExpireAt(`mb:session:${id}`, pxat);
  for (const who of [a, b]) await redis.sendCommand(['SET', `mb:route:${v}:${who}`, id, 'PXAT', String(pxat)]);
}

describe('a v2 session', () => {
  it('is written without route keys, and found through each participant\'s index', async () => {
    await store.create({ id: 'o1', virtualNumber: V, a: A, b: B, expiresAt: inAnHour() });
    await new PoolStore(redis, 'mb:', 2000).set('city', {});
    await new PoolStore(redis, 'mb:', 2000).add('city', [V2]);
    await store.allocate({ id: 'o2', pool: 'city', a: A, b: C, expiresAt: inAnHour() });
    expect(await redis.keys('mb:route:*')).toEqual([]);
    expect(await redis.get('mb:schema')).toBe('2');
    expect(await store.lookup(V, A)).toMatchObject({ kind: 'found', peer: B, session: { id: 'o1' } });
    expect(await store.lookup(V, B)).toMatchObject({ kind: 'found', peer: A });
    expect(await store.lookup(V2, C)).toMatchObject({ kind: 'found', peer: A, session: { id: 'o2' } });
    expect(await store.lookup(V2, B)).toEqual({ kind: 'unknown' }); // B has no session on V2
  });

  it('conflicts with an open session of a participant on the same V through the index alone', async () => {
    await store.create({ id: 'o1', virtualNumber: V, a: A, b: B, expiresAt: inAnHour() });
    const err = await store.create({ id: 'o2', virtualNumber: V, a: C, b: B, expiresAt: inAnHour() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionConflictError);
    expect((err as SessionConflictError).message).toContain('o1');
    expect(await redis.hGet(`mb:party:${B}`, V)).toBe('o1');
    expect(await redis.exists(['mb:session:o2', `mb:party:${C}`])).toBe(0); // a refusal writes nothing
  });

  it('closed, then expired: the caller gets the closed treatment from the index entry', async () => {
    await store.create({ id: 'o1', virtualNumber: V, a: A, b: B, expiresAt: inAnHour() });
    await store.close('o1');
    expect(await store.lookup(V, A)).toMatchObject({ kind: 'closed', why: 'closed' });
    await store.create({ id: 'o2', virtualNumber: V2, a: A, b: B, expiresAt: Date.now() + 150 });
    await sleep(250);
    expect(await store.lookup(V2, B)).toMatchObject({ kind: 'closed', why: 'expired' });
  });

  it('an index entry whose session is gone, or names a session no longer the caller\'s on V, is no session', async () => {
    await redis.hSet(`mb:party:${A}`, { [V]: 'gone', [V2]: 'reused' });
    await redis.hSet('mb:session:reused', { v: V, a: A, b: B, status: 'open', expires_at: String(inAnHour()) }); // the id, reused on another V
    expect(await store.lookup(V, A)).toEqual({ kind: 'unknown' });
    expect(await store.lookup(V2, A)).toEqual({ kind: 'unknown' });
  });
});

describe('the miss path (V dedicated to a session\'s unknown callers)', () => {
  it('a stale index entry is a miss, so V\'s unknown-caller session applies; a closed session of the caller is not', async () => {
    await store.create({ id: 'd1', virtualNumber: V, a: A, b: B, expiresAt: inAnHour(), unknownCaller: 'connect-b' });
    await redis.hSet(`mb:party:${C}`, V, 'gone');
    expect(await store.lookup(V, C)).toMatchObject({ kind: 'unknown', dedicated: { id: 'd1' } });
    await store.create({ id: 'c1', virtualNumber: V, a: C, b: '+919800000002', expiresAt: inAnHour() });
    await store.close('c1');
    expect(await store.lookup(V, C)).toMatchObject({ kind: 'closed', session: { id: 'c1' } });
  });
});

describe('v1 sessions (written with SET, no index entry)', () => {
  it('are looked up through their route, and block a conflicting create', async () => {
    await v1Session('s1', V, A, B);
    expect(await store.lookup(V, A)).toMatchObject({ kind: 'found', peer: B, session: { id: 's1' } });
    await expect(store.create({ id: 'x', virtualNumber: V, a: C, b: B, expiresAt: inAnHour() })).rejects.toBeInstanceOf(SessionConflictError);
    await redis.hSet('mb:session:s1', 'status', 'closed');
    expect(await store.lookup(V, B)).toMatchObject({ kind: 'closed', why: 'closed' });
  });

  it('one written on a pair after a v2 session there closed is found; the v2 one while open wins', async () => {
    await store.create({ id: 'o1', virtualNumber: V, a: A, b: B, expiresAt: inAnHour() });
    await v1Session('s1', V, A, C); // a plain MULTI on a pair an open v2 session holds
    expect(await store.lookup(V, A)).toMatchObject({ kind: 'found', session: { id: 'o1' } });
    await store.close('o1');
    expect(await store.lookup(V, A)).toMatchObject({ kind: 'found', peer: C, session: { id: 's1' } });
    await redis.hSet('mb:session:s1', 'status', 'closed');
    expect(await store.lookup(V, A)).toMatchObject({ kind: 'closed', session: { id: 'o1' } });
  });

  it('a v1 route of the wrong type is malformed only when the index has nothing for the caller', async () => {
    await redis.hSet(`mb:route:${V}:${A}`, 'id', 'x');
    expect(await store.lookup(V, A)).toMatchObject({ kind: 'malformed', key: `mb:route:${V}:${A}` });
    await redis.del(`mb:route:${V}:${A}`);
    await store.create({ id: 'o1', virtualNumber: V, a: A, b: B, expiresAt: inAnHour() });
    await redis.hSet(`mb:route:${V}:${A}`, 'id', 'x');
    expect(await store.lookup(V, A)).toMatchObject({ kind: 'found', session: { id: 'o1' } });
    await redis.set(`mb:party:${B}`, 'x');
    expect(await store.lookup(V, B)).toMatchObject({ kind: 'malformed', key: `mb:party:${B}` });
  });
});

describe('the index\'s retention', () => {
  it('a new index lives as long as its longest-kept session; extend moves it later, never earlier', async () => {
    const exp = inAnHour();
    await store.create({ id: 'o1', virtualNumber: V, a: A, b: B, expiresAt: exp, retainMs: 1000 });
    expect(await redis.pExpireTime(`mb:party:${A}`)).toBe(exp + 1000);
    await store.create({ id: 'o2', virtualNumber: V2, a: A, b: C, expiresAt: exp - 10_000, retainMs: 0 });
    expect(await redis.pExpireTime(`mb:party:${A}`)).toBe(exp + 1000); // an earlier one does not shorten it
    expect(await redis.pExpireTime(`mb:party:${C}`)).toBe(exp - 10_000);
    await store.extend('o2', exp + 5000, 0);
    expect(await redis.pExpireTime(`mb:party:${A}`)).toBe(exp + 5000);
    expect(await redis.pExpireTime(`mb:party:${C}`)).toBe(exp + 5000);
    await store.extend('o2', exp + 2000, 0);
    expect(await redis.pExpireTime(`mb:party:${C}`)).toBe(exp + 5000);
  });

  it('a close keeps the index through the pool\'s cool-off, which reads it', async () => {
    const pools = new PoolStore(redis, 'mb:', 2000);
    await pools.set('city', { coolOffSec: 3600 });
    await pools.add('city', [V]);
    const s = await store.allocate({ id: 'o1', pool: 'city', a: A, b: B, expiresAt: Date.now() + 1000, retainMs: 0 });
    const before = Date.now();
    await store.close(s.id);
    for (const key of [`mb:party:${A}`, `mb:party:${B}`, 'mb:session:o1']) expect(await redis.pExpireTime(key)).toBeGreaterThanOrEqual(before + 3600_000);
    await expect(store.allocate({ id: 'o2', pool: 'city', a: A, b: C, expiresAt: inAnHour() })).rejects.toThrow(/exhausted/);
    expect((await store.allocate({ id: 'o3', pool: 'city', a: A, b: B, expiresAt: inAnHour() })).virtualNumber).toBe(V); // sticky
  });

  it('once every session of an index is past its retention, the index is gone too', async () => {
    await store.create({ id: 'o1', virtualNumber: V, a: A, b: B, expiresAt: Date.now() + 100, retainMs: 100 });
    await sleep(300);
    expect(await redis.exists([`mb:party:${A}`, `mb:party:${B}`, 'mb:session:o1'])).toBe(0);
    expect(await store.lookup(V, A)).toEqual({ kind: 'unknown' });
  });

  it('an index written before 0.3 (no expiry) gets one: as long as its longest-kept session', async () => {
    await store.create({ id: 'o1', virtualNumber: V, a: A, b: B, expiresAt: inAnHour() + 60_000, retainMs: 0 });
    await redis.persist(`mb:party:${A}`);
    await store.create({ id: 'o2', virtualNumber: V2, a: A, b: C, expiresAt: inAnHour(), retainMs: 0 });
    expect(await redis.pExpireTime(`mb:party:${A}`)).toBe(Number(await redis.hGet('mb:session:o1', 'expires_at')));
  });
});

describe('the index stays bounded', () => {
  it('entries whose sessions are gone are pruned as entries are written', async () => {
    const stale = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`+9122500${String(10000 + i)}`, `gone-${i}`]));
    await redis.hSet(`mb:party:${A}`, stale);
    await redis.pExpireAt(`mb:party:${A}`, inAnHour());
    const vs = Array.from({ length: 60 }, (_, i) => `+9122600${String(10000 + i)}`);
    for (const [i, v] of vs.entries()) {
      await store.create({ id: `o${i}`, virtualNumber: v, a: A, b: `+9198300${String(10000 + i)}`, expiresAt: inAnHour() });
      if (i < 59) await redis.del(`mb:session:o${i}`); // past its retention
    }
    // Without pruning: 40 + 60 entries. Two random ones are checked per write (about 2 are left in 10,000 runs of a model).
    const left = await redis.hGetAll(`mb:party:${A}`);
    expect(Object.keys(left).length).toBeLessThan(20);
    expect(left[vs[59] as string]).toBe('o59');
    expect(await store.lookup(vs[59] as string, A)).toMatchObject({ kind: 'found', session: { id: 'o59' } });
  });

  it('an entry of a session still kept (closed, or open on another V) is never pruned', async () => {
    await store.create({ id: 'k1', virtualNumber: V, a: A, b: B, expiresAt: inAnHour() });
    await store.close('k1');
    await store.create({ id: 'k2', virtualNumber: V2, a: A, b: C, expiresAt: inAnHour() });
    for (let i = 0; i < 20; i++) await store.create({ id: `n${i}`, virtualNumber: `+9122700${String(10000 + i)}`, a: A, b: `+9198400${String(10000 + i)}`, expiresAt: inAnHour() });
    expect(await redis.hLen(`mb:party:${A}`)).toBe(22);
    expect(await store.lookup(V, A)).toMatchObject({ kind: 'closed', session: { id: 'k1' } });
  });
});

describe('a store marked key layout 1 (written before 0.3)', () => {
  it('gets route keys too, kept in step by extend, removed by erase', async () => {
    await redis.set('mb:schema', '1');
    const exp = inAnHour();
    await store.create({ id: 'o1', virtualNumber: V, a: A, b: B, expiresAt: exp, retainMs: 0 });
    expect(await redis.get(`mb:route:${V}:${A}`)).toBe('o1');
    expect(await redis.pExpireTime(`mb:route:${V}:${B}`)).toBe(exp);
    await store.extend('o1', exp + 1000, 0);
    expect(await redis.pExpireTime(`mb:route:${V}:${A}`)).toBe(exp + 1000);
    expect(await redis.get('mb:schema')).toBe('1');
    await fcall(redis, 'mb_erase', [`mb:party:${A}`], []);
    expect(await redis.keys('mb:route:*')).toEqual([]);
  });

  it('after SET mb:schema 2 (every instance upgraded), new sessions get no routes; the older ones keep theirs and are found', async () => {
    await redis.set('mb:schema', '1');
    await store.create({ id: 'old', virtualNumber: V, a: A, b: B, expiresAt: inAnHour() });
    await redis.set('mb:schema', '2');
    await store.create({ id: 'new', virtualNumber: V2, a: A, b: C, expiresAt: inAnHour() });
    expect((await redis.keys('mb:route:*')).sort()).toEqual([`mb:route:${V}:${A}`, `mb:route:${V}:${B}`]);
    expect(await store.lookup(V, B)).toMatchObject({ kind: 'found', session: { id: 'old' } });
    expect(await store.lookup(V2, C)).toMatchObject({ kind: 'found', session: { id: 'new' } });
  });
});

describe('erasing a participant', () => {
  it('also erases their older sessions on a V whose index entry a newer session took (prev_a / prev_b)', async () => {
    // Three orders of the same pair on V, one after another (sticky allocation gives this), and one of B with C.
    await store.create({ id: 'e1', virtualNumber: V, a: A, b: B, expiresAt: inAnHour() });
    await store.close('e1');
    await store.create({ id: 'e2', virtualNumber: V, a: B, b: A, expiresAt: inAnHour() }); // roles swapped
    await store.close('e2');
    await store.create({ id: 'e3', virtualNumber: V, a: A, b: B, expiresAt: inAnHour() });
    await store.create({ id: 'other', virtualNumber: V2, a: B, b: C, expiresAt: inAnHour() });
    expect(await redis.hGet('mb:party:' + A, V)).toBe('e3'); // the index names only the latest
    expect((await store.erase(A)).sort()).toEqual(['e1', 'e2', 'e3']);
    for (const id of ['e1', 'e2', 'e3']) expect(await redis.exists(`mb:session:${id}`)).toBe(0);
    expect(await redis.exists('mb:session:other')).toBe(1);
    expect(await redis.hGet('mb:party:' + B, V)).toBeNull();
    // Erasing B now finds only B's own remaining session.
    expect(await store.erase(B)).toEqual(['other']);
  });
});
