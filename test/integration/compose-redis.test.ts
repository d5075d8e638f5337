/**
 * Redis as the Compose stack runs it (docker/redis: start.sh + users.acl, the passwords from the
 * service's environment): no anonymous access, maskbridge's user can do what maskbridge does
 * (connecting with the MB_REDIS_URL of its Compose environment), the backend's user what
 * docs/redis-contract.md tells a backend to do, neither more, and the healthcheck works.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisCdrSink } from '../../src/cdr/redis-sink.js';
import { configFilesFromEnv, loadConfig } from '../../src/config/load.js';
import { createRedis, type Redis } from '../../src/sessions/redis.js';
import { SessionStore } from '../../src/sessions/store.js';
import { loadLibrary } from '../../src/sessions/library.js';
import { cdr, writeSpool } from '../helpers/cdr.js';
import { createApp } from '../../src/app.js';
import { spoolPathFor } from '../../src/spool/instance-dir.js';
import { docExample } from '../helpers/doc-examples.js';
import { until } from '../helpers/until.js';
import { TEST_COMPOSE_ENV, testStack } from '../e2e/support/compose.js';
import { composeMaskbridgeEnv, composePeers, startComposeRedis, type ComposeRedis } from '../e2e/support/compose-services.js';

const V = '+912240001000';
const A = '+919812341234';
const B = '+919876549876';
const log = pino({ level: 'silent' });
let dir: string;
let server: ComposeRedis;
let redis: Redis;

/** One raw command on a fresh connection from `from` (no client library, no AUTH). */
function rawReply(host: string, port: number, command: string, from = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, localAddress: from }, () => s.write(`${command}\r\n`));
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('no reply'));
    }, 3000);
    s.once('data', (d) => {
      clearTimeout(timer);
      s.end();
      resolve(d.toString());
    });
    s.once('error', reject);
  });
}

/** redis-cli as `user` (password from the Compose environment), commands on stdin. */
function cli(user: 'maskbridge' | 'backend', input: string): string {
  const password = user === 'backend' ? TEST_COMPOSE_ENV.REDIS_BACKEND_PASSWORD : TEST_COMPOSE_ENV.REDIS_MASKBRIDGE_PASSWORD;
  const r = spawnSync('redis-cli', ['-p', String(server.port), '--user', user], { input, encoding: 'utf8', env: { ...process.env, REDISCLI_AUTH: password }, timeout: 10_000 });
  if (r.status !== 0) throw new Error(`redis-cli failed: ${r.stderr}`);
  return r.stdout;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mb-compose-redis-'));
  server = await startComposeRedis(dir, { bind: ['127.0.0.1', '127.0.0.2'] });
  // maskbridge's client, from its Compose environment through the config loader.
  const env = await composeMaskbridgeEnv({
    dir,
    peers: composePeers(testStack(), {
      redis: { host: server.host, port: server.port },
      drachtio: { admin: { host: '127.0.0.1', port: 1 }, sip: { host: '127.0.0.1', port: 1 } },
      freeswitch: { esl: { host: '127.0.0.1', port: 1 } },
    }),
  });
  const config = loadConfig({ env, files: configFilesFromEnv(env) });
  expect(config.redis.url).toBe(server.url('maskbridge'));
  redis = createRedis({ url: config.redis.url, commandTimeoutMs: 1000 }, log);
  await redis.connect();
});

afterAll(async () => {
  await redis?.close().catch(() => undefined);
  await server?.stop();
});

