/**
 * Replay of the CDR spool into a real Redis: crash safety (a stopped sink, and a process killed
 * with SIGKILL), exactly once in the stream, poison records, a misconfigured Redis, and a replay
 * that keeps the event loop free while new CDRs keep coming.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisCdrSink, type RedisCdrSinkOptions } from '../../src/cdr/redis-sink.js';
import { createRedis, type Redis } from '../../src/sessions/redis.js';
import { cdr, poisonEntries, spooledIds, writeSpool } from '../helpers/cdr.js';
import { captureLogs } from '../helpers/harness.js';
import { RedisServer } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

const silent = pino({ level: 'silent' });
let server: RedisServer;
let redis: Redis;
let key = 0;

const spoolIn = () => join(mkdtempSync(join(tmpdir(), 'mb-cdr-int-')), 'spool.jsonl');
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => cdr(from + i));
const ids = (from: number, to: number) => range(from, to).map((c) => c.id);
const streamIds = async (stream: string) => (await redis.xRange(stream, '-', '+')).map((e) => e.message.id as string);

function sink(stream: string, spoolFile: string, opts: Partial<RedisCdrSinkOptions> = {}, client = redis, log = silent): RedisCdrSink {
  return new RedisCdrSink(client, { streamKey: stream, maxLen: 0, spoolFile, retryMs: 50, maxRetryMs: 200, fsync: false, ...opts }, log);
}

beforeAll(async () => {
  server = await RedisServer.start();
  redis = createRedis({ url: server.url, commandTimeoutMs: 200 }, silent);
  await redis.connect();
});

afterAll(async () => {
  await redis.close().catch(() => undefined);
  await server.stop();
});

describe('CDR replay: crash safety and exactly once', () => {
  it('loses nothing and doubles nothing when the process stops with a batch sent and not confirmed', async () => {
    const stream = `t:stop:${key++}`;
    const spool = spoolIn();
    writeSpool(spool, range(0, 2000));
    const first = sink(stream, spool, { batchSize: 100, timeoutMs: 5000, checkpointMs: 1 });
    await until(async () => (await redis.xLen(stream)) >= 500, 5000, 5);
    server.pause(); // the next batch goes out and gets no answer
    try {
      await new Promise((r) => setTimeout(r, 50));
      await first.close(0); // the process stops here
    } finally {
      server.resume(); // the unconfirmed batch lands now
    }
    const second = sink(stream, spool, { batchSize: 100 });
    await second.ready;
    await until(async () => second.backlog === 0, 8000);
    expect(await streamIds(stream)).toEqual(ids(0, 2000));
    await second.close(0);
  });

  it('loses nothing and doubles nothing when the process is killed (SIGKILL) in the middle of a replay', async () => {
    const stream = `t:kill:${key++}`;
    const spool = spoolIn();
    writeSpool(spool, range(0, 3000));
    // The child replays the spool and writes 10 new CDRs every 5 ms until it is killed.
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `
      const [{ RedisCdrSink }, { createRedis }, { cdr }, { default: pino }] = await Promise.all([
        import(${JSON.stringify(resolve('src/cdr/redis-sink.ts'))}), import(${JSON.stringify(resolve('src/sessions/redis.ts'))}),
        import(${JSON.stringify(resolve('test/helpers/cdr.ts'))}), import('pino')]);
      const log = pino({ level: 'silent' });
      const redis = createRedis({ url: ${JSON.stringify(server.url)}, commandTimeoutMs: 200 }, log);
      await redis.connect();
      const sink = new RedisCdrSink(redis, { streamKey: ${JSON.stringify(stream)}, maxLen: 0, spoolFile: ${JSON.stringify(spool)}, batchSize: 50, checkpointMs: 2 }, log);
      let n = 0;
      setInterval(() => { for (let i = 0; i < 10; i++, n++) sink.write(cdr(n, 'live-' + n)); }, 5);
    `], { stdio: 'ignore' });
    const exited = new Promise((r) => child.once('exit', r));
    try {
      await until(async () => (await redis.xLen(stream)) >= 1200, 8000, 2);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    const onDisk = spooledIds(spool);
    const next = sink(stream, spool);
    await next.ready;
    await until(async () => next.backlog === 0, 8000);
    const got = await streamIds(stream);
    expect(got.length).toBe(new Set(got).size); // nothing twice
    expect(got.slice(0, 3000)).toEqual(ids(0, 3000)); // the spool in order
    const inStream = new Set(got);
    expect(onDisk.filter((id) => !inStream.has(id))).toEqual([]); // everything spooled arrived
    await next.close(0);
  });
});

describe('CDR replay: refusals', () => {
  it('sets aside a record Redis refuses for itself (an ACL on its key) and delivers the rest in order', async () => {
    const stream = `t:acl:${key++}`;
    await redis.sendCommand(['ACL', 'SETUSER', 'cdr-writer', 'on', '>pw', `~${stream}`, `~${stream}:seen:cdr-*`, '+@all']);
    const limited = createRedis({ url: server.url.replace('redis://', 'redis://cdr-writer:pw@'), commandTimeoutMs: 200 }, silent);
    await limited.connect();
    try {
      const spool = spoolIn();
      writeSpool(spool, [...range(0, 150), cdr(150, 'evil-1'), ...range(151, 300)]);
      const { log, logs } = captureLogs();
      const s = sink(stream, spool, { batchSize: 100 }, limited, log);
      await s.ready;
      await until(async () => s.backlog === 0, 8000);
      expect(await streamIds(stream)).toEqual([...ids(0, 150), ...ids(151, 300)]);
      expect(poisonEntries(spool).map((p) => JSON.parse(p.line).id)).toEqual(['evil-1']);
      expect(poisonEntries(spool)[0]?.reason).toMatch(/^refused by redis: NOPERM/);
      expect(logs.some((l) => l.msg === 'CDR set aside as poison; replay goes on' && l.cdrId === 'evil-1')).toBe(true);
      await s.close(0);
    } finally {
      await limited.close();
    }
  });

  it('keeps every record while Redis refuses them all (no script permission), and delivers them once allowed', async () => {
    const stream = `t:noeval:${key++}`;
    await redis.sendCommand(['ACL', 'SETUSER', 'no-eval', 'on', '>pw', '~*', '+@all', '-eval', '-evalsha']);
    const limited = createRedis({ url: server.url.replace('redis://', 'redis://no-eval:pw@'), commandTimeoutMs: 200 }, silent);
    await limited.connect();
    try {
      const spool = spoolIn();
      writeSpool(spool, range(0, 20));
      const { log, logs } = captureLogs();
      const s = sink(stream, spool, { configRetryMs: 200 }, limited, log);
      await s.ready;
      await new Promise((r) => setTimeout(r, 500));
      expect(s.backlog).toBe(20);
      expect(poisonEntries(spool)).toEqual([]);
      expect(logs.some((l) => l.level === 50 && l.code === 'NOPERM')).toBe(true);
      await redis.sendCommand(['ACL', 'SETUSER', 'no-eval', '+eval', '+evalsha']);
      await until(async () => s.backlog === 0, 5000);
      expect(await streamIds(stream)).toEqual(ids(0, 20));
      await s.close(0);
    } finally {
      await limited.close();
    }
  });

  it('treats a stream key of another type as configuration: nothing set aside, delivered once the key is fixed', async () => {
    const stream = `t:wrongtype:${key++}`;
    await redis.set(stream, 'not a stream');
    const spool = spoolIn();
    const { log, logs } = captureLogs();
    const s = sink(stream, spool, { configRetryMs: 100 }, redis, log);
    for (let i = 0; i < 5; i++) s.write(cdr(i));
    await until(() => logs.some((l) => l.code === 'WRONGTYPE' && l.level === 50));
    await new Promise((r) => setTimeout(r, 300));
    expect(s.backlog).toBe(5);
    expect(poisonEntries(spool)).toEqual([]);
    await redis.del(stream);
    await until(async () => s.backlog === 0, 5000);
    expect(await streamIds(stream)).toEqual(ids(0, 5));
    await s.close(0);
  });
});

describe('CDR replay: the event loop and new calls', () => {
  it('replays thousands of records in batches without holding the event loop, while new CDRs keep arriving', async () => {
    const stream = `t:load:${key++}`;
    const spool = spoolIn();
    writeSpool(spool, range(0, 5000));
    await redis.sendCommand(['CONFIG', 'RESETSTAT']);
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    const s = sink(stream, spool);
    let live = 0;
    const calls = setInterval(() => s.write(cdr(10_000 + live++)), 5);
    try {
      await until(async () => (await redis.xLen(stream)) >= 5000, 8000);
    } finally {
      clearInterval(calls);
    }
    await until(async () => s.backlog === 0, 5000);
    h.disable();
    expect(h.max / 1e6).toBeLessThan(100); // generous for a busy test machine
    expect(live).toBeGreaterThan(10);
    expect(await streamIds(stream)).toEqual([...ids(0, 5000), ...ids(10_000, 10_000 + live)]);
    // Batched: a round trip carries many records.
    const stats = String(await redis.sendCommand(['INFO', 'commandstats']));
    const scriptCalls = [...stats.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    expect(scriptCalls).toBeLessThan((5000 + live) / 20);
    await s.close(0);
  });
});
