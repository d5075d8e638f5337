/** Media-anchored call flows through fakes of the SIP and media ports. */
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { LiveCallSink } from '../../src/calls/live-calls.js';
import { FakeMediaServer } from '../helpers/fake-media.js';
import { A, B, V, callIdHash, inviteFrom } from '../helpers/harness.js';
import { connectAnchored, mediaHarness, soon, type MediaHarness } from '../helpers/media-harness.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('media-anchored bridge', () => {
  it("answers the caller from one channel and calls the callee from another, so neither sees the other's media", async () => {
    const h = mediaHarness();
    h.sessions.add({ id: 'm1', record: false });
    const { call, dial } = await connectAnchored(h);
    const [epA, epB] = h.fs.endpoints;
    expect(epA!.remoteSdp).toContain('127.0.0.5'); // A's SDP goes to the media server only
    expect(dial.req.sdp).toContain('127.0.0.50');
    expect(dial.req.sdp).not.toContain('127.0.0.5\r');
    expect(call.responses.map((r) => r.status)).toEqual([183, 200]);
    const mLine = /^m=.*$/m.exec(epA!.localSdp)![0];
    expect(call.responses[1]!.sdp).toContain(mLine);
    expect(call.responses[1]!.sdp).toContain('c=IN IP4 127.0.0.50');
    expect(epB!.modifies).toEqual([dial.leg!.remoteSdp]);
    expect(h.fs.ops).toContain('loop:tone_stream://ringback ep1');
    expect(h.fs.ops).toContain('bridge:ep2 ep1');
  });

  it('tells the live-call registry that a call is recorded (a survivor renames its file into place)', async () => {
    const h = mediaHarness();
    h.sessions.add({ id: 'm-lost-rec', record: true });
    const told: Array<Parameters<LiveCallSink['connected']>> = [];
    h.setLiveCalls({ connected: (...args) => void told.push(args), ended: () => undefined });
    await connectAnchored(h);
    expect(told[0]![1]).toMatchObject({ media: 'anchored', recorded: true });
  });

  it("tells the live-call registry the media server's dialogs too (a survivor ends them with the call)", async () => {
    const h = mediaHarness();
    h.sessions.add({ id: 'm-lost', record: false });
    const told: Array<Parameters<LiveCallSink['connected']>> = [];
    h.setLiveCalls({ connected: (...args) => void told.push(args), ended: () => undefined });
    const { call, legB } = await connectAnchored(h);
    expect(told[0]![1]).toEqual({ dialogs: [call.leg!.dialogId, legB.dialogId, 'fs-ep1;dialog', 'fs-ep2;dialog'], media: 'anchored', slidingTtl: false, cdrId: expect.any(String), events: expect.any(Object) });
  });

  it('relays a re-INVITE (hold) from either leg to its own media channel', async () => {
    const h = mediaHarness();
    h.sessions.add({ id: 'm2', record: false });
    const { call, legB } = await connectAnchored(h);
    const answer = await call.leg!.remoteReinvite('v=0\r\na=sendonly\r\n');
    expect(h.fs.endpoints[0]!.modifies).toContain('v=0\r\na=sendonly\r\n');
    expect(answer).toContain(/^m=.*$/m.exec(h.fs.endpoints[0]!.localSdp)![0]);
    await legB.remoteReinvite('v=0\r\na=sendonly\r\nB');
    expect(h.fs.endpoints[1]!.modifies).toContain('v=0\r\na=sendonly\r\nB');
  });
});

/** A recorded call whose Call-ID holds the caller's number (as some carriers do), answered and hung up by the caller. */
async function recordedCallWithNumberInCallId(h: MediaHarness, sessionId: string) {
  h.sessions.add({ id: sessionId, record: true });
  const call = h.sip.invite({ ...inviteFrom(A), callId: `${A.slice(1)}-${sessionId}@carrier.example` });
  await soon(() => h.sip.dials.length === 1);
  h.sip.dials[0]!.answer();
  await soon(() => h.fs.ops.some((o) => o.startsWith('bridge:')));
  call.leg!.remoteHangup();
  await soon(() => h.logs.some((l) => l.msg === 'call finished'));
}

