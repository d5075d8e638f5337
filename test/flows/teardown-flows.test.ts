/** Teardown when the media server stalls, drops a channel, or the call ends while the caller's 200 is on its way. */
import { describe, expect, it } from 'vitest';
import { V, inviteFrom } from '../helpers/harness.js';
import { connectAnchored, mediaHarness, soon } from '../helpers/media-harness.js';

const within = (ms: number, cond: () => boolean) => import('../helpers/until.js').then(({ until }) => until(cond, ms, 5));

describe('a media server that stops answering', () => {
  it('cannot keep a hung-up call from ending: the CDR is written and the call is counted off', async () => {
    const h = mediaHarness();
    h.sessions.add({ id: 't1', record: true });
    const { call, legB } = await connectAnchored(h);
    h.fs.stalled = true;
    call.leg!.remoteHangup();
    await within(2000, () => h.cdr.records.length === 1);
    expect(h.cdr.records[0]).toMatchObject({ sessionId: 't1', disposition: 'answered', endedBy: 'caller' });
    expect(legB.hangups).toBe(1);
    expect(h.registry.size).toBe(0);
    expect((await h.metrics.activeCalls.get()).values[0]!.value).toBe(0);
    expect(h.logs.some((l) => String(l.msg).startsWith('media server did not answer in time'))).toBe(true);
  });

  it('cannot hold shutdown past the drain time plus its deadline', async () => {
    const h = mediaHarness();
    h.sessions.add({ id: 't2', record: false });
    await connectAnchored(h);
    h.fs.stalled = true;
    const t0 = Date.now();
    await h.registry.drain(100);
    expect(Date.now() - t0).toBeLessThan(100 + 2 * 300 + 500);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'answered', endedBy: 'shutdown' });
  });
});

describe('a channel the media server drops mid-call', () => {
  it('ends the call completely: both parties get BYE, one CDR, nothing left counted live', async () => {
    const h = mediaHarness();
    // Commands on a dropped channel go unanswered, as drachtio-fsmrf's do once its event socket closed.
    h.fs.droppedChannelsHang = true;
    h.sessions.add({ id: 't3', record: true });
    const { call, legB } = await connectAnchored(h);
    h.fs.endpoints[0]!.drop();
    await within(2000, () => h.cdr.records.length === 1);
    expect(call.leg!.hangups).toBe(1);
    expect(legB.hangups).toBe(1);
    expect(h.cdr.records[0]).toMatchObject({ sessionId: 't3', disposition: 'answered', endedBy: 'media-lost' });
    expect(h.fs.ops).not.toContain('record-stop ep1');
    expect(h.registry.size).toBe(0);
    // The log says why FreeSWITCH ended it (its Hangup-Cause), to find the cause of a drop under load.
    expect(h.logs.find((l) => l.msg === 'media server dropped a channel; ending the call')).toMatchObject({ cause: 'NORMAL_CLEARING' });
  });
});

describe('the PIN prompt while the caller is being answered', () => {
  function pinCall() {
    const h = mediaHarness({ media: { pin: { enabled: true, prompt: 'enter-pin.wav', maxDigits: 6, timeoutMs: 5000, tries: 3 } } });
    h.sessions.add({ id: 't4', record: false });
    h.sessions.pins.set(`${V}:424242`, { id: 't4', role: 'a' });
    const call = h.sip.invite({ ...inviteFrom('+919800000001'), callId: 'pin-answer' });
    call.holdAnswer = true;
    return { h, call };
  }

  it('hangs the caller up when the media channel drops, and the CDR says the caller got 200', async () => {
    const { h, call } = pinCall();
    await soon(() => call.responses.some((r) => r.status === 200));
    h.fs.endpoints[0]!.drop();
    call.completeAnswer();
    await soon(() => h.cdr.records.length === 1);
    expect(call.leg!.hangups).toBe(1);
    expect(h.cdr.records[0]).toMatchObject({ finalStatus: 200, disposition: 'media-unavailable' });
    expect(h.fs.allReleasedOnce).toBe(true);
  });

  it('hangs the caller up when shutdown comes', async () => {
    const { h, call } = pinCall();
    await soon(() => call.responses.some((r) => r.status === 200));
    const drained = h.registry.drain(0);
    await new Promise((r) => setTimeout(r, 10)); // the drain deadline passes while the ACK is awaited
    call.completeAnswer();
    await drained;
    expect(call.leg!.hangups).toBe(1);
    expect(h.cdr.records[0]).toMatchObject({ finalStatus: 200, disposition: 'shutting-down' });
  });
});
