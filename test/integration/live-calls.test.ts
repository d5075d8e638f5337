/** The live-call registry in Redis: two instances' calls listed together, a dead instance's dropped, a hang-up delivered to its holder. */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveCallRegistry, LiveCalls, RECONCILE_BEATS, type LiveCall } from '../../src/calls/live-calls.js';
import { useRedis } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

const db = useRedis({ beforeAll, afterAll });
const log = pino({ level: 'silent' });
const call = (id: string, sessionId: string): LiveCall => ({
  callId: id, instance: '', sessionId, virtualNumber: '+912240001000', direction: 'a->b', startedAt: new Date().toISOString(), answeredAt: new Date().toISOString(),
});

describe('live calls across instances', () => {
  it('lists the calls of live instances, drops those of an instance that stopped, and filters by session', async () => {
    const one = new LiveCallRegistry(db.redis, 'mb:', 'host-1', log, { heartbeatMs: 100, timeoutMs: 500 });
    const two = new LiveCallRegistry(db.redis, 'mb:', 'host-2', log, { heartbeatMs: 100, timeoutMs: 500 });
    one.start();
    two.start();
    one.connected(call('a'.repeat(32), 'order-1'));
    two.connected(call('b'.repeat(32), 'order-2'));
    const view = new LiveCalls(db.redis, 'mb:', 500);
    await until(async () => (await view.list()).length === 2, 2000);
    expect((await view.list()).map((c) => c.instance).sort()).toEqual(['host-1', 'host-2']);
    expect((await view.list({ sessionId: 'order-2' })).map((c) => c.callId)).toEqual(['b'.repeat(32)]);
    one.ended('a'.repeat(32));
    await until(async () => (await view.list()).length === 1, 2000);
    // host-2 crashes: its heartbeat lapses (3 beats), and its call leaves the listing; its entry
    // stays for a survivor to take over (test/integration/takeover.test.ts).
    clearInterval((two as unknown as { timer: NodeJS.Timeout }).timer);
    await until(async () => (await view.list()).length === 0, 2000);
    expect(await db.redis.hKeys('mb:calls')).toEqual(['b'.repeat(32)]);
    await one.stop();
  });

  it('a hang-up reaches the subscribed instance holding the call; an unknown call is refused', async () => {
    const one = new LiveCallRegistry(db.redis, 'mb:', 'host-3', log, { heartbeatMs: 1000, timeoutMs: 500 });
    one.start();
    one.connected(call('c'.repeat(32), 'order-3'));
    const sub = db.redis.duplicate();
    await sub.connect();
    const got: string[] = [];
    await sub.subscribe('mb:hangup', (m) => void got.push(m));
    const view = new LiveCalls(db.redis, 'mb:', 500);
    await until(async () => (await view.list()).length === 1, 2000);
    expect(await view.hangup('c'.repeat(32))).toBe(true);
    await until(() => got.length === 1, 2000);
    expect(got).toEqual(['c'.repeat(32)]);
    expect(await view.hangup('d'.repeat(32))).toBe(false);
    await sub.close();
    await one.stop();
  });

  it(`an entry lost with a failover, or an unregister that never landed, is made good within ${RECONCILE_BEATS} beats`, async () => {
    const one = new LiveCallRegistry(db.redis, 'mb:', 'host-4', log, { heartbeatMs: 50, timeoutMs: 500 });
    one.start();
    one.connected(call('e'.repeat(32), 'order-4'));
    one.connected(call('f'.repeat(32), 'order-4'));
    await until(async () => (await db.redis.sCard('mb:instance-calls:host-4')) === 2, 2000);
    // The new primary never got one call's entry (asynchronous replication), and still has the
    // entry of a call that ended here while Redis was away.
    await db.redis.hDel('mb:calls', 'e'.repeat(32));
    await db.redis.sRem('mb:instance-calls:host-4', 'e'.repeat(32));
    await db.redis.hSet('mb:calls', '0'.repeat(32), JSON.stringify({ ...call('0'.repeat(32), 'order-4'), instance: 'host-4' }));
    await db.redis.sAdd('mb:instance-calls:host-4', '0'.repeat(32));
    const mine = async () => (await db.redis.hKeys('mb:calls')).filter((k) => /^[ef0]+$/.test(k)).sort().join();
    await until(async () => (await mine()) === ['e'.repeat(32), 'f'.repeat(32)].join(), 50 * RECONCILE_BEATS * 4);
    expect((await db.redis.sMembers('mb:instance-calls:host-4')).sort()).toEqual(['e'.repeat(32), 'f'.repeat(32)]);
    expect(JSON.parse((await db.redis.hGet('mb:calls', 'e'.repeat(32)))!)).toMatchObject({ callId: 'e'.repeat(32), instance: 'host-4', sessionId: 'order-4' });
    // Nothing amiss: nothing written.
    expect(await one.reconcile()).toEqual({ added: 0, removed: 0 });
    one.ended('e'.repeat(32));
    one.ended('f'.repeat(32));
    await one.stop();
  });
});
