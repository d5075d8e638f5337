/**
 * The unknown-caller slot {prefix}unknown:{V} against a real Redis: written by mb_create and
 * mb_allocate for a session with unknown_caller (not reject), a conflict while another open
 * session holds it, never when it is stale, released on close and erase, moved by extend and
 * update; and the lookup script reads it on a miss, in the same round trip.
 */
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PoolStore } from '../../src/sessions/pools.js';
import { createRedis, type Redis } from '../../src/sessions/redis.js';
import { PoolExhaustedError, SessionInputError, SessionStore, UnknownCallerTakenError } from '../../src/sessions/store.js';
import { docExample, runRedisCli } from '../helpers/doc-examples.js';
import { RedisServer } from '../helpers/redis-server.js';

const V = '+912240001000';
const V2 = '+912240002000';
const A = '+919812341234';
const B = '+919876549876';
const A2 = '+919800000001';
const B2 = '+919800000002';
const C = '+919811112222';
let server: RedisServer;
let redis: Redis;
let store: SessionStore;
let pools: PoolStore;
const inAnHour = () => Date.now() + 3600_000;
const slot = (v = V) => redis.get(`mb:unknown:${v}`);

beforeAll(async () => {
  server = await RedisServer.start();
  redis = createRedis({ url: server.url, commandTimeoutMs: 1000 }, pino({ level: 'silent' }));
  await redis.connect();
  store = new SessionStore(redis, 'mb:', 1000);
  pools = new PoolStore(redis, 'mb:', 1000);
});
afterAll(async () => {
  await redis.close();
  await server.stop();
});
beforeEach(async () => {
  await redis.flushAll();
});

