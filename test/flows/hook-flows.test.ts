/** The real-time hooks in call flows: the harness's fake SIP port, and a local HTTP server as the backend. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { verify } from '../../src/util/signature.js';
import { A, B, GW, V, callIdHash, createHarness, inviteFrom, type Harness } from '../helpers/harness.js';
import { HookServer } from '../helpers/hook-server.js';
import { mediaHarness, soon } from '../helpers/media-harness.js';
import { until } from '../helpers/until.js';

const SECRET = 'hook-secret';
/** Someone the out-of-session hook routes to, or creates a session with. */
const C = '+919811112222';
const intercept = new HookServer();
const oos = new HookServer();
beforeAll(async () => {
  await intercept.start();
  await oos.start();
  // Node loads its fetch implementation on first use: not inside a test's hook timeout.
  await fetch(intercept.url('/warm-up'), { method: 'POST', body: '{}' }).then((r) => r.text());
});
afterAll(async () => {
  await intercept.stop();
  await oos.stop();
});
beforeEach(() => {
  intercept.requests.length = 0;
  oos.requests.length = 0;
  intercept.answer({ action: 'allow' });
  oos.answer({ action: 'none' });
});

type Policy = 'open' | 'closed';
const withIntercept = (failPolicy: Policy = 'closed', timeoutMs = 1000) => createHarness({
  hooks: { secret: SECRET, intercept: { url: intercept.url('/intercept'), timeoutMs, failPolicy } },
});
const withOutOfSession = (failPolicy: Policy = 'open', timeoutMs = 1000) => createHarness({
  hooks: { secret: SECRET, outOfSession: { url: oos.url('/out-of-session'), timeoutMs, failPolicy } },
});

/** The call's end: its final status is out and its CDR written. */
const ended = (h: Harness, n = 1) => until(() => h.cdr.records.length >= n, 3000, 5);
const dialed = (h: Harness, n = 1) => until(() => h.sip.dials.length >= n, 3000, 5);

async function metric(h: Harness, name: string): Promise<Array<{ labels: Partial<Record<string, string | number>>; value: number; metricName?: string }>> {
  const m = h.metrics.registry.getSingleMetric(name);
  return m ? (await m.get()).values : [];
}

