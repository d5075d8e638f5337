/** Redis Sentinel config (redis.sentinels, sentinelName, sentinelPassword) and the follower's address handling. */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { redisOptions } from '../../src/sessions/redis.js';
import { parseSentinel, urlFor } from '../../src/sessions/sentinel.js';

describe('redis.sentinels', () => {
  it('is empty by default: redis.url alone, as before', () => {
    const c = loadConfig({ env: {} });
    expect(c.redis.sentinels).toEqual([]);
    expect(c.redis.sentinelName).toBe('mymaster');
    expect(c.redis.waitReplicas).toBe(0);
    expect(redisOptions(c.redis)).toEqual({ url: c.redis.url, commandTimeoutMs: c.redis.commandTimeoutMs });
  });

  it('takes a comma separated list from MB_REDIS_SENTINELS, with the name and password', () => {
    const c = loadConfig({ env: { MB_REDIS_SENTINELS: 'sentinel-1:26379, 10.0.0.7:26379,[::1]:26380', MB_REDIS_SENTINEL_NAME: 'mb', MB_REDIS_SENTINEL_PASSWORD: 's3cret', MB_REDIS_WAIT_REPLICAS: '1' } });
    expect(c.redis.sentinels).toEqual(['sentinel-1:26379', '10.0.0.7:26379', '[::1]:26380']);
    expect(c.redis.waitReplicas).toBe(1);
    expect(redisOptions(c.redis)).toMatchObject({
      sentinels: [{ host: 'sentinel-1', port: 26379 }, { host: '10.0.0.7', port: 26379 }, { host: '::1', port: 26380 }],
      sentinelName: 'mb', sentinelPassword: 's3cret',
    });
  });

  it.each(['sentinel-1', 'sentinel-1:0', 'sentinel-1:70000', 'a b:26379', '::1:26379'])('names the key for a bad entry %j', (entry) => {
    expect(() => loadConfig({ env: { MB_REDIS_SENTINELS: `ok:26379,${entry}` } })).toThrow(/redis\.sentinels: entry 2: .* is not host:port/);
  });

  it('keeps the data nodes\' credentials, db and scheme, with the primary\'s address', () => {
    expect(urlFor('rediss://maskbridge:pw@redis:6379/2', { host: '10.0.0.9', port: 6380 })).toBe('rediss://maskbridge:pw@10.0.0.9:6380/2');
    expect(urlFor('redis://127.0.0.1:6379', { host: '::1', port: 7000 })).toBe('redis://[::1]:7000');
    expect(parseSentinel(' [fe80::1]:26379 ')).toEqual({ host: 'fe80::1', port: 26379 });
  });
});
