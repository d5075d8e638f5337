/**
 * The composition root's metrics wiring: the real app (Redis real, drachtio-server absent) serves
 * /metrics with build_info, the connectivity gauges from its health, the pool gauges read from
 * Redis, the idle probe's Redis round trips timed, and the orphan spool counters (at 0) for its
 * per-instance CDR spool.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { PoolStore } from '../../src/sessions/pools.js';
import { loadLibrary } from '../../src/sessions/library.js';
import { VERSION } from '../../src/version.js';
import { parseExposition } from '../helpers/exposition.js';
import { freePort } from '../helpers/net.js';
import { useRedis } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

const db = useRedis({ beforeAll, afterAll });
let app: App;

beforeAll(async () => {
  await loadLibrary(db.redis);
  const pools = new PoolStore(db.redis, 'mbtest:', 1000);
  await pools.set('city', {});
  await pools.add('city', ['+912240001000', '+912240001001', '+912240001002', '+912240001003']);
  await pools.setState('city', ['+912240001003'], 'quarantined');
  const config = loadConfig({
    files: ['config/default.json', 'config/test.json'],
    overrides: {
      drachtio: { port: await freePort() }, // nobody there: srf keeps retrying
      redis: { url: db.server.url },
      api: { enabled: true, host: '127.0.0.1', port: await freePort(), token: 'metrics-test-token' },
      cdr: { spoolFile: join(mkdtempSync(join(tmpdir(), 'mb-metrics-')), '{instance}', 'spool.jsonl') },
      calls: { drainTimeoutSec: 1 },
    },
  });
  app = createApp(config, { log: pino({ level: 'silent' }) });
  await app.start();
  await until(() => app.health().redis, 5000);
});
afterAll(async () => {
  await app?.stop();
});

describe('the app at /metrics', () => {
  it('serves build info, connectivity from its health, the pools from Redis, and times the Redis probe', async () => {
    await until(async () => (await app.api!.inject({ method: 'GET', url: '/metrics' })).body.includes('command="ping"'), 5000);
    const res = await app.api!.inject({ method: 'GET', url: '/metrics' }); // no token needed
    expect(res.statusCode).toBe(200);
    const m = parseExposition(res.body);
    expect(m.value('maskbridge_build_info', { version: VERSION })).toBe(1);
    expect(m.value('maskbridge_redis_up')).toBe(1);
    expect(m.value('maskbridge_drachtio_connected')).toBe(0);
    expect(m.samples.filter((s) => s.name === 'maskbridge_media_server_up')).toEqual([]); // media.mode none
    expect(m.value('maskbridge_gateway_up', { gateway: '127.0.0.1:5070' })).toBe(1); // config/test.json's gateway, no ping answered or missed yet
    expect(m.value('maskbridge_pool_numbers', { pool: 'city', state: 'active' })).toBe(3);
    expect(m.value('maskbridge_pool_numbers', { pool: 'city', state: 'quarantined' })).toBe(1);
    expect(m.value('maskbridge_pool_utilisation_ratio', { pool: 'city' })).toBeCloseTo(0.25);
    expect(m.value('maskbridge_redis_command_seconds_count', { command: 'pool_stats' })).toBeGreaterThanOrEqual(1);
    expect(m.value('maskbridge_redis_command_seconds_count', { command: 'ping' })).toBeGreaterThanOrEqual(1);
    expect(m.value('maskbridge_redis_command_seconds_count', { command: 'live_heartbeat' })).toBeGreaterThanOrEqual(1);
    expect(m.value('process_cpu_seconds_total')).toBeGreaterThan(0);
    // {instance} in cdr.spoolFile: orphan CDR spools are replayed, and counted (none yet); no event spool (webhooks off).
    expect(m.value('maskbridge_orphan_spool_replays_total', { spool: 'cdr', outcome: 'replayed' })).toBe(0);
    expect(m.value('maskbridge_orphan_spool_replays_total', { spool: 'cdr', outcome: 'left' })).toBe(0);
    expect(m.value('maskbridge_orphan_spool_records_total', { spool: 'cdr' })).toBe(0);
    expect(m.samples.filter((s) => s.name.startsWith('maskbridge_orphan_spool_') && s.labels.spool === 'events')).toEqual([]);
  });
});
