/**
 * With redis.sentinels set and no sentinel answering: the process does not crash, commands fail
 * at once as "store unavailable" (503), connect() keeps trying until closed, and then rejects.
 * Needs no redis-sentinel (nothing listens on the ports).
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createRedis, redisOptions } from '../../src/sessions/redis.js';
import { isStoreUnavailable } from '../../src/sessions/unavailable.js';
import { freePort } from '../helpers/net.js';

describe('Redis Sentinel with every sentinel down', () => {
  it('fails fast, keeps asking, never crashes, and stops on destroy', async () => {
    const sentinels = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    const redis = createRedis(redisOptions({ url: 'redis://127.0.0.1:1', commandTimeoutMs: 100, sentinels, sentinelName: 'mymaster', sentinelPassword: '' }), log);
    const connecting = redis.connect();
    const outcome = connecting.then(() => 'connected', (err: Error) => `rejected: ${err.message}`);
    expect(redis.isOpen).toBe(true);
    expect(redis.isReady).toBe(false);
    const t0 = Date.now();
    const err = await redis.get('mb:schema').catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(50);
    expect(isStoreUnavailable(err)).toBe(true);
    await new Promise((r) => setTimeout(r, 2500)); // two polls and more
    expect(redis.isReady).toBe(false);
    // One error line for the outage, not one per poll.
    expect(lines.filter((l) => l.includes('no sentinel answered')).length).toBe(1);
    redis.destroy();
    expect(await outcome).toBe('rejected: closed before a redis primary was found');
    expect(redis.isOpen).toBe(false);
  });
});
