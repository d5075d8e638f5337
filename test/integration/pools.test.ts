/** Contract v2 pools and allocation (src/sessions/library.lua) against a real redis-server. */
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadLibrary } from '../../src/sessions/library.js';
import { PoolStore } from '../../src/sessions/pools.js';
import { createRedis, type Redis } from '../../src/sessions/redis.js';
import { NumberUnavailableError, PoolExhaustedError, SessionInputError, SessionStore } from '../../src/sessions/store.js';
import { NumberInOtherPoolError } from '../../src/sessions/errors.js';
import { RedisServer } from '../helpers/redis-server.js';

const IN1 = '+912240001000';
const IN2 = '+912240001001';
const US1 = '+14155550100';
const CUST = '+919812341234';
const D1 = '+919876549876';
const D2 = '+919876549877';
let server: RedisServer;
let redis: Redis;
let store: SessionStore;
let pools: PoolStore;
let n = 0;
const hour = () => Date.now() + 3600_000;
const alloc = (a: string, b: string, extra: Partial<Parameters<SessionStore['allocate']>[0]> = {}) =>
  store.allocate({ id: `s-${++n}`, pool: 'city', a, b, expiresAt: hour(), ...extra });

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

describe('the functions library', () => {
  it('loads once: a second load finds it current; after FUNCTION FLUSH the next call loads it again', async () => {
    expect(await loadLibrary(redis)).toBe('loaded');
    expect(await loadLibrary(redis)).toBe('current');
    await redis.sendCommand(['FUNCTION', 'FLUSH']);
    await pools.set('city', {});
    expect(await pools.get('city')).toMatchObject({ name: 'city', select: 'prefer-sticky' });
  });
});

describe('pools', () => {
  it('refuses a number that is not E.164, naming it, and adds nothing', async () => {
    await pools.set('city', {});
    await expect(pools.add('city', [IN1, '022 4000 1001'])).rejects.toThrow(/"022 4000 1001" is not an E.164 number/);
    await expect(redis.sendCommand(['FCALL', 'mb_pool_add', '1', 'mb:pool:city', 'active', IN1, '+0123'])).resolves.toEqual(['invalid', '+0123', 'is not an E.164 number']);
    expect((await pools.get('city'))?.counts.active).toBe(0);
  });

  it('keeps a number in one pool', async () => {
    await pools.set('city', {});
    await pools.set('brand', {});
    await pools.add('city', [IN1]);
    await expect(pools.add('brand', [IN1])).rejects.toBeInstanceOf(NumberInOtherPoolError);
  });

  it('gives a reserved number only when it is named', async () => {
    await pools.set('city', {});
    await pools.add('city', [IN1], 'reserved');
    await expect(alloc(CUST, D1)).rejects.toBeInstanceOf(PoolExhaustedError);
    const named = await store.create({ id: 'vip', virtualNumber: IN1, a: CUST, b: D1, expiresAt: hour() });
    expect(named).toMatchObject({ virtualNumber: IN1, pool: 'city' });
  });

  it('draining and quarantined numbers take no new sessions, while open ones keep connecting', async () => {
    await pools.set('city', {});
    await pools.add('city', [IN1]);
    const s = await alloc(CUST, D1);
    for (const state of ['draining', 'quarantined'] as const) {
      await pools.setState('city', [IN1], state);
      await expect(alloc('+919800000001', '+919800000002')).rejects.toBeInstanceOf(PoolExhaustedError);
      await expect(store.create({ id: `named-${state}`, virtualNumber: IN1, a: '+919800000003', b: '+919800000004', expiresAt: hour() }))
        .rejects.toBeInstanceOf(NumberUnavailableError);
      expect(await store.lookup(IN1, CUST)).toMatchObject({ kind: 'found', session: { id: s.id } });
    }
    await pools.setState('city', [IN1], 'active');
    await expect(alloc('+919800000001', '+919800000002')).resolves.toMatchObject({ virtualNumber: IN1 });
  });

  it('says the pool is exhausted, naming it, when every number is taken for a participant', async () => {
    await pools.set('city', {});
    await pools.add('city', [IN1, IN2]);
    await alloc(CUST, D1);
    await alloc(CUST, D2);
    const err = await alloc(CUST, '+919876549878').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PoolExhaustedError);
    expect((err as PoolExhaustedError).pool).toBe('city');
    expect((err as Error).message).toMatch(/pool city is exhausted/);
    await expect(store.allocate({ id: 'x', pool: 'nowhere', a: CUST, b: D1, expiresAt: hour() })).rejects.toThrow(/no pool nowhere/);
  });
});

