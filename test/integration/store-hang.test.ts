/**
 * A Redis that hangs rather than dies (SIGSTOP): the socket stays open, answers stop. Health
 * follows answers, so the app says it cannot take calls (and OPTIONS get 503), and shutdown is
 * bounded. The app is the real composition root; drachtio-server is absent (it keeps retrying).
 */
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp, STOP_STEP_MS } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { freePort } from '../helpers/net.js';
import { RedisServer } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

const servers: RedisServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});

async function appOn(redis: RedisServer) {
  const config = loadConfig({
    files: ['config/default.json', 'config/test.json'],
    overrides: {
      drachtio: { port: await freePort() }, // nobody there: srf keeps retrying
      redis: { url: redis.url, commandTimeoutMs: 200 },
      cdr: { spoolFile: join(mkdtempSync(join(tmpdir(), 'mb-hang-')), 'spool.jsonl') },
      calls: { drainTimeoutSec: 1 },
    },
  });
  const app = createApp(config, { log: pino({ level: 'silent' }) });
  await app.start();
  return app;
}

describe('Redis stopped by SIGSTOP', () => {
  it('makes the app report the store down within a probe interval, and up again once it answers', async () => {
    const redis = await RedisServer.start();
    servers.push(redis);
    const app = await appOn(redis);
    try {
      await until(() => app.health().redis, 5000);
      redis.pause();
      await until(() => !app.health().redis, 3000);
      expect(app.acceptingCalls()).toBe(false);
      redis.resume();
      await until(() => app.health().redis, 3000);
      expect(app.acceptingCalls()).toBe(true);
    } finally {
      redis.resume();
      await app.stop();
    }
  });

  it('cannot hold shutdown: stop() returns within the drain time and its per-step deadlines', async () => {
    const redis = await RedisServer.start();
    servers.push(redis);
    const app = await appOn(redis);
    await until(() => app.health().redis, 5000);
    redis.pause();
    const t0 = Date.now();
    await app.stop();
    expect(Date.now() - t0).toBeLessThan(1000 + 3 * STOP_STEP_MS + 500);
    redis.resume();
  });
});