describe('Redis of the Compose stack', () => {
  it('lets nobody in without AUTH, and does not fall back to protected mode for other hosts', async () => {
    expect(await rawReply('127.0.0.1', server.port, 'PING')).toMatch(/^-NOAUTH/);
    // 127.0.0.2 is not loopback to protected mode: a passwordless default user would get DENIED here.
    expect(await rawReply('127.0.0.2', server.port, 'PING', '127.0.0.2')).toMatch(/^-NOAUTH/);
    expect(await rawReply('127.0.0.1', server.port, 'AUTH default anything')).toMatch(/^-WRONGPASS/);
    expect(await rawReply('127.0.0.1', server.port, `AUTH maskbridge ${TEST_COMPOSE_ENV.REDIS_BACKEND_PASSWORD}`)).toMatch(/^-WRONGPASS/);
  });

  it("maskbridge's user: sessions, lookups, the schema marker and CDRs under mb:", async () => {
    const store = new SessionStore(redis, 'mb:', 1000);
    await store.create({ id: 'order-acl', virtualNumber: V, a: A, b: B, expiresAt: Date.now() + 600_000 });
    expect(await store.lookup(V, A)).toMatchObject({ kind: 'found', peer: B });
    expect(await store.get('order-acl')).toMatchObject({ id: 'order-acl', status: 'open' });
    expect(await store.recheck('order-acl')).toBe('open');
    expect(await store.lookupByPin(V, '123456')).toEqual({ kind: 'unknown' });
    expect(await store.close('order-acl')).toBe(true);
    expect(await redis.set('mb:schema', '2', { NX: true })).toBeNull(); // written by the create (key layout 2)
    expect(await redis.get('mb:schema')).toBe('2');
    expect(await redis.ping()).toBe('PONG');
    const sink = new RedisCdrSink(redis, { streamKey: 'mb:cdr', maxLen: 1000, spoolFile: join(dir, 'spool.jsonl') }, log);
    sink.write(cdr(1));
    await until(async () => (await redis.xLen('mb:cdr')) === 1);
    await sink.close(0);
  });

  it("maskbridge's user: nothing outside mb:, nothing dangerous", async () => {
    await expect(redis.get('other:key')).rejects.toThrow(/NOPERM/);
    await expect(redis.set('other:key', 'x')).rejects.toThrow(/NOPERM/);
    await expect(redis.flushAll()).rejects.toThrow(/NOPERM/);
    await expect(redis.keys('mb:*')).rejects.toThrow(/NOPERM/);
    await expect(redis.configGet('*')).rejects.toThrow(/NOPERM/);
    await expect(redis.sendCommand(['ACL', 'LIST'])).rejects.toThrow(/NOPERM/);
    await expect(redis.sendCommand(['FUNCTION', 'FLUSH'])).rejects.toThrow(/NOPERM/);
  });

  it("the backend's user: the documented session commands and the CDR consumer group", async () => {
    await loadLibrary(redis); // maskbridge's user loads the library (at start); the backend only calls it
    for (const example of ['create', 'extend', 'pin', 'allocate', 'close']) {
      const out = cli('backend', docExample(example));
      expect(out, example).not.toMatch(/NOPERM|ERR|EXECABORT/);
    }
    const store = new SessionStore(redis, 'mb:', 1000);
    expect(await store.lookup(V, A)).toMatchObject({ kind: 'closed', why: 'closed' });
    const consume = cli('backend', "XGROUP CREATE mb:cdr billing 0 MKSTREAM\nXREADGROUP GROUP billing worker-1 COUNT 100 STREAMS mb:cdr >\n");
    expect(consume).toContain('OK');
    expect(consume).toContain('cdr-1');
    const ack = cli('backend', 'XRANGE mb:cdr - +\nXPENDING mb:cdr billing\nXLEN mb:cdr\n');
    expect(ack).not.toMatch(/NOPERM|ERR/);
  });

  it("the backend's user: nothing outside mb:, nothing dangerous", () => {
    expect(cli('backend', 'GET other:key\n')).toMatch(/NOPERM/);
    expect(cli('backend', 'FLUSHALL\n')).toMatch(/NOPERM/);
    expect(cli('backend', 'KEYS *\n')).toMatch(/NOPERM/);
    expect(cli('backend', 'CONFIG GET *\n')).toMatch(/NOPERM/);
    expect(cli('backend', 'EVAL "return 1" 0\n')).toMatch(/NOPERM/);
    expect(cli('backend', 'FUNCTION FLUSH\n')).toMatch(/NOPERM/);
    expect(cli('backend', 'FUNCTION LOAD "#!lua name=x\\nredis.register_function(\'f\', function() return 1 end)"\n')).toMatch(/NOPERM/);
  });

  it("the service's healthcheck passes with the service's password and fails with another", () => {
    const test = testStack().services.redis!.raw.healthcheck as { test: string[] };
    expect(test.test[0]).toBe('CMD-SHELL');
    // The container's redis-cli talks to 6379; here a shim on PATH points it at the test's port.
    const bin = join(dir, 'shim');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'redis-cli'), `#!/bin/sh\nexec "${spawnSync('sh', ['-c', 'command -v redis-cli'], { encoding: 'utf8' }).stdout.trim()}" -p ${server.port} "$@"\n`);
    chmodSync(join(bin, 'redis-cli'), 0o755);
    const run = (password: string) => spawnSync('sh', ['-c', (test.test[1] as string).replace(/\$\$/g, '$')], {
      env: { PATH: `${bin}:${process.env.PATH}`, REDIS_MASKBRIDGE_PASSWORD: password },
      timeout: 10_000,
    }).status;
    expect(run(TEST_COMPOSE_ENV.REDIS_MASKBRIDGE_PASSWORD as string)).toBe(0);
    expect(run('wrong-password')).not.toBe(0);
  });
});

