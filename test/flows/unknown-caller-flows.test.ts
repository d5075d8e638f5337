/** A caller with no session on V, where V is dedicated to one open session's unknown callers (unknown_caller). */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { A, B, GW, V, callIdHash, createHarness, inviteFrom, type Harness } from '../helpers/harness.js';
import { HookServer } from '../helpers/hook-server.js';
import { connectAnchored, mediaHarness, soon } from '../helpers/media-harness.js';
import { until } from '../helpers/until.js';

/** Someone who is no participant of any session on V (the customer on another phone). */
const C = '+919811112222';
const SECRET = 'hook-secret';
const oos = new HookServer();
const intercept = new HookServer();
beforeAll(async () => {
  await oos.start();
  await intercept.start();
  await fetch(oos.url('/warm-up'), { method: 'POST', body: '{}' }).then((r) => r.text());
});
afterAll(async () => {
  await oos.stop();
  await intercept.stop();
});
beforeEach(() => {
  oos.requests.length = 0;
  intercept.requests.length = 0;
  oos.answer({ action: 'none' });
  intercept.answer({ action: 'allow' });
});

const ended = (h: Harness, n = 1) => until(() => h.cdr.records.length >= n, 3000, 5);
const dialed = (h: Harness, n = 1) => until(() => h.sip.dials.length >= n, 3000, 5);
const digitsOf = (n: string) => n.slice(-9);

