/** An INVITE without SDP (a delayed offer): the offer goes to the caller in our 200, its answer comes back in the ACK. */
import { describe, expect, it } from 'vitest';
import { A, B, SDP_A, createHarness, inviteFrom } from '../helpers/harness.js';
import { mediaHarness, soon } from '../helpers/media-harness.js';

const CALLEE_OFFER = 'v=0\r\no=bob-919876549876 7 7 IN IP4 127.0.0.9\r\ns=Bob\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n';

describe('a delayed offer, signalling only', () => {
  it("offers the callee's SDP to the caller, and passes the caller's answer from its ACK to the callee's ACK, both scrubbed", async () => {
    const h = createHarness();
    h.sessions.add({ id: 'd1' });
    const call = h.sip.invite(inviteFrom(A, { sdp: '' }));
    call.ackSdp = SDP_A;
    await soon(() => h.sip.dials.length === 1);
    expect(h.sip.dials[0]!.req.sdp).toBe('');
    const legB = h.sip.dials[0]!.answer(CALLEE_OFFER);
    await soon(() => legB.ackedWith !== null);
    const offer = call.responses.find((r) => r.status === 200)!.sdp!;
    expect(offer).toContain('m=audio 6000 RTP/AVP 0 8');
    expect(offer).not.toContain(B.slice(-9));
    expect(legB.ackedWith).toContain('m=audio 4000');
    expect(legB.ackedWith).toContain('c=IN IP4 127.0.0.5');
    expect(legB.ackedWith).not.toContain(A.slice(-9));
    call.leg!.remoteHangup();
    await soon(() => h.cdr.records.length === 1);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'answered', endedBy: 'caller' });
  });

  it('ends the call when the caller ACKs without an answer', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'd2' });
    const call = h.sip.invite(inviteFrom(A, { sdp: '' }));
    await soon(() => h.sip.dials.length === 1);
    const legB = h.sip.dials[0]!.answer(CALLEE_OFFER);
    await soon(() => h.cdr.records.length === 1);
    expect(call.leg!.hangups).toBe(1);
    expect(legB.hangups).toBe(1);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'failed', finalStatus: 200 });
  });
});

describe('a delayed offer, anchored', () => {
  it("offers the caller's own channel's SDP in the 200 and gives that channel the answer from the ACK", async () => {
    const h = mediaHarness();
    h.sessions.add({ id: 'd3', record: false });
    const call = h.sip.invite(inviteFrom(A, { sdp: '' }));
    call.ackSdp = SDP_A;
    await soon(() => h.sip.dials.length === 1);
    h.sip.dials[0]!.progress(180);
    h.sip.dials[0]!.answer();
    await soon(() => h.fs.ops.some((o) => o.startsWith('bridge:')));
    const [epA] = h.fs.endpoints;
    expect(h.fs.ops).toContain('create ep1 offering');
    expect(call.responses.map((r) => r.status)).toEqual([180, 200]);
    expect(call.responses[1]!.sdp).toContain(/^m=.*$/m.exec(epA!.localSdp)![0]);
    expect(epA!.modifies).toHaveLength(1);
    expect(epA!.modifies[0]).toContain('m=audio 4000');
    expect(h.fs.ops.some((o) => o.startsWith('loop:'))).toBe(false);
  });
});
