/** The spooling CDR sink against an in-memory stream: write-ahead, order, batching, crash safety, failures. */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pino from 'pino';
import { Counter, Gauge, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { SpoolingCdrSink, type SpoolingCdrSinkOptions } from '../../src/cdr/spooling-sink.js';
import type { BatchResult, WriteFailure } from '../../src/cdr/redis-stream.js';
import { FakeStream, cdr, poisonEntries, segments, spooledIds, writeSpool } from '../helpers/cdr.js';
import { captureLogs } from '../helpers/harness.js';
import { until } from '../helpers/until.js';

const silent = pino({ level: 'silent' });
const open: SpoolingCdrSink[] = [];
const spoolIn = () => join(mkdtempSync(join(tmpdir(), 'mb-cdr-unit-')), 'spool.jsonl');
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => cdr(from + i));
const ids = (from: number, to: number) => range(from, to).map((c) => c.id);

function sink(target: FakeStream, opts: SpoolingCdrSinkOptions, log = silent): SpoolingCdrSink {
  const s = new SpoolingCdrSink(target, { retryMs: 20, configRetryMs: 200, fsync: false, ...opts }, log);
  open.push(s);
  return s;
}

const refusal = (code: string, atRecord: boolean, kind: WriteFailure['kind'] = 'refused'): WriteFailure =>
  ({ kind, code, message: `${code} refused`, atRecord });
const fail = (done: number, f: WriteFailure): BatchResult => ({ done, added: 0, failure: f });

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close(0)));
});

describe('CDR sink: spool and order', () => {
  it('puts a CDR on disk before it is sent, and counts it until the stream has it', async () => {
    const spool = spoolIn();
    const stream = new FakeStream();
    let onDiskWhenSent: string[] = [];
    stream.answer = () => {
      onDiskWhenSent = spooledIds(spool);
      return null;
    };
    stream.hold();
    const s = sink(stream, { spoolFile: spool });
    s.write(cdr(1));
    expect(s.backlog).toBe(1);
    await until(() => stream.batches.length === 1);
    expect(onDiskWhenSent).toEqual(['cdr-1']);
    expect(s.backlog).toBe(1);
    stream.release();
    await until(() => s.backlog === 0);
  });

  it('replays a spool left by an earlier process in order, in batches, and keeps taking new CDRs meanwhile', async () => {
    const spool = spoolIn();
    writeSpool(spool, range(0, 3000));
    const stream = new FakeStream();
    const s = sink(stream, { spoolFile: spool, batchSize: 250 });
    await until(() => stream.ids.length > 0, 2000, 0);
    for (let i = 3000; i < 3100; i++) s.write(cdr(i));
    await until(() => s.backlog === 0, 5000);
    expect(stream.ids).toEqual(ids(0, 3100));
    expect(Math.max(...stream.batches.map((b) => b.length))).toBe(250);
    expect(stream.batches.length).toBeLessThan(3100 / 10);
  });

  it('does not hold the event loop while it replays thousands of records', async () => {
    const spool = spoolIn();
    writeSpool(spool, range(0, 20_000));
    const stream = new FakeStream();
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    const s = sink(stream, { spoolFile: spool });
    await until(() => stream.ids.length === 20_000, 8000, 0);
    h.disable();
    // Generous for a busy test machine; a synchronous pass over the spool takes far longer.
    expect(h.max / 1e6).toBeLessThan(100);
    expect(stream.ids).toEqual(ids(0, 20_000));
    await until(() => s.backlog === 0);
  });

  it('returns from the constructor at once, whatever the size of the spool', () => {
    const spool = spoolIn();
    const line = `${JSON.stringify(cdr(1))}\n`;
    writeFileSync(spool, line.repeat(100_000));
    const t0 = performance.now();
    sink(new FakeStream(), { spoolFile: spool });
    expect(performance.now() - t0).toBeLessThan(50);
  });

  it('moves to a new segment at segmentBytes and deletes the finished ones', async () => {
    const spool = spoolIn();
    const stream = new FakeStream();
    const s = sink(stream, { spoolFile: spool, segmentBytes: 4096 });
    for (let i = 0; i < 200; i++) {
      s.write(cdr(i));
      if (i % 20 === 19) await until(() => s.backlog === 0);
    }
    await until(() => s.backlog === 0);
    await until(() => segments(spool).length === 1);
    expect(stream.ids).toEqual(ids(0, 200));
    // 10 groups of 20 CDRs (~6.6 KB each) with 4 KiB segments: one segment per group, 9 deleted.
    const [left] = segments(spool);
    expect(Number(left?.slice(-10))).toBe(10);
    expect(readFileSync(left as string).length).toBeLessThan(4096 + 20 * 400);
  });

  it('survives a bounded close and gives what is left to the next process', async () => {
    const spool = spoolIn();
    const stream = new FakeStream();
    stream.answer = () => fail(0, refusal('Error', false, 'unavailable'));
    const s = sink(stream, { spoolFile: spool });
    for (let i = 0; i < 5; i++) s.write(cdr(i));
    const t0 = Date.now();
    await s.close(300);
    expect(Date.now() - t0).toBeLessThan(700);
    s.write(cdr(99)); // after close: dropped, logged, no throw

    stream.answer = null;
    const next = sink(stream, { spoolFile: spool });
    await until(() => next.backlog === 0 && stream.ids.length === 5);
    expect(stream.ids).toEqual(ids(0, 5));
  });
});

