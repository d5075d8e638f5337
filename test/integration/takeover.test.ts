/**
 * The takeover of a dead instance's calls (src/calls/takeover.ts) against a real Redis, with a
 * fake SIP port: the entry a call writes at connect names its dialogs; once its instance stops
 * beating a survivor sends BYE in each, and writes one CDR (ended_by instance-lost), even with
 * two survivors racing.
 */
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Cdr } from '../../src/cdr/cdr.js';
import { RedisCdrStream } from '../../src/cdr/redis-stream.js';
import { LiveCallRegistry, LiveCalls, liveCallKeys, type LiveCall } from '../../src/calls/live-calls.js';
import { LostCallSweeper, lostCdrId } from '../../src/calls/takeover.js';
import { CallEvents } from '../../src/calls/call-events.js';
import { eventCodec, type OutboxEvent } from '../../src/events/events.js';
import { RedisRecordStream } from '../../src/spool/redis-stream.js';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { recordingPaths } from '../../src/media/recording.js';
import { encodeWav, tone } from '../helpers/wav.js';
import { useRedis } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

const db = useRedis({ beforeAll, afterAll });
const log = pino({ level: 'silent' });
const keys = liveCallKeys('mb:');
const SERVER = '127.0.0.1:9022';
const HEARTBEAT = 100;

const T0 = Date.now();
const call = (n: number, sessionId = 'order-1'): LiveCall => ({
  callId: n.toString(16).padStart(32, '0'), instance: '', sessionId, virtualNumber: '+912240001000', direction: 'a->b',
  startedAt: new Date(T0 - 65_000).toISOString(), answeredAt: new Date(T0 - 60_000).toISOString(),
});
/** The id the call's own CDR was to have (its registry entry carries it). */
const cdrIdOf = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const dialogsOf = (n: number) => [`call-${n}@carrier.example;uas`, `b-${n}@127.0.0.1;from-tag=t${n}`];

class FakeSip {
  readonly byes: string[] = [];
  readonly cancels: string[] = [];
  readonly answered: Array<[string, number]> = [];
  /** Dialogs the SIP server no longer has (the party hung up already). */
  readonly gone = new Set<string>();
  async endDialog(dialogId: string): Promise<number | 'gone' | null> {
    this.byes.push(dialogId);
    return this.gone.has(dialogId) ? 'gone' : 200;
  }
  async cancelInvite(transactionId: string): Promise<boolean> {
    this.cancels.push(transactionId);
    return true;
  }
  async failInvite(transactionId: string, status: number): Promise<boolean> {
    this.answered.push([transactionId, status]);
    return true;
  }
}

class Cdrs {
  readonly written: Cdr[] = [];
  write(cdr: Cdr): void {
    this.written.push(cdr);
  }
}

class Events {
  readonly published: OutboxEvent[] = [];
  publish(e: OutboxEvent): void {
    this.published.push(e);
  }
}

/** A survivor whose Redis and drachtio-server have been up for longer than its 3-beat grace (unless `fresh`). */
function survivor(id: string, opts: { server?: string; fresh?: boolean; events?: CallEvents; recordingsDir?: string } = {}) {
  const sip = new FakeSip();
  const cdr = new Cdrs();
  const clock = { at: Date.now(), up: true };
  const sweeper = new LostCallSweeper(
    { redis: db.redis, keys, sip, cdr: opts.events ? opts.events.cdrSink(cdr) : cdr, ...(opts.events ? { callEvents: opts.events } : {}),
      ...(opts.recordingsDir ? { recordings: { dir: opts.recordingsDir, settleMs: 20, timeoutMs: 300 } } : {}), log, now: () => clock.at, ready: () => clock.up },
    { instanceId: id, server: opts.server ?? SERVER, heartbeatMs: 1000, timeoutMs: 1000, byeTimeoutMs: 1000 },
  );
  if (!opts.fresh) {
    void sweeper.sweep(); // ready from now
    clock.at += 3000;
  }
  return { sip, cdr, sweeper, clock };
}

