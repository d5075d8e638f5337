/**
 * The composition root wires the CDR settings through: a spool left by an earlier process is
 * replayed at start, and its de-duplication marks live for cdr.dedupeRetentionSec; with
 * redis.waitReplicas, CDRs and API session writes wait for replicas on connections of their own.
 */
import { existsSync, mkdirSync, mkdtempSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createClient } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { cdr, writeSpool } from '../helpers/cdr.js';
import { freePort } from '../helpers/net.js';
import { RedisServer } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

let server: RedisServer | undefined;
afterAll(async () => server?.stop());

describe('app CDR settings', () => {
  it('replays the spool at start and keeps each de-duplication mark for cdr.dedupeRetentionSec', async () => {
    server = await RedisServer.start();
    const spoolFile = join(mkdtempSync(join(tmpdir(), 'mb-app-cdr-')), 'spool.jsonl');
    writeSpool(spoolFile, [cdr(1), cdr(2)]);
    const config = loadConfig({
      files: ['config/default.json', 'config/test.json'],
      overrides: {
        drachtio: { port: await freePort() }, // nobody there: srf keeps retrying
        redis: { url: server.url },
        cdr: { spoolFile, dedupeRetentionSec: 600 },
      },
    });
    const app = createApp(config, { log: pino({ level: 'silent' }) });
    const redis = createClient({ url: server.url });
    await redis.connect();
    try {
      await app.start();
      await until(async () => (await redis.xLen('mbtest:cdr')) === 2, 5000);
      const ttl = await redis.pTTL('mbtest:cdr:seen:cdr-1');
      expect(ttl).toBeGreaterThan(590_000);
      expect(ttl).toBeLessThanOrEqual(600_000);
    } finally {
      await app.stop();
      await redis.close();
    }
  });

  it('with {instance} in cdr.spoolFile: spools in its own directory, and replays the spool of an instance gone for good', async () => {
    server ??= await RedisServer.start();
    const root = mkdtempSync(join(tmpdir(), 'mb-app-spools-'));
    // Instance "gone-a" left two CDRs Redis never confirmed, and no heartbeat.
    mkdirSync(join(root, 'gone-a'));
    writeSpool(join(root, 'gone-a', 'cdr.jsonl'), [cdr(21), cdr(22)]);
    const past = new Date(Date.now() - 60_000);
    utimesSync(join(root, 'gone-a', 'cdr.jsonl'), past, past);
    const config = loadConfig({
      files: ['config/default.json', 'config/test.json'],
      overrides: {
        drachtio: { port: await freePort() },
        redis: { url: server.url },
        calls: { instanceId: 'survivor-b' },
        cdr: { spoolFile: `${root}/{instance}/cdr.jsonl` },
        spool: { orphanGraceSec: 1, orphanScanSec: 1 },
      },
    });
    const app = createApp(config, { log: pino({ level: 'silent' }) });
    const redis = createClient({ url: server.url });
    await redis.connect();
    try {
      await app.start();
      const replayed = async () => (await redis.xRange('mbtest:cdr', '-', '+')).map((e) => e.message.id).filter((id) => id === 'cdr-21' || id === 'cdr-22');
      await until(async () => (await replayed()).length >= 2, 10_000);
      expect((await replayed()).sort()).toEqual(['cdr-21', 'cdr-22']);
      await until(() => !existsSync(join(root, 'gone-a')), 5000);
      expect(existsSync(join(root, 'survivor-b'))).toBe(true);
    } finally {
      await app.stop();
      await redis.close();
    }
  }, 20_000);

  it('with redis.waitReplicas and no replica: CDRs land once but stay in the spool, API writes say MaskBridge-Replicated 0, the call path unaffected', async () => {
    server ??= await RedisServer.start();
    const spoolFile = join(mkdtempSync(join(tmpdir(), 'mb-app-cdr-')), 'spool.jsonl');
    writeSpool(spoolFile, [cdr(11), cdr(12)]);
    const config = loadConfig({
      files: ['config/default.json', 'config/test.json'],
      overrides: {
        drachtio: { port: await freePort() },
        redis: { url: server.url, waitReplicas: 1, waitTimeoutMs: 50 },
        cdr: { spoolFile },
        api: { enabled: true, port: await freePort() },
      },
    });
    const app = createApp(config, { log: pino({ level: 'silent' }) });
    const redis = createClient({ url: server.url });
    await redis.connect();
    try {
      await app.start();
      await until(async () => (await redis.xRange('mbtest:cdr', '-', '+')).filter((e) => ['cdr-11', 'cdr-12'].includes(e.message.id as string)).length === 2, 5000);
      await new Promise((r) => setTimeout(r, 500)); // resent meanwhile: nothing added twice
      expect((await redis.xRange('mbtest:cdr', '-', '+')).filter((e) => ['cdr-11', 'cdr-12'].includes(e.message.id as string)).length).toBe(2);
      expect(app.health().cdrBacklog).toBe(2);
      const created = await app.api!.inject({
        method: 'POST', url: '/v1/sessions', headers: config.api.token ? { authorization: `Bearer ${config.api.token}` } : {},
        payload: { id: 'order-w', virtualNumber: '+912240001000', a: '+919812341234', b: '+919876549876', ttlSeconds: 600 },
      });
      expect(created.statusCode, created.body).toBe(201);
      expect(created.headers['maskbridge-replicated']).toBe('0');
      expect(await app.store.lookup('+912240001000', '+919812341234')).toMatchObject({ kind: 'found' });
    } finally {
      await app.stop();
      await redis.close();
    }
  });
});
