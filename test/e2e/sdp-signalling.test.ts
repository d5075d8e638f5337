/**
 * End to end, signalling only: what the callee gets of the caller's offer. A SIP-I body (SDP +
 * ISUP) reaches it as the SDP alone, an ISUP-only body is refused, the SDP is rebuilt from an
 * allowlist, a delayed offer (INVITE without SDP) connects with media both ways; and, to document
 * media.mode=none honestly, a phone's RTCP reaches the other party untouched.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { A, B, Bed, V, occurrences } from './support/bed.js';
import { isupIam, isupOnly, ISUP_BOUNDARY, sdpWithIsup } from './support/isup.js';
import { findNumber, isupBcd } from './support/number-forms.js';
import { CALLEE_HZ, CALLER_HZ, lastSecondShare, phoneCall } from './support/phone-call.js';
import { rtcpCompound } from './support/rtp.js';
import { trunkOfferSdp } from './support/scenarios.js';
import { resolveDrachtio } from './support/servers.js';
import { finalStatus, loggedMessages, sippAvailable, type SippResult } from './support/sipp.js';
import { JUNK_SDP, SDES_A, SDES_B, sdpOf } from './support/offers.js';

const drachtio = resolveDrachtio();
const skipReason = sippAvailable() ?? (drachtio.ok ? null : drachtio.reason);
if (skipReason) console.warn(`[e2e] SDP (signalling) suite skipped: ${skipReason}`);

/** The first INVITE the callee's sipp received. */
const inviteAtCallee = (callee: SippResult) => {
  const m = loggedMessages(callee.messages).find((x) => x.direction === 'received' && x.text.startsWith('INVITE '));
  if (!m) throw new Error('the callee got no INVITE');
  return m.text;
};