describe('allocation', () => {
  it('never gives a participant two open sessions on one number', async () => {
    await pools.set('city', {});
    await pools.add('city', [IN1, IN2]);
    const first = await alloc(CUST, D1);
    const second = await alloc(CUST, D2);
    expect(second.virtualNumber).not.toBe(first.virtualNumber);
    // The driver's side too: another customer with D1 cannot get D1's number.
    const third = await alloc('+919800000001', D1);
    expect(third.virtualNumber).not.toBe(first.virtualNumber);
  });

  it('prefer-sticky gives a pair its earlier number again; avoid-sticky another one', async () => {
    await pools.set('city', {});
    await pools.add('city', [IN1, IN2]);
    const first = await alloc(CUST, D1);
    await store.close(first.id);
    for (let i = 0; i < 5; i++) {
      const again = await alloc(CUST, D1);
      expect(again.virtualNumber).toBe(first.virtualNumber);
      await store.close(again.id);
    }
    await pools.set('city', { select: 'avoid-sticky' });
    const other = await alloc(CUST, D1);
    expect(other.virtualNumber).not.toBe(first.virtualNumber);
  });

  it('cool-off: a freed number goes to the participant with another counterparty only after coolOffSec', async () => {
    await pools.set('city', { coolOffSec: 1 });
    await pools.add('city', [IN1]);
    const first = await alloc(CUST, D1);
    await store.close(first.id);
    await expect(alloc(CUST, D2)).rejects.toBeInstanceOf(PoolExhaustedError); // the customer would reach a new driver
    await expect(alloc(D1, '+919800000009')).rejects.toBeInstanceOf(PoolExhaustedError); // and the driver a new customer
    await new Promise((r) => setTimeout(r, 1100));
    await expect(alloc(CUST, D2)).resolves.toMatchObject({ virtualNumber: IN1 });
  });

  it('geo-matches on A\'s country calling code, falling back to the whole pool unless told not to', async () => {
    await pools.set('city', { geo: 'country' });
    await pools.add('city', [IN1, US1]);
    expect((await alloc(CUST, D1)).virtualNumber).toBe(IN1);
    expect((await alloc('+14155550199', D1)).virtualNumber).toBe(US1);
    expect((await alloc(CUST, D2)).virtualNumber).toBe(US1); // IN1 is CUST's already: fallback
    await pools.set('city', { geoFallback: 'none' });
    await expect(alloc('+919800000001', '+919800000002', { geo: '+44' })).rejects.toBeInstanceOf(PoolExhaustedError);
  });

  it('replays an allocation with the same idempotency token, and refuses the id otherwise', async () => {
    await pools.set('city', {});
    await pools.add('city', [IN1, IN2]);
    const s = { id: 'order-9', pool: 'city', a: CUST, b: D1, expiresAt: hour() };
    const first = await store.allocate(s, 'k1:digest');
    expect(await store.allocate(s, 'k1:digest')).toMatchObject({ virtualNumber: first.virtualNumber, replayed: true });
    await expect(store.allocate(s, 'k2:digest')).rejects.toThrow(/already exists/);
  });
});

