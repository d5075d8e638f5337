/** The out-of-session hook creating sessions through SessionStore.create (mb_create) on a real Redis. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OutOfSessionHook } from '../../src/hooks/out-of-session.js';
import { SessionStore } from '../../src/sessions/store.js';
import { HookServer } from '../helpers/hook-server.js';
import { useRedis } from '../helpers/redis-server.js';

const V = '+912240001000';
const A = '+919812341234';
const A2 = '+919812340000';
const B = '+919876549876';
const ctx = useRedis({ beforeAll, afterAll });
const backend = new HookServer();
let store: SessionStore;
beforeAll(async () => {
  await backend.start();
  store = new SessionStore(ctx.redis, 'mb:', 500);
});
afterAll(() => backend.stop());
beforeEach(async () => {
  await ctx.redis.flushAll();
});

const metrics = { seconds: { observe: () => undefined }, outcomes: { inc: () => undefined } };
const hook = () => new OutOfSessionHook({ url: backend.url(), timeoutMs: 2000, failPolicy: 'closed', failStatus: 503 }, 'k', { create: (s) => store.create(s), metrics });

describe('out-of-session create on the store', () => {
  it('creates a session the next lookup finds, with the caller as A', async () => {
    backend.answer({ action: 'create', session: { id: 'oos-1', b: B, ttl_seconds: 600, record: true } });
    expect(await hook().ask({ call_id: 'c1', virtual_number: V, caller: A })).toMatchObject({ action: 'session', session: { id: 'oos-1', a: A, b: B, virtualNumber: V, record: true } });
    expect(await store.lookup(V, A)).toMatchObject({ kind: 'found', callerRole: 'a', peer: B, session: { id: 'oos-1' } });
    expect(await store.lookup(V, B)).toMatchObject({ kind: 'found', callerRole: 'b', peer: A });
  });

  it('never replaces a session, and refuses B a second open session on V: both are errors (here: fail closed)', async () => {
    backend.answer({ action: 'create', session: { id: 'oos-1', b: B, ttl_seconds: 600 } });
    await hook().ask({ call_id: 'c1', virtual_number: V, caller: A });
    expect(await hook().ask({ call_id: 'c2', virtual_number: V, caller: A2 })).toMatchObject({ action: 'reject', status: 503, outcome: 'error', problem: expect.stringContaining('already exists') });
    backend.answer({ action: 'create', session: { id: 'oos-2', b: B, ttl_seconds: 600 } });
    expect(await hook().ask({ call_id: 'c3', virtual_number: V, caller: A2 })).toMatchObject({ action: 'reject', outcome: 'error', problem: expect.stringContaining('open session') });
    expect(await store.get('oos-2')).toBeNull();
    expect(await store.get('oos-1')).toMatchObject({ a: A, b: B });
  });
});