describe.skipIf(skipReason !== null)(`SDP end to end, signalling only${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const bed = new Bed();

  beforeAll(() => bed.start(drachtio, null));
  afterAll(() => bed.stop());
  beforeEach(() => bed.flush());

  it('an INVITE with SDP and ISUP (multipart/mixed) reaches the callee as application/sdp with the SDP only', async () => {
    await bed.openSession();
    const body = sdpWithIsup(trunkOfferSdp({}), A, '8001234567');
    const r = await bed.call('sip-i', A, { outcome: 'answer', hangup: 'caller', body }, { outcome: 'answer', hangup: 'caller' });
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(r.callee!.code, r.callee!.stderr).toBe(0);
    // What the trunk sent holds the number as BCD and as text in the ISUP part (the checks below can see both).
    expect(r.caller.raw.includes(Buffer.from(isupIam(A, '8001234567'), 'latin1'))).toBe(true);
    expect(r.caller.raw.includes(isupBcd(A))).toBe(true);
    expect(findNumber(isupBcd(A), A)).toMatch(/^BCD/);
    const invite = inviteAtCallee(r.callee!);
    expect(invite).toMatch(new RegExp(`^From: <sip:\\${V}@`, 'm'));
    expect(invite).toMatch(/^Content-Type: application\/sdp\r?$/im);
    expect(invite).not.toMatch(/multipart|boundary|isup|Content-Disposition/i);
    expect(invite).not.toContain(ISUP_BOUNDARY);
    expect(sdpOf(invite)).toMatch(/^v=0/);
    expect(findNumber(r.callee!.raw, A)).toBeNull(); // every byte the callee got, in any form
    expect(occurrences(r.caller.messages, B)).toBe(0);
    expect(await bed.cdr()).toMatchObject({ disposition: 'answered', final_status: '200' });
  });

  it('an INVITE whose body is ISUP only (no SDP) is refused with 415 naming what is accepted, and nobody is called', async () => {
    await bed.openSession();
    const r = await bed.call('isup-only', A, { outcome: 'reject', status: 415, body: isupOnly(A, '8001234567') }, null);
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(finalStatus(r.caller.messages)).toBe(415);
    const refusal = loggedMessages(r.caller.messages).find((m) => m.text.startsWith('SIP/2.0 415'))!.text;
    expect(refusal).toMatch(/^Accept: .*application\/sdp/im);
    expect(await bed.cdr()).toMatchObject({ disposition: 'rejected-body', final_status: '415' });
  });

  it("the callee gets the caller's SDP rebuilt from an allowlist: no identity lines or attributes, codecs, port and direction kept", async () => {
    await bed.openSession();
    const r = await bed.call('allowlist', A, { outcome: 'answer', hangup: 'caller', media: { rtpPort: 41000, extraLines: JUNK_SDP } }, { outcome: 'answer', hangup: 'caller' });
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(r.callee!.code, r.callee!.stderr).toBe(0);
    const sent = sdpOf(loggedMessages(r.caller.messages).find((m) => m.text.startsWith('INVITE '))!.text);
    expect(findNumber(sent, A)).not.toBeNull();
    expect(sent).toMatch(/^a=X-orig:\+91 98123 41234/m); // the offer did carry them
    const got = sdpOf(inviteAtCallee(r.callee!));
    expect(got).not.toMatch(/^[iuepkz]=/m);
    expect(got).not.toMatch(/^a=(X-|ssrc|label|tool|msid)/im);
    expect(got).not.toMatch(/cname|carrier|Alice/i);
    expect(findNumber(got, A)).toBeNull();
    expect(findNumber(r.callee!.raw, A)).toBeNull();
    expect(got).toMatch(/^m=audio 41000 RTP\/AVP 0 101\r?$/m);
    expect(got).toMatch(/^a=rtpmap:0 PCMU\/8000\r?$/m);
    expect(got).toMatch(/^a=rtpmap:101 telephone-event\/8000\r?$/m);
    expect(got).toMatch(/^a=fmtp:101 0-15\r?$/m);
    expect(got).toMatch(/^a=sendrecv\r?$/m);
    expect(got).toMatch(/^a=ptime:20\r?$/m);
    expect(got).toMatch(/^c=IN IP4 127\.0\.0\.1\r?$/m);
    expect(await bed.cdr()).toMatchObject({ disposition: 'answered' });
  });

  it("a delayed offer (INVITE without SDP) connects: the callee's offer reaches the caller, its answer the callee, and media flows both ways", async () => {
    await bed.openSession();
    const call = await phoneCall(bed, 'delayed', A,
      { outcome: 'answer', hangup: 'caller', talkMs: 2500, body: 'none' },
      { outcome: 'answer', hangup: 'caller', delayedOffer: true });
    try {
      expect(call.caller.code, call.caller.stderr).toBe(0);
      expect(call.callee!.code, call.callee!.stderr).toBe(0);
      const invite = inviteAtCallee(call.callee!);
      expect(invite).toMatch(/^Content-Length: *0\r?$/m);
      expect(invite).not.toMatch(/^v=0/m);
      const ack = loggedMessages(call.callee!.messages).find((m) => m.direction === 'received' && m.text.startsWith('ACK '))!.text;
      expect(sdpOf(ack)).toMatch(new RegExp(`^m=audio ${call.a.port} `, 'm')); // the caller's answer, in our ACK
      expect(call.a.rtp.length).toBeGreaterThan(50);
      expect(call.b.rtp.length).toBeGreaterThan(50);
      expect(lastSecondShare(call.b, CALLER_HZ)).toBeGreaterThan(0.5);
      expect(lastSecondShare(call.a, CALLEE_HZ)).toBeGreaterThan(0.5);
      expect(findNumber(call.callee!.raw, A)).toBeNull();
      expect(occurrences(call.caller.messages, B)).toBe(0);
      expect(await bed.cdr()).toMatchObject({ disposition: 'answered', ended_by: 'caller' });
    } finally {
      call.a.close();
      call.b.close();
    }
  });

  it('media.mode=none: a phone whose RTCP CNAME is its SIP URI gives the other party its number (what signalling-only exposes)', async () => {
    await bed.openSession();
    expect(findNumber(rtcpCompound(1, 0, 0, SDES_A), A)).not.toBeNull(); // the phone does send it
    const call = await phoneCall(bed, 'rtcp-none', A,
      { outcome: 'answer', hangup: 'caller', talkMs: 2000 },
      { outcome: 'answer', hangup: 'caller' },
      { callerSdes: SDES_A, calleeSdes: SDES_B });
    try {
      expect(call.caller.code, call.caller.stderr).toBe(0);
      expect(call.callee!.code, call.callee!.stderr).toBe(0);
      // Signalling is clean: the SDPs only name the phones' addresses ...
      expect(findNumber(call.callee!.raw, A)).toBeNull();
      // ... but media goes straight between the phones, RTCP included, so each learns the other's number.
      expect(call.aSentTo.port).toBe(call.b.port);
      expect(call.b.rtcp.some((p) => findNumber(p.data, A) !== null)).toBe(true);
      expect(call.a.rtcp.some((p) => findNumber(p.data, B) !== null)).toBe(true);
    } finally {
      call.a.close();
      call.b.close();
    }
  });
});