describe('recording', () => {
  it('puts the keyed hash of a number-bearing Call-ID in the CDR, the recording file name and the logs, never the Call-ID', async () => {
    const h = mediaHarness();
    await recordedCallWithNumberInCallId(h, 'm3n');
    const hashed = callIdHash(`${A.slice(1)}-m3n@carrier.example`);
    expect(h.cdr.records[0]!.callId).toBe(hashed);
    expect(h.cdr.records[0]!.recording!.path).toMatch(new RegExp(`/m3n/${hashed}\\.wav$`));
    expect(JSON.stringify(h.cdr.records)).not.toContain(A.slice(-9));
    expect(h.logs.filter((l) => l.msg === 'call finished').map((l) => l.callId)).toEqual([hashed]);
    expect(h.logs.filter((l) => l.msg === 'recording saved' || l.msg === 'call finished')).toHaveLength(2);
    expect(JSON.stringify(h.logs)).not.toContain(A.slice(1));
    expect(JSON.stringify(h.logs)).not.toContain(A.slice(-9));
  });

  it('never logs the number in a Call-ID when the media server names the recording path in a refusal', async () => {
    const h = mediaHarness();
    h.fs.failRecording = true;
    await recordedCallWithNumberInCallId(h, 'm3f');
    expect(h.logs.some((l) => l.msg === 'recording failed to start; the call goes on unrecorded')).toBe(true);
    expect(JSON.stringify(h.logs)).not.toContain(A.slice(-9));
  });

  it('records when the session says so, and the CDR gets the path, duration and size of the finished file', async () => {
    const h = mediaHarness();
    h.fs.recordedSeconds = 2;
    h.sessions.add({ id: 'm3', record: true });
    const { call } = await connectAnchored(h);
    call.leg!.remoteHangup();
    await soon(() => h.cdr.records.length === 1);
    const rec = h.cdr.records[0]!.recording!;
    expect(rec.failed).toBe(false);
    expect(rec.path.startsWith(h.dir)).toBe(true);
    expect(rec.path).toMatch(/\/\d{4}\/\d{2}\/\d{2}\/m3\/[^/]+\.wav$/);
    expect(rec.path).not.toContain('.partial');
    expect(existsSync(rec.path)).toBe(true);
    expect(existsSync(rec.path.replace(/\.wav$/, '.partial.wav'))).toBe(false);
    expect(rec.durationSec).toBe(2);
    expect(rec.bytes).toBe(44 + 2 * 8000 * 4);
    expect(h.cdr.records[0]).toMatchObject({ media: 'anchored', disposition: 'answered' });
    expect(h.fs.ops.indexOf('record-stop ep1')).toBeLessThan(h.fs.ops.indexOf('release ep1'));
  });

  it('uses the configured default when the session does not say', async () => {
    const h = mediaHarness({ overrides: { media: { mode: 'anchor', recording: { enabledByDefault: false } } } });
    h.sessions.add({ id: 'm4' });
    const { call } = await connectAnchored(h);
    call.leg!.remoteHangup();
    await soon(() => h.cdr.records.length === 1);
    expect(h.cdr.records[0]!.recording).toBeNull();
    expect(h.fs.ops.some((o) => o.startsWith('record-start'))).toBe(false);
  });

  it('asks the media server for a writer thread only when media.recording.writerThread is set', async () => {
    for (const writerThread of [false, true]) {
      const h = mediaHarness({ media: { recordingWriterThread: writerThread } });
      h.sessions.add({ id: `m4w-${String(writerThread)}` });
      const { call } = await connectAnchored(h);
      call.leg!.remoteHangup();
      await soon(() => h.cdr.records.length === 1);
      expect(h.fs.ops.filter((o) => o.startsWith('record-start'))).toEqual([writerThread ? 'record-start:writer-thread ep1' : 'record-start ep1']);
    }
  });

  it('does not record a session with record=0', async () => {
    const h = mediaHarness();
    h.sessions.add({ id: 'm5', record: false });
    const { call } = await connectAnchored(h);
    call.leg!.remoteHangup();
    await soon(() => h.cdr.records.length === 1);
    expect(h.cdr.records[0]!.recording).toBeNull();
  });

  it('a recording that fails to start is logged and flagged, and the call still connects', async () => {
    const h = mediaHarness();
    h.fs.failRecording = true;
    h.sessions.add({ id: 'm6', record: true });
    const { call } = await connectAnchored(h);
    expect(h.fs.ops).toContain('bridge:ep2 ep1');
    call.leg!.remoteHangup();
    await soon(() => h.cdr.records.length === 1);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'answered', recording: { failed: true } });
    expect(h.logs.some((l) => l.msg === 'recording failed to start; the call goes on unrecorded')).toBe(true);
  });

  it('plays the consent announcement to both parties after recording starts and before they are bridged', async () => {
    const h = mediaHarness({ media: { consentAnnouncement: 'consent.wav' } });
    h.sessions.add({ id: 'm7', record: true });
    await connectAnchored(h);
    const at = (op: string) => h.fs.ops.indexOf(op);
    expect(at('record-start ep1')).toBeGreaterThanOrEqual(0);
    expect(at('record-start ep1')).toBeLessThan(at('play:consent.wav ep1'));
    expect(at('play:consent.wav ep2')).toBeGreaterThanOrEqual(0);
    expect(at('play:consent.wav ep1')).toBeLessThan(at('bridge:ep2 ep1'));
    expect(at('play:consent.wav ep2')).toBeLessThan(at('bridge:ep2 ep1'));
  });

  it('plays a session\'s own consent prompt instead of the configured one, and none for consent "none"', async () => {
    const h = mediaHarness({ media: { consentAnnouncement: 'consent.wav' } });
    h.sessions.add({ id: 'm7b', record: true, consent: 'brand-consent.wav' });
    await connectAnchored(h);
    expect(h.fs.ops).toContain('play:brand-consent.wav ep1');
    expect(h.fs.ops).toContain('play:brand-consent.wav ep2');
    expect(h.fs.ops.filter((o) => o.startsWith('play:consent.wav'))).toEqual([]);
    const quiet = mediaHarness({ media: { consentAnnouncement: 'consent.wav' } });
    quiet.sessions.add({ id: 'm7c', record: true, consent: 'none' });
    await connectAnchored(quiet);
    expect(quiet.fs.ops.filter((o) => o.startsWith('play:'))).toEqual([]);
  });

  it('plays the whisper to the callee only, before connecting', async () => {
    const h = mediaHarness();
    h.sessions.add({ id: 'm8', record: false, whisperB: 'order-for-driver.wav', whisperA: 'for-customer.wav' });
    await connectAnchored(h);
    expect(h.fs.ops).toContain('play:order-for-driver.wav ep2');
    expect(h.fs.ops).not.toContain('play:for-customer.wav ep1');
    expect(h.fs.ops.indexOf('play:order-for-driver.wav ep2')).toBeLessThan(h.fs.ops.indexOf('bridge:ep2 ep1'));
  });
});