describe('connect-b / connect-a', () => {
  it('connect-b: calls B with V as the identity, never C\'s number; the CDR says an unknown caller was connected', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'order-u1', unknownCaller: 'connect-b' });
    const call = h.sip.invite({ ...inviteFrom(C), callId: 'u1@carrier' });
    await dialed(h);
    const req = h.sip.dials[0]!.req;
    expect(req.uri).toBe(`sip:${B}@${GW}`);
    expect(req.headers.From).toBe(`<sip:${V}@localhost>`);
    expect(req.headers['P-Asserted-Identity']).toBe(`<sip:${V}@localhost>`);
    expect(JSON.stringify(req)).not.toContain(digitsOf(C));
    h.sip.dials[0]!.progress(180);
    h.sip.dials[0]!.answer();
    await until(() => call.finalStatus === 200, 3000, 5);
    expect(h.sessions.rechecks).toBe(1);
    call.leg!.remoteHangup();
    await ended(h);
    expect(h.cdr.records[0]).toMatchObject({
      sessionId: 'order-u1', virtualNumber: V, direction: 'unknown->b', disposition: 'unknown-caller-connected', finalStatus: 200, endedBy: 'caller',
      callId: callIdHash('u1@carrier'),
    });
    // Log lines name the session and the treatment; numbers only masked.
    const lines = h.logs.filter((l) => l.callId === callIdHash('u1@carrier'));
    expect(lines.find((l) => l.msg === 'caller has no session; V is dedicated to a session\'s unknown callers')).toMatchObject({ dedicatedSession: 'order-u1', treatment: 'connect-b' });
    expect(lines.find((l) => l.msg === 'call finished')).toMatchObject({ disposition: 'unknown-caller-connected', direction: 'unknown->b' });
    expect(JSON.stringify(h.logs)).not.toContain(digitsOf(C));
    expect(JSON.stringify(h.logs)).not.toContain(digitsOf(B));
  });

  it('connect-a: calls A', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'order-u2', unknownCaller: 'connect-a' });
    const call = h.sip.invite(inviteFrom(C));
    await dialed(h);
    expect(h.sip.dials[0]!.req.uri).toBe(`sip:${A}@${GW}`);
    h.sip.dials[0]!.answer();
    await until(() => call.finalStatus === 200, 3000, 5);
    call.leg!.remoteHangup();
    await ended(h);
    expect(h.cdr.records[0]).toMatchObject({ sessionId: 'order-u2', direction: 'unknown->a', disposition: 'unknown-caller-connected' });
  });

  it('a busy participant: the CDR is busy, the direction still says unknown caller', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'order-u3', unknownCaller: 'connect-b' });
    const call = h.sip.invite(inviteFrom(C));
    await dialed(h);
    h.sip.dials[0]!.fail(486);
    await ended(h);
    expect(call.finalStatus).toBe(486);
    expect(h.cdr.records[0]).toMatchObject({ sessionId: 'order-u3', direction: 'unknown->b', disposition: 'busy' });
  });

  it('the participants themselves still call each other as before', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'order-u4', unknownCaller: 'connect-b' });
    const call = h.sip.invite(inviteFrom(B));
    await dialed(h);
    expect(h.sip.dials[0]!.req.uri).toBe(`sip:${A}@${GW}`);
    h.sip.dials[0]!.answer();
    await until(() => call.finalStatus === 200, 3000, 5);
    call.leg!.remoteHangup();
    await ended(h);
    expect(h.cdr.records[0]).toMatchObject({ direction: 'b->a', disposition: 'answered' });
  });

  it('closing the session hangs up the connected unknown caller (the live-call registry, as pub/sub does)', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'order-u15', unknownCaller: 'connect-b' });
    const call = h.sip.invite(inviteFrom(C));
    await dialed(h);
    const legB = h.sip.dials[0]!.answer();
    await until(() => call.leg !== null, 3000, 5);
    expect(h.registry.sessionClosed('order-u15')).toBe(1);
    await ended(h);
    expect(call.leg!.hangups).toBe(1);
    expect(legB.hangups).toBe(1);
    expect(h.cdr.records[0]).toMatchObject({ sessionId: 'order-u15', disposition: 'unknown-caller-connected', endedBy: 'session-closed' });
  });

  it('a session closed while the participant rang never connects (the re-check at answer)', async () => {
    const h = createHarness();
    const s = h.sessions.add({ id: 'order-u5', unknownCaller: 'connect-b' });
    const call = h.sip.invite(inviteFrom(C));
    await dialed(h);
    s.status = 'closed';
    h.sip.dials[0]!.answer();
    await ended(h);
    expect(call.finalStatus).toBe(410);
    expect(h.cdr.records[0]).toMatchObject({ sessionId: 'order-u5', disposition: 'session-closed' });
  });

  it.each([
    ['closed', { status: 'closed' as const }],
    ['expired', { expiresAt: Date.now() - 1 }],
  ])('a %s dedicated session never connects: the global treatment', async (_what, state) => {
    const h = createHarness();
    h.sessions.add({ id: 'order-u6', unknownCaller: 'connect-b', ...state });
    const call = h.sip.invite(inviteFrom(C));
    await ended(h);
    expect(call.finalStatus).toBe(404);
    expect(h.sip.dials).toHaveLength(0);
    expect(h.cdr.records[0]).toMatchObject({ sessionId: '', disposition: 'unknown-caller' });
  });

  it('events carry the session, its URL and the caller apart; the intercept hook is told the caller is unknown', async () => {
    const h = createHarness({ hooks: { secret: SECRET, intercept: { url: intercept.url('/intercept') } } });
    h.sessions.add({ id: 'order-u7', unknownCaller: 'connect-b', webhookUrl: 'https://backend.example/hooks' });
    const call = h.sip.invite({ ...inviteFrom(C), callId: 'u7@carrier' });
    await dialed(h);
    expect(intercept.requests[0]!.json).toMatchObject({ session_id: 'order-u7', direction: 'a->b', from: 'unknown', caller: C, callee: B });
    h.sip.dials[0]!.answer();
    await until(() => call.finalStatus === 200, 3000, 5);
    call.leg!.remoteHangup();
    await ended(h);
    expect(h.events.types()).toEqual(['call.initiated', 'call.answered', 'call.completed']);
    for (const e of h.events.events) {
      expect(e).toMatchObject({ sessionId: 'order-u7', url: 'https://backend.example/hooks', parties: { a: A, b: B, caller: C } });
    }
    expect(h.events.events[0]!.data).toMatchObject({ direction: 'unknown->b' });
    expect(h.events.events[2]!.data).toMatchObject({ cdr: { direction: 'unknown->b', disposition: 'unknown-caller-connected' } });
  });
});

describe('anchored on a media server', () => {
  it.each([
    ['connect-b', 'whisper-b.wav', 'whisper-a.wav'],
    ['connect-a', 'whisper-a.wav', 'whisper-b.wav'],
  ])('%s: the called participant hears their whisper (%s), and the call is recorded as the session says', async (treatment, heard, notHeard) => {
    const h = mediaHarness();
    h.sessions.add({ id: 'order-u14', record: true, unknownCaller: treatment, whisperA: 'whisper-a.wav', whisperB: 'whisper-b.wav' });
    const { call } = await connectAnchored(h, C);
    expect(h.fs.ops).toContain(`play:${heard} ep2`);
    expect(h.fs.ops.some((o) => o.startsWith(`play:${notHeard}`))).toBe(false);
    expect(h.fs.ops.some((o) => o.startsWith('record-start'))).toBe(true);
    call.leg!.remoteHangup();
    await soon(() => h.cdr.records.length === 1);
    expect(h.cdr.records[0]).toMatchObject({ sessionId: 'order-u14', disposition: 'unknown-caller-connected', media: 'anchored' });
  });
});