describe('mb_create', () => {
  it('writes the slot, expiring with the session key (expiry plus retention)', async () => {
    const s = await store.create({ id: 'o1', virtualNumber: V, a: A, b: B, expiresAt: inAnHour(), retainMs: 60_000, unknownCaller: 'connect-b' });
    expect(s.unknownCaller).toBe('connect-b');
    expect(await slot()).toBe('o1');
    const [slotAt, sessionAt] = await Promise.all([redis.pExpireTime(`mb:unknown:${V}`), redis.pExpireTime('mb:session:o1')]);
    expect(slotAt).toBe(sessionAt);
    expect(slotAt).toBe(s.expiresAt + 60_000);
  });

  it('reject (or no treatment) leaves V free', async () => {
    await store.create({ id: 'o1', virtualNumber: V, a: A, b: B, expiresAt: inAnHour(), unknownCaller: 'reject' });
    await store.create({ id: 'o2', virtualNumber: V, a: A2, b: B2, expiresAt: inAnHour() });
    expect(await slot()).toBeNull();
  });

  it('refuses a second open session asking for it on the same V (409, naming the holder), and writes nothing of it', async () => {
    await store.create({ id: 'o1', virtualNumber: V, a: A, b: B, expiresAt: inAnHour(), unknownCaller: 'announce:delivered.wav' });
    const err = await store.create({ id: 'o2', virtualNumber: V, a: A2, b: B2, expiresAt: inAnHour(), unknownCaller: 'connect-a' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnknownCallerTakenError);
    expect((err as UnknownCallerTakenError).otherSessionId).toBe('o1');
    expect((err as Error).message).toContain('open session o1');
    expect(await redis.exists(['mb:session:o2', `mb:route:${V}:${A2}`])).toBe(0);
    expect(await slot()).toBe('o1');
    // Without the option, another session on V is fine; on another V, so is the option.
    await store.create({ id: 'o3', virtualNumber: V, a: A2, b: B2, expiresAt: inAnHour() });
    await store.create({ id: 'o4', virtualNumber: V2, a: A2, b: B2, expiresAt: inAnHour(), unknownCaller: 'connect-a' });
    expect(await slot(V2)).toBe('o4');
  });

  for (const [what, stale] of [
    ['closed', { v: V, a: A, b: B, status: 'closed', expires_at: String(inAnHour()), unknown_caller: 'connect-b' }],
    ['expired', { v: V, a: A, b: B, status: 'open', expires_at: String(Date.now() - 1), unknown_caller: 'connect-b' }],
    ['on another virtual number', { v: V2, a: A, b: B, status: 'open', expires_at: String(inAnHour()), unknown_caller: 'connect-b' }],
    ['without the option (any more)', { v: V, a: A, b: B, status: 'open', expires_at: String(inAnHour()) }],
    ['gone', null],
  ] as const) {
    it(`takes over a slot whose session is ${what}: a stale slot is never a conflict`, async () => {
      await redis.set(`mb:unknown:${V}`, 'old');
      if (stale) await redis.hSet('mb:session:old', stale);
      await store.create({ id: 'o5', virtualNumber: V, a: A2, b: B2, expiresAt: inAnHour(), unknownCaller: 'connect-b' });
      expect(await slot()).toBe('o5');
    });
  }

  it('refuses a value the contract does not know, in the store and in the function itself', async () => {
    await expect(store.create({ id: 'o6', virtualNumber: V, a: A, b: B, expiresAt: inAnHour(), unknownCaller: 'announce:../x.wav' })).rejects.toBeInstanceOf(SessionInputError);
    const raw = await redis.sendCommand(['FCALL', 'mb_create', '5', 'mb:session:o6', `mb:route:${V}:${A}`, `mb:route:${V}:${B}`, `mb:party:${A}`, `mb:party:${B}`,
      '', '', 'v', V, 'a', A, 'b', B, 'expires_at', String(inAnHour()), 'unknown_caller', 'connect-c']);
    expect(raw).toEqual(['invalid', 'unknown_caller', 'has an invalid value']);
  });
});

describe('release and expiry', () => {
  it('close releases the slot (and only its own holder\'s)', async () => {
    await store.create({ id: 'o1', virtualNumber: V, a: A, b: B, expiresAt: inAnHour(), unknownCaller: 'connect-b' });
    await store.create({ id: 'o2', virtualNumber: V, a: A2, b: B2, expiresAt: inAnHour() });
    await store.close('o2');
    expect(await slot()).toBe('o1');
    await store.close('o1');
    expect(await slot()).toBeNull();
    await store.create({ id: 'o3', virtualNumber: V, a: C, b: '+919800000003', expiresAt: inAnHour(), unknownCaller: 'connect-a' });
    expect(await slot()).toBe('o3');
  });

  it('erasing a participant releases their session\'s slot', async () => {
    await store.create({ id: 'o1', virtualNumber: V, a: A, b: B, expiresAt: inAnHour(), unknownCaller: 'connect-b' });
    expect(await store.erase(B)).toEqual(['o1']);
    expect(await slot()).toBeNull();
  });

  it('extend moves the slot\'s expiry with the session key\'s', async () => {
    await store.create({ id: 'o1', virtualNumber: V, a: A, b: B, expiresAt: inAnHour(), unknownCaller: 'connect-b' });
    await store.extend('o1', Date.now() + 7200_000, 1000);
    expect(await redis.pExpireTime(`mb:unknown:${V}`)).toBe(await redis.pExpireTime('mb:session:o1'));
  });

  it('update: setting it takes the slot (409 while another open session holds it), reject or removing it lets it go', async () => {
    await store.create({ id: 'o1', virtualNumber: V, a: A, b: B, expiresAt: inAnHour() });
    await store.create({ id: 'o2', virtualNumber: V, a: A2, b: B2, expiresAt: inAnHour(), unknownCaller: 'connect-b' });
    await expect(store.update('o1', { unknownCaller: 'connect-a' })).rejects.toBeInstanceOf(UnknownCallerTakenError);
    expect(await redis.hGet('mb:session:o1', 'unknown_caller')).toBeNull();
    expect(await (await store.update('o2', { unknownCaller: 'reject' })).unknownCaller).toBe('reject');
    expect(await slot()).toBeNull();
    expect((await store.update('o1', { unknownCaller: 'announce:delivered.wav' })).unknownCaller).toBe('announce:delivered.wav');
    expect(await slot()).toBe('o1');
    expect(await redis.pExpireTime(`mb:unknown:${V}`)).toBe(await redis.pExpireTime('mb:session:o1'));
    expect((await store.update('o1', { unknownCaller: '' })).unknownCaller).toBeUndefined();
    expect(await slot()).toBeNull();
  });
});

describe('mb_allocate', () => {
  it('skips numbers whose slot an open session holds; exhausted when all are held; a closed holder frees its number', async () => {
    await pools.set('city', {});
    await pools.add('city', [V, V2]);
    const first = await store.allocate({ id: 'p1', pool: 'city', a: A, b: B, expiresAt: inAnHour(), unknownCaller: 'connect-b' });
    const second = await store.allocate({ id: 'p2', pool: 'city', a: A2, b: B2, expiresAt: inAnHour(), unknownCaller: 'connect-b' });
    expect(new Set([first.virtualNumber, second.virtualNumber])).toEqual(new Set([V, V2]));
    expect(await slot(first.virtualNumber)).toBe('p1');
    expect(await slot(second.virtualNumber)).toBe('p2');
    await expect(store.allocate({ id: 'p3', pool: 'city', a: C, b: '+919800000003', expiresAt: inAnHour(), unknownCaller: 'connect-a' })).rejects.toBeInstanceOf(PoolExhaustedError);
    // Without the option the pair may still share a held number.
    expect((await store.allocate({ id: 'p4', pool: 'city', a: C, b: '+919800000003', expiresAt: inAnHour() })).id).toBe('p4');
    await store.close('p1');
    const again = await store.allocate({ id: 'p5', pool: 'city', a: '+919800000005', b: '+919800000006', expiresAt: inAnHour(), unknownCaller: 'connect-a' });
    expect(again.virtualNumber).toBe(first.virtualNumber);
    expect(await slot(first.virtualNumber)).toBe('p5');
  });
});

describe('the documented example (docs/redis-contract.md)', () => {
  it('creates a session that V is dedicated to, and an unknown caller on V finds it', async () => {
    const out = runRedisCli(server.port, docExample('unknown-caller')).trim().split('\n');
    expect(out).toEqual(['ok', '+912240004000', 'order-4001']);
    expect(await store.lookup('+912240004000', C)).toMatchObject({ kind: 'unknown', dedicated: { id: 'order-4001', unknownCaller: 'connect-b' } });
  });
});

describe('the lookup', () => {
  it('a caller with no session on V gets V\'s dedicated session, in one round trip', async () => {
    await store.create({ id: 'o1', virtualNumber: V, a: A, b: B, expiresAt: inAnHour(), unknownCaller: 'connect-b' });
    await store.lookup(V, C); // the script is cached from here on
    await redis.sendCommand(['CONFIG', 'RESETSTAT']);
    const r = await store.lookup(V, C);
    expect(r).toMatchObject({ kind: 'unknown', dedicated: { id: 'o1', b: B } });
    const stats = String(await redis.sendCommand(['INFO', 'commandstats']));
    const calls = [...stats.matchAll(/cmdstat_(\w+):calls=(\d+)/g)].filter(([, c]) => c !== 'config' && c !== 'info').map(([, c, n]) => `${c}=${n}`);
    // One EVALSHA from the client; inside it the route GET (a miss), the slot GET and the session HGETALL.
    expect(calls.sort()).toEqual(['evalsha=1', 'get=2', 'hgetall=1']);
    // A hit never reads the slot.
    await redis.sendCommand(['CONFIG', 'RESETSTAT']);
    expect(await store.lookup(V, A)).toMatchObject({ kind: 'found', callerRole: 'a' });
    const hit = String(await redis.sendCommand(['INFO', 'commandstats']));
    expect(hit).toMatch(/cmdstat_get:calls=1,/);
  });

  it('no slot, a closed or an expired holder: plain unknown (the global treatment)', async () => {
    expect(await store.lookup(V, C)).toEqual({ kind: 'unknown' });
    await store.create({ id: 'o1', virtualNumber: V, a: A, b: B, expiresAt: inAnHour(), unknownCaller: 'connect-b' });
    await redis.hSet('mb:session:o1', 'expires_at', String(Date.now() - 1));
    expect(await store.lookup(V, C)).toEqual({ kind: 'unknown' });
    await redis.hSet('mb:session:o1', { expires_at: String(inAnHour()), status: 'closed' });
    expect(await store.lookup(V, C)).toEqual({ kind: 'unknown' });
    await redis.set(`mb:unknown:${V}`, 'o1'); // a slot left behind (a v1 writer, a hand edit) changes nothing
    expect(await store.lookup(V, C)).toEqual({ kind: 'unknown' });
    await redis.del(`mb:unknown:${V}`);
    await redis.hSet(`mb:unknown:${V}`, 'x', 'y'); // the wrong type: no treatment, no error
    expect(await store.lookup(V, C)).toEqual({ kind: 'unknown' });
  });
});
