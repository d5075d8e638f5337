/**
 * Orphan spools against a real Redis (src/spool/orphans.ts): the spool of an instance with no
 * heartbeat is replayed by a survivor exactly once (two survivors racing included) and removed;
 * the spool of a live instance, or of one that still writes, is never touched; an instance that
 * comes back mid-replay keeps its spool; poison records are kept in an archived directory. Each
 * replay is counted (maskbridge_orphan_spool_replays_total, maskbridge_orphan_spool_records_total).
 */
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cdrCodec, type Cdr } from '../../src/cdr/cdr.js';
import { RedisCdrSink } from '../../src/cdr/redis-sink.js';
import { RedisCdrStream } from '../../src/cdr/redis-stream.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { createRedis, type Redis } from '../../src/sessions/redis.js';
import { instanceLayout, spoolPathFor } from '../../src/spool/instance-dir.js';
import { ARCHIVE_DIR, OrphanSpools, orphanKind, type OrphanSpoolOptions } from '../../src/spool/orphans.js';
import type { RecordTarget } from '../../src/spool/redis-stream.js';
import { cdr } from '../helpers/cdr.js';
import { parseExposition } from '../helpers/exposition.js';
import { until } from '../helpers/until.js';
import { RedisServer } from '../helpers/redis-server.js';

const silent = pino({ level: 'silent' });
let server: RedisServer;
let redis: Redis;
let n = 0;

beforeAll(async () => {
  server = await RedisServer.start();
  redis = createRedis({ url: server.url, commandTimeoutMs: 1000 }, silent);
  await redis.connect();
});

afterAll(async () => {
  await redis.close().catch(() => undefined);
  await server.stop();
});

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => cdr(from + i));

/** A test's keys and directories: `root/{instance}/cdr.jsonl`, prefix t{n}:. */
function world() {
  const i = n++;
  const root = mkdtempSync(join(tmpdir(), 'mb-orphans-'));
  const template = `${root}/{instance}/cdr.jsonl`;
  const prefix = `t${i}:`;
  const stream = `${prefix}cdr`;
  const streamOpts = { streamKey: stream, maxLen: 0, retentionMs: 600_000, timeoutMs: 2000 };
  const survivor = (id: string, opts: Partial<OrphanSpoolOptions> = {}, now?: () => number, target: RecordTarget<Cdr> = new RedisCdrStream(redis, streamOpts)) => new OrphanSpools(
    redis,
    [orphanKind('cdr', instanceLayout('cdr.spoolFile', template)!, cdrCodec, target, silent)],
    { instanceId: id, keyPrefix: prefix, graceMs: 100, scanMs: 60_000, claimTtlMs: 3000, timeoutMs: 2000, stallMs: 5000, ...opts },
    silent,
    now,
  );
  const ids = async () => (await redis.xRange(stream, '-', '+')).map((e) => e.message.id as string);
  return { root, template, prefix, stream, streamOpts, survivor, ids, spool: (id: string) => spoolPathFor('cdr.spoolFile', template, id) };
}

/**
 * The spool an instance leaves when it dies: `records` in a segment, the first `confirmed` of
 * them in Redis (marks included), the checkpoint only at `checkpointAt` (it lags), every file
 * last written a minute ago.
 */
async function deadSpool(w: ReturnType<typeof world>, id: string, records: Array<Cdr | string>, confirmed: number, checkpointAt: number): Promise<void> {
  const file = w.spool(id);
  mkdirSync(join(w.root, id), { recursive: true });
  const lines = records.map((r) => `${typeof r === 'string' ? r : JSON.stringify(r)}\n`);
  writeFileSync(`${file}.0000000001`, lines.join(''));
  const offset = Buffer.byteLength(lines.slice(0, checkpointAt).join(''));
  writeFileSync(`${file}.checkpoint`, `${JSON.stringify({ segment: 1, offset })}\n`);
  if (confirmed > 0) {
    const r = await new RedisCdrStream(redis, w.streamOpts).write(records.slice(0, confirmed) as Cdr[]);
    expect(r.failure).toBeNull();
  }
  const past = new Date(Date.now() - 60_000);
  for (const f of readdirSync(join(w.root, id))) utimesSync(join(w.root, id, f), past, past);
}

