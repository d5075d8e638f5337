/** The app wires webhooks: events published through app.events reach the default URL, signed; stop() is bounded while a receiver hangs. */
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { NoopEventSink } from '../../src/events/sink.js';
import { verify } from '../../src/util/signature.js';
import { freePort } from '../helpers/net.js';
import { RedisServer } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

let server: RedisServer;
let receiver: WebhookReceiver;
beforeAll(async () => {
  server = await RedisServer.start();
  receiver = await WebhookReceiver.start();
});
afterAll(async () => {
  await receiver.close();
  await server.stop();
});

describe('app webhooks', () => {
  it('delivers what app.events publishes, exposes the metrics, and stops in bounded time while the receiver hangs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mb-app-wh-'));
    const config = loadConfig({
      files: ['config/default.json', 'config/test.json'],
      overrides: {
        drachtio: { port: await freePort() },
        redis: { url: server.url },
        api: { enabled: true, host: '127.0.0.1', port: await freePort() },
        cdr: { spoolFile: join(dir, 'cdr.jsonl') },
        webhooks: { enabled: true, secret: 'app-secret', defaultUrl: receiver.url(), spoolFile: join(dir, 'events.jsonl'), timeoutMs: 10_000, claimMinIdleMs: 30_000 },
      },
    });
    const app = createApp(config, { log: pino({ level: 'silent' }) });
    await app.start();
    let stopped = false;
    try {
      app.events.publish({ id: 'app-ev-1', type: 'session.closed', at: Date.now(), sessionId: 's-1', url: '', data: { reason: 'api' } });
      await until(() => receiver.received.length === 1, 5000);
      const r = receiver.received[0]!;
      expect(verify('app-secret', r.body, String(r.headers['maskbridge-signature']), Math.floor(Date.now() / 1000))).toEqual({ ok: true });
      // Counted once the 2xx is recorded in Redis (just after the receiver got the request).
      const metrics = () => fetch(`http://127.0.0.1:${config.api.port}/metrics`).then((res) => res.text());
      await until(async () => (await metrics()).includes('maskbridge_webhook_deliveries_total{type="session.closed"} 1'), 3000);
      receiver.answer = () => 'hang';
      app.events.publish({ id: 'app-ev-2', type: 'session.closed', at: Date.now(), sessionId: 's-2', url: '', data: {} });
      await until(() => receiver.received.length === 2, 5000);
      const t0 = Date.now();
      await app.stop();
      stopped = true;
      // The delivery in flight (10 s timeout) does not hold shutdown past its step.
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      if (!stopped) await app.stop();
      receiver.release();
    }
  });

  it('session.closed goes to the session\'s own URL with the numbers, session.expired once to the untrusted default without them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mb-app-wh-s-'));
    const config = loadConfig({
      files: ['config/default.json', 'config/test.json'],
      overrides: {
        drachtio: { port: await freePort() },
        redis: { url: server.url, keyPrefix: 'mbsev:' },
        cdr: { spoolFile: join(dir, 'cdr.jsonl') },
        webhooks: { enabled: true, secret: 'app-secret', defaultUrl: receiver.url('/default'), spoolFile: join(dir, 'events.jsonl'), expirySweepSec: 1 },
      },
    });
    const app = createApp(config, { log: pino({ level: 'silent' }) });
    await app.start();
    try {
      const before = receiver.received.length;
      await until(async () => app.health().redis, 5000);
      await new Promise((r) => setTimeout(r, 1200)); // the first sweep has turned events on
      await app.store.create({ id: 'own', virtualNumber: '+912240001000', a: '+919812341234', b: '+919876549876', expiresAt: Date.now() + 60_000, webhookUrl: receiver.url('/own') });
      await app.store.close('own');
      await app.store.create({ id: 'lapses', virtualNumber: '+912240001000', a: '+919812340000', b: '+919876540000', expiresAt: Date.now() + 500 });
      await until(() => receiver.received.slice(before).some((r) => r.type === 'session.expired'), 6000);
      const got = receiver.received.slice(before);
      const closed = got.find((r) => r.type === 'session.closed')!;
      expect(closed.path).toBe('/own');
      expect(closed.json).toMatchObject({ session_id: 'own', parties: { a: '+919812341234', b: '+919876549876' } });
      const expired = got.filter((r) => r.type === 'session.expired');
      expect(expired).toHaveLength(1);
      expect(expired[0]!.path).toBe('/default');
      expect(expired[0]!.json.parties).toBeUndefined();
      expect(expired[0]!.body).not.toContain('9812340000');
      expect(verify('app-secret', expired[0]!.body, String(expired[0]!.headers['maskbridge-signature']), Math.floor(Date.now() / 1000))).toEqual({ ok: true });
    } finally {
      await app.stop();
    }
  });

  it('publishes nothing and delivers nothing when webhooks.enabled is false', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mb-app-wh-off-'));
    const config = loadConfig({
      files: ['config/default.json', 'config/test.json'],
      overrides: { drachtio: { port: await freePort() }, redis: { url: server.url }, cdr: { spoolFile: join(dir, 'cdr.jsonl') }, webhooks: { spoolFile: join(dir, 'events.jsonl') } },
    });
    const app = createApp(config, { log: pino({ level: 'silent' }) });
    await app.start();
    try {
      expect(app.events).toBeInstanceOf(NoopEventSink);
      app.events.publish({ id: 'off-1', type: 'session.closed', at: Date.now(), sessionId: 's', url: receiver.url(), data: {} });
      await new Promise((r) => setTimeout(r, 300));
      expect(readdirSync(dir).filter((f) => f.startsWith('events'))).toEqual([]);
      expect(existsSync(join(dir, 'events.jsonl'))).toBe(false);
    } finally {
      await app.stop();
    }
  });
});
