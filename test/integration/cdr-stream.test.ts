/** CDRs on a real Redis stream, and that none is lost across a Redis outage or a restart. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisCdrSink } from '../../src/cdr/redis-sink.js';
import { createRedis, type Redis } from '../../src/sessions/redis.js';
import { RedisServer } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';
import { cdr, spooledIds } from '../helpers/cdr.js';

const log = pino({ level: 'silent' });
let server: RedisServer;
let redis: Redis;



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
    // The de-duplication mark of the record (docs/redis-contract.md), with its retention.
    expect(await redis.pTTL('mb:cdr:seen:cdr-1')).toBeGreaterThan(23 * 3600_000);
    const [entry] = await redis.xRange('mb:cdr', '-', '+');
    expect(entry!.message).toEqual({
      id: 'cdr-1', call_id: 'call-1', session_id: 'order-1', virtual_number: '+912240001000', direction: 'a->b',
      started_at: '2026-01-01T00:00:00.000Z', answered_at: '2026-01-01T00:00:05.000Z', ended_at: '2026-01-01T00:01:05.000Z',
      duration_sec: '60', final_status: '200', disposition: 'answered', ended_by: 'caller', media: 'none',
    });
    await sink.close(0);
  });

  it('keeps CDRs through a Redis outage and writes them, in order, when it returns', async () => {
    await redis.del('mb:cdr');
    const spool = join(mkdtempSync(join(tmpdir(), 'mb-cdr-')), 'spool.jsonl');
    const sink = new RedisCdrSink(redis, { streamKey: 'mb:cdr', maxLen: 0, spoolFile: spool, retryMs: 100 }, log);
    await server.stop();
    sink.write(cdr(2));
    sink.write(cdr(3));
    await until(async () => spooledIds(spool).length === 2);
    expect(spooledIds(spool)).toEqual(['cdr-2', 'cdr-3']);
    expect(sink.backlog).toBe(2);

    await server.start();
    await until(async () => sink.backlog === 0, 10_000);
    const ids = (await redis.xRange('mb:cdr', '-', '+')).map((e) => e.message.id);
    expect(ids).toEqual(['cdr-2', 'cdr-3']);
    await sink.close();
    // The next process finds nothing left to send.
    const next = new RedisCdrSink(redis, { streamKey: 'mb:cdr', maxLen: 0, spoolFile: spool }, log);
    await next.ready;
    expect(next.backlog).toBe(0);
    await next.close(0);
  });

  it('keeps a CDR that a frozen Redis does not confirm in time, and it reaches the stream once, however often it was resent', async () => {
    await redis.del('mb:cdr');
    const spool = join(mkdtempSync(join(tmpdir(), 'mb-cdr-')), 'spool.jsonl');
    const sink = new RedisCdrSink(redis, { streamKey: 'mb:cdr', maxLen: 0, spoolFile: spool, retryMs: 100, timeoutMs: 150 }, log);
    server.pause();
    try {
      sink.write(cdr(9));
      await until(async () => spooledIds(spool).includes('cdr-9'), 2000);
      await new Promise((r) => setTimeout(r, 600)); // several sends, none answered
      expect(sink.backlog).toBe(1);
    } finally {
      server.resume();
    }
    await until(async () => sink.backlog === 0, 10_000);
    // Every send lands when Redis thaws; the script adds the record once.
    expect((await redis.xRange('mb:cdr', '-', '+')).map((e) => e.message.id)).toEqual(['cdr-9']);
    await sink.close(0);
  });

  it('replays a spool left by a previous process at start', async () => {
    await redis.del('mb:cdr');
    const spool = join(mkdtempSync(join(tmpdir(), 'mb-cdr-')), 'spool.jsonl');
    const down = new RedisCdrSink(redis, { streamKey: 'mb:cdr', maxLen: 0, spoolFile: spool, retryMs: 60_000 }, log);
    await server.stop();
    down.write(cdr(4));
    await until(async () => spooledIds(spool).length === 1);
    await down.close(0); // the process stops here

    await server.start();
    await until(async () => redis.isReady);
    const next = new RedisCdrSink(redis, { streamKey: 'mb:cdr', maxLen: 0, spoolFile: spool, retryMs: 100 }, log);
    await next.ready;
    expect(next.backlog).toBe(1);
    await until(async () => next.backlog === 0);
    expect((await redis.xRange('mb:cdr', '-', '+')).map((e) => e.message.id)).toEqual(['cdr-4']);
    await next.close(0);
  });
});
