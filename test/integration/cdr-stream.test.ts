/** CDRs on a real Redis stream, and that none is lost across a Redis outage or a restart. */
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cdr } from '../../src/cdr/cdr.js';
import { RedisCdrSink } from '../../src/cdr/redis-sink.js';
import { createRedis, type Redis } from '../../src/sessions/redis.js';
import { RedisServer } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

const log = pino({ level: 'silent' });
let server: RedisServer;
let redis: Redis;

const cdr = (n: number): Cdr => ({
  id: `cdr-${n}`, callId: `call-${n}`, sessionId: 'order-1', virtualNumber: '+912240001000', direction: 'a->b',
  startedAt: 1_767_225_600_000, answeredAt: 1_767_225_605_000, endedAt: 1_767_225_665_000, durationSec: 60,
  finalStatus: 200, disposition: 'answered', endedBy: 'caller', media: 'none', recording: null,
});


beforeAll(async () => {
  server = await RedisServer.start();
  redis = createRedis({ url: server.url, commandTimeoutMs: 200 }, log);
  await redis.connect();
});

afterAll(async () => {
  await redis.close().catch(() => undefined);
  await server.stop();
});

describe('CDR stream', () => {
  it('appends one entry per call with the documented fields', async () => {
    const spool = join(mkdtempSync(join(tmpdir(), 'mb-cdr-')), 'spool.jsonl');
    const sink = new RedisCdrSink(redis, { streamKey: 'mb:cdr', maxLen: 1000, spoolFile: spool }, log);
    sink.write(cdr(1));
    await until(async () => (await redis.xLen('mb:cdr')) === 1);
    const [entry] = await redis.xRange('mb:cdr', '-', '+');
    expect(entry!.message).toEqual({
      id: 'cdr-1', call_id: 'call-1', session_id: 'order-1', virtual_number: '+912240001000', direction: 'a->b',
      started_at: '2026-01-01T00:00:00.000Z', answered_at: '2026-01-01T00:00:05.000Z', ended_at: '2026-01-01T00:01:05.000Z',
      duration_sec: '60', final_status: '200', disposition: 'answered', ended_by: 'caller', media: 'none',
    });
    sink.close();
  });

  it('keeps CDRs through a Redis outage and writes them, in order, when it returns', async () => {
    await redis.del('mb:cdr');
    const spool = join(mkdtempSync(join(tmpdir(), 'mb-cdr-')), 'spool.jsonl');
    const sink = new RedisCdrSink(redis, { streamKey: 'mb:cdr', maxLen: 0, spoolFile: spool, retryMs: 100 }, log);
    await server.stop();
    sink.write(cdr(2));
    sink.write(cdr(3));
    await until(async () => sink.backlog === 2);
    expect(readFileSync(spool, 'utf8').trim().split('\n')).toHaveLength(2);

    await server.start();
    await until(async () => sink.backlog === 0, 10_000);
    const ids = (await redis.xRange('mb:cdr', '-', '+')).map((e) => e.message.id);
    expect(ids).toEqual(['cdr-2', 'cdr-3']);
    expect(readFileSync(spool, 'utf8')).toBe('');
    sink.close();
  });

  it('spools a CDR that a frozen Redis does not take in time, and it reaches the stream once Redis thaws', async () => {
    await redis.del('mb:cdr');
    const spool = join(mkdtempSync(join(tmpdir(), 'mb-cdr-')), 'spool.jsonl');
    const sink = new RedisCdrSink(redis, { streamKey: 'mb:cdr', maxLen: 0, spoolFile: spool, retryMs: 100, timeoutMs: 150 }, log);
    server.pause();
    try {
      sink.write(cdr(9));
      await until(async () => sink.backlog === 1, 2000);
      expect(readFileSync(spool, 'utf8')).toContain('cdr-9');
    } finally {
      server.resume();
    }
    await until(async () => sink.backlog === 0, 10_000);
    // The first write may land too once Redis thaws: consumers de-duplicate on the CDR id.
    const ids = new Set((await redis.xRange('mb:cdr', '-', '+')).map((e) => e.message.id));
    expect([...ids]).toEqual(['cdr-9']);
    sink.close();
  });

  it('replays a spool left by a previous process at start', async () => {
    await redis.del('mb:cdr');
    const spool = join(mkdtempSync(join(tmpdir(), 'mb-cdr-')), 'spool.jsonl');
    const down = new RedisCdrSink(redis, { streamKey: 'mb:cdr', maxLen: 0, spoolFile: spool, retryMs: 60_000 }, log);
    await server.stop();
    down.write(cdr(4));
    await until(async () => down.backlog === 1);
    down.close(); // the process dies here

    await server.start();
    await until(async () => redis.isReady);
    const next = new RedisCdrSink(redis, { streamKey: 'mb:cdr', maxLen: 0, spoolFile: spool, retryMs: 100 }, log);
    await until(async () => next.backlog === 0);
    expect((await redis.xRange('mb:cdr', '-', '+')).map((e) => e.message.id)).toEqual(['cdr-4']);
    expect(existsSync(spool) && readFileSync(spool, 'utf8')).toBe('');
    next.close();
  });
});