describe('maskbridge scaled out (docker compose up --scale maskbridge=2)', () => {
  it('a replica gone for good leaves its spool on the shared volume; a survivor started as Compose starts it replays it, through its Redis user', async () => {
    const peers = composePeers(testStack(), {
      redis: { host: server.host, port: server.port },
      drachtio: { admin: { host: '127.0.0.1', port: 1 }, sip: { host: '127.0.0.1', port: 1 } },
      freeswitch: { esl: { host: '127.0.0.1', port: 1 } },
    });
    const base = await composeMaskbridgeEnv({ dir, peers });
    // Each replica's container hostname, as calls.instanceId (one test process has one hostname).
    const replica = (id: string) => ({ ...base, MB_CALLS_INSTANCE_ID: id, MB_SPOOL_ORPHAN_GRACE_SEC: '1', MB_SPOOL_ORPHAN_SCAN_SEC: '1' });
    const gone = loadConfig({ env: replica('3f2a9c1b7d4e-1'), files: configFilesFromEnv(base) });
    const goneSpool = spoolPathFor('cdr.spoolFile', gone.cdr.spoolFile, '3f2a9c1b7d4e-1');
    expect(goneSpool).toBe(join(dir, 'spool', 'spool', '3f2a9c1b7d4e-1', 'cdr-spool.jsonl'));
    mkdirSync(dirname(goneSpool), { recursive: true });
    writeSpool(goneSpool, [cdr(901, 'cdr-scale-901'), cdr(902, 'cdr-scale-902')]);
    const past = new Date(Date.now() - 60_000);
    utimesSync(goneSpool, past, past);
    const survivor = createApp(loadConfig({ env: replica('8b7c6d5e4f3a-1'), files: configFilesFromEnv(base) }), { log });
    try {
      await survivor.start();
      const landed = async () => (await redis.xRange('mb:cdr', '-', '+')).map((e) => e.message.id).filter((id) => id?.startsWith('cdr-scale-'));
      await until(async () => (await landed()).length >= 2, 10_000);
      expect((await landed()).sort()).toEqual(['cdr-scale-901', 'cdr-scale-902']);
      await until(() => !existsSync(dirname(goneSpool)), 5000);
      expect(existsSync(join(dir, 'spool', 'spool', '8b7c6d5e4f3a-1'))).toBe(true);
    } finally {
      await survivor.stop();
    }
  }, 30_000);
});
