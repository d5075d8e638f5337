/** Call flows through the fake SIP port: the whole call path except drachtio itself. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { A, B, GW, SDP_A, V, callIdHash, createHarness, inviteFrom, settle, type Harness } from '../helpers/harness.js';

afterEach(() => {
  vi.useRealTimers();
});

function numbersIn(value: unknown): string {
  return JSON.stringify(value);
}

describe('A calls V and B answers', () => {
  it('calls B through the gateway with V as the identity and connects both legs', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'order-1' });
    const call = h.sip.invite(inviteFrom(A));
    await settle();

    expect(h.sip.dials).toHaveLength(1);
    const dial = h.sip.dials[0]!;
    expect(dial.req.uri).toBe(`sip:${B}@${GW}`);
    expect(dial.req.headers.From).toBe(`<sip:${V}@localhost>`);
    expect(dial.req.headers['P-Asserted-Identity']).toBe(`<sip:${V}@localhost>`);
    expect(dial.req.headers.To).toBe(`<sip:${B}@${GW}>`);

    dial.progress(180);
    const legB = dial.answer();
    await settle();
    expect(call.responses.map((r) => r.status)).toEqual([180, 200]);
    expect(call.leg).not.toBeNull();
    expect(h.registry.size).toBe(1);

    call.leg!.remoteHangup();
    await settle();
    expect(legB.hangups).toBe(1);
    expect(h.registry.size).toBe(0);
    expect(h.cdr.records).toHaveLength(1);
    expect(h.cdr.records[0]).toMatchObject({
      sessionId: 'order-1', virtualNumber: V, direction: 'a->b', finalStatus: 200,
      disposition: 'answered', endedBy: 'caller', callId: callIdHash(call.info.callId),
    });
    expect(h.cdr.records[0]!.answeredAt).not.toBeNull();
  });

  it("never sends A's number to B: not in the request, its headers or its SDP", async () => {
    const h = createHarness();
    h.sessions.add({ id: 'order-2' });
    h.sip.invite(inviteFrom(A, {
      headers: {
        'P-Asserted-Identity': `<sip:${A}@carrier.example>`,
        'Remote-Party-ID': `<sip:${A}@carrier.example>;party=calling`,
        Diversion: `<sip:${A}@carrier.example>;reason=unconditional`,
        'X-Caller': A,
      },
    }));
    await settle();
    const req = h.sip.dials[0]!.req;
    const digits = A.slice(1);
    expect(numbersIn(req)).not.toContain(digits);
    expect(numbersIn(req)).not.toContain(digits.slice(-9));
    expect(Object.keys(req.headers).sort()).toEqual(['From', 'P-Asserted-Identity', 'To']);
  });

  it("never sends B's number back to A: not in 18x, 200 or their SDP", async () => {
    const h = createHarness();
    h.sessions.add({ id: 'order-3' });
    const call = h.sip.invite(inviteFrom(A));
    await settle();
    const bSdp = `v=0\r\no=${B} 5 5 IN IP4 127.0.0.9\r\ns=${B}\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\ni=${B}\r\n`;
    h.sip.dials[0]!.progress(183, bSdp);
    h.sip.dials[0]!.answer(bSdp);
    await settle();
    expect(call.responses.map((r) => r.status)).toEqual([183, 200]);
    expect(numbersIn(call.responses)).not.toContain(B.slice(1));
    expect(numbersIn(call.responses)).not.toContain(B.slice(-9));
  });

  it('hangs up A when B sends BYE', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'order-4' });
    const call = h.sip.invite(inviteFrom(A));
    await settle();
    const legB = h.sip.dials[0]!.answer();
    await settle();
    legB.remoteHangup();
    await settle();
    expect(call.leg!.hangups).toBe(1);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'answered', endedBy: 'callee' });
  });

  it('never asks to CANCEL the INVITE B answered when the call ends', async () => {
    const h = createHarness();
    await answeredThenCallerHangsUp(h, 'order-4c');
    expect(h.cdr.records).toHaveLength(1);
    expect(h.sip.dials[0]!.cancelRequests).toBe(0);
  });

  it('relays re-INVITEs (hold) between the legs with scrubbed SDP', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'order-5' });
    const call = h.sip.invite(inviteFrom(A));
    await settle();
    const legB = h.sip.dials[0]!.answer();
    legB.reinviteAnswer = `v=0\r\no=${B} 1 2 IN IP4 127.0.0.9\r\ns=x\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=recvonly\r\n`;
    await settle();
    const hold = `v=0\r\no=${A} 11 2 IN IP4 127.0.0.5\r\ns=y\r\nc=IN IP4 127.0.0.5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n`;
    const answer = await call.leg!.remoteReinvite(hold);
    expect(legB.reinvitesSent).toHaveLength(1);
    expect(legB.reinvitesSent[0]).toContain('a=sendonly');
    expect(legB.reinvitesSent[0]).not.toContain(A.slice(1));
    expect(answer).toContain('a=recvonly');
    expect(answer).not.toContain(B.slice(1));
  });

  it('refuses a mid-call offer with nothing usable once rebuilt (488) instead of relaying an empty one', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'order-5c' });
    const call = h.sip.invite(inviteFrom(A));
    await settle();
    const legB = h.sip.dials[0]!.answer();
    await settle();
    await expect(call.leg!.remoteReinvite('v=0\r\na=sendonly\r\n')).rejects.toMatchObject({ status: 488 });
    expect(legB.reinvitesSent).toHaveLength(0);
    expect(call.leg!.hangups).toBe(0);
  });

  it('logs a re-INVITE the other party refuses with the call and session ids, passes the refusal back, and keeps the call up', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'order-5b' });
    const call = h.sip.invite({ ...inviteFrom(A), callId: 'reinvite-refused@carrier' });
    await settle();
    const legB = h.sip.dials[0]!.answer();
    legB.reinviteRefusal = 488;
    await settle();
    await expect(call.leg!.remoteReinvite(SDP_A.replace('a=sendrecv', 'a=sendonly'))).rejects.toMatchObject({ status: 488 });
    expect(legB.reinvitesSent).toHaveLength(1);
    const line = h.logs.find((l) => l.msg === 'mid-call SDP offer failed; the call stays up');
    expect(line).toMatchObject({ level: 40, callId: callIdHash('reinvite-refused@carrier'), sessionId: 'order-5b', from: 'caller', status: 488 });
    expect(call.leg!.hangups).toBe(0);
    expect(legB.hangups).toBe(0);
    expect(h.cdr.records).toHaveLength(0);
  });
});

describe('B calls V', () => {
  it('reaches A, showing V', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'order-6' });
    h.sip.invite(inviteFrom(B));
    await settle();
    expect(h.sip.dials[0]!.req.uri).toBe(`sip:${A}@${GW}`);
    expect(h.sip.dials[0]!.req.headers.From).toBe(`<sip:${V}@localhost>`);
    h.sip.dials[0]!.fail(486);
    await settle();
    expect(h.cdr.records[0]).toMatchObject({ direction: 'b->a', sessionId: 'order-6' });
  });
});

describe('before answer', () => {
  it('CANCEL from A cancels B and A gets 487', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'order-7' });
    const call = h.sip.invite(inviteFrom(A));
    await settle();
    h.sip.dials[0]!.progress(180);
    call.cancel();
    await settle();
    expect(h.sip.dials[0]!.cancelled).toBe(true);
    expect(call.finalStatus).toBe(487);
    expect(h.cdr.records).toHaveLength(1);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'cancelled', finalStatus: 487 });
  });

  it('a CANCEL that arrives while the lookup is under way: 487, nobody is called, one CDR', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'order-5b' });
    const call = h.sip.invite(inviteFrom(A));
    call.cancel();
    await settle();
    expect(call.responses.map((r) => r.status)).toEqual([487]);
    expect(h.sip.dials).toHaveLength(0);
    expect(h.cdr.records).toHaveLength(1);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'cancelled' });
  });

  it('a callee that answers after the CANCEL is hung up at once', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'order-8' });
    const call = h.sip.invite(inviteFrom(A));
    await settle();
    const dial = h.sip.dials[0]!;
    // The 200 from B crosses our CANCEL on the wire.
    h.sip.holdCancels = true;
    call.cancel();
    expect(dial.cancelled).toBe(true);
    const legB = dial.answer();
    await settle();
    expect(legB.hangups).toBe(1);
    expect(h.cdr.records).toHaveLength(1);
  });

  it.each([
    [486, 486, 'busy'],
    [600, 486, 'busy'],
    [480, 480, 'no-answer'],
    [408, 480, 'no-answer'],
    [603, 603, 'busy'],
    [404, 404, 'failed'],
    [503, 503, 'failed'],
    [488, 502, 'failed'],
  ])('B answering %i gives A %i (%s)', async (bStatus, aStatus, disposition) => {
    const h = createHarness();
    h.sessions.add({ id: 'order-9' });
    const call = h.sip.invite(inviteFrom(A));
    await settle();
    h.sip.dials[0]!.fail(bStatus);
    await settle();
    expect(call.finalStatus).toBe(aStatus);
    expect(h.cdr.records[0]).toMatchObject({ finalStatus: aStatus, disposition });
  });

  it('ring timeout cancels B and gives A 480', async () => {
    vi.useFakeTimers();
    const h = createHarness({ calls: { ringTimeoutSec: 3 } });
    h.sessions.add({ id: 'order-10' });
    const call = h.sip.invite(inviteFrom(A));
    await vi.advanceTimersByTimeAsync(10);
    h.sip.dials[0]!.progress(180);
    await vi.advanceTimersByTimeAsync(2900);
    expect(call.finalStatus).toBeUndefined();
    await vi.advanceTimersByTimeAsync(200);
    expect(h.sip.dials[0]!.cancelled).toBe(true);
    expect(call.finalStatus).toBe(480);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'no-answer', finalStatus: 480 });
  });
});

describe('max call duration', () => {
  it('sends BYE to both legs when reached', async () => {
    vi.useFakeTimers();
    const h = createHarness({ calls: { maxDurationSec: 60 } });
    h.sessions.add({ id: 'order-11' });
    const call = h.sip.invite(inviteFrom(A));
    await vi.advanceTimersByTimeAsync(10);
    const legB = h.sip.dials[0]!.answer();
    await vi.advanceTimersByTimeAsync(59_000);
    expect(legB.hangups).toBe(0);
    await vi.advanceTimersByTimeAsync(1_100);
    expect(legB.hangups).toBe(1);
    expect(call.leg!.hangups).toBe(1);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'answered', endedBy: 'max-duration', durationSec: 60 });
  });
});

describe('no session to connect', () => {
  it('an unknown caller gets the configured treatment and nobody is called', async () => {
    const h = createHarness({ calls: { unknownCaller: { status: 403, reason: 'Not Allowed' } } });
    h.sessions.add({ id: 'order-12' });
    const call = h.sip.invite(inviteFrom('+919800000001'));
    await settle();
    expect(h.sip.dials).toHaveLength(0);
    expect(call.responses).toEqual([{ status: 403, reason: 'Not Allowed' }]);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'unknown-caller', finalStatus: 403, sessionId: '' });
  });

  it.each(['closed', 'expired'] as const)('a %s session never connects', async (how) => {
    const h = createHarness();
    h.sessions.add(how === 'closed' ? { id: 'order-13', status: 'closed' } : { id: 'order-13', expiresAt: Date.now() - 1 });
    const call = h.sip.invite(inviteFrom(A));
    await settle();
    expect(h.sip.dials).toHaveLength(0);
    expect(call.finalStatus).toBe(410);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'session-closed', sessionId: 'order-13' });
  });

  it('fails closed with 503 when the session store is down, and the next call works once it is back', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'order-14' });
    h.sessions.down = true;
    const call = h.sip.invite(inviteFrom(A));
    await settle();
    expect(call.finalStatus).toBe(503);
    expect(h.sip.dials).toHaveLength(0);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'store-unavailable' });
    expect(h.logs.some((l) => l.msg === 'session store unavailable; failing closed' && l.callId === callIdHash(call.info.callId))).toBe(true);

    h.sessions.down = false;
    h.sip.invite(inviteFrom(A));
    await settle();
    expect(h.sip.dials).toHaveLength(1);
  });
});

describe('trunk checks', () => {
  it('rejects an INVITE from outside the trunk ACL with 403, before any lookup, and writes no CDR', async () => {
    const h = createHarness();
    const call = h.sip.invite(inviteFrom(A, { source: '127.0.0.2' }));
    await settle();
    expect(call.finalStatus).toBe(403);
    expect(h.sessions.calls).toBe(0);
    expect(h.cdr.records).toHaveLength(0);
    expect(await h.metrics.sipRejectedSources.get()).toMatchObject({ values: [{ labels: { reason: 'acl' }, value: 1 }] });
  });

  it.each([
    ['a called number that is not a number', { requestUri: 'sip:support@127.0.0.1' }, 484],
    ['a caller number that is not a number', { headers: { From: '<sip:bob@carrier.example>;tag=1' } }, 400],
    ['an anonymous caller', { headers: { From: '"Anonymous" <sip:anonymous@anonymous.invalid>;tag=1' } }, 433],
  ])('answers %s with a clear 4xx', async (_what, patch, status) => {
    const h = createHarness();
    const base = inviteFrom(A);
    const call = h.sip.invite({ ...base, ...patch, headers: { ...base.headers, ...(patch as { headers?: Record<string, string> }).headers } });
    await settle();
    expect(call.finalStatus).toBe(status);
    expect(h.sessions.calls).toBe(0);
  });

  it('never acts on a number that only looks like E.164: +91 with too few digits gets 400 even with a session under it', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'order-15b', a: '+9112345' });
    const call = h.sip.invite(inviteFrom('+9112345'));
    await settle();
    expect(call.responses.map((r) => r.status)).toEqual([400]);
    expect(h.sip.dials).toHaveLength(0);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'rejected-number' });
  });

  it('looks a canonical caller up once, and a national-format caller once under its E.164 form', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'order-15c' });
    h.sip.invite(inviteFrom(A));
    await settle();
    expect(h.sessions.calls).toBe(1);
    h.sip.invite(inviteFrom(`0${A.slice(3)}`));
    await settle();
    expect(h.sessions.calls).toBe(2);
    expect(h.sip.dials).toHaveLength(2);
    expect(h.sip.dials[1]!.req.uri).toContain(B);
  });

  it('prefers P-Asserted-Identity from the trunk over From', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'order-15' });
    h.sip.invite(inviteFrom('+919800000001', { headers: { 'P-Asserted-Identity': `<sip:${A}@carrier.example>` } }));
    await settle();
    expect(h.sip.dials[0]!.req.uri).toBe(`sip:${B}@${GW}`);
  });

  it('reads V from To when configured', async () => {
    const h = createHarness({ numbers: { virtualNumberFrom: 'to' } });
    h.sessions.add({ id: 'order-16' });
    h.sip.invite({ ...inviteFrom(A), requestUri: 'sip:trunk-in@127.0.0.1' });
    await settle();
    expect(h.sip.dials).toHaveLength(1);
  });
});

describe('logging', () => {
  it('logs every line of a call with its Call-ID and, once known, its session id, with numbers masked', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'order-17' });
    const call = h.sip.invite(inviteFrom(A));
    await settle();
    h.sip.dials[0]!.fail(486);
    await settle();
    const lines = h.logs.filter((l) => l.callId === callIdHash(call.info.callId));
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.filter((l) => l.msg === 'calling the other party')[0]).toMatchObject({ sessionId: 'order-17', callee: '+91******9876' });
    expect(JSON.stringify(h.logs)).not.toContain(B.slice(1));
    expect(JSON.stringify(h.logs)).not.toContain(A.slice(1));
  });

  it("masks a number in the callee's failure reason (carriers may put one there)", async () => {
    const h = createHarness();
    h.sessions.add({ id: 'order-18' });
    h.sip.invite(inviteFrom(A));
    await settle();
    h.sip.dials[0]!.fail(486, `Busy ${B}`);
    await settle();
    expect(h.logs.some((l) => l.msg === 'other party did not answer')).toBe(true);
    expect(JSON.stringify(h.logs)).not.toContain(B.slice(1));
    expect(JSON.stringify(h.logs)).not.toContain(B.slice(-9));
  });

  it('logs an answered call at info level once, when it ends, with what its CDR says', async () => {
    const h = createHarness();
    const call = await answeredThenCallerHangsUp(h, 'order-17b');
    const info = h.logs.filter((l) => l.callId === callIdHash(call.info.callId) && (l.level as number) >= 30);
    expect(info).toHaveLength(1);
    expect(info[0]).toMatchObject({ msg: 'call finished', sessionId: 'order-17b', disposition: 'answered', status: 200, endedBy: 'caller', direction: 'a->b' });
  });

  it('logs numbers in full when redaction is off', async () => {
    const h = createHarness({ log: { redactNumbers: false } });
    h.sessions.add({ id: 'order-18' });
    h.sip.invite(inviteFrom(A));
    await settle();
    expect(h.logs.find((l) => l.msg === 'calling the other party')).toMatchObject({ callee: B });
  });
});

describe('graceful shutdown', () => {
  it('refuses new calls with 503 while draining and lets live calls finish', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'order-19' });
    const live = h.sip.invite(inviteFrom(A));
    await settle();
    const legB = h.sip.dials[0]!.answer();
    await settle();
    const drained = h.registry.drain(5_000);
    const late = h.sip.invite(inviteFrom(B));
    await settle();
    expect(late.finalStatus).toBe(503);
    expect(legB.hangups).toBe(0);
    live.leg!.remoteHangup();
    await drained;
    expect(h.registry.size).toBe(0);
    expect(h.cdr.records.map((c) => c.disposition).sort()).toEqual(['answered', 'shutting-down']);
  });

  it('ends calls still up when the drain time is over', async () => {
    vi.useFakeTimers();
    const h = createHarness();
    h.sessions.add({ id: 'order-20' });
    const live = h.sip.invite(inviteFrom(A));
    await vi.advanceTimersByTimeAsync(10);
    const legB = h.sip.dials[0]!.answer();
    await vi.advanceTimersByTimeAsync(10);
    const drained = h.registry.drain(2_000);
    await vi.advanceTimersByTimeAsync(2_100);
    await drained;
    expect(legB.hangups).toBe(1);
    expect(live.leg!.hangups).toBe(1);
    expect(h.cdr.records[0]).toMatchObject({ endedBy: 'shutdown' });
  });
});

describe('teardown runs once', () => {
  it('writes one CDR and releases each leg once when both sides hang up together', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'order-21' });
    const call = h.sip.invite(inviteFrom(A));
    await settle();
    const legB = h.sip.dials[0]!.answer();
    await settle();
    call.leg!.remoteHangup();
    legB.remoteHangup();
    await settle();
    expect(h.cdr.records).toHaveLength(1);
    expect(legB.hangups).toBe(1);
    expect(call.leg!.hangups).toBe(1);
    const active = await h.metrics.activeCalls.get();
    expect(active.values[0]?.value).toBe(0);
  });
});

/** A calls V (session `id`), B answers, A hangs up. */
async function answeredThenCallerHangsUp(h: Harness, id: string) {
  h.sessions.add({ id });
  const call = h.sip.invite(inviteFrom(A));
  await settle();
  h.sip.dials[0]!.answer();
  await settle();
  call.leg!.remoteHangup();
  await settle();
  return call;
}
