/**
 * Calling the other party: the INVITE (with V as the identity), ringing, the re-check of the
 * session once the callee answers, and the callee's failure mapped to what the caller hears.
 */
import { MediaError } from '../media/port.js';
import { mapCalleeFailure } from '../policy/decide.js';
import { StoreUnavailableError } from '../sessions/redis.js';
import type { CallParties } from '../sip/identify.js';
import { OutboundFailure, type CallLeg, type OutboundRequest } from '../sip/port.js';
import { isGatewayFailure } from '../sip/gateways.js';
import { buildOutboundRequest } from '../sip/scrub.js';
import type { CallSession, CallState } from './call-session.js';

export function placeCall(
  call: CallSession,
  parties: CallParties,
  peer: string,
  sdp: string,
  onProgress: (status: number, sdp: string | undefined) => void,
  onAnswer: (legB: CallLeg) => Promise<void>,
  /** `withoutSession`: a call the out-of-session hook routed, with no session to re-check at answer. */
  opts: { withoutSession?: boolean } = {},
): void {
  const { policy, fmt, gateways } = call.deps;
  const candidates = gateways.candidates();
  const first = buildOutboundRequest({ ...policy.outbound, gateway: candidates[0] as string, virtualNumber: parties.virtualNumber, peer }, { sdp }, [parties.caller]);
  if (sdp.trim() && !first.sdp) {
    // Nothing usable left of the offer once rebuilt: refuse it rather than send a delayed offer.
    call.line('info', 'INVITE SDP not usable once rebuilt');
    return call.fail(488, 'Not Acceptable Here', 'rejected-body', '');
  }
  call.line('debug', 'calling the other party', () => ({ direction: call.direction, callee: fmt(peer), media: call.mediaMode }));
  viaGateway(call, parties, peer, sdp, candidates, 0, { onProgress, onAnswer, withoutSession: opts.withoutSession === true }, first);
  call.deps.callEvents?.initiated(call.callId, call.direction);
}

/**
 * `req` (built for `candidates[i]`) through that gateway; a gateway failing it without ringing
 * hands the call to the next (src/sip/gateways.ts), with the request built again for it.
 */
function viaGateway(
  call: CallSession, parties: CallParties, peer: string, sdp: string, candidates: string[], i: number,
  how: { onProgress: (status: number, sdp: string | undefined) => void; onAnswer: (legB: CallLeg) => Promise<void>; withoutSession: boolean },
  req: OutboundRequest,
): void {
  const { onProgress, onAnswer } = how;
  const { policy, sip, fmt, gateways, callEvents: events } = call.deps;
  const gateway = candidates[i] as string;
  let rang = false;
  const attempt = sip.dial(req, {
    onProgress: (status, body) => {
      if (call.currentState !== 'dialing') return;
      if (status === 180 || status === 183) {
        rang = true;
        events?.ringing(call.callId);
      }
      onProgress(status, body);
    },
    onSent: (dialogId, transactionId) => call.calleeDialing(dialogId, transactionId),
  });
  call.dialing(attempt, i > 0);
  // INVITE received to the first B-leg INVITE sent (a failover's later INVITEs are not setup).
  const setup = setupTimer(call);
  if (i === 0) setup('b_leg_sent');
  attempt.answered.then(
    async (legB) => {
      gateways.answered(gateway);
      if (call.currentState !== 'dialing') {
        call.dialSettled(null);
        void legB.hangup(); // answered after cancel or timeout: release it
        return;
      }
      call.dialSettled(legB);
      setup('answered');
      try {
        if (!how.withoutSession && !(await stillOpen(call))) return;
        await onAnswer(legB);
      } catch (err) {
        if (call.isOver()) return;
        call.line('warn', 'could not connect the answered call', () => ({ err: fmt((err as Error).message) }));
        // The media server failing the callee's SDP (it died or stalled as the callee answered)
        // is a media loss, as a channel it drops while the callee rings: 503, ended_by media-lost.
        const media = err instanceof MediaError;
        if ((call.currentState as CallState) === 'connected') call.endConnected(media ? 'media-lost' : 'error');
        else if (media) call.fail(503, 'Service Unavailable', 'media-unavailable', 'media-lost');
        else call.fail(500, 'Server Internal Error', 'failed', 'error');
      }
    },
    (err: unknown) => {
      call.dialSettled(null);
      if (call.currentState !== 'dialing') return; // we cancelled it
      const status = err instanceof OutboundFailure ? err.status : 503;
      if (!rang && isGatewayFailure(status)) {
        gateways.failed(gateway, `INVITE answered ${status}`);
        if (i + 1 < candidates.length) {
          call.line('warn', 'outbound gateway failed the call; trying the next', () => ({ gateway, status, next: candidates[i + 1] }));
          const next = buildOutboundRequest({ ...policy.outbound, gateway: candidates[i + 1] as string, virtualNumber: parties.virtualNumber, peer }, { sdp }, [parties.caller]);
          return viaGateway(call, parties, peer, sdp, candidates, i + 1, how, next);
        }
      } else {
        gateways.answered(gateway);
      }
      const mapped = mapCalleeFailure(status);
      call.line('info', 'other party did not answer', () => ({ calleeStatus: status, calleeReason: fmt(String((err as Error)?.message)), status: mapped.status }));
      call.fail(mapped.status, mapped.reason, mapped.disposition, '');
    },
  );
}

/** Observes maskbridge_call_setup_seconds{stage}: from the INVITE received (the call's start) to now. */
function setupTimer(call: CallSession): (stage: 'b_leg_sent' | 'answered') => void {
  const { metrics, now } = call.deps;
  const startedAt = call.record.startedAt;
  return (stage) => metrics.callSetupSeconds.observe({ stage }, Math.max(0, now() - startedAt) / 1000);
}

/**
 * The callee answered: is the session still open? (It may have closed or expired while the
 * callee rang.) One round trip; false, with the call failed, when it is not, or Redis cannot say.
 */
async function stillOpen(call: CallSession): Promise<boolean> {
  let status;
  try {
    status = await call.deps.sessions.recheck(call.sessionId);
  } catch (err) {
    if (!(err instanceof StoreUnavailableError)) throw err;
    call.storeFailed(err);
    return false;
  }
  if (call.currentState !== 'dialing') return false; // cancelled or timed out meanwhile
  if (status === 'open') return true;
  call.line('info', 'session ended while the other party rang; not connecting', () => ({ why: status }));
  const closed = call.deps.policy.decision.closedSession;
  call.fail(closed.status, closed.reason, 'session-closed', 'session-closed');
  return false;
}
