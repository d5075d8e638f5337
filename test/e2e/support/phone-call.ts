/**
 * One call whose media is real: sipp does the signalling of both phones, while the media is
 * sent and received by test sockets (support/rtp.ts) that each SDP names as the phone's. Each
 * phone learns the far end's media address from the SDP its sipp received, streams its own tone
 * there (the caller 400 Hz, the callee 700 Hz) and records everything that comes back.
 */
import { join } from 'node:path';
import { toneShare } from './audio.js';
import type { Bed } from './bed.js';
import { readLearned, RtpPhone, type MediaAddress } from './rtp.js';
import type { UacPlan, UasPlan } from './scenarios.js';
import type { SippResult } from './sipp.js';

export const CALLER_HZ = 400;
export const CALLEE_HZ = 700;

export interface PhoneCall {
  caller: SippResult;
  callee: SippResult | null;
  /** The caller's media sockets and what reached them. */
  a: RtpPhone;
  /** The callee's. */
  b: RtpPhone;
  /** Where each phone sent its media (the far end's address from the SDP it got). */
  aSentTo: MediaAddress;
  bSentTo: MediaAddress;
}

export interface PhoneCallOpts {
  /** RTCP SDES items the caller's phone sends with its RTP (its number, say). */
  callerSdes?: { cname: string; name?: string };
  calleeSdes?: { cname: string; name?: string };
}

/** Places the call; resolves once both sipps are done and both phones have stopped. The caller must close a and b. */
export async function phoneCall(bed: Bed, name: string, from: string, uac: UacPlan, uas: UasPlan, opts: PhoneCallOpts = {}): Promise<PhoneCall> {
  const a = await RtpPhone.open();
  const b = await RtpPhone.open();
  try {
    const aFile = join(bed.dir, `${name}.caller-learned`);
    const bFile = join(bed.dir, `${name}.callee-learned`);
    const pending = bed.call(
      name, from,
      { ...uac, media: { ...uac.media, payload: 0, rtpPort: a.port, learnFile: aFile } },
      { ...uas, media: { ...uas.media, payload: 0, rtpPort: b.port, learnFile: bFile } },
    );
    // Each phone starts sending once its sipp has the far end's SDP; a call that fails first ends the wait.
    const failed = pending.then((r) => {
      throw new Error(`the call ended before both phones had media addresses: caller ${r.caller.code}, callee ${r.callee?.code} ${r.caller.stderr}`);
    });
    failed.catch(() => undefined);
    const [aSentTo, bSentTo] = await Promise.all([
      Promise.race([readLearned(aFile, 20_000), failed]).then((to) => (a.stream(to, CALLER_HZ, opts.callerSdes), to)),
      Promise.race([readLearned(bFile, 20_000), failed]).then((to) => (b.stream(to, CALLEE_HZ, opts.calleeSdes), to)),
    ]);
    const r = await pending;
    return { ...r, a, b, aSentTo, bSentTo };
  } catch (err) {
    a.close();
    b.close();
    throw err;
  } finally {
    a.stop();
    b.stop();
  }
}

/** Share of `hz` in the last second of the audio `phone` received (0..1); 0 with less than a second. */
export function lastSecondShare(phone: RtpPhone, hz: number): number {
  const pcm = phone.audio();
  if (pcm.length < 8000) return 0;
  return toneShare(pcm, 8000, hz, pcm.length - 8000, pcm.length);
}
