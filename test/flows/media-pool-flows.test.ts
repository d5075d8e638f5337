/**
 * A pool of media servers, one of which fails a call's channels (it died or stalled just as the
 * call came): the call is set up on another healthy server instead of getting 503, both of its
 * channels on that one server; and a channel dropped by its server ends the call as media-lost.
 */
import { describe, expect, it } from 'vitest';
import { FakeMediaServer } from '../helpers/fake-media.js';
import { A, B, V, inviteFrom } from '../helpers/harness.js';
import { mediaHarness, soon } from '../helpers/media-harness.js';

function twoServers() {
  const fs1 = new FakeMediaServer('fs1');
  const fs2 = new FakeMediaServer('fs2');
  const h = mediaHarness({ servers: [fs1, fs2] });
  return { h, fs1, fs2 };
}

describe('a channel that cannot be created on the picked server', () => {
  it.each([
    ["the caller's", 1],
    ["the callee's", 2],
  ])('when %s fails, the call is set up on the next healthy server, both channels there, and connects', async (_which, n) => {
    const { h, fs1, fs2 } = twoServers();
    fs1.failCreate.add(n);
    h.sessions.add({ id: `p1-${n}`, record: false });
    const call = h.sip.invite(inviteFrom(A));
    await soon(() => h.sip.dials.length === 1);
    // fs1's channel that did get created is given back, once; the call's two are on fs2.
    expect(fs1.endpoints).toHaveLength(1);
    expect(fs1.allReleasedOnce).toBe(true);
    expect(fs2.endpoints).toHaveLength(2);
    expect(h.sip.dials[0]!.req.uri).toContain(B);
    const legB = h.sip.dials[0]!.answer();
    await soon(() => fs2.ops.some((o) => o.startsWith('bridge:')));
    expect(fs2.ops).toContain('bridge:ep2 ep1');
    expect(call.responses.map((r) => r.status)).toEqual([183, 200]);
    // A late drop of the channel given back on fs1 is no longer this call's concern.
    fs1.endpoints[0]!.drop();
    await new Promise((r) => setTimeout(r, 20));
    expect(h.cdr.records).toHaveLength(0);
    legB.remoteHangup();
    await soon(() => h.cdr.records.length === 1);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'answered', endedBy: 'callee', media: 'anchored' });
    expect(fs2.allReleasedOnce).toBe(true);
    expect(h.logs.find((l) => l.msg === 'media channel failed; trying another media server')).toMatchObject({ server: 'fs1', next: 'fs2' });
  });

  it('tries each healthy server once, then 503 media-unavailable with nothing held', async () => {
    const { h, fs1, fs2 } = twoServers();
    fs1.failCreate.add(1);
    fs2.failCreate.add(2);
    h.sessions.add({ id: 'p2', record: false });
    const call = h.sip.invite(inviteFrom(A));
    await soon(() => h.cdr.records.length === 1);
    await soon(() => [...fs1.endpoints, ...fs2.endpoints].every((e) => e.released === 1));
    expect(call.finalStatus).toBe(503);
    expect(h.sip.dials).toHaveLength(0);
    expect(fs1.ops.filter((o) => o.startsWith('create'))).toHaveLength(2);
    expect(fs2.ops.filter((o) => o.startsWith('create'))).toHaveLength(2);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'media-unavailable', finalStatus: 503 });
  });

  it('an unhealthy server is not tried', async () => {
    const { h, fs1, fs2 } = twoServers();
    fs1.failCreate.add(1);
    fs2.healthy = false;
    h.sessions.add({ id: 'p3', record: false });
    const call = h.sip.invite(inviteFrom(A));
    await soon(() => h.cdr.records.length === 1);
    expect(call.finalStatus).toBe(503);
    expect(fs2.ops).toHaveLength(0);
  });

  it("the PIN prompt's channel moves to the next server, and the callee's channel follows it there", async () => {
    const fs1 = new FakeMediaServer('fs1');
    const fs2 = new FakeMediaServer('fs2');
    const h = mediaHarness({ servers: [fs1, fs2], media: { pin: { enabled: true, prompt: 'enter-pin.wav', maxDigits: 6, timeoutMs: 5000, tries: 3 } } });
    fs1.failCreate.add(1);
    h.sessions.add({ id: 'p4', record: false });
    h.sessions.pins.set(`${V}:424242`, { id: 'p4', role: 'a' });
    fs2.digits = ['424242'];
    const call = h.sip.invite(inviteFrom('+919800000001'));
    await soon(() => h.sip.dials.length === 1);
    expect(fs1.endpoints).toHaveLength(0);
    expect(fs2.endpoints).toHaveLength(2);
    h.sip.dials[0]!.answer();
    await soon(() => fs2.ops.some((o) => o.startsWith('bridge:')));
    call.leg!.remoteHangup();
    await soon(() => h.cdr.records.length === 1);
    expect(h.cdr.records[0]).toMatchObject({ sessionId: 'p4', disposition: 'answered' });
    expect(fs2.allReleasedOnce).toBe(true);
  });
});

describe('a channel dropped by its media server', () => {
  it('while the callee rings: 503 to the caller, the callee cancelled, CDR ended_by media-lost', async () => {
    const { h, fs1 } = twoServers();
    h.sessions.add({ id: 'p5', record: false });
    const call = h.sip.invite(inviteFrom(A));
    await soon(() => h.sip.dials.length === 1);
    fs1.endpoints[0]!.drop();
    await soon(() => h.cdr.records.length === 1);
    expect(call.finalStatus).toBe(503);
    expect(h.sip.dials[0]!.cancelled).toBe(true);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'media-unavailable', endedBy: 'media-lost' });
  });

  it('as the callee answers (its SDP refused: the server died): 503 to the caller, BYE to the callee, CDR ended_by media-lost', async () => {
    const { h, fs1 } = twoServers();
    h.sessions.add({ id: 'p6', record: false });
    const call = h.sip.invite(inviteFrom(A));
    await soon(() => h.sip.dials.length === 1);
    fs1.failModify = true;
    const legB = h.sip.dials[0]!.answer();
    await soon(() => h.cdr.records.length === 1);
    expect(call.finalStatus).toBe(503);
    expect(legB.hangups).toBe(1);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'media-unavailable', endedBy: 'media-lost', finalStatus: 503 });
    await soon(() => fs1.allReleasedOnce);
  });
});