/** A registry as the app's (src/app.ts wires the same two counters), and what it counts for the CDR spool. */
function metered() {
  const metrics = new Metrics();
  return {
    metrics: { replays: metrics.orphanSpoolReplays, records: metrics.orphanSpoolRecords },
    async counts() {
      const m = parseExposition(await metrics.registry.metrics());
      return {
        replayed: m.value('maskbridge_orphan_spool_replays_total', { spool: 'cdr', outcome: 'replayed' }),
        left: m.value('maskbridge_orphan_spool_replays_total', { spool: 'cdr', outcome: 'left' }),
        records: m.value('maskbridge_orphan_spool_records_total', { spool: 'cdr' }),
      };
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Scans once to see the sibling without a heartbeat, waits out the grace, and scans again. */
async function afterGrace(s: OrphanSpools, graceMs = 100) {
  expect(await s.scan()).toEqual([]);
  await sleep(graceMs + 20);
  return s.scan();
}

describe('orphan spools', () => {
  it('replays the unconfirmed CDRs of an instance with no heartbeat exactly once, then removes its directory', async () => {
    const w = world();
    const records = range(0, 500);
    // 300 in Redis, the checkpoint at 200: 200-300 are resent and dropped by their marks.
    await deadSpool(w, 'gone-1', records, 300, 200);
    const m = metered();
    const s = w.survivor('survivor-1', { metrics: m.metrics });
    expect(await m.counts()).toEqual({ replayed: 0, left: 0, records: 0 });
    const out = await afterGrace(s);
    expect(out).toEqual([{ instance: 'gone-1', result: 'replayed', records: 300 }]);
    expect(await m.counts()).toEqual({ replayed: 1, left: 0, records: 300 });
    expect(await w.ids()).toEqual(records.map((c) => c.id));
    expect(existsSync(join(w.root, 'gone-1'))).toBe(false);
    expect(await redis.exists(`${w.prefix}spool:claim:gone-1`)).toBe(0);
  });

  it('waits out the grace period from when it first saw no heartbeat', async () => {
    const w = world();
    await deadSpool(w, 'gone-2', range(0, 10), 0, 0);
    const s = w.survivor('survivor-2', { graceMs: 60_000 });
    expect(await s.scan()).toEqual([]);
    expect(await s.scan()).toEqual([]);
    expect(await w.ids()).toEqual([]);
    expect(existsSync(w.spool('gone-2') + '.0000000001')).toBe(true);
  });

  it('two survivors racing: each CDR lands once, and one of them replays it', async () => {
    const w = world();
    const records = range(0, 5000);
    await deadSpool(w, 'gone-3', records, 0, 0);
    const ma = metered();
    const mb = metered();
    const a = w.survivor('survivor-3a', { metrics: ma.metrics });
    const b = w.survivor('survivor-3b', { metrics: mb.metrics });
    expect(await Promise.all([a.scan(), b.scan()])).toEqual([[], []]);
    await sleep(120);
    const [ra, rb] = await Promise.all([a.scan(), b.scan()]);
    const replayed = [...ra, ...rb].filter((o) => o.records > 0);
    expect(replayed).toHaveLength(1);
    expect(replayed[0]).toMatchObject({ instance: 'gone-3', result: 'replayed', records: 5000 });
    const ids = await w.ids();
    expect(ids).toHaveLength(5000);
    expect(new Set(ids).size).toBe(5000);
    expect(existsSync(join(w.root, 'gone-3'))).toBe(false);
    // Only the winner counts a replay.
    const [ca, cb] = await Promise.all([ma.counts(), mb.counts()]);
    expect(ca.replayed! + cb.replayed!).toBe(1);
    expect(ca.left! + cb.left!).toBe(0);
    expect(ca.records! + cb.records!).toBe(5000);
  });

  it('never touches the spool of a live instance, nor its own', async () => {
    const w = world();
    await deadSpool(w, 'alive-4', range(0, 10), 0, 0);
    await deadSpool(w, 'me-4', range(10, 20), 0, 0);
    await redis.set(`${w.prefix}spool:owner:alive-4`, String(Date.now()), { PX: 60_000 });
    const s = w.survivor('me-4');
    expect(await afterGrace(s)).toEqual([]);
    expect(await s.scan()).toEqual([]);
    expect(await w.ids()).toEqual([]);
    expect(readdirSync(join(w.root, 'alive-4')).sort()).toEqual(['cdr.jsonl.0000000001', 'cdr.jsonl.checkpoint']);
    expect(readdirSync(join(w.root, 'me-4')).sort()).toEqual(['cdr.jsonl.0000000001', 'cdr.jsonl.checkpoint']);
  });

  it('a running instance keeps its directory by its own heartbeat (mb:spool:owner:{id}); once it stops, it is an orphan', async () => {
    const w = world();
    await deadSpool(w, 'running-9', range(0, 10), 0, 0);
    const owner = w.survivor('running-9', { scanMs: 0, beatMs: 1000 });
    owner.start();
    await until(async () => (await redis.exists(`${w.prefix}spool:owner:running-9`)) === 1, 2000);
    const s = w.survivor('survivor-9');
    expect(await afterGrace(s)).toEqual([]);
    expect(await w.ids()).toEqual([]);
    await owner.stop(1000);
    expect(await redis.exists(`${w.prefix}spool:owner:running-9`)).toBe(0);
    expect(await afterGrace(s)).toEqual([{ instance: 'running-9', result: 'replayed', records: 10 }]);
  });

  it('leaves alone a spool written within the grace period, even with no heartbeat (an instance cut off from Redis)', async () => {
    const w = world();
    await deadSpool(w, 'cut-off-5', range(0, 10), 0, 0);
    let clock = Date.now();
    const s = w.survivor('survivor-5', { graceMs: 60_000 }, () => clock);
    expect(await s.scan()).toEqual([]);
    // No heartbeat for longer than the grace, but the instance appended 31 s ago.
    const written = new Date(clock + 30_000);
    utimesSync(`${w.spool('cut-off-5')}.0000000001`, written, written);
    clock += 61_000;
    expect(await s.scan()).toEqual([]);
    expect(await w.ids()).toEqual([]);
    // Once the files too have been quiet for the grace period, it is replayed.
    clock += 30_000;
    expect(await s.scan()).toEqual([{ instance: 'cut-off-5', result: 'replayed', records: 10 }]);
    expect(await w.ids()).toHaveLength(10);
  });

  it('an instance that comes back mid-replay keeps its spool; its own sink then lands the rest, each once', async () => {
    const w = world();
    const records = range(0, 20_000);
    await deadSpool(w, 'back-6', records, 0, 0);
    // The survivor's writes: the first batch goes through, the next waits until the owner is back.
    const stream = new RedisCdrStream(redis, w.streamOpts);
    let gate: () => void = () => undefined;
    const held = new Promise<void>((r) => (gate = r));
    let batches = 0;
    const target: RecordTarget<Cdr> = { write: async (rs) => (batches++ === 0 ? stream.write(rs) : held.then(() => stream.write(rs))) };
    const m = metered();
    const s = w.survivor('survivor-6', { claimTtlMs: 150, metrics: m.metrics }, undefined, target);
    expect(await s.scan()).toEqual([]);
    await sleep(120);
    const scan = s.scan();
    await until(async () => (await w.ids()).length > 0, 5000);
    await redis.set(`${w.prefix}spool:owner:back-6`, String(Date.now()), { PX: 60_000 });
    await sleep(150); // a renewal sees the heartbeat
    gate();
    const out = await scan;
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ instance: 'back-6', result: 'left', reason: 'the instance is back' });
    expect(existsSync(`${w.spool('back-6')}.0000000001`)).toBe(true);
    const partial = (await w.ids()).length;
    expect(partial).toBeLessThan(20_000);
    // Counted as left; its records are those confirmed before the replay stopped.
    const counted = await m.counts();
    expect(counted).toMatchObject({ replayed: 0, left: 1 });
    expect(counted.records).toBeGreaterThan(0);
    expect(counted.records).toBeLessThanOrEqual(partial);
    // The instance itself, back under its id, replays its spool: nothing lost, nothing twice.
    const own = new RedisCdrSink(redis, { streamKey: w.stream, maxLen: 0, spoolFile: w.spool('back-6'), fsync: false, dedupeRetentionMs: 600_000 }, silent);
    await own.ready;
    await own.flush(20_000);
    await own.close(1000);
    const ids = await w.ids();
    expect(ids).toHaveLength(20_000);
    expect(new Set(ids).size).toBe(20_000);
  }, 30_000);

  it('a segment appended to while it is replayed (its instance was only cut off) is kept, not deleted', async () => {
    const w = world();
    await deadSpool(w, 'cut-off-8', range(0, 1000), 0, 0);
    const stream = new RedisCdrStream(redis, w.streamOpts);
    let gate: () => void = () => undefined;
    const held = new Promise<void>((r) => (gate = r));
    let batches = 0;
    const target: RecordTarget<Cdr> = { write: async (rs) => (batches++ === 0 ? stream.write(rs) : held.then(() => stream.write(rs))) };
    const s = w.survivor('survivor-8', {}, undefined, target);
    expect(await s.scan()).toEqual([]);
    await sleep(120);
    const scan = s.scan();
    await until(async () => (await w.ids()).length > 0, 5000);
    appendFileSync(`${w.spool('cut-off-8')}.0000000001`, `${JSON.stringify(cdr(1000))}\n`);
    gate();
    // Left either because its last record is not confirmed yet or because the segment changed; kept, not deleted.
    expect(await scan).toEqual([expect.objectContaining({ instance: 'cut-off-8', result: 'left' })]);
    expect(existsSync(`${w.spool('cut-off-8')}.0000000001`)).toBe(true);
    expect(new Set(await w.ids()).size).toBe((await w.ids()).length);
  });

  it('poison records are set aside; the replayed directory is kept under .replayed with them', async () => {
    const w = world();
    await deadSpool(w, 'poison-7', [cdr(1), '{"not":"a cdr"}', cdr(2)], 0, 0);
    const m = metered();
    const out = await afterGrace(w.survivor('survivor-7', { metrics: m.metrics }));
    expect(out).toEqual([{ instance: 'poison-7', result: 'replayed', records: 3 }]);
    expect(await m.counts()).toEqual({ replayed: 1, left: 0, records: 3 });
    expect(await w.ids()).toEqual(['cdr-1', 'cdr-2']);
    expect(existsSync(join(w.root, 'poison-7'))).toBe(false);
    const archived = readdirSync(join(w.root, ARCHIVE_DIR));
    expect(archived).toHaveLength(1);
    expect(archived[0]).toMatch(/^poison-7-/);
    expect(readdirSync(join(w.root, ARCHIVE_DIR, archived[0]!))).toEqual(['cdr.jsonl.poison']);
    // The archive is no instance: later scans leave it.
    expect(await w.survivor('survivor-7b').scan()).toEqual([]);
  });
});
