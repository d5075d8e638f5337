/** The live-call registry in Redis: two instances' calls listed together, a dead instance's dropped, a hang-up delivered to its holder. */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveCallRegistry, LiveCalls, type LiveCall } from '../../src/calls/live-calls.js';
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
});
