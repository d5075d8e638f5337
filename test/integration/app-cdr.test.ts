/**
 * The composition root wires the CDR settings through: a spool left by an earlier process is
 * replayed at start, and its de-duplication marks live for cdr.dedupeRetentionSec.
 */
import { mkdtempSync } from 'node:fs';
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
});
