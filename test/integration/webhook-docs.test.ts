/** The receivers of docs/webhooks.md, run as they are against real deliveries: they verify, refuse tampered and stale requests, and de-duplicate. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebhookDispatcher } from '../../src/events/dispatcher.js';
import { eventToFields, type OutboxEvent } from '../../src/events/events.js';
import { sign } from '../../src/util/signature.js';
import { freePort, waitForTcp } from '../helpers/net.js';
import { useRedis } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

const ctx = useRedis({ beforeAll, afterAll });
const SECRET = 'doc-secret';
const noop = { inc() {}, set() {}, observe() {} };
const children: ChildProcess[] = [];
const dispatchers: WebhookDispatcher[] = [];
afterEach(async () => {
  await Promise.all(dispatchers.splice(0).map((d) => d.stop(0)));
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

function example(name: string): string {
  const doc = readFileSync('docs/webhooks.md', 'utf8');
  const m = new RegExp(`<!-- example: ${name} -->\\n\`\`\`\\w+\\n([\\s\\S]*?)\`\`\``).exec(doc);
  if (!m) throw new Error(`docs/webhooks.md has no example "${name}"`);
  return m[1] as string;
}

const hasPython = spawnSync('python3', ['--version']).status === 0;
const receivers: Array<[string, (port: number) => ChildProcess, boolean]> = [
  ['Node', (port) => spawn(process.execPath, ['--input-type=module', '-e', example('node-receiver')], { env: { ...process.env, PORT: String(port), MASKBRIDGE_WEBHOOK_SECRET: SECRET } }), true],
  ['Python', (port) => spawn('python3', ['-c', example('python-receiver')], { env: { ...process.env, PORT: String(port), MASKBRIDGE_WEBHOOK_SECRET: SECRET } }), hasPython],
];

describe.each(receivers)('the %s receiver of docs/webhooks.md', (_name, start, available) => {
  it.skipIf(!available)('takes signed deliveries once per id, and refuses tampered or stale requests', async () => {
    const port = await freePort();
    const child = start(port);
    children.push(child);
    let out = '';
    child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    await waitForTcp('127.0.0.1', port, 5000);
    const p = `doc${port}:`;
    const ev: OutboxEvent = { id: 'doc-ev-1', type: 'call.completed', at: Date.now(), sessionId: 's-1', url: '', data: { call_id: 'c-1' } };
    // The same event twice (as after a lost answer): the receiver handles it once.
    for (let i = 0; i < 2; i++) await ctx.redis.sendCommand(['XADD', `${p}events`, '*', ...Object.entries(eventToFields(ev)).flat()]);
    const delivered = { n: 0 };
    const d = new WebhookDispatcher(ctx.redis, {
      keyPrefix: p, consumer: 'doc', defaultUrl: `http://127.0.0.1:${port}/hook`, defaultUrlTrusted: false, secret: SECRET,
      timeoutMs: 2000, retryBaseMs: 50, retryMaxMs: 200, maxAttempts: 3, concurrency: 1, claimMinIdleMs: 6000, redisTimeoutMs: 1000, blockMs: 200,
    }, { ...{ delivered: { inc: () => void delivered.n++ } }, failures: noop, retries: noop, dead: noop, outboxDepth: noop, deliverySeconds: noop }, pino({ level: 'silent' }));
    dispatchers.push(d);
    d.start();
    await until(() => delivered.n === 2, 5000);
    await until(() => out.includes('call.completed doc-ev-1'), 2000);
    expect(out.trim().split('\n')).toEqual(['call.completed doc-ev-1']);

    const body = JSON.stringify({ id: 'doc-ev-2', type: 'session.closed', created_at: new Date().toISOString(), session_id: 's-1', data: {} });
    const post = (b: string, signature: string) => fetch(`http://127.0.0.1:${port}/hook`, { method: 'POST', body: b, headers: { 'content-type': 'application/json', 'maskbridge-signature': signature } }).then((r) => r.status);
    const now = Math.floor(Date.now() / 1000);
    expect(await post(body.replace('s-1', 's-2'), sign(SECRET, body, now))).toBe(401); // tampered body
    expect(await post(body, sign('wrong', body, now))).toBe(401); // another key
    expect(await post(body, sign(SECRET, body, now - 3600))).toBe(401); // an old request replayed
    expect(await post(body, 'garbage')).toBe(401);
    expect(await post(body, sign(SECRET, body, now))).toBeLessThan(300);
    await until(() => out.includes('doc-ev-2'), 2000);
  });
});
