/** The Redis contract against a real redis-server, driven by the redis-cli examples in the docs. */
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createRedis, type Redis } from '../../src/sessions/redis.js';
import { SessionConflictError, SessionInputError, SessionStore } from '../../src/sessions/store.js';
import { MalformedRecordError } from '../../src/sessions/contract.js';
import { docExample, runRedisCli } from '../helpers/doc-examples.js';
import { loadLibrary } from '../../src/sessions/library.js';
import { RedisServer } from '../helpers/redis-server.js';

const V = '+912240001000';
const A = '+919812341234';
const B = '+919876549876';
let server: RedisServer;
let redis: Redis;
let store: SessionStore;

beforeAll(async () => {
  server = await RedisServer.start();
  redis = createRedis({ url: server.url, commandTimeoutMs: 500 }, pino({ level: 'silent' }));
  await redis.connect();
  store = new SessionStore(redis, 'mb:', 500);
  await loadLibrary(redis); // as maskbridge does at start (or `maskbridge contract load`)
});

afterAll(async () => {
  await redis.close();
  await server.stop();
});

beforeEach(async () => {
  await redis.flushAll();
});

describe('sessions written with plain redis-cli commands (docs/redis-contract.md)', () => {
  it('create: each participant reaches the other on V', async () => {
    runRedisCli(server.port, docExample('create'));
    expect(await store.lookup(V, A)).toMatchObject({ kind: 'found', callerRole: 'a', peer: B, session: { id: 'order-1001', record: true } });
    expect(await store.lookup(V, B)).toMatchObject({ kind: 'found', callerRole: 'b', peer: A });
    expect(await store.lookup(V, '+919800000001')).toEqual({ kind: 'unknown' });
    expect(await store.lookup('+912240009999', A)).toEqual({ kind: 'unknown' });
    expect(await redis.get('mb:schema')).toBe('2'); // key layout 2: found through the participant index, no route keys
    expect(await redis.keys('mb:route:*')).toEqual([]);
  });

  it('close: the session stops connecting at once, with the closed treatment', async () => {
    runRedisCli(server.port, docExample('create'));
    runRedisCli(server.port, docExample('close'));
    expect(await store.lookup(V, A)).toMatchObject({ kind: 'closed', why: 'closed' });
    expect(await store.lookup(V, B)).toMatchObject({ kind: 'closed', why: 'closed' });
  });

  it('durability: the close, then WAIT on the same connection (no replica here: 0 after the timeout)', async () => {
    runRedisCli(server.port, docExample('create'));
    const t0 = Date.now();
    const out = runRedisCli(server.port, docExample('durable-close')).trim().split('\n');
    expect(out.at(-1)).toBe('0');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
    expect(await store.lookup(V, A)).toMatchObject({ kind: 'closed', why: 'closed' });
  });

  it('expiry: a session stops connecting at expires_at, even while its keys remain', async () => {
    const soon = String(Date.now() + 300);
    runRedisCli(server.port, docExample('create'), { '4102444800000': soon });
    expect((await store.lookup(V, A)).kind).toBe('found');
    await new Promise((r) => setTimeout(r, 400));
    expect(await store.lookup(V, A)).toMatchObject({ kind: 'closed', why: 'expired' });
  });

  it('expiry: once Redis has dropped the keys, the caller is unknown', async () => {
    const soon = String(Date.now() + 200);
    runRedisCli(server.port, docExample('create'), { '4102444800000': soon, ' 86400000 ': ' 0 ' });
    await new Promise((r) => setTimeout(r, 350));
    expect(await store.lookup(V, A)).toEqual({ kind: 'unknown' });
  });

  it('extend: a later expires_at keeps the session open', async () => {
    const soon = String(Date.now() + 200);
    runRedisCli(server.port, docExample('create'), { '4102444800000': soon });
    runRedisCli(server.port, docExample('extend'));
    await new Promise((r) => setTimeout(r, 300));
    expect((await store.lookup(V, A)).kind).toBe('found');
  });
});

describe('contract v2 examples', () => {
  it('create-v1: a session written with plain commands, as v1 said, still connects, and blocks a conflicting create', async () => {
    runRedisCli(server.port, docExample('create-v1'));
    expect(await store.lookup('+912240001001', A)).toMatchObject({ kind: 'found', peer: B, session: { id: 'order-1002' } });
    await expect(store.create({ id: 'x', virtualNumber: '+912240001001', a: A, b: '+919800000001', expiresAt: Date.now() + 60_000 }))
      .rejects.toBeInstanceOf(SessionConflictError);
  });

  it('allocate: a pool, its numbers and an allocated session, listed for the participant', async () => {
    const out = runRedisCli(server.port, docExample('allocate'));
    const lines = out.trim().split('\n');
    expect(lines.slice(0, 6)).toEqual(['ok', 'mumbai', 'ok', '3', 'ok', '1']);
    const v = lines[7] as string;
    expect(['+912240002000', '+912240002001', '+912240002002']).toContain(v); // never the reserved one
    expect(lines.slice(8)).toEqual(['order-3001', v]);
    expect(await store.lookup(v, B)).toMatchObject({ kind: 'found', peer: A, session: { pool: 'mumbai' } });
  });

  it('create twice: the second is refused and changes nothing', async () => {
    runRedisCli(server.port, docExample('create'));
    const again = runRedisCli(server.port, docExample('create').replace('+919876549876 expires_at', '+919800000002 expires_at').replace(/mb:route:\+912240001000:\+919876549876/, 'mb:route:+912240001000:+919800000002').replace('mb:party:+919876549876', 'mb:party:+919800000002'));
    expect(again.trim()).toBe('exists');
    expect(await store.lookup(V, B)).toMatchObject({ kind: 'found', peer: A });
  });
});