describe('channel set-up', () => {
  it("asks for the callee's channel without waiting for the caller's", async () => {
    const h = mediaHarness();
    h.sessions.add({ id: 'm8a', record: false });
    await connectAnchored(h);
    expect(h.fs.ops.indexOf('create ep2 offering')).toBeLessThan(h.fs.ops.indexOf('loop:tone_stream://ringback ep1'));
  });

  it.each([
    ["the caller's", 1],
    ["the callee's", 2],
  ])('when %s channel cannot be created: 503, nobody is called, and the other channel is released once', async (_which, n) => {
    const h = mediaHarness();
    h.fs.failCreate.add(n);
    h.sessions.add({ id: `m8b-${n}` });
    const call = h.sip.invite(inviteFrom(A));
    await soon(() => h.cdr.records.length === 1);
    await soon(() => h.fs.endpoints.every((e) => e.released === 1));
    expect(call.finalStatus).toBe(503);
    expect(h.sip.dials).toHaveLength(0);
    expect(h.fs.endpoints).toHaveLength(1);
    expect(h.fs.allReleasedOnce).toBe(true);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'media-unavailable' });
  });
});

describe('no healthy media server', () => {
  it('rejects with 503 under the "reject" policy', async () => {
    const fs = new FakeMediaServer();
    fs.healthy = false;
    const h = mediaHarness({ servers: [fs] });
    h.sessions.add({ id: 'm9' });
    const call = h.sip.invite(inviteFrom(A));
    await soon(() => h.cdr.records.length === 1);
    expect(call.finalStatus).toBe(503);
    expect(h.sip.dials).toHaveLength(0);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'media-unavailable' });
  });

  it('connects signalling-only and unrecorded under the "signalling-only" policy, and the CDR says so', async () => {
    const fs = new FakeMediaServer();
    fs.healthy = false;
    const h = mediaHarness({ servers: [fs], media: { onNoMediaServer: 'signalling-only' } });
    h.sessions.add({ id: 'm10' });
    const call = h.sip.invite(inviteFrom(A));
    await soon(() => h.sip.dials.length === 1);
    expect(h.sip.dials[0]!.req.sdp).toContain('127.0.0.5');
    h.sip.dials[0]!.answer();
    await soon(() => call.leg !== null);
    call.leg!.remoteHangup();
    await soon(() => h.cdr.records.length === 1);
    expect(h.cdr.records[0]).toMatchObject({ media: 'signalling-only-fallback', recording: null, disposition: 'answered' });
  });

  it('never connects a session that requires recording unrecorded', async () => {
    const fs = new FakeMediaServer();
    fs.healthy = false;
    const h = mediaHarness({ servers: [fs], media: { onNoMediaServer: 'signalling-only' } });
    h.sessions.add({ id: 'm11', record: true });
    const call = h.sip.invite(inviteFrom(A));
    await soon(() => h.cdr.records.length === 1);
    expect(call.finalStatus).toBe(503);
    expect(h.sip.dials).toHaveLength(0);
  });
});