describe('CDR sink: crash safety', () => {
  it('after a stop in the middle of a batch, the next process resends from the checkpoint: nothing lost, nothing doubled', async () => {
    const spool = spoolIn();
    writeSpool(spool, range(0, 1000));
    const stream = new FakeStream();
    const first = sink(stream, { spoolFile: spool, batchSize: 100, checkpointMs: 1 });
    stream.answer = (_c, call) => {
      if (call === 3) stream.hold(); // batch 4 lands, its reply never comes back
      return null;
    };
    await until(() => stream.batches.length === 4);
    await first.close(0); // the process dies with batch 4 in Redis and not confirmed
    stream.answer = null;
    stream.release();
    const sentBefore = stream.sent;

    const second = sink(stream, { spoolFile: spool, batchSize: 100 });
    await until(() => second.backlog === 0 && stream.ids.length === 1000);
    expect(stream.ids).toEqual(ids(0, 1000));
    // Resumed at the checkpoint (after batch 3), not at the start of the spool.
    expect(stream.sent - sentBefore).toBe(700);
    expect(stream.batches[4]?.[0]).toBe('cdr-300');
  });

  it('deletes a segment only once all its records are confirmed: a stop mid-batch across segments loses nothing', async () => {
    const spool = spoolIn();
    const down = new FakeStream();
    down.answer = () => fail(0, refusal('Error', false, 'unavailable'));
    const writer = sink(down, { spoolFile: spool, segmentBytes: 4096 });
    for (let i = 0; i < 1000; i += 20) {
      for (let k = i; k < i + 20; k++) writer.write(cdr(k));
      await until(() => spooledIds(spool).length === i + 20, 2000, 1); // one append of ~6.6 KB, then a new segment
    }
    await writer.close(0);
    expect(segments(spool).length).toBe(50);

    const stream = new FakeStream();
    stream.answer = (_c, call) => {
      if (call === 2) stream.hold(); // batch 3 lands, its reply never comes back
      return null;
    };
    const first = sink(stream, { spoolFile: spool, batchSize: 100 });
    await until(() => stream.batches.length === 3);
    await first.close(0);
    stream.answer = null;
    stream.release();
    const second = sink(stream, { spoolFile: spool, batchSize: 100 });
    await second.ready;
    await until(() => second.backlog === 0 && stream.ids.length === 1000);
    expect(stream.ids).toEqual(ids(0, 1000));
    expect(stream.batches[3]?.[0]).toBe('cdr-200');
  });

  it('replays everything once when the checkpoint is unreadable', async () => {
    const spool = spoolIn();
    writeSpool(spool, range(0, 50));
    writeFileSync(`${spool}.checkpoint`, '{"segm');
    const stream = new FakeStream();
    const s = sink(stream, { spoolFile: spool });
    await until(() => s.backlog === 0 && stream.ids.length === 50);
    expect(stream.ids).toEqual(ids(0, 50));
  });

  it('sets a line cut short by a crash aside and delivers the rest', async () => {
    const spool = spoolIn();
    writeFileSync(spool, `${JSON.stringify(cdr(1))}\n${JSON.stringify(cdr(2))}\n${JSON.stringify(cdr(3)).slice(0, 40)}`);
    const stream = new FakeStream();
    const s = sink(stream, { spoolFile: spool });
    await until(() => poisonEntries(spool).length === 1);
    expect(stream.ids).toEqual(['cdr-1', 'cdr-2']);
    expect(s.backlog).toBe(0);
    // A segment whose records are all handled is deleted.
    await until(() => segments(spool).length === 0);
  });
});

