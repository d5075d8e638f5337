/**
 * Closing a session hangs up its live calls (src/calls/close-watch.ts): by the pub/sub message
 * mb_close sends, or by the sweep that asks Redis for the live calls' sessions. Sliding TTLs are
 * refreshed after an answered call, never before the B-leg.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { CloseWatch, type CloseSource } from '../../src/calls/close-watch.js';
import type { LiveCallSink } from '../../src/calls/live-calls.js';
import { A, createHarness, inviteFrom, settle, type Harness } from '../helpers/harness.js';
import { soon } from '../helpers/media-harness.js';
import { until } from '../helpers/until.js';

/** A source that delivers messages on demand and answers the sweep from the fake sessions. */
function fakeSource(h: Harness) {
  let deliver: (id: string) => void = () => undefined;
  const source: CloseSource = {
    subscribe: async (_channel, onMessage) => void (deliver = onMessage),
    unsubscribe: async () => undefined,
    statuses: async (ids) => ids.map((id) => h.sessions.sessions.get(id)?.status ?? null),
  };
  return { source, publish: (id: string) => deliver(id) };
}

async function connectedCall(h: Harness) {
  const call = h.sip.invite(inviteFrom(A));
  await soon(() => h.sip.dials.length === 1);
  const legB = h.sip.dials[0]!.answer();
  await soon(() => call.leg !== null);
  await settle();
  return { call, legB };
}

describe('a session closes during a call', () => {
  it('pub/sub: both legs get BYE and the CDR says ended_by session-closed', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'live-1' });
    const { source, publish } = fakeSource(h);
    const watch = new CloseWatch(source, 'mb:session-closed', h.registry, pino({ level: 'silent' }), { sweepMs: 60_000, timeoutMs: 500 });
    watch.start();
    const { call, legB } = await connectedCall(h);
    publish('other-session');
    await settle();
    expect(h.registry.size).toBe(1);
    publish('live-1');
    await soon(() => h.cdr.records.length === 1);
    expect(call.leg!.hangups).toBe(1);
    expect(legB.hangups).toBe(1);
    expect(h.cdr.records[0]).toMatchObject({ sessionId: 'live-1', disposition: 'answered', endedBy: 'session-closed', finalStatus: 200 });
    expect(h.registry.size).toBe(0);
    await watch.stop();
  });

  it('pub/sub while the callee rings: the callee is cancelled at once, the caller gets the closed-session status', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'ringing' });
    const { source, publish } = fakeSource(h);
    const watch = new CloseWatch(source, 'mb:session-closed', h.registry, pino({ level: 'silent' }), { sweepMs: 60_000, timeoutMs: 500 });
    watch.start();
    const call = h.sip.invite(inviteFrom(A));
    await soon(() => h.sip.dials.length === 1);
    h.sip.dials[0]!.progress(180);
    publish('ringing');
    await soon(() => h.cdr.records.length === 1);
    expect(call.finalStatus).toBe(410);
    expect(h.sip.dials[0]!.cancelled).toBe(true);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'session-closed', endedBy: 'session-closed', answeredAt: null });
    await watch.stop();
  });

  it('the sweep finds a session closed without a message (or deleted) and hangs up its call', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'live-2' });
    const { source } = fakeSource(h);
    const watch = new CloseWatch(source, 'mb:session-closed', h.registry, pino({ level: 'silent' }), { sweepMs: 60_000, timeoutMs: 500 });
    await connectedCall(h);
    await watch.sweep();
    expect(h.registry.size).toBe(1); // still open: nothing happens
    h.sessions.sessions.delete('live-2');
    await watch.sweep();
    await soon(() => h.cdr.records.length === 1);
    expect(h.cdr.records[0]).toMatchObject({ endedBy: 'session-closed' });
  });

  it('the sweep leaves calls alone when Redis cannot answer', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'live-3' });
    const source: CloseSource = { subscribe: async () => undefined, unsubscribe: async () => undefined, statuses: () => new Promise(() => undefined) };
    const watch = new CloseWatch(source, 'c', h.registry, pino({ level: 'silent' }), { sweepMs: 60_000, timeoutMs: 50 });
    await connectedCall(h);
    await watch.sweep();
    expect(h.registry.size).toBe(1);
  });
});

describe('sliding TTL', () => {
  it('an answered call of a sliding session refreshes it once, after the call; a plain session is not touched', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'slide', ttlSec: 600 });
    const { call } = await connectedCall(h);
    expect(h.sessions.touches).toEqual([]); // nothing before or during the call
    call.leg!.remoteHangup();
    await soon(() => h.cdr.records.length === 1);
    await settle();
    expect(h.sessions.touches).toHaveLength(1);
    expect(h.sessions.touches[0]![0]).toBe('slide');
    const plain = createHarness();
    plain.sessions.add({ id: 'fixed' });
    const second = await connectedCall(plain);
    second.call.leg!.remoteHangup();
    await soon(() => plain.cdr.records.length === 1);
    expect(plain.sessions.touches).toEqual([]);
  });

  it('a refused call does not refresh it', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'slide-2', ttlSec: 600 });
    h.sip.invite(inviteFrom(A));
    await soon(() => h.sip.dials.length === 1);
    h.sip.dials[0]!.fail(486);
    await soon(() => h.cdr.records.length === 1);
    await settle();
    expect(h.sessions.touches).toEqual([]);
  });
});

