/**
 * The Redis metrics against a real redis-server: each store command timed under its name, a
 * failure counted, the pools counted by state in one round trip, and a frozen Redis (SIGSTOP)
 * unable to hold a scrape.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/metrics/metrics.js';
import { StoreHealth } from '../../src/sessions/health.js';
import { PoolStore } from '../../src/sessions/pools.js';
import { SessionStore } from '../../src/sessions/store.js';
import { useRedis } from '../helpers/redis-server.js';

const db = useRedis({ beforeAll, afterAll });
const metrics = new Metrics();
let store: SessionStore;
let pools: PoolStore;

beforeAll(() => {
  const health = new StoreHealth(Date.now, metrics.observeRedis);
  store = new SessionStore(db.redis, 'mbm:', 1000, Date.now, health);
  pools = new PoolStore(db.redis, 'mbm:', 1000, health);
});

const count = async (name: string, labels: Record<string, string>) => {
  const metric = (await metrics.registry.getSingleMetric(name)?.get())?.values ?? [];
  return metric.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
};

describe('Redis command metrics', () => {
  it('times each store command under its name (lookup, the mb_* functions), counting none as failed', async () => {
    await store.lookup('+912240001000', '+919812341234');
    await pools.set('city', {});
    expect(await count('maskbridge_redis_command_seconds', { command: 'lookup', le: '+Inf' })).toBe(1);
    expect(await count('maskbridge_redis_command_seconds', { command: 'mb_pool_set', le: '+Inf' })).toBe(1);
    expect(await count('maskbridge_redis_errors_total', { command: 'lookup' })).toBeUndefined();
  });

  it('counts each pool\'s numbers by state in one round trip', async () => {
    await pools.set('city', {});
    await pools.set('empty', {});
    await pools.add('city', ['+912240001000', '+912240001001', '+912240001002', '+912240001003']);
    await pools.add('city', ['+912240001004'], 'reserved');
    await pools.setState('city', ['+912240001003'], 'quarantined');
    await pools.setState('city', ['+912240001002'], 'draining');
    expect(await pools.stateCounts()).toEqual([
      { pool: 'city', counts: { active: 2, reserved: 1, draining: 1, quarantined: 1 } },
      { pool: 'empty', counts: { active: 0, reserved: 0, draining: 0, quarantined: 0 } },
    ]);
    metrics.bindPools(() => pools.stateCounts(), { maxAgeMs: 0, timeoutMs: 300 });
    const text = await metrics.registry.metrics();
    expect(text).toContain('maskbridge_pool_numbers{pool="city",state="active"} 2');
    expect(text).toContain('maskbridge_pool_utilisation_ratio{pool="city"} 0.6');
    expect(text).toContain('maskbridge_pool_utilisation_ratio{pool="empty"} 1');
  });

  it('a frozen Redis: the lookup fails closed and is counted, and a scrape ends at the deadline keeping the pool values', async () => {
    db.server.pause();
    try {
      await expect(store.lookup('+912240001000', '+919812341234')).rejects.toThrow('session store unavailable');
      const t0 = Date.now();
      const text = await metrics.registry.metrics();
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(text).toContain('maskbridge_pool_numbers{pool="city",state="active"} 2');
    } finally {
      db.server.resume();
    }
    expect(await count('maskbridge_redis_errors_total', { command: 'lookup' })).toBe(1);
    expect(await count('maskbridge_redis_errors_total', { command: 'pool_stats' })).toBe(1);
  });
});
