/**
 * End to end with media anchored on FreeSWITCH, media sent and received by test sockets that
 * stand in for the phones (support/phone-call.ts): nothing of the caller's RTCP reaches the
 * callee, an offer full of identity lines connects with media both ways, and so does a delayed
 * offer (INVITE without SDP).
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { A, B, Bed } from './support/bed.js';
import { channelCount, resolveFreeswitch } from './support/freeswitch.js';
import { findNumber } from './support/number-forms.js';
import { JUNK_SDP, SDES_A, SDES_B, sdpOf } from './support/offers.js';
import { CALLEE_HZ, CALLER_HZ, lastSecondShare, phoneCall, type PhoneCall } from './support/phone-call.js';
import { rtcpCompound } from './support/rtp.js';
import { resolveDrachtio } from './support/servers.js';
import { loggedMessages, sippAvailable } from './support/sipp.js';
import { until } from '../helpers/until.js';

const drachtio = resolveDrachtio();
const freeswitch = resolveFreeswitch();
const skipReason = sippAvailable()
  ?? (drachtio.ok ? null : drachtio.reason)
  ?? (freeswitch.ok ? null : freeswitch.reason);
if (skipReason) console.warn(`[e2e] SDP (anchored) suite skipped: ${skipReason}`);

/** Both phones heard each other: RTP arrived, and the last second of it is the other's tone. */
function expectTwoWayMedia(call: PhoneCall): void {
  expect(call.a.rtp.length).toBeGreaterThan(50);
  expect(call.b.rtp.length).toBeGreaterThan(50);
  expect(lastSecondShare(call.b, CALLER_HZ)).toBeGreaterThan(0.5);
  expect(lastSecondShare(call.a, CALLEE_HZ)).toBeGreaterThan(0.5);
  // Each phone sent to the media server, never to the other phone.
  expect(call.aSentTo.port).not.toBe(call.b.port);
  expect(call.bSentTo.port).not.toBe(call.a.port);
}

describe.skipIf(skipReason !== null)(`SDP and RTP end to end, anchored${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const bed = new Bed();
  const calls: PhoneCall[] = [];

  beforeAll(() => bed.start(drachtio, freeswitch, (b) => ({
    media: {
      mode: 'anchor',
      servers: [`${b.fs!.esl.host}:${b.fs!.esl.port}:${b.fs!.esl.secret}`],
      eslListenAddress: '127.0.0.1',
      recording: { enabledByDefault: false, dir: b.fs!.recordingsDir },
    },
  })), 120_000);
  afterAll(() => bed.stop());
  beforeEach(() => bed.flush());
  afterEach(async () => {
    for (const c of calls.splice(0)) {
      c.a.close();
      c.b.close();
    }
    await until(async () => (await channelCount(bed.fs!.esl)) === 0, 6000, 200);
  });

  const place = async (...args: Parameters<typeof phoneCall>) => {
    const call = await phoneCall(...args);
    calls.push(call);
    expect(call.caller.code, call.caller.stderr).toBe(0);
    expect(call.callee!.code, call.callee!.stderr).toBe(0);
    return call;
  };

  it("a softphone's RTCP SDES (CNAME = its SIP URI, NAME = its number) never reaches the other party; media flows", async () => {
    await bed.openSession({ record: false });
    expect(findNumber(rtcpCompound(1, 0, 0, SDES_A), A)).not.toBeNull(); // what the caller's phone sends does hold it
    const call = await place(bed, 'rtcp-anchored', A,
      { outcome: 'answer', hangup: 'caller', talkMs: 3000 },
      { outcome: 'answer', hangup: 'caller' },
      { callerSdes: SDES_A, calleeSdes: SDES_B });
    console.info(`[e2e] anchored RTCP: the callee received ${call.b.rtp.length} RTP and ${call.b.rtcp.length} RTCP packets, the caller ${call.a.rtp.length} and ${call.a.rtcp.length}`);
    expectTwoWayMedia(call);
    for (const p of call.b.all) expect(findNumber(p.data, A), `a packet from ${p.from.address}:${p.from.port}`).toBeNull();
    for (const p of call.a.all) expect(findNumber(p.data, B), `a packet from ${p.from.address}:${p.from.port}`).toBeNull();
    expect(findNumber(call.callee!.raw, A)).toBeNull();
    expect(findNumber(call.caller.raw, B)).toBeNull();
    expect(await bed.cdr()).toMatchObject({ disposition: 'answered', media: 'anchored' });
  });

  it('an offer full of identity lines and attributes (i=, u=, e=, p=, a=X-, a=ssrc cname) connects, with media both ways', async () => {
    await bed.openSession({ record: false });
    const call = await place(bed, 'allowlist-anchored', A,
      { outcome: 'answer', hangup: 'caller', talkMs: 2500, media: { extraLines: JUNK_SDP } },
      { outcome: 'answer', hangup: 'caller' });
    expectTwoWayMedia(call);
    const offered = sdpOf(loggedMessages(call.caller.messages).find((m) => m.text.startsWith('INVITE '))!.text);
    expect(offered).toMatch(/^a=X-orig:/m);
    expect(findNumber(call.callee!.raw, A)).toBeNull();
    expect(await bed.cdr()).toMatchObject({ disposition: 'answered', media: 'anchored' });
  });

  it("a delayed offer (INVITE without SDP) rings without early media, gets the caller's channel's offer in the 200, and media flows both ways", async () => {
    await bed.openSession({ record: false });
    const call = await place(bed, 'delayed-anchored', A,
      { outcome: 'answer', hangup: 'caller', talkMs: 2500, body: 'none' },
      { outcome: 'answer', hangup: 'caller' });
    expectTwoWayMedia(call);
    const log = loggedMessages(call.caller.messages);
    expect(log.some((m) => m.text.startsWith('SIP/2.0 183'))).toBe(false);
    const ok = log.find((m) => m.direction === 'received' && m.text.startsWith('SIP/2.0 200'))!.text;
    expect(sdpOf(ok)).toMatch(/^m=audio \d+ RTP\/AVP /m);
    // The callee was called with the media server's offer like any anchored call.
    const invite = loggedMessages(call.callee!.messages).find((m) => m.text.startsWith('INVITE '));
    expect(sdpOf(invite?.text ?? '')).toMatch(/^v=0/);
    expect(findNumber(call.callee!.raw, A)).toBeNull();
    expect(await bed.cdr()).toMatchObject({ disposition: 'answered', media: 'anchored' });
  });
});