describe('intercept hook', () => {
  it('allow: calls B (V as the identity), having told the hook who calls whom on which session', async () => {
    const h = withIntercept();
    h.sessions.add({ id: 'order-i1', meta: '{"order":"o-1"}' });
    const call = h.sip.invite({ ...inviteFrom(A), callId: 'intercept-allow@carrier' });
    await dialed(h);
    expect(h.sip.dials[0]!.req.uri).toBe(`sip:${B}@${GW}`);
    expect(h.sip.dials[0]!.req.headers.From).toBe(`<sip:${V}@localhost>`);
    expect(intercept.requests).toHaveLength(1);
    const asked = intercept.requests[0]!;
    expect(asked.path).toBe('/intercept');
    expect(asked.json).toEqual({
      call_id: callIdHash('intercept-allow@carrier'), session_id: 'order-i1', virtual_number: V, direction: 'a->b', from: 'a', caller: A, callee: B, meta: { order: 'o-1' },
    });
    expect(verify(SECRET, asked.body, String(asked.headers['maskbridge-signature']), Math.floor(Date.now() / 1000))).toEqual({ ok: true });
    h.sip.dials[0]!.answer();
    await until(() => call.finalStatus === 200, 3000, 5);
    expect(call.responses.map((r) => r.status)).toEqual([200]);
    call.leg!.remoteHangup();
    await ended(h);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'answered', sessionId: 'order-i1' });
    expect(await metric(h, 'maskbridge_hook_outcomes_total')).toEqual([expect.objectContaining({ labels: { hook: 'intercept', outcome: 'allow' }, value: 1 })]);
    const count = (await metric(h, 'maskbridge_hook_seconds')).find((v) => v.metricName === 'maskbridge_hook_seconds_count');
    expect(count).toMatchObject({ labels: { hook: 'intercept' }, value: 1 });
  });

  it('tells the hook B calls A on a session, from b', async () => {
    const h = withIntercept();
    h.sessions.add({ id: 'order-i2' });
    h.sip.invite(inviteFrom(B));
    await dialed(h);
    expect(intercept.requests[0]!.json).toMatchObject({ session_id: 'order-i2', direction: 'b->a', from: 'b', caller: B, callee: A });
    expect(h.sip.dials[0]!.req.uri).toBe(`sip:${A}@${GW}`);
  });

  it.each<Policy>(['open', 'closed'])('deny (policy %s): the caller gets the hook\'s status, and no INVITE goes to B', async (policy) => {
    const h = withIntercept(policy);
    h.sessions.add({ id: 'order-i3' });
    intercept.answer({ action: 'deny', status: 603, reason: 'Declined By Backend' });
    const call = h.sip.invite(inviteFrom(A));
    await ended(h);
    expect(call.responses).toEqual([{ status: 603, reason: 'Declined By Backend' }]);
    expect(h.sip.dials).toHaveLength(0);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'hook-denied', finalStatus: 603, sessionId: 'order-i3' });
    expect(h.logs.find((l) => l.msg === 'intercept hook denied the call')).toMatchObject({ status: 603, outcome: 'deny', sessionId: 'order-i3' });
    expect(await metric(h, 'maskbridge_hook_outcomes_total')).toEqual([expect.objectContaining({ labels: { hook: 'intercept', outcome: 'deny' }, value: 1 })]);
  });

  it('timeout, fail-open: calls B once the timeout has passed', async () => {
    const h = withIntercept('open', 150);
    h.sessions.add({ id: 'order-i4' });
    intercept.answer({ action: 'deny' }, 2000);
    const t0 = Date.now();
    h.sip.invite(inviteFrom(A));
    await dialed(h);
    const waited = Date.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(140);
    expect(waited).toBeLessThan(1000);
    expect(h.sip.dials[0]!.req.uri).toBe(`sip:${B}@${GW}`);
    expect(h.logs.find((l) => l.msg === 'intercept hook failed; failing open: calling the other party')).toMatchObject({ level: 40, outcome: 'timeout' });
    expect(await metric(h, 'maskbridge_hook_outcomes_total')).toEqual([expect.objectContaining({ labels: { hook: 'intercept', outcome: 'timeout' }, value: 1 })]);
    const sum = (await metric(h, 'maskbridge_hook_seconds')).find((v) => v.metricName === 'maskbridge_hook_seconds_sum');
    expect(sum!.value).toBeGreaterThanOrEqual(0.14);
  });

  it('timeout, fail-closed: 503 with no INVITE to B', async () => {
    const h = withIntercept('closed', 150);
    h.sessions.add({ id: 'order-i5' });
    intercept.answer({ action: 'allow' }, 2000);
    const call = h.sip.invite(inviteFrom(A));
    await ended(h);
    expect(call.finalStatus).toBe(503);
    expect(h.sip.dials).toHaveLength(0);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'hook-failed', finalStatus: 503 });
    expect(h.logs.find((l) => l.msg === 'intercept hook failed; failing closed')).toMatchObject({ level: 40, outcome: 'timeout', status: 503 });
  });

  it.each<[Policy, number | null]>([['open', null], ['closed', 503]])('a malformed answer (policy %s): fails per the policy, never crashes', async (policy, status) => {
    const h = withIntercept(policy);
    h.sessions.add({ id: 'order-i6' });
    intercept.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"action": allow}');
    };
    const call = h.sip.invite(inviteFrom(A));
    if (status === null) {
      await dialed(h);
      expect(h.logs.find((l) => l.msg === 'intercept hook failed; failing open: calling the other party')).toMatchObject({ outcome: 'error', problem: 'response is not JSON' });
    } else {
      await ended(h);
      expect(call.finalStatus).toBe(status);
      expect(h.sip.dials).toHaveLength(0);
    }
  });

  it('a caller who cancels while the hook is asked: no INVITE to B', async () => {
    const h = withIntercept('open', 300);
    h.sessions.add({ id: 'order-i7' });
    intercept.answer({ action: 'allow' }, 100);
    const call = h.sip.invite(inviteFrom(A));
    await until(() => intercept.requests.length === 1, 3000, 5);
    call.cancel();
    await ended(h);
    await new Promise((r) => setTimeout(r, 150));
    expect(h.sip.dials).toHaveLength(0);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'cancelled', finalStatus: 487 });
  });

  it('is not asked for a call that would not be bridged (a closed session)', async () => {
    const h = withIntercept();
    h.sessions.add({ id: 'order-i8', status: 'closed' });
    const call = h.sip.invite(inviteFrom(A));
    await ended(h);
    expect(call.finalStatus).toBe(410);
    expect(intercept.requests).toHaveLength(0);
  });

  it('still re-checks the session when B answers: a session closed while B rang never connects', async () => {
    const h = withIntercept();
    const s = h.sessions.add({ id: 'order-i9' });
    const call = h.sip.invite(inviteFrom(A));
    await dialed(h);
    s.status = 'closed';
    h.sip.dials[0]!.answer();
    await ended(h);
    expect(call.finalStatus).toBe(410);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'session-closed' });
  });
});

