/**
 * The key layout marker at start (docs/redis-contract.md, "Key layout"): written as 2 on a new
 * store; a store marked 1 (written before 0.3) is read, with a warning saying how to finish the
 * move; any other value is an error.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { freePort } from '../helpers/net.js';
import { RedisServer } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

let server: RedisServer;
beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(async () => server.stop());

/** Starts the app against a Redis whose marker is `marker` (null: absent); returns what it logged and the marker after. */
async function startWith(marker: string | null): Promise<{ lines: Array<{ level: number; msg: string }>; after: string | null }> {
  const redis = createClient({ url: server.url });
  await redis.connect();
  await redis.flushAll();
  if (marker !== null) await redis.set('mbtest:schema', marker);
  const lines: Array<{ level: number; msg: string }> = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, done) { for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l)); done(); } });
  const config = loadConfig({ files: ['config/default.json', 'config/test.json'], overrides: { drachtio: { port: await freePort() }, redis: { url: server.url } } });
  const app = createApp(config, { log: pino({ level: 'info' }, sink) });
  try {
    await app.start();
    await until(async () => lines.some((l) => /functions library maskbridge checked/.test(l.msg)) && (await redis.get('mbtest:schema')) !== null, 5000);
    await new Promise((r) => setTimeout(r, 100)); // the marker's check answers after the set
    return { lines, after: await redis.get('mbtest:schema') };
  } finally {
    await app.stop();
    await redis.close();
  }
}

describe('key layout marker at start', () => {
  it('a new store is marked 2, silently', async () => {
    const { lines, after } = await startWith(null);
    expect(after).toBe('2');
    expect(lines.filter((l) => /layout|contract version/.test(l.msg))).toEqual([]);
  });

  it('a store marked 1 stays 1, with a warning naming the command that finishes the move', async () => {
    const { lines, after } = await startWith('1');
    expect(after).toBe('1');
    expect(lines.find((l) => l.level === 40 && /key layout 1/.test(l.msg))?.msg).toContain('SET mbtest:schema 2');
  });

  it('any other marker is an error', async () => {
    const { lines } = await startWith('7');
    expect(lines.find((l) => l.level === 50 && /another session contract version/.test(l.msg))).toBeDefined();
  });
}, 60_000);