describe('CDR sink: poison and refusals', () => {
  it('sets an unreadable record aside with a log line and a metric, and replays the rest in order', async () => {
    const spool = spoolIn();
    writeSpool(spool, [cdr(1), 'not json', JSON.stringify({ ...cdr(2), startedAt: 'yesterday' }), cdr(3)]);
    const registry = new Registry();
    const poison = new Counter({ name: 'poison', help: 'x', registers: [registry] });
    const backlog = new Gauge({ name: 'backlog', help: 'x', registers: [registry] });
    const { log, logs } = captureLogs();
    const stream = new FakeStream();
    const s = sink(stream, { spoolFile: spool, metrics: { poison, backlog } }, log);
    await until(() => s.backlog === 0 && stream.ids.length === 2);
    expect(stream.ids).toEqual(['cdr-1', 'cdr-3']);
    expect(poisonEntries(spool).map((p) => [p.reason, p.line])).toEqual([
      ['not JSON', 'not json'],
      ['bad or missing field startedAt', JSON.stringify({ ...cdr(2), startedAt: 'yesterday' })],
    ]);
    expect((await registry.getSingleMetric('poison')?.get())?.values[0]?.value).toBe(2);
    expect((await registry.getSingleMetric('backlog')?.get())?.values[0]?.value).toBe(0);
    expect(logs.filter((l) => l.msg === 'CDR set aside as poison; replay goes on')).toHaveLength(2);
  });

  it('finds the one record Redis refuses in a batch, sets it aside, and delivers the others in order', async () => {
    const spool = spoolIn();
    writeSpool(spool, [...range(0, 10), cdr(10, 'bad'), ...range(11, 20)]);
    const stream = new FakeStream();
    // Like an ACL that denies one record's key: the whole call is refused while it is in it.
    stream.answer = (cdrs) => (cdrs.some((c) => c.id === 'bad') ? fail(0, refusal('NOPERM', false)) : null);
    const s = sink(stream, { spoolFile: spool });
    await s.ready;
    await until(() => s.backlog === 0);
    expect(stream.ids).toEqual([...ids(0, 10), ...ids(11, 20)]);
    expect(poisonEntries(spool)).toMatchObject([{ reason: 'refused by redis: NOPERM refused' }]);
    expect(JSON.parse(poisonEntries(spool)[0]!.line)).toMatchObject({ id: 'bad' });
  });

  it('sets aside a record the script names as refused, keeping the ones before it', async () => {
    const spool = spoolIn();
    writeSpool(spool, [cdr(0), cdr(1, 'bad'), cdr(2)]);
    const stream = new FakeStream();
    stream.answer = (cdrs) => {
      const at = cdrs.findIndex((c) => c.id === 'bad');
      return at >= 0 ? fail(at, refusal('ERR', true)) : null;
    };
    const s = sink(stream, { spoolFile: spool });
    await s.ready;
    await until(() => s.backlog === 0);
    expect(stream.ids).toEqual(['cdr-0', 'cdr-2']);
    expect(poisonEntries(spool)).toHaveLength(1);
  });

  it('judges a refused last record when the next CDR arrives', async () => {
    const spool = spoolIn();
    writeSpool(spool, [cdr(0), cdr(1, 'bad')]);
    const stream = new FakeStream();
    stream.answer = (cdrs) => (cdrs.some((c) => c.id === 'bad') ? fail(0, refusal('NOPERM', false)) : null);
    const s = sink(stream, { spoolFile: spool, configRetryMs: 60_000 });
    await until(() => stream.ids.length === 1 && stream.batches.length >= 3);
    expect(s.backlog).toBe(1);
    expect(poisonEntries(spool)).toEqual([]);
    s.write(cdr(2));
    await until(() => s.backlog === 0);
    expect(stream.ids).toEqual(['cdr-0', 'cdr-2']);
    expect(poisonEntries(spool)).toHaveLength(1);
  });

  it('keeps every record when Redis refuses them all (configuration), retries slowly, and delivers once fixed', async () => {
    const spool = spoolIn();
    writeSpool(spool, range(0, 30));
    const stream = new FakeStream();
    stream.answer = () => fail(0, refusal('NOPERM', false));
    const { log, logs } = captureLogs();
    const s = sink(stream, { spoolFile: spool, configRetryMs: 150 }, log);
    await new Promise((r) => setTimeout(r, 500));
    expect(poisonEntries(spool)).toEqual([]);
    expect(s.backlog).toBe(30);
    // Per round: the batch, the first record alone, and up to 5 probes; then a 150 ms wait.
    expect(stream.batches.length).toBeLessThanOrEqual(4 * 7);
    expect(logs.some((l) => l.level === 50 && String(l.msg).startsWith('redis refuses every CDR'))).toBe(true);
    stream.answer = null;
    await until(() => s.backlog === 0);
    expect(stream.ids).toEqual(ids(0, 30));
  });

  it('treats a stream key of another type as configuration: records kept, retried every configRetryMs', async () => {
    const spool = spoolIn();
    const stream = new FakeStream();
    stream.answer = () => fail(0, refusal('WRONGTYPE', false, 'config'));
    const s = sink(stream, { spoolFile: spool, configRetryMs: 100 });
    for (let i = 0; i < 5; i++) s.write(cdr(i));
    await new Promise((r) => setTimeout(r, 450));
    expect(stream.batches.length).toBeGreaterThanOrEqual(2);
    expect(stream.batches.length).toBeLessThanOrEqual(6);
    expect(poisonEntries(spool)).toEqual([]);
    stream.answer = null;
    await until(() => s.backlog === 0);
    expect(stream.ids).toEqual(ids(0, 5));
  });

  it('retries an unavailable Redis with growing backoff and delivers when it answers', async () => {
    const spool = spoolIn();
    const stream = new FakeStream();
    stream.answer = () => fail(0, refusal('DeadlineError', false, 'unavailable'));
    const s = sink(stream, { spoolFile: spool, retryMs: 10, maxRetryMs: 80 });
    s.write(cdr(1));
    await new Promise((r) => setTimeout(r, 500));
    // 10, 20, 40, 80, 80, ... ms: about 9 tries in 500 ms (a fixed 10 ms would be ~50).
    expect(stream.batches.length).toBeGreaterThanOrEqual(4);
    expect(stream.batches.length).toBeLessThanOrEqual(12);
    stream.answer = null;
    await s.flush(1000);
    expect(s.backlog).toBe(0);
    expect(stream.ids).toEqual(['cdr-1']);
  });
});