describe('every teardown path releases every media channel once', () => {
  const cases: Array<[string, (h: MediaHarness) => Promise<void>]> = [
    ['CANCEL while ringing', async (h) => {
      const call = h.sip.invite(inviteFrom(A));
      await soon(() => h.sip.dials.length === 1);
      call.cancel();
    }],
    ['BYE from the caller', async (h) => {
      const { call } = await connectAnchored(h);
      call.leg!.remoteHangup();
    }],
    ['BYE from the callee', async (h) => {
      const { legB } = await connectAnchored(h);
      legB.remoteHangup();
    }],
    ['callee busy', async (h) => {
      h.sip.invite(inviteFrom(A));
      await soon(() => h.sip.dials.length === 1);
      h.sip.dials[0]!.fail(486);
    }],
    ['media server dropping a channel mid-call', async (h) => {
      await connectAnchored(h);
      (h.fs.endpoints[1] as unknown as { drop(): void }).drop();
    }],
  ];
  it.each(cases)('%s', async (_name, run) => {
    const h = mediaHarness();
    h.sessions.add({ id: 'm12', record: true });
    await run(h);
    await soon(() => h.cdr.records.length === 1);
    expect(h.fs.endpoints.length).toBe(2);
    expect(h.fs.allReleasedOnce).toBe(true);
  });

  it('ring timeout and max duration', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const h = mediaHarness({ overrides: { calls: { ringTimeoutSec: 2, maxDurationSec: 5 } } });
    h.sessions.add({ id: 'm13', record: false });
    h.sip.invite(inviteFrom(A));
    await vi.advanceTimersByTimeAsync(50);
    await vi.advanceTimersByTimeAsync(2100);
    await vi.advanceTimersByTimeAsync(50);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'no-answer' });
    expect(h.fs.allReleasedOnce).toBe(true);

    h.sip.invite(inviteFrom(A));
    await vi.advanceTimersByTimeAsync(50);
    h.sip.dials[1]!.answer();
    await vi.advanceTimersByTimeAsync(50);
    await vi.advanceTimersByTimeAsync(5100);
    await vi.advanceTimersByTimeAsync(50);
    expect(h.cdr.records[1]).toMatchObject({ endedBy: 'max-duration' });
    expect(h.fs.endpoints).toHaveLength(4);
    expect(h.fs.allReleasedOnce).toBe(true);
  });
});

