/**
 * End to end with media: sipp (sending RTP from sipp's G.711 pcap on both legs) against a real
 * drachtio-server, FreeSWITCH (driven by drachtio-fsmrf) and Redis, with maskbridge in anchor mode.
 */
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readWav, rms, toneShare, writeToneWav } from './support/audio.js';
import { writeDtmfPcap, writeTonePcap } from './support/pcap.js';
import { A, B, Bed, occurrences } from './support/bed.js';
import { channelCount, resolveFreeswitch } from './support/freeswitch.js';
import { resolveDrachtio } from './support/servers.js';
import { readLearned } from './support/rtp.js';
import { finalStatus, sippAvailable } from './support/sipp.js';
import { until } from '../helpers/until.js';

const CONSENT_HZ = 1000;
const CALLER_HZ = 400;
const CALLEE_HZ = 700;
const drachtio = resolveDrachtio();
const freeswitch = resolveFreeswitch();
const skipReason = sippAvailable()
  ?? (drachtio.ok ? null : drachtio.reason)
  ?? (freeswitch.ok ? null : freeswitch.reason);
if (skipReason) console.warn(`[e2e] media suite skipped: ${skipReason}`);

describe.skipIf(skipReason !== null)(`media end to end${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const bed = new Bed();

  beforeAll(() => bed.start(drachtio, freeswitch, (b) => {
    // Prompts go where FreeSWITCH can read them (a testbed container shares only the recordings folder).
    const sounds = join(b.fs!.recordingsDir, '.e2e-sounds');
    mkdirSync(sounds, { recursive: true });
    const consent = join(sounds, 'consent.wav');
    const announcement = join(sounds, 'not-in-service.wav');
    writeToneWav(consent, CONSENT_HZ, 1.5);
    writeToneWav(announcement, 600, 1.2);
    writeTonePcap(join(b.dir, 'caller.pcap'), CALLER_HZ, 12);
    writeTonePcap(join(b.dir, 'callee.pcap'), CALLEE_HZ, 12);
    return {
      media: {
        mode: 'anchor',
        servers: [`${b.fs!.esl.host}:${b.fs!.esl.port}:${b.fs!.esl.secret}`],
        eslListenAddress: '127.0.0.1',
        recording: { enabledByDefault: true, dir: b.fs!.recordingsDir, consentAnnouncement: consent },
      },
      // The close sweep only every minute: a quiet close is then seen by the re-check at answer.
      calls: { unknownCaller: { announcement }, closeSweepSec: 60 },
    };
  }), 120_000);
  afterAll(() => bed.stop());
  beforeEach(() => bed.flush());
  afterEach(async () => {
    // No FreeSWITCH channel may outlive a scenario.
    let count = -1;
    for (let i = 0; i < 30 && count !== 0; i++) {
      count = await channelCount(bed.fs!.esl);
      if (count !== 0) await new Promise((r) => setTimeout(r, 200));
    }
    expect(count).toBe(0);
  });

  it('records a two-way call in stereo, consent first, as long as the talk time', async () => {
    await bed.openSession({ record: true });
    const r = await bed.call(
      'recorded', A,
      { outcome: 'answer', hangup: 'caller', talkMs: 5000, media: { payload: 8, pcap: join(bed.dir, 'caller.pcap') } },
      { outcome: 'answer', hangup: 'caller', media: { payload: 8, pcap: join(bed.dir, 'callee.pcap') } },
    );
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(r.callee!.code, r.callee!.stderr).toBe(0);
    expect(occurrences(r.callee!.messages, A)).toBe(0);
    expect(occurrences(r.caller.messages, B)).toBe(0);

    const cdr = await bed.cdr();
    expect(cdr).toMatchObject({ disposition: 'answered', media: 'anchored', recording_failed: '0' });
    // Both parties sent RTP: FreeSWITCH's statistics of each leg are in the CDR (docs/observability.md, "Media quality").
    for (const leg of ['a', 'b']) {
      expect(Number(cdr[`quality_${leg}_mos`]), `quality_${leg}_mos`).toBeGreaterThanOrEqual(1);
      expect(Number(cdr[`quality_${leg}_mos`]), `quality_${leg}_mos`).toBeLessThanOrEqual(5);
      expect(Number(cdr[`quality_${leg}_loss_ratio`]), `quality_${leg}_loss_ratio`).toBeLessThanOrEqual(1);
      expect(Number.isFinite(Number(cdr[`quality_${leg}_jitter_ms`])), `quality_${leg}_jitter_ms`).toBe(true);
    }
    const path = cdr.recording_path as string;
    expect(path.startsWith(bed.fs!.recordingsDir)).toBe(true);
    expect(existsSync(path)).toBe(true);
    expect(existsSync(path.replace(/\.wav$/, '.partial.wav'))).toBe(false);

    const wav = readWav(path);
    expect(wav.channels).toHaveLength(2);
    const [caller, callee] = wav.channels as [Int16Array, Int16Array];
    const seconds = caller.length / wav.sampleRate;
    const talk = (Date.parse(cdr.ended_at as string) - Date.parse(cdr.answered_at as string)) / 1000;
    expect(Math.abs(seconds - talk)).toBeLessThan(1);
    expect(Number(cdr.recording_duration_sec)).toBeCloseTo(seconds, 0);
    // Once bridged (after the consent prompt), each channel carries its own party: the caller's
    // tone on one, the callee's on the other.
    const from = Math.round(2 * wav.sampleRate);
    const to = Math.round(3.5 * wav.sampleRate);
    expect(rms(caller, from, to)).toBeGreaterThan(500);
    expect(rms(callee, from, to)).toBeGreaterThan(500);
    expect(toneShare(caller, wav.sampleRate, CALLER_HZ, from, to)).toBeGreaterThan(0.5);
    expect(toneShare(callee, wav.sampleRate, CALLEE_HZ, from, to)).toBeGreaterThan(0.5);
    // The consent prompt opens the recording, on the channel of what the caller hears.
    const share = toneShare(callee, wav.sampleRate, CONSENT_HZ, Math.round(0.2 * wav.sampleRate), Math.round(1.2 * wav.sampleRate));
    expect(share).toBeGreaterThan(0.5);
  });

  it('the callee hanging up ends the call and frees both channels', async () => {
    await bed.openSession({ record: false });
    const r = await bed.call('callee-bye', A, { outcome: 'answer', hangup: 'callee' }, { outcome: 'answer', hangup: 'callee', talkMs: 2500 });
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(r.callee!.code, r.callee!.stderr).toBe(0);
    expect(await bed.cdr()).toMatchObject({ disposition: 'answered', ended_by: 'callee', media: 'anchored' });
  });

  it('hold and unhold (re-INVITEs) from either party are answered and the call stays up', async () => {
    await bed.openSession({ record: false });
    const r = await bed.call(
      'hold', A,
      { outcome: 'answer', hangup: 'caller', talkMs: 1500, holdUnhold: true },
      { outcome: 'answer', hangup: 'caller', holdUnhold: true },
    );
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(r.callee!.code, r.callee!.stderr).toBe(0);
    // Each side's re-INVITEs were answered by its own media channel: no re-INVITE crossed over.
    expect(r.caller.messages.match(/^INVITE /gm)).toHaveLength(3);
    expect(r.callee!.messages.match(/^INVITE /gm)).toHaveLength(3);
    expect(await bed.cdr()).toMatchObject({ disposition: 'answered', ended_by: 'caller' });
  });

  it("a re-INVITE without SDP and an UPDATE with a new offer from the caller are answered by the caller's own channel", async () => {
    await bed.openSession({ record: false });
    const r = await bed.call(
      'update', A,
      { outcome: 'answer', hangup: 'caller', talkMs: 1000, refreshWithoutSdp: true, updateOffer: true },
      { outcome: 'answer', hangup: 'caller' },
    );
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(r.callee!.code, r.callee!.stderr).toBe(0);
    // The UPDATE's 200 carries the media server's answer; nothing reached the callee.
    const updateOk = r.caller.messages.split(/^SIP\/2\.0 /m).find((m) => /^CSeq: \d+ UPDATE/m.test(m) && m.startsWith('200'));
    expect(updateOk).toMatch(/^v=0/m);
    expect(r.callee!.messages.match(/^INVITE /gm)).toHaveLength(1);
    expect(occurrences(r.caller.messages, B)).toBe(0);
    expect(await bed.cdr()).toMatchObject({ disposition: 'answered', ended_by: 'caller' });
  });

  it('a session closed quietly (plain HSET) while the callee rings never connects: the callee gets a BYE, the caller 410, both channels freed', async () => {
    await bed.openSession({ record: false });
    // The callee's sipp writes this file once the INVITE (from the media server) is in; it rings 2 s.
    const ringing = join(bed.dir, 'closed-ringing.callee-learned');
    const pending = bed.call('closed-ringing', A, { outcome: 'reject', status: 410, ringing: true }, { outcome: 'answer', hangup: 'caller', ringMs: 2000, media: { learnFile: ringing } });
    await readLearned(ringing);
    await bed.closeQuietly();
    const r = await pending;
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(r.callee!.code, r.callee!.stderr).toBe(0);
    expect(finalStatus(r.caller.messages)).toBe(410);
    expect(r.caller.messages).toMatch(/^SIP\/2\.0 183/m); // it had ringback from its own channel
    expect(r.callee!.messages).toMatch(/^BYE sip:/m);
    expect(await bed.cdr()).toMatchObject({ disposition: 'session-closed', ended_by: 'session-closed', final_status: '410', media: 'anchored' });
  });

  it('a session closed with mb_close while the callee rings: the callee gets a CANCEL at once, the caller 410, both channels freed', async () => {
    await bed.openSession({ record: false });
    const pending = bed.call('mb-close-ringing', A, { outcome: 'reject', status: 410, ringing: true }, { outcome: 'ring-until-cancel' });
    await until(() => bed.mb.app.registry.size === 1, 10_000, 20);
    await new Promise((r) => setTimeout(r, 700)); // the callee rings
    expect(await bed.mb.app.store.close('order-e2e')).toBe(true);
    const r = await pending;
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(r.callee!.code, r.callee!.stderr).toBe(0);
    expect(finalStatus(r.caller.messages)).toBe(410);
    expect(await bed.cdr()).toMatchObject({ disposition: 'session-closed', ended_by: 'session-closed', final_status: '410', media: 'anchored' });
  });

  it('a CANCEL while the callee rings frees both channels', async () => {
    await bed.openSession();
    const r = await bed.call('cancel', A, { outcome: 'cancel', afterMs: 300, ringing: 183 }, { outcome: 'ring-until-cancel' });
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(await bed.cdr()).toMatchObject({ disposition: 'cancelled' });
  });

  it('a busy callee frees both channels', async () => {
    await bed.openSession();
    const r = await bed.call('busy', A, { outcome: 'reject', status: 486, earlyMedia: true }, { outcome: 'reject', status: 486, reason: 'Busy Here' });
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(await bed.cdr()).toMatchObject({ disposition: 'busy' });
  });

  it('with FreeSWITCH down calls get 503 (reject policy), and maskbridge reconnects when it returns', async () => {
    if (!bed.fs!.start) return; // a running testbed server is not ours to stop
    await bed.openSession();
    await bed.fs!.stop();
    await until(() => bed.mb.app.health().media.every((m) => !m.healthy), 10_000);
    const r = await bed.call('fs-down', A, { outcome: 'reject', status: 503 }, null);
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(await bed.cdr()).toMatchObject({ disposition: 'media-unavailable', final_status: '503' });
    await bed.fs!.start();
    await until(() => bed.mb.app.health().media.every((m) => m.healthy), 30_000, 200);
    await bed.flush();
    await bed.openSession({ record: false });
    const again = await bed.call('fs-back', A, { outcome: 'answer', hangup: 'caller', talkMs: 500 }, { outcome: 'answer', hangup: 'caller' });
    expect(again.caller.code, again.caller.stderr).toBe(0);
    expect(await bed.cdr()).toMatchObject({ disposition: 'answered', media: 'anchored' });
  });

  it('plays the unknown-caller announcement, then hangs up', async () => {
    const sock: Socket = createSocket('udp4');
    let packets = 0;
    sock.on('message', () => packets++);
    const port = await new Promise<number>((resolve) => sock.bind(0, '127.0.0.1', () => resolve(sock.address().port)));
    try {
      const r = await bed.call('announce', '+919800000001', { outcome: 'reject', status: 404, earlyMedia: true, media: { rtpPort: port } }, null);
      expect(r.caller.code, r.caller.stderr).toBe(0);
      expect(packets).toBeGreaterThan(40); // 1.2 s of 20 ms packets, give or take
      expect(await bed.cdr()).toMatchObject({ disposition: 'unknown-caller', final_status: '404' });
    } finally {
      sock.close();
    }
  });
});

describe.skipIf(skipReason !== null)(`PIN entry end to end${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const bed = new Bed();

  beforeAll(() => bed.start(drachtio, freeswitch, (b) => {
    const sounds = join(b.fs!.recordingsDir, '.e2e-sounds');
    mkdirSync(sounds, { recursive: true });
    const prompt = join(sounds, 'enter-pin.wav');
    writeToneWav(prompt, 500, 0.5);
    writeDtmfPcap(join(b.dir, 'pin.pcap'), '4242#');
    return {
      media: {
        mode: 'anchor',
        servers: [`${b.fs!.esl.host}:${b.fs!.esl.port}:${b.fs!.esl.secret}`],
        eslListenAddress: '127.0.0.1',
        recording: { enabledByDefault: false, dir: b.fs!.recordingsDir },
        pin: { enabled: true, prompt, maxDigits: 4, timeoutSec: 8, tries: 2 },
      },
    };
  }), 120_000);
  afterAll(() => bed.stop());

  it('a caller who is not a participant keys a PIN by DTMF and reaches the other participant', async () => {
    await bed.openSession();
    await bed.pin('4242', 'a');
    const r = await bed.call('pin', '+919800000001', { outcome: 'answer', hangup: 'caller', talkMs: 2500, dtmf: join(bed.dir, 'pin.pcap') }, { outcome: 'answer', hangup: 'caller' });
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(r.callee!.code, r.callee!.stderr).toBe(0);
    expect(r.callee!.messages).toMatch(new RegExp(`^INVITE sip:\\${B}@`, 'm'));
    expect(await bed.cdr()).toMatchObject({ session_id: 'order-e2e', direction: 'a->b', disposition: 'answered' });
    let count = -1;
    for (let i = 0; i < 30 && count !== 0; i++) {
      count = await channelCount(bed.fs!.esl);
      if (count !== 0) await new Promise((res) => setTimeout(res, 200));
    }
    expect(count).toBe(0);
  });
});