/** An instance with `n` connected calls whose heartbeat then stops, as after a kill -9. */
async function deadInstance(id: string, n: number, first = 0, opts: { legacy?: boolean; events?: { url: string; parties: Record<string, string> }; recorded?: boolean } = {}): Promise<void> {
  const reg = new LiveCallRegistry(db.redis, 'mb:', id, log, { heartbeatMs: HEARTBEAT, timeoutMs: 1000, server: SERVER });
  reg.start();
  for (let i = first; i < first + n; i++) reg.connected(call(i), { dialogs: dialogsOf(i), media: 'none', slidingTtl: false, ...(opts.legacy ? {} : { cdrId: cdrIdOf(i) }), ...(opts.events ? { events: opts.events } : {}), ...(opts.recorded ? { recorded: true } : {}) });
  await until(async () => (await db.redis.hLen(keys.calls)) >= n, 2000);
  clearInterval((reg as unknown as { timer: NodeJS.Timeout }).timer); // it dies: no more beats
}

beforeEach(async () => {
  await db.redis.flushAll();
});

describe('takeover of a dead instance\'s calls', () => {
  it('sends BYE in both dialogs of each call once the instance stops beating, and writes its CDR', async () => {
    await deadInstance('dead-1', 2);
    const s = survivor('alive-1');
    expect(await s.sweeper.sweep()).toBe(0); // still beating: nothing taken
    expect(s.sip.byes).toEqual([]);
    await until(async () => (await db.redis.exists(keys.instance('dead-1'))) === 0, 2000);
    expect(await s.sweeper.sweep()).toBe(2);
    expect(s.sip.byes.sort()).toEqual([...dialogsOf(0), ...dialogsOf(1)].sort());
    expect(s.cdr.written).toHaveLength(2);
    const c = s.cdr.written.find((x) => x.callId === call(0).callId)!;
    expect(c).toMatchObject({
      id: cdrIdOf(0), sessionId: 'order-1', virtualNumber: '+912240001000', direction: 'a->b', disposition: 'answered',
      endedBy: 'instance-lost', finalStatus: 200, media: 'none', recording: null,
    });
    expect(c.durationSec).toBeGreaterThanOrEqual(60);
    expect(c.answeredAt).toBe(Date.parse(call(0).answeredAt));
    // The registry is clean: no entry, no index, the instance gone from the table.
    expect(await db.redis.hLen(keys.calls)).toBe(0);
    expect(await db.redis.exists(keys.instanceCalls('dead-1'))).toBe(0);
    expect(await db.redis.hExists(keys.instances, 'dead-1')).toBe(0);
    expect(await s.sweeper.sweep()).toBe(0); // and nothing twice
  });

  it('a dialog the SIP server no longer has (the party hung up) still ends the call', async () => {
    await deadInstance('dead-2', 1);
    await until(async () => (await db.redis.exists(keys.instance('dead-2'))) === 0, 2000);
    const s = survivor('alive-2');
    s.sip.gone.add(dialogsOf(0)[0]!);
    expect(await s.sweeper.sweep()).toBe(1);
    expect(s.sip.byes.sort()).toEqual(dialogsOf(0).sort());
    expect(s.cdr.written.map((c) => c.endedBy)).toEqual(['instance-lost']);
  });

  it('two survivors racing: every call is ended by exactly one of them, one CDR each', async () => {
    await deadInstance('dead-3', 120);
    await until(async () => (await db.redis.exists(keys.instance('dead-3'))) === 0, 2000);
    const one = survivor('alive-3a');
    const two = survivor('alive-3b');
    const [n1, n2] = await Promise.all([one.sweeper.sweep(), two.sweeper.sweep()]);
    expect(n1 + n2).toBe(120);
    const byes = [...one.sip.byes, ...two.sip.byes];
    expect(byes).toHaveLength(240);
    expect(new Set(byes).size).toBe(240);
    const ids = [...one.cdr.written, ...two.cdr.written].map((c) => c.id);
    expect(ids).toHaveLength(120);
    expect(new Set(ids).size).toBe(120);
  });

  it('the CDR id is the same whoever writes it: written twice, it lands in the stream once', async () => {
    const stream = new RedisCdrStream(db.redis, { streamKey: 'mb:cdr', maxLen: 0, retentionMs: 60_000, timeoutMs: 1000 });
    await deadInstance('dead-4', 1);
    await until(async () => (await db.redis.exists(keys.instance('dead-4'))) === 0, 2000);
    const s = survivor('alive-4');
    await s.sweeper.sweep();
    const lost = s.cdr.written[0]!;
    // A second survivor that somehow ended the same call would write the same id.
    await stream.write([lost]);
    await stream.write([{ ...lost, endedAt: lost.endedAt + 5 }]);
    const entries = await db.redis.xRange('mb:cdr', '-', '+');
    expect(entries).toHaveLength(1);
    expect(entries[0]!.message).toMatchObject({ id: cdrIdOf(0), ended_by: 'instance-lost', disposition: 'answered' });
  });

  it('an instance that was only cut off from Redis (taken for dead) cannot add a second CDR: its own has the same id', async () => {
    const stream = new RedisCdrStream(db.redis, { streamKey: 'mb:cdr', maxLen: 0, retentionMs: 60_000, timeoutMs: 1000 });
    await deadInstance('cut-off', 1);
    await until(async () => (await db.redis.exists(keys.instance('cut-off'))) === 0, 2000);
    const s = survivor('alive-cut');
    await s.sweeper.sweep();
    await stream.write(s.cdr.written);
    // Back in touch, the instance ends the call it still thinks it holds and writes that call's CDR.
    await stream.write([{ ...s.cdr.written[0]!, id: cdrIdOf(0), endedBy: 'caller', endedAt: s.cdr.written[0]!.endedAt + 4000 }]);
    const entries = await db.redis.xRange('mb:cdr', '-', '+');
    expect(entries.map((e) => e.message.ended_by)).toEqual(['instance-lost']);
  });

  it('the survivor announces call.completed to the session\'s own URL, with the numbers the call\'s instance had', async () => {
    const events = new Events();
    await deadInstance('dead-ev', 1, 0, { events: { url: 'https://orders.example/hooks', parties: { a: '+919800000011', b: '+919800000022' } } });
    await until(async () => (await db.redis.exists(keys.instance('dead-ev'))) === 0, 2000);
    const s = survivor('alive-ev', { events: new CallEvents(events, '/rec') });
    await s.sweeper.sweep();
    expect(events.published.map((e) => [e.type, e.id, e.url, e.sessionId])).toEqual([['call.completed', `${cdrIdOf(0)}.call.completed`, 'https://orders.example/hooks', 'order-1']]);
    expect(events.published[0]!.parties).toEqual({ a: '+919800000011', b: '+919800000022' });
    expect(events.published[0]!.data).toMatchObject({ call_id: call(0).callId, cdr: { id: cdrIdOf(0), ended_by: 'instance-lost', disposition: 'answered' } });
  });

  it('an entry without the events context (no webhooks where the call ran) still announces call.completed, to the default URL', async () => {
    const events = new Events();
    await deadInstance('dead-ev2', 1);
    await until(async () => (await db.redis.exists(keys.instance('dead-ev2'))) === 0, 2000);
    const s = survivor('alive-ev2', { events: new CallEvents(events, '/rec') });
    await s.sweeper.sweep();
    expect(events.published.map((e) => [e.type, e.url])).toEqual([['call.completed', '']]);
    expect(events.published[0]!.parties).toBeUndefined();
  });

  it('a cut-off instance announcing the same call\'s end later adds no second event: same id, kept once by the outbox', async () => {
    const outbox = new RedisRecordStream(db.redis, eventCodec, { streamKey: 'mb:events', maxLen: 0, retentionMs: 60_000, timeoutMs: 1000 });
    const survivorEvents = new Events();
    await deadInstance('cut-ev', 1, 0, { events: { url: '', parties: {} } });
    await until(async () => (await db.redis.exists(keys.instance('cut-ev'))) === 0, 2000);
    const s = survivor('alive-cut-ev', { events: new CallEvents(survivorEvents, '/rec') });
    await s.sweeper.sweep();
    // The instance, back in touch, ends the call it still holds: its own call events, its own CDR (same id).
    const ownEvents = new Events();
    const own = new CallEvents(ownEvents, '/rec');
    own.bind(call(0).callId, { sessionId: 'order-1', virtualNumber: call(0).virtualNumber, url: '', parties: {} });
    own.initiated(call(0).callId, 'a->b');
    own.cdrSink({ write: () => undefined }).write({ ...s.cdr.written[0]!, endedBy: 'caller' });
    const completed = ownEvents.published.filter((e) => e.type === 'call.completed');
    expect(completed.map((e) => e.id)).toEqual(survivorEvents.published.map((e) => e.id));
    await outbox.write(survivorEvents.published);
    await outbox.write(completed);
    expect((await db.redis.xRange('mb:events', '-', '+')).map((e) => e.message.type)).toEqual(['call.completed']);
  });

  it('a cut recorded call\'s recording is renamed into place by the survivor and described in its CDR; a missing file is a failed recording', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mb-takeover-rec-'));
    await deadInstance('dead-rec', 2, 0, { recorded: true });
    await until(async () => (await db.redis.exists(keys.instance('dead-rec'))) === 0, 2000);
    // What FreeSWITCH wrote for the first call (the second one's never reached the disk).
    const paths = recordingPaths(dir, new Date(call(0).answeredAt), 'order-1', call(0).callId);
    mkdirSync(dirname(paths.partial), { recursive: true });
    writeFileSync(paths.partial, encodeWav([tone(400, 2), tone(700, 2)]));
    const s = survivor('alive-rec', { recordingsDir: dir });
    await s.sweeper.sweep();
    const byCall = new Map(s.cdr.written.map((c) => [c.callId, c]));
    expect(byCall.get(call(0).callId)!.recording).toMatchObject({ path: paths.final, durationSec: 2, failed: false });
    expect(existsSync(paths.final)).toBe(true);
    expect(existsSync(paths.partial)).toBe(false);
    expect(byCall.get(call(1).callId)!.recording).toMatchObject({ failed: true, error: 'recording file was never written' });
  });

  /** A call registered at its callee's INVITE (answeredAt ''), on an instance that then stops beating. */
  async function deadWhileDialing(instance: string, n: number, setup?: { caller: string; callee: string }) {
    const reg = new LiveCallRegistry(db.redis, 'mb:', instance, log, { heartbeatMs: HEARTBEAT, timeoutMs: 1000, server: SERVER });
    reg.start();
    reg.connected({ ...call(n), answeredAt: '' }, { dialogs: [`b-${n}@127.0.0.1;from-tag=t${n}`], media: 'none', slidingTtl: false, cdrId: cdrIdOf(n), ...(setup ? { setup } : {}) });
    await until(async () => (await db.redis.hExists(keys.calls, call(n).callId)) === 1, 2000);
    expect((await new LiveCalls(db.redis, 'mb:', 1000).list()).map((c) => c.callId)).not.toContain(call(n).callId); // not a live call yet
    clearInterval((reg as unknown as { timer: NodeJS.Timeout }).timer);
    await until(async () => (await db.redis.exists(keys.instance(instance))) === 0, 2000);
  }

  it('a call its instance was still setting up: its callee\'s INVITE is cancelled and a callee who answered gets a BYE, its caller gets 503, one CDR failed 503', async () => {
    await deadWhileDialing('dead-dialing', 7, { caller: 'txn-a-7', callee: 'txn-b-7' });
    const s = survivor('alive-dialing');
    await s.sweeper.sweep();
    expect(s.sip.cancels).toEqual(['txn-b-7']);
    expect(s.sip.byes).toEqual(['b-7@127.0.0.1;from-tag=t7']);
    expect(s.sip.answered).toEqual([['txn-a-7', 503]]);
    expect(s.cdr.written).toHaveLength(1);
    expect(s.cdr.written[0]).toMatchObject({ id: cdrIdOf(7), disposition: 'failed', finalStatus: 503, answeredAt: null, durationSec: 0, endedBy: 'instance-lost' });
  });

  it('a call in set-up from an entry without transaction ids (before 0.5): the callee\'s dialog gets a BYE, the CDR says no final answer (0)', async () => {
    await deadWhileDialing('dead-dialing-old', 8);
    const s = survivor('alive-dialing-old');
    await s.sweeper.sweep();
    expect({ cancels: s.sip.cancels, answered: s.sip.answered, byes: s.sip.byes }).toEqual({ cancels: [], answered: [], byes: ['b-8@127.0.0.1;from-tag=t8'] });
    expect(s.cdr.written[0]).toMatchObject({ id: cdrIdOf(8), disposition: 'failed', finalStatus: 0, endedBy: 'instance-lost' });
  });

  it('an entry written without the CDR id (before 0.3) gets one made from the call id, the same for every survivor', async () => {
    await deadInstance('dead-legacy', 1, 0, { legacy: true });
    await until(async () => (await db.redis.exists(keys.instance('dead-legacy'))) === 0, 2000);
    const s = survivor('alive-legacy');
    await s.sweeper.sweep();
    expect(s.cdr.written.map((c) => c.id)).toEqual([lostCdrId({ callId: call(0).callId })]);
    expect(lostCdrId({ callId: call(0).callId })).toBe(`instance-lost-${call(0).callId}`);
  });

  it('leaves alone the calls of an instance on another drachtio-server, and its own', async () => {
    await deadInstance('dead-5', 1);
    await until(async () => (await db.redis.exists(keys.instance('dead-5'))) === 0, 2000);
    const elsewhere = survivor('alive-5', { server: '10.0.0.9:9022' });
    expect(await elsewhere.sweeper.sweep()).toBe(0);
    const self = survivor('dead-5'); // an instance never takes its own calls
    expect(await self.sweeper.sweep()).toBe(0);
    expect(await db.redis.hLen(keys.calls)).toBe(1);
  });

  it('sweeps only once Redis and drachtio-server have been up for 3 beats, at start and after an outage', async () => {
    await deadInstance('dead-8', 2);
    await until(async () => (await db.redis.exists(keys.instance('dead-8'))) === 0, 2000);
    const s = survivor('alive-8', { fresh: true });
    expect(await s.sweeper.sweep()).toBe(0); // just started: the others may not have beaten yet
    s.clock.at += 2999;
    expect(await s.sweeper.sweep()).toBe(0);
    s.clock.up = false; // an outage: every instance's heartbeat may lapse with it
    s.clock.at += 10_000;
    expect(await s.sweeper.sweep()).toBe(0);
    s.clock.up = true;
    expect(await s.sweeper.sweep()).toBe(0);
    s.clock.at += 3000;
    expect(await s.sweeper.sweep()).toBe(2);
  });

  it('a call registered before the instance\'s first heartbeat reached Redis is not taken for a dead instance\'s', async () => {
    const reg = new LiveCallRegistry(db.redis, 'mb:', 'young-9', log, { heartbeatMs: 1000, timeoutMs: 1000, server: SERVER });
    reg.connected(call(9), { dialogs: dialogsOf(9), media: 'none', slidingTtl: false }); // no start(): no beat yet
    await until(async () => (await db.redis.hLen(keys.calls)) === 1, 2000);
    const s = survivor('alive-9');
    expect(await s.sweeper.sweep()).toBe(0);
    expect(s.sip.byes).toEqual([]);
  });

  it('a call that ended normally leaves nothing to take over', async () => {
    const reg = new LiveCallRegistry(db.redis, 'mb:', 'dead-6', log, { heartbeatMs: HEARTBEAT, timeoutMs: 1000, server: SERVER });
    reg.start();
    reg.connected(call(7), { dialogs: dialogsOf(7), media: 'none', slidingTtl: false });
    reg.connected(call(8), { dialogs: dialogsOf(8), media: 'none', slidingTtl: false });
    reg.ended(call(7).callId);
    await until(async () => (await db.redis.hLen(keys.calls)) === 1 && (await db.redis.sCard(keys.instanceCalls('dead-6'))) === 1, 2000);
    clearInterval((reg as unknown as { timer: NodeJS.Timeout }).timer);
    await until(async () => (await db.redis.exists(keys.instance('dead-6'))) === 0, 2000);
    const s = survivor('alive-6');
    expect(await s.sweeper.sweep()).toBe(1);
    expect(s.sip.byes.sort()).toEqual(dialogsOf(8).sort());
  });

  it('the listing leaves out a dead instance\'s calls, keeps them for the survivor, and never shows the dialog ids', async () => {
    const live = new LiveCallRegistry(db.redis, 'mb:', 'alive-7', log, { heartbeatMs: 1000, timeoutMs: 1000, server: SERVER });
    live.start();
    live.connected(call(9), { dialogs: dialogsOf(9), media: 'none', slidingTtl: false });
    await deadInstance('dead-7', 1);
    await until(async () => (await db.redis.exists(keys.instance('dead-7'))) === 0, 2000);
    const view = new LiveCalls(db.redis, 'mb:', 1000);
    const listed = await view.list();
    expect(listed.map((c) => c.instance)).toEqual(['alive-7']);
    expect(JSON.stringify(listed)).not.toContain('carrier.example');
    expect(await db.redis.hLen(keys.calls)).toBe(2); // the dead one's entry is still there
    const s = survivor('alive-7b');
    expect(await s.sweeper.sweep()).toBe(1);
    await live.stop();
  });
});