describe('CDR sink: files', () => {
  it('holds CDRs in memory while the spool cannot be written, then spools and delivers them', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'mb-cdr-unit-')), 'not-a-dir');
    writeFileSync(dir, 'a file where the spool directory should be');
    const stream = new FakeStream();
    const s = sink(stream, { spoolFile: join(dir, 'spool.jsonl'), retryMs: 20 });
    s.write(cdr(1));
    await new Promise((r) => setTimeout(r, 150));
    expect(s.backlog).toBe(1);
    expect(stream.batches).toEqual([]);
    rmSync(dir);
    await until(() => s.backlog === 0);
    expect(stream.ids).toEqual(['cdr-1']);
  });

  it('keeps the spool next to spoolFile and leaves no spoolFile itself behind', async () => {
    const spool = spoolIn();
    writeSpool(spool, [cdr(1)]);
    const stream = new FakeStream();
    const s = sink(stream, { spoolFile: spool });
    await until(() => s.backlog === 0 && stream.ids.length === 1);
    expect(existsSync(spool)).toBe(false);
    await s.close(0);
    expect(JSON.parse(readFileSync(`${spool}.checkpoint`, 'utf8'))).toMatchObject({ offset: 0 });
  });
});

describe('spool sink: lingerMs', () => {
  it('records that trickle in go several per round trip with lingerMs, one per round trip without', async () => {
    const trickle = async (lingerMs: number) => {
      const stream = new FakeStream();
      const s = sink(stream, { spoolFile: spoolIn(), lingerMs });
      for (let i = 0; i < 20; i++) {
        s.write(cdr(i));
        await new Promise((r) => setTimeout(r, 5));
      }
      await until(() => s.backlog === 0, 5000);
      expect(stream.ids).toEqual(ids(0, 20));
      return stream.batches.length;
    };
    const without = await trickle(0);
    const lingering = await trickle(60);
    expect(lingering, `batches: ${without} without, ${lingering} with lingerMs 60`).toBeLessThanOrEqual(6);
    expect(without).toBeGreaterThan(lingering * 2);
  });

  it('flush() does not wait for the linger', async () => {
    const stream = new FakeStream();
    const s = sink(stream, { spoolFile: spoolIn(), lingerMs: 5000 });
    await s.ready;
    await new Promise((r) => setTimeout(r, 50)); // the replay waits for data
    s.write(cdr(1));
    s.write(cdr(2));
    await new Promise((r) => setTimeout(r, 50)); // ... and now lingers
    expect(stream.batches).toHaveLength(0);
    const t0 = Date.now();
    await s.flush(3000);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(stream.ids).toEqual(ids(1, 3));
  });
});