describe('announcements', () => {
  it('plays the unknown-caller announcement as early media, then rejects', async () => {
    const h = mediaHarness({ overrides: { media: { mode: 'anchor' }, calls: { unknownCaller: { announcement: 'not-in-service.wav' } } } });
    const call = h.sip.invite(inviteFrom('+919800000001'));
    await soon(() => h.cdr.records.length === 1);
    expect(call.responses.map((r) => r.status)).toEqual([183, 404]);
    expect(h.fs.ops).toContain('play:not-in-service.wav ep1');
    expect(h.fs.allReleasedOnce).toBe(true);
    expect(h.sip.dials).toHaveLength(0);
  });

  it('plays the closed-session announcement, then rejects with its status', async () => {
    const h = mediaHarness({ overrides: { media: { mode: 'anchor' }, calls: { closedSession: { announcement: 'order-closed.wav' } } } });
    h.sessions.add({ id: 'm14', status: 'closed' });
    const call = h.sip.invite(inviteFrom(A));
    await soon(() => h.cdr.records.length === 1);
    expect(call.responses.map((r) => r.status)).toEqual([183, 410]);
    expect(h.fs.ops).toContain('play:order-closed.wav ep1');
  });

  it('still rejects when the announcement cannot be played', async () => {
    const h = mediaHarness({ overrides: { media: { mode: 'anchor' }, calls: { unknownCaller: { announcement: 'missing.wav' } } } });
    h.fs.failPlayback = true;
    const call = h.sip.invite(inviteFrom('+919800000001'));
    await soon(() => h.cdr.records.length === 1);
    expect(call.finalStatus).toBe(404);
  });
});

describe('PIN entry by DTMF', () => {
  function pinHarness() {
    const h = mediaHarness({
      media: { pin: { enabled: true, prompt: 'enter-pin.wav', maxDigits: 6, timeoutMs: 5000, tries: 3 } },
      overrides: { media: { mode: 'anchor' }, calls: { unknownCaller: { announcement: 'goodbye.wav' } } },
    });
    h.sessions.add({ id: 'm15', record: false });
    h.sessions.pins.set(`${V}:424242`, { id: 'm15', role: 'a' });
    return h;
  }

  it('connects a caller who is not a participant once they key a valid PIN, after a wrong one and a timeout', async () => {
    const h = pinHarness();
    h.fs.digits = ['111111', '', '424242'];
    const call = h.sip.invite(inviteFrom('+919800000001'));
    await soon(() => h.sip.dials.length === 1);
    expect(call.finalStatus).toBe(200);
    expect(h.fs.ops.filter((o) => o.startsWith('collect:enter-pin.wav'))).toHaveLength(3);
    expect(h.sip.dials[0]!.req.uri).toContain(B);
    expect(h.sip.dials[0]!.req.headers.From).toContain(V);
    h.sip.dials[0]!.answer();
    await soon(() => h.fs.ops.some((o) => o.startsWith('bridge:')));
    call.leg!.remoteHangup();
    await soon(() => h.cdr.records.length === 1);
    expect(h.cdr.records[0]).toMatchObject({ sessionId: 'm15', direction: 'a->b', disposition: 'answered' });
    expect(h.fs.allReleasedOnce).toBe(true);
  });

  it('after the last failed try plays the unknown-caller announcement and hangs up', async () => {
    const h = pinHarness();
    h.fs.digits = ['1', '2', '3'];
    const call = h.sip.invite(inviteFrom('+919800000001'));
    await soon(() => h.cdr.records.length === 1);
    expect(h.sip.dials).toHaveLength(0);
    expect(h.fs.ops.filter((o) => o.startsWith('collect:'))).toHaveLength(3);
    expect(h.fs.ops).toContain('play:goodbye.wav ep1');
    expect(call.leg!.hangups).toBe(1);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'unknown-caller', finalStatus: 200 });
    expect(h.fs.allReleasedOnce).toBe(true);
  });

  it('a caller hanging up during the prompt releases everything', async () => {
    const h = pinHarness();
    h.fs.holdDigits = true;
    const call = h.sip.invite(inviteFrom('+919800000001'));
    await soon(() => h.fs.ops.some((o) => o.startsWith('collect:')));
    call.leg!.remoteHangup();
    await soon(() => h.cdr.records.length === 1);
    expect(h.cdr.records[0]).toMatchObject({ endedBy: 'caller' });
    expect(h.fs.allReleasedOnce).toBe(true);
  });
});