describe('PIN keys', () => {
  it('a PIN written as documented resolves to the session and the participant it speaks for', async () => {
    runRedisCli(server.port, docExample('create'));
    runRedisCli(server.port, docExample('pin'));
    expect(await store.lookupByPin(V, '424242')).toMatchObject({ kind: 'found', callerRole: 'a', peer: B, session: { id: 'order-1001' } });
    expect(await store.lookupByPin(V, '000000')).toEqual({ kind: 'unknown' });
    expect(await store.lookupByPin(V, '42a')).toEqual({ kind: 'unknown' });
  });
});

describe('malformed records count as no session and name their key', () => {
  it.each([
    ['a route without its session (half-written)', `SET mb:route:${V}:${A} order-9`, 'mb:session:order-9'],
    ['a session missing a field', `HSET mb:session:s2 v ${V} a ${A} status open expires_at 4102444800000\nSET mb:route:${V}:${A} s2`, 'mb:session:s2'],
    ['a non-E.164 participant', `HSET mb:session:s3 v ${V} a 9812341234 b ${B} status open expires_at 4102444800000\nSET mb:route:${V}:9812341234 s3\nSET mb:route:${V}:${A} s3`, 'mb:session:s3'],
    ['a route of the wrong type', `HSET mb:route:${V}:${A} id s4`, `mb:route:${V}:${A}`],
    ['a session key of the wrong type', `SET mb:session:s5 hello\nSET mb:route:${V}:${A} s5`, 'mb:session:s5'],
    ['a route to a session the caller is not in', `HSET mb:session:s6 v ${V} a +919800000001 b ${B} status open expires_at 4102444800000\nSET mb:route:${V}:${A} s6`, `mb:route:${V}:${A}`],
    ['an expiry that is not a number', `HSET mb:session:s7 v ${V} a ${A} b ${B} status open expires_at tomorrow\nSET mb:route:${V}:${A} s7`, 'mb:session:s7'],
  ])('%s', async (_what, commands, key) => {
    runRedisCli(server.port, commands);
    const r = await store.lookup(V, A);
    expect(r.kind).toBe('malformed');
    expect(r.kind === 'malformed' && r.key).toBe(key);
  });
});

describe('SessionStore (the TypeScript side of the same contract)', () => {
  const base = { id: 'order-2001', virtualNumber: V, a: A, b: B };

  it('creates what redis-cli readers and the lookup agree on', async () => {
    const s = await store.create({ ...base, expiresAt: Date.now() + 60_000, record: false, label: 'order 2001' });
    expect(s).toMatchObject({ status: 'open', record: false, label: 'order 2001' });
    expect(await redis.hGet('mb:session:order-2001', 'v')).toBe(V);
    expect(await redis.hGet(`mb:party:${A}`, V)).toBe('order-2001');
    expect(await redis.hGet(`mb:party:${B}`, V)).toBe('order-2001');
    expect(await redis.pTTL(`mb:party:${A}`)).toBeGreaterThan(60_000);
    expect(await redis.exists([`mb:route:${V}:${A}`, `mb:route:${V}:${B}`])).toBe(0);
    expect(await store.lookup(V, B)).toMatchObject({ kind: 'found', peer: A });
  });

  it('closes: lookups answer closed, and close of an unknown id says so', async () => {
    await store.create({ ...base, expiresAt: Date.now() + 60_000 });
    expect(await store.close('order-2001')).toBe(true);
    expect(await store.lookup(V, A)).toMatchObject({ kind: 'closed', why: 'closed' });
    expect((await store.get('order-2001'))?.closedAt).toBeGreaterThan(0);
    expect(await store.close('nope')).toBe(false);
  });

  it('refuses a second open session for the same V and participant, but takes over a closed one', async () => {
    await store.create({ ...base, expiresAt: Date.now() + 60_000 });
    await expect(store.create({ ...base, id: 'order-2002', b: '+919800000001', expiresAt: Date.now() + 60_000 }))
      .rejects.toBeInstanceOf(SessionConflictError);
    await store.close('order-2001');
    await store.create({ ...base, id: 'order-2002', b: '+919800000001', expiresAt: Date.now() + 60_000 });
    expect(await store.lookup(V, A)).toMatchObject({ kind: 'found', session: { id: 'order-2002' }, peer: '+919800000001' });
  });

  it.each([
    [{ id: 'bad id' }, 'id'],
    [{ a: '9812341234' }, 'a'],
    [{ b: A }, 'b'],
    [{ virtualNumber: 'x' }, 'virtualNumber'],
    [{ expiresAt: 1 }, 'expiresAt'],
  ])('refuses bad input %j naming the field', async (patch, field) => {
    const err = await store.create({ ...base, expiresAt: Date.now() + 60_000, ...patch }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionInputError);
    expect((err as SessionInputError).field).toBe(field);
  });

  it('get() refuses a malformed stored record instead of returning it', async () => {
    runRedisCli(server.port, 'HSET mb:session:s8 v x');
    await expect(store.get('s8')).rejects.toBeInstanceOf(MalformedRecordError);
    expect(await store.get('absent')).toBeNull();
  });
});