describe('out-of-session hook', () => {
  it('create: the session is stored with the caller as A, and the call bridges to B with V as the identity', async () => {
    const h = withOutOfSession();
    oos.answer({ action: 'create', session: { id: 'oos-order-1', b: C, ttl_seconds: 600, meta: { order: 'o-9' } } });
    const call = h.sip.invite({ ...inviteFrom(A), callId: 'oos-create@carrier' });
    await dialed(h);
    const asked = oos.requests[0]!;
    expect(asked.path).toBe('/out-of-session');
    expect(asked.json).toEqual({ call_id: callIdHash('oos-create@carrier'), virtual_number: V, caller: A });
    expect(verify(SECRET, asked.body, String(asked.headers['maskbridge-signature']), Math.floor(Date.now() / 1000))).toEqual({ ok: true });
    expect(h.sessions.sessions.get('oos-order-1')).toMatchObject({ virtualNumber: V, a: A, b: C, status: 'open', meta: '{"order":"o-9"}' });
    const req = h.sip.dials[0]!.req;
    expect(req.uri).toBe(`sip:${C}@${GW}`);
    expect(req.headers.From).toBe(`<sip:${V}@localhost>`);
    expect(req.headers['P-Asserted-Identity']).toBe(`<sip:${V}@localhost>`);
    expect(JSON.stringify(req)).not.toContain(A.slice(1));
    h.sip.dials[0]!.answer();
    await until(() => call.finalStatus === 200, 3000, 5);
    expect(h.sessions.rechecks).toBe(1);
    call.leg!.remoteHangup();
    await ended(h);
    expect(h.cdr.records[0]).toMatchObject({ sessionId: 'oos-order-1', direction: 'a->b', disposition: 'answered' });
    expect(await metric(h, 'maskbridge_hook_outcomes_total')).toEqual([expect.objectContaining({ labels: { hook: 'out_of_session', outcome: 'create' }, value: 1 })]);
    const count = (await metric(h, 'maskbridge_hook_seconds')).find((v) => v.metricName === 'maskbridge_hook_seconds_count');
    expect(count).toMatchObject({ labels: { hook: 'out_of_session' }, value: 1 });
  });

  it('create refused by the store (mb_create never replaces a session): static treatment when open', async () => {
    const h = withOutOfSession('open');
    h.sessions.add({ id: 'taken', a: '+919800000001', b: '+919800000002' });
    oos.answer({ action: 'create', session: { id: 'taken', b: C, ttl_seconds: 600 } });
    const call = h.sip.invite(inviteFrom(A));
    await ended(h);
    expect(call.finalStatus).toBe(404);
    expect(h.sip.dials).toHaveLength(0);
    expect(h.sessions.sessions.get('taken')).toMatchObject({ a: '+919800000001' });
    expect(h.logs.find((l) => l.msg === 'out-of-session hook failed; failing open: static treatment')).toMatchObject({ outcome: 'error', problem: expect.stringContaining('already exists') });
  });

  it('route: bridges the caller to the number given, with V as the identity and no session', async () => {
    const h = withOutOfSession();
    oos.answer({ action: 'route', to: C });
    const call = h.sip.invite(inviteFrom(A));
    await dialed(h);
    const req = h.sip.dials[0]!.req;
    expect(req.uri).toBe(`sip:${C}@${GW}`);
    expect(req.headers.From).toBe(`<sip:${V}@localhost>`);
    expect(JSON.stringify(req)).not.toContain(A.slice(1));
    h.sip.dials[0]!.answer();
    await until(() => call.finalStatus === 200, 3000, 5);
    expect(h.sessions.rechecks).toBe(0);
    call.leg!.remoteHangup();
    await ended(h);
    expect(h.cdr.records[0]).toMatchObject({ sessionId: '', direction: 'a->b', disposition: 'answered', virtualNumber: V });
    expect(h.sessions.sessions.size).toBe(0);
  });

  it('route, then the intercept hook is asked too (no session) and may deny', async () => {
    const h = createHarness({
      hooks: { secret: SECRET, intercept: { url: intercept.url('/intercept') }, outOfSession: { url: oos.url('/out-of-session') } },
    });
    oos.answer({ action: 'route', to: C });
    intercept.answer({ action: 'deny', status: 403 });
    const call = h.sip.invite(inviteFrom(A));
    await ended(h);
    expect(intercept.requests[0]!.json).toMatchObject({ session_id: '', direction: 'a->b', from: 'a', caller: A, callee: C });
    expect(call.finalStatus).toBe(403);
    expect(h.sip.dials).toHaveLength(0);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'hook-denied', sessionId: '' });
  });

  it('none: the static treatment (404)', async () => {
    const h = withOutOfSession('closed');
    oos.answer({ action: 'none' });
    const call = h.sip.invite(inviteFrom(A));
    await ended(h);
    expect(call.responses).toEqual([{ status: 404, reason: 'No Active Session' }]);
    expect(h.sip.dials).toHaveLength(0);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'unknown-caller' });
    expect(await metric(h, 'maskbridge_hook_outcomes_total')).toEqual([expect.objectContaining({ labels: { hook: 'out_of_session', outcome: 'none' }, value: 1 })]);
  });

  it('timeout, fail-open: the static treatment (404) after the timeout', async () => {
    const h = withOutOfSession('open', 150);
    oos.answer({ action: 'route', to: C }, 2000);
    const t0 = Date.now();
    const call = h.sip.invite(inviteFrom(A));
    await ended(h);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(call.finalStatus).toBe(404);
    expect(h.sip.dials).toHaveLength(0);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'unknown-caller' });
  });

  it('timeout, fail-closed: 503 (hook-failed) with no INVITE', async () => {
    const h = withOutOfSession('closed', 150);
    oos.answer({ action: 'route', to: C }, 2000);
    const call = h.sip.invite(inviteFrom(A));
    await ended(h);
    expect(call.finalStatus).toBe(503);
    expect(h.sip.dials).toHaveLength(0);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'hook-failed', finalStatus: 503 });
    expect(h.logs.find((l) => l.msg === 'out-of-session hook failed; failing closed')).toMatchObject({ outcome: 'timeout', status: 503 });
  });

  it('a route to a number that is not E.164 is an error: per the policy, never a call', async () => {
    for (const [policy, status] of [['open', 404], ['closed', 503]] as const) {
      const h = withOutOfSession(policy);
      oos.answer({ action: 'route', to: 'sip:someone@elsewhere' });
      const call = h.sip.invite(inviteFrom(A));
      await ended(h);
      expect(call.finalStatus).toBe(status);
      expect(h.sip.dials).toHaveLength(0);
    }
  });

  it('is not asked for a caller who has a session, nor for a closed session', async () => {
    const h = withOutOfSession();
    h.sessions.add({ id: 'order-o1' });
    h.sessions.add({ id: 'order-o2', a: C, b: '+919800000003', status: 'closed' });
    h.sip.invite(inviteFrom(A));
    await dialed(h);
    const closed = h.sip.invite(inviteFrom(C));
    await until(() => closed.finalSent, 3000, 5);
    expect(closed.finalStatus).toBe(410);
    expect(oos.requests).toHaveLength(0);
  });

  it('logs the caller\'s number masked', async () => {
    const h = withOutOfSession();
    oos.answer({ action: 'route', to: C });
    h.sip.invite(inviteFrom(A));
    await dialed(h);
    const line = h.logs.find((l) => l.msg === 'out-of-session hook routed the call');
    expect(line).toMatchObject({ callee: '+91******2222' });
    expect(JSON.stringify(h.logs)).not.toContain(C.slice(1));
    expect(JSON.stringify(h.logs)).not.toContain(A.slice(1));
  });
});