describe('a session\'s own limits', () => {
  it('its ring timeout replaces calls.ringTimeoutSec, and its max duration shortens calls.maxDurationSec', async () => {
    const h = createHarness(); // config: ring 5 s, max 30 s
    h.sessions.add({ id: 'quick', ringTimeoutSec: 1, maxDurationSec: 1 });
    const ringing = h.sip.invite(inviteFrom(A));
    await soon(() => h.sip.dials.length === 1);
    h.sip.dials[0]!.progress(180);
    await until(() => h.cdr.records.length === 1, 4000, 0);
    expect(ringing.finalStatus).toBe(480);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'no-answer' });

    const t0 = Date.now();
    const call = h.sip.invite(inviteFrom(A));
    await soon(() => h.sip.dials.length === 2);
    h.sip.dials[1]!.answer();
    await soon(() => call.leg !== null);
    await until(() => h.cdr.records.length === 2, 4000, 0);
    expect(h.cdr.records[1]).toMatchObject({ endedBy: 'max-duration' });
    expect(Date.now() - t0).toBeLessThan(2500);
  });
});

describe('the live-call registry', () => {
  it('records a call when it connects and drops it when it ends; an operator hang-up ends it with ended_by operator', async () => {
    const events: string[] = [];
    const h = createHarness();
    // The harness builds its own deps: give the registry sink through the handler's deps object.
    h.sessions.add({ id: 'op' });
    const sink: LiveCallSink = { connected: (c) => void events.push(`up ${c.sessionId}`), ended: () => void events.push('down') };
    h.setLiveCalls(sink);
    const { call } = await connectedCall(h);
    expect(events).toEqual(['up op']);
    const [callId] = h.registry.callIds();
    expect(h.registry.hangup('f'.repeat(32))).toBe(false);
    expect(h.registry.hangup(callId as string)).toBe(true);
    await soon(() => h.cdr.records.length === 1);
    expect(call.leg!.hangups).toBe(1);
    expect(h.cdr.records[0]).toMatchObject({ endedBy: 'operator', disposition: 'answered' });
    expect(events).toEqual(['up op', 'down']);
  });

  it('a call is in the registry from its B-leg INVITE on (answeredAt empty, the dialog a 200 would make), and leaves it when it fails', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'dialing' });
    const told: string[] = [];
    let lost: Parameters<LiveCallSink['connected']>[1];
    h.setLiveCalls({ connected: (c, l) => { told.push(`up ${c.answeredAt === '' ? 'dialing' : 'answered'}`); lost = l; }, ended: () => void told.push('down') });
    h.sip.invite(inviteFrom(A));
    await soon(() => h.sip.dials.length === 1);
    h.sip.dials[0]!.sent('b-1@127.0.0.1;from-tag=t1', 'txn-b-1');
    expect(told).toEqual(['up dialing']);
    // The two INVITE transactions too: a survivor can CANCEL the callee's and answer the caller's.
    expect(lost).toMatchObject({ dialogs: ['b-1@127.0.0.1;from-tag=t1'], cdrId: expect.any(String), setup: { caller: 'txn-a-1', callee: 'txn-b-1' } });
    h.sip.dials[0]!.fail(486);
    await soon(() => h.cdr.records.length === 1);
    expect(told).toEqual(['up dialing', 'down']);
    expect(h.cdr.records[0]!.id).toBe(lost!.cdrId);
  });

  it('a connected call tells the registry its two dialogs, for a survivor to BYE if this instance dies', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'lost' });
    const told: Array<Parameters<LiveCallSink['connected']>> = [];
    h.setLiveCalls({ connected: (...args) => void told.push(args), ended: () => undefined });
    const { call } = await connectedCall(h);
    expect(told).toHaveLength(1);
    const [, lost] = told[0]!;
    expect(lost).toEqual({ dialogs: [call.leg!.dialogId, h.sip.dials[0]!.leg!.dialogId], media: 'none', slidingTtl: false, cdrId: expect.any(String), events: expect.any(Object) });
    // And where its webhook events go, so a survivor's call.completed reaches the same receiver.
    expect(lost!.events).toEqual({ url: '', parties: { a: expect.stringMatching(/^\+91/), b: expect.stringMatching(/^\+91/) } });
    // The entry carries the id the call's own CDR gets: a survivor's CDR for it is the same record.
    call.leg!.remoteHangup();
    await soon(() => h.cdr.records.length === 1);
    expect(h.cdr.records[0]!.id).toBe(lost!.cdrId);
  });
});
