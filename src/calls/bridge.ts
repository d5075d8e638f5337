/**
 * Connecting the two parties of an open session: directly (signalling only: each party gets the
 * other's scrubbed SDP) or anchored on a media server (each party only ever sees the server).
 */
import type { MediaEndpoint, MediaServer } from '../media/port.js';
import { whenNoMediaServer } from '../policy/media.js';
import type { SessionRecord } from '../sessions/contract.js';
import type { CallParties } from '../sip/identify.js';
import { scrubRequired, scrubSdp } from '../sip/scrub.js';
import type { MediaSettings } from './call-media.js';
import type { CallSession } from './call-session.js';
import { placeCall } from './dial.js';
import { interceptAllows } from './hook-steps.js';

/**
 * `session` null: a call the out-of-session hook routed (no session: nothing to re-check when the
 * callee answers, no whisper or per-session consent). The intercept hook is asked first.
 */
export async function bridge(call: CallSession, parties: CallParties, session: SessionRecord | null, peer: string, record: boolean): Promise<void> {
  if (!(await interceptAllows(call, parties, session, peer))) return;
  const withoutSession = session === null;
  const media = call.deps.media;
  if (!media) return dialDirect(call, parties, peer, withoutSession);
  const server = media.pool.pick();
  if (!server) {
    const outcome = whenNoMediaServer(media.onNoMediaServer, session?.record);
    if (outcome.action === 'reject') {
      call.line('error', 'no healthy media server; rejecting');
      return call.fail(outcome.status, outcome.reason, 'media-unavailable', '');
    }
    call.line('warn', 'no healthy media server; connecting signalling-only, unrecorded');
    call.mediaMode = 'signalling-only-fallback';
    return dialDirect(call, parties, peer, withoutSession);
  }
  const toB = call.record.direction === 'a->b' || call.record.direction === 'unknown->b';
  const whisper = toB ? session?.whisperB : session?.whisperA;
  return dialAnchored(call, server, parties, peer, { record, whisper, consent: session?.consent, withoutSession }, null);
}

/** Signalling-only B2BUA: the callee gets the caller's (scrubbed) SDP and vice versa. */
function dialDirect(call: CallSession, parties: CallParties, peer: string, withoutSession: boolean): void {
  placeCall(call, parties, peer, call.inviteSdp, (status, sdp) => {
    if (status === 180 || status === 183) call.progress(status, sdp ? scrubSdp(sdp, [peer]) : undefined);
  }, async (legB) => {
    // A delayed offer: the callee's 200 carried the offer; the caller's answer comes in its ACK
    // and goes to the callee in ours.
    const delayed = call.delayedOffer;
    const legA = await call.answerCaller(scrubRequired(legB.remoteSdp, [peer]), { awaitAck: delayed });
    if (!legA) return;
    if (delayed) await legB.ack(answerFromAck(legA.remoteSdp, [parties.caller]));
    const up = call.connected(legA, legB, {
      a: async (offer) => scrubRequired(await legB.reinvite(scrubRequired(offer, [parties.caller])), [peer]),
      b: async (offer) => scrubRequired(await legA.reinvite(scrubRequired(offer, [peer])), [parties.caller]),
    });
    if (up) call.deps.callEvents?.answered(call.callId);
  }, { withoutSession });
}

/**
 * Media-anchored: the caller's channel answers the caller, a second channel calls the callee,
 * so each party only ever sees the media server. Then record, consent, whisper, bridge.
 * `answeredBy`: the caller was already answered from this channel (after a PIN prompt).
 */
export async function dialAnchored(
  call: CallSession,
  server: MediaServer,
  parties: CallParties,
  peer: string,
  opts: { record: boolean; whisper: string | undefined; consent?: string | undefined; withoutSession?: boolean },
  answeredBy: MediaEndpoint | null,
): Promise<void> {
  const media = call.deps.media as MediaSettings;
  call.mediaMode = 'anchored';
  // Both channels at once, on one server (they are bridged there): channels() tries the next
  // healthy server when this one fails either (it died or stalled), and releases a channel that
  // arrives after the call ended. A caller already answered from a channel (the PIN prompt) keeps
  // it: the callee's channel must then be on that server.
  const got = answeredBy
    ? await call.channels(server, [undefined], true).then((r) => r && { server: r.server, eps: [answeredBy, ...r.eps] })
    : await call.channels(server, [call.inviteSdp, undefined]);
  if (!got || call.isOver()) return;
  const [epA, epB] = got.eps as [MediaEndpoint, MediaEndpoint];
  // A delayed offer gets ringing without early media: the server's SDP is an offer then, which
  // only goes to the caller in the 200. Otherwise: the media server's own SDP (scrubbed all the
  // same, so no path sends the caller unscrubbed SDP) and ringback on it.
  const delayed = !answeredBy && call.delayedOffer;
  if (delayed) call.progress(180);
  else {
    if (!answeredBy) call.progress(183, scrubSdp(epA.localSdp, [peer]));
    epA.startLoop(media.ringback);
  }

  placeCall(call, parties, peer, epB.localSdp, () => undefined, async (legB) => {
    await Promise.all([epB.modify(legB.remoteSdp), delayed ? undefined : epA.stopPlayback().catch(() => undefined)]);
    const legA = call.callerLeg ?? (await call.answerCaller(scrubSdp(epA.localSdp, [peer]), { awaitAck: delayed }));
    if (!legA) return;
    // The caller's answer (in its ACK) goes to its own channel, which offered without it.
    if (delayed) await epA.modify(answerFromAck(legA.remoteSdp, [peer]));
    const reinvites = {
      a: async (offer: string) => scrubRequired(await epA.modify(offer), [peer]),
      b: async (offer: string) => scrubRequired(await epB.modify(offer), [parties.caller]),
    };
    if (!call.connected(legA, legB, reinvites, opts.record)) return;
    call.deps.callEvents?.answered(call.callId);
    await call.startMedia(epA, epB, opts);
  }, { withoutSession: opts.withoutSession === true });
}

/** The caller's answer to a delayed offer, from its ACK, scrubbed; an ACK without SDP cannot connect the call. */
function answerFromAck(ackSdp: string, protectedNumbers: string[]): string {
  const sdp = scrubRequired(ackSdp, protectedNumbers);
  if (!sdp) throw new Error('the caller ACKed our offer without an SDP answer');
  return sdp;
}