describe('hooks with media anchored', () => {
  const anchored = (hooks: Record<string, unknown>, pin = false) => {
    const h = mediaHarness({
      ...(pin ? { media: { pin: { enabled: true, prompt: 'enter-pin.wav', maxDigits: 6, timeoutMs: 5000, tries: 1 } } } : {}),
      overrides: { media: { mode: 'anchor' }, hooks: { secret: SECRET, ...hooks } },
    });
    h.sessions.add({ id: 'm-hook', record: false });
    h.sessions.pins.set(`${V}:424242`, { id: 'm-hook', role: 'a' });
    return h;
  };

  it('a denied call takes no media channel: the hook is asked before one is requested', async () => {
    const h = anchored({ intercept: { url: intercept.url('/intercept') } });
    intercept.answer({ action: 'deny', status: 486 });
    const call = h.sip.invite(inviteFrom(A));
    await ended(h);
    expect(call.finalStatus).toBe(486);
    expect(h.fs.ops).toEqual([]);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'hook-denied' });
  });

  it('out-of-session none, with PIN entry on: the static treatment is the PIN prompt', async () => {
    const h = anchored({ outOfSession: { url: oos.url('/out-of-session') } }, true);
    h.fs.digits = ['424242'];
    h.sip.invite(inviteFrom('+919800000001'));
    await soon(() => h.sip.dials.length === 1);
    expect(oos.requests[0]!.json).toMatchObject({ caller: '+919800000001' });
    expect(h.fs.ops.filter((o) => o.startsWith('collect:enter-pin.wav'))).toHaveLength(1);
    expect(h.sip.dials[0]!.req.uri).toContain(B);
  });

  it('after a valid PIN the intercept hook is asked too; a deny hangs up the answered caller and releases the media', async () => {
    const h = anchored({ intercept: { url: intercept.url('/intercept') } }, true);
    intercept.answer({ action: 'deny' });
    h.fs.digits = ['424242'];
    const call = h.sip.invite(inviteFrom('+919800000001'));
    await ended(h);
    expect(intercept.requests[0]!.json).toMatchObject({ session_id: 'm-hook', caller: '+919800000001', callee: B, from: 'a' });
    expect(h.sip.dials).toHaveLength(0);
    expect(call.leg!.hangups).toBe(1);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'hook-denied', finalStatus: 200 });
    await soon(() => h.fs.allReleasedOnce);
  });
});