describe('session model', () => {
  it('stores a one-way session; lookups carry its direction', async () => {
    await store.create({ id: 'ow', virtualNumber: IN1, a: CUST, b: D1, expiresAt: hour(), direction: 'a-to-b' });
    expect(await store.lookup(IN1, D1)).toMatchObject({ kind: 'found', callerRole: 'b', session: { direction: 'a-to-b' } });
  });

  it('a sliding TTL counts from the end of the last answered call, capped by maxExpiresAt', async () => {
    const now = Date.now();
    await store.create({ id: 'sl', virtualNumber: IN1, a: CUST, b: D1, expiresAt: now + 60_000, ttlSec: 60, maxExpiresAt: now + 90_000 });
    await store.touch('sl', now + 10_000);
    expect((await store.get('sl'))?.expiresAt).toBe(now + 70_000);
    await store.touch('sl', now + 5_000); // an older call's end never shortens it
    expect((await store.get('sl'))?.expiresAt).toBe(now + 70_000);
    await store.touch('sl', now + 50_000);
    expect((await store.get('sl'))?.expiresAt).toBe(now + 90_000);
    expect(await redis.pExpireTime('mb:session:sl')).toBeGreaterThanOrEqual(now + 90_000);
    expect(await redis.pExpireTime('mb:party:' + CUST)).toBeGreaterThanOrEqual(now + 90_000);
    expect(await redis.pExpireTime('mb:party:' + D1)).toBeGreaterThanOrEqual(now + 90_000);
  });

  it('stores windows in a time zone and per-session limits; refuses a bad zone or window naming the field', async () => {
    const s = await store.create({ id: 'win', virtualNumber: IN1, a: CUST, b: D1, expiresAt: hour(), windows: 'mon-fri 09:00-18:00', tz: 'America/New_York', maxDurationSec: 600, ringTimeoutSec: 20 });
    expect(s).toMatchObject({ windowsText: 'mon-fri 09:00-18:00', tz: 'America/New_York', maxDurationSec: 600, ringTimeoutSec: 20 });
    await expect(store.create({ id: 'w2', virtualNumber: IN2, a: CUST, b: D1, expiresAt: hour(), tz: 'Mars/Base' })).rejects.toMatchObject({ field: 'tz' });
    await expect(store.update('win', { windows: 'someday 09:00-10:00' })).rejects.toMatchObject({ field: 'windows' });
    // Written past the checks (plain Redis): the record is malformed, and never connects.
    await redis.hSet('mb:session:win', 'tz', 'Mars/Base');
    expect(await store.lookup(IN1, CUST)).toMatchObject({ kind: 'malformed', key: 'mb:session:win' });
  });

  it('extends and updates a session; refuses to extend a closed one', async () => {
    await store.create({ id: 'ex', virtualNumber: IN1, a: CUST, b: D1, expiresAt: hour() });
    const later = hour() + 3600_000;
    expect((await store.extend('ex', later)).expiresAt).toBe(later);
    expect(await store.update('ex', { label: 'order 9', record: true, meta: '{"city":"BOM"}' })).toMatchObject({ label: 'order 9', record: true, meta: '{"city":"BOM"}' });
    await store.close('ex');
    await expect(store.extend('ex', later + 1)).rejects.toBeInstanceOf(SessionInputError);
    await expect(store.extend('nope', later)).rejects.toThrow(/no session nope/);
  });

  it('lists a participant\'s open sessions, not closed ones', async () => {
    await store.create({ id: 'p1', virtualNumber: IN1, a: CUST, b: D1, expiresAt: hour() });
    await store.create({ id: 'p2', virtualNumber: IN2, a: CUST, b: D2, expiresAt: hour() });
    await store.close('p1');
    expect((await store.sessionsOf(CUST)).map((s) => s.id)).toEqual(['p2']);
    expect((await store.sessionsOf(D2)).map((s) => s.id)).toEqual(['p2']);
  });

  it('closing publishes the session id on {prefix}session-closed', async () => {
    await store.create({ id: 'pub', virtualNumber: IN1, a: CUST, b: D1, expiresAt: hour() });
    const sub = redis.duplicate();
    await sub.connect();
    const got = new Promise<string>((resolve) => void sub.subscribe('mb:session-closed', resolve));
    await new Promise((r) => setTimeout(r, 50));
    await store.close('pub');
    expect(await got).toBe('pub');
    await sub.close();
  });
});