describe('announce:{file}', () => {
  it('plays the session\'s own prompt as early media, then the unknown-caller rejection', async () => {
    const h = mediaHarness({ overrides: { media: { mode: 'anchor' }, calls: { unknownCaller: { announcement: 'global.wav' } } } });
    h.sessions.add({ id: 'order-u8', unknownCaller: 'announce:order-delivered.wav' });
    const call = h.sip.invite(inviteFrom(C));
    await soon(() => h.cdr.records.length === 1);
    expect(call.responses.map((r) => r.status)).toEqual([183, 404]);
    expect(h.fs.ops).toContain('play:order-delivered.wav ep1');
    expect(h.fs.ops).not.toContain('play:global.wav ep1');
    expect(h.sip.dials).toHaveLength(0);
    expect(h.cdr.records[0]).toMatchObject({ sessionId: 'order-u8', disposition: 'unknown-caller', direction: '' });
    expect(h.fs.allReleasedOnce).toBe(true);
  });

  it('B on a one-way session hears the session\'s prompt', async () => {
    const h = mediaHarness({ overrides: { media: { mode: 'anchor' }, calls: { unknownCaller: { announcement: 'global.wav' } } } });
    h.sessions.add({ id: 'order-u9', direction: 'a-to-b', unknownCaller: 'announce:order-delivered.wav' });
    const call = h.sip.invite(inviteFrom(B));
    await soon(() => h.cdr.records.length === 1);
    expect(call.responses.map((r) => r.status)).toEqual([183, 404]);
    expect(h.fs.ops).toContain('play:order-delivered.wav ep1');
    expect(h.cdr.records[0]).toMatchObject({ sessionId: 'order-u9', disposition: 'one-way-refused' });
  });

  it('B on a one-way session with connect-a gets the configured treatment, and A is never called', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'order-u10', direction: 'a-to-b', unknownCaller: 'connect-a' });
    const call = h.sip.invite(inviteFrom(B));
    await ended(h);
    expect(call.finalStatus).toBe(404);
    expect(h.sip.dials).toHaveLength(0);
    expect(h.cdr.records[0]).toMatchObject({ sessionId: 'order-u10', disposition: 'one-way-refused' });
  });

  it('comes before the PIN prompt: a caller on a dedicated V is not asked for a PIN', async () => {
    const h = mediaHarness({ media: { pin: { enabled: true, prompt: 'enter-pin.wav', maxDigits: 6, timeoutMs: 5000, tries: 3 } } });
    h.sessions.add({ id: 'order-u11', unknownCaller: 'announce:order-delivered.wav' });
    const call = h.sip.invite(inviteFrom(C));
    await soon(() => h.cdr.records.length === 1);
    expect(call.finalStatus).toBe(404);
    expect(h.fs.ops.filter((o) => o.startsWith('collect:'))).toHaveLength(0);
    expect(h.fs.ops).toContain('play:order-delivered.wav ep1');
  });
});

describe('with the out-of-session hook', () => {
  const withHook = () => createHarness({ hooks: { secret: SECRET, outOfSession: { url: oos.url('/out-of-session') } } });

  it('V dedicated to a session: its treatment, and the hook is not asked', async () => {
    const h = withHook();
    oos.answer({ action: 'route', to: '+919833334444' });
    h.sessions.add({ id: 'order-u12', unknownCaller: 'connect-b' });
    h.sip.invite(inviteFrom(C));
    await dialed(h);
    expect(h.sip.dials[0]!.req.uri).toBe(`sip:${B}@${GW}`);
    expect(oos.requests).toHaveLength(0);
  });

  it('V dedicated to none (or to a closed session): the hook is asked', async () => {
    const h = withHook();
    oos.answer({ action: 'route', to: '+919833334444' });
    h.sessions.add({ id: 'order-u13', unknownCaller: 'connect-b', status: 'closed' });
    h.sip.invite(inviteFrom(C));
    await dialed(h);
    expect(oos.requests).toHaveLength(1);
    expect(h.sip.dials[0]!.req.uri).toBe('sip:+919833334444@' + GW);
  });
});
