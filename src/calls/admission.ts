/**
 * Fleet-wide concurrent-call limits (defences.maxCallsPerSession / maxCallsPerNumber): checked in
 * Redis after the lookup, before the other party is called; released when the call ends. A store
 * that cannot answer fails the call closed (503), like the lookup.
 */
import { StoreUnavailableError } from '../sessions/redis.js';
import type { CallSession } from './call-session.js';

/** Slack past the longest a call can last (ring + max duration), before a lost call stops counting. */
const LEASE_SLACK_MS = 60_000;
const UNLIMITED_CALL_LEASE_MS = 24 * 3600 * 1000;

/** True when the call may go on; otherwise it has been failed (and nothing is left to release). */
export async function admitCall(call: CallSession, virtualNumber: string): Promise<boolean> {
  const { policy, sessions, metrics } = call.deps;
  const { perSession, perNumber, status } = policy.concurrency;
  if (!sessions.admit || (perSession === 0 && perNumber === 0) || !call.sessionId) return true;
  const ref = { sessionId: call.sessionId, virtualNumber, callId: call.callId };
  const leaseMs = policy.maxDurationMs > 0 ? policy.ringTimeoutMs + policy.maxDurationMs + LEASE_SLACK_MS : UNLIMITED_CALL_LEASE_MS;
  let verdict;
  try {
    verdict = await sessions.admit({ ...ref, leaseMs, maxPerSession: perSession, maxPerNumber: perNumber });
  } catch (err) {
    if (!(err instanceof StoreUnavailableError)) throw err;
    call.storeFailed(err);
    return false;
  }
  if (verdict !== 'ok') {
    metrics.concurrencyRejections.inc({ scope: verdict });
    call.line('info', 'over the concurrent-call limit; refusing', () => ({ scope: verdict, limit: verdict === 'session' ? perSession : perNumber }));
    call.fail(status, status === 486 ? 'Busy Here' : 'Concurrent Call Limit', 'over-limit', '');
    return false;
  }
  const release = () => {
    sessions.release?.(ref).catch((err: Error) => call.line('warn', 'concurrent-call slot not released (it lapses with its lease)', () => ({ err: err.message })));
  };
  if (call.isOver()) release();
  else void call.done.then(release);
  return !call.isOver();
}
