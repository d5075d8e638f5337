/** The app wires webhooks: events published through app.events reach the default URL, signed; stop() is bounded while a receiver hangs. */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
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

/** The nice value of each thread of this process (Linux: /proc/self/task/{tid}/stat, field 19). */
function threadNices(): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    out.set(Number(tid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
  }
  return out;
}
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
      // The delivery thread loads its modules first (through tsx here: seconds on a busy box).
      await until(() => receiver.received.length === 1, 15_000);
      const r = receiver.received[0]!;
      // The delivery thread runs below the call path's priority; the main thread keeps its own.
      const nices = threadNices();
      expect(nices.get(process.pid)).toBe(0);
      expect([...nices.values()]).toContain(10);
      expect(verify('app-secret', r.body, String(r.headers['maskbridge-signature']), Math.floor(Date.now() / 1000))).toEqual({ ok: true });
      // Counted once the 2xx is recorded in Redis (just after the receiver got the request).
      const metrics = () => fetch(`http://127.0.0.1:${config.api.port}/metrics`).then((res) => res.text());
      await until(async () => (await metrics()).includes('maskbridge_webhook_deliveries_total{type="session.closed"} 1'), 3000);
      // Counted in the delivery thread, forwarded to the main registry: the histogram too.
      expect(await metrics()).toContain('maskbridge_webhook_delivery_seconds_count 1');
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
      await until(() => receiver.received.slice(before).some((r) => r.type === 'session.expired'), 15_000);
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

  it('delivers while the main thread is blocked: delivery runs on a thread of its own, not on the calls\' event loop', async () => {
    // The receiver is another process, so it takes requests while this thread is blocked; it prints "<event id> <ms>" per request.
    const child = spawn(process.execPath, ['-e', `
      require('node:http').createServer((req, res) => { req.resume(); req.on('end', () => { console.log(req.headers['maskbridge-event-id'] + ' ' + Date.now()); res.end(); }); })
        .listen(0, '127.0.0.1', function () { console.log('PORT ' + this.address().port); });
    `], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines: string[] = [];
    child.stdout.setEncoding('utf8').on('data', (d: string) => lines.push(...d.split('\n').filter(Boolean)));
    const dir = mkdtempSync(join(tmpdir(), 'mb-app-wh-t-'));
    let app: ReturnType<typeof createApp> | null = null;
    try {
      await until(() => lines.some((l) => l.startsWith('PORT ')), 5000);
      const port = Number(lines.find((l) => l.startsWith('PORT '))!.slice(5));
      const config = loadConfig({
        files: ['config/default.json', 'config/test.json'],
        overrides: {
          drachtio: { port: await freePort() },
          redis: { url: server.url, keyPrefix: 'mbthr:' },
          cdr: { spoolFile: join(dir, 'cdr.jsonl') },
          webhooks: { enabled: true, secret: 's', defaultUrl: `http://127.0.0.1:${port}/hook`, spoolFile: join(dir, 'events.jsonl') },
        },
      });
      app = createApp(config, { log: pino({ level: 'silent' }) });
      await app.start();
      app.events.publish({ id: 'thr-warm', type: 'session.closed', at: Date.now(), sessionId: 's', url: '', data: {} });
      await until(() => lines.some((l) => l.startsWith('thr-warm ')), 15_000);
      // Block this thread (as a busy call path would) and, from inside the block, put events
      // straight into the outbox (redis-cli runs synchronously: no event loop needed here).
      const t0 = Date.now();
      for (let i = 0; i < 5; i++) {
        execFileSync('redis-cli', ['-p', String(server.port), 'XADD', 'mbthr:events', '*', 'id', `thr-${i}`, 'type', 'session.closed', 'at', String(Date.now()), 'session', `s-${i}`, 'url', '', 'data', '{}', 'parties', '']);
      }
      while (Date.now() - t0 < 2500); // busy: no timer, no socket, no promise of this thread runs
      const t1 = Date.now();
      await until(() => lines.filter((l) => l.startsWith('thr-') && !l.startsWith('thr-warm')).length === 5, 10_000);
      const during = lines.filter((l) => /^thr-\d /.test(l)).map((l) => Number(l.split(' ')[1])).filter((at) => at < t1);
      // On this thread's event loop, nothing could have been read from the outbox nor sent before t1.
      expect(during.length, `arrivals ${lines.join(', ')}; block ${t0}..${t1}`).toBeGreaterThan(0);
    } finally {
      await app?.stop();
      child.kill();
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
