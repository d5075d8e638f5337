/**
 * Routing one INVITE: source, body, the two numbers, one lookup, the decision. Ends by handing
 * the call to the bridge (src/calls/bridge.ts), the PIN prompt, or a rejection.
 */
import { decide } from '../policy/decide.js';
import type { LookupResult } from '../sessions/contract.js';
import { canonicalGuess, checkSource, locateParties, normaliseParties, SipRejection, type CallParties } from '../sip/identify.js';
import { admitCall } from './admission.js';
import { bridge } from './bridge.js';
import { askOutOfSession } from './hook-steps.js';
import type { CallSession } from './call-session.js';
import { runPinPrompt } from './pin-prompt.js';

export async function routeCall(call: CallSession): Promise<void> {
  const { policy, sessions, fmt } = call.deps;
  const info = call.info;
  let parties: CallParties;
  let early: { guess: CallParties; result: Promise<LookupResult>; startedAt: bigint } | null = null;
  try {
    checkSource(policy.acl, info);
    const body = info.bodyRejection;
    if (body) {
      call.line('info', 'INVITE body refused', () => ({ status: body.status, reason: body.reason }));
      return call.fail(body.status, body.reason, 'rejected-body', '');
    }
    const raw = locateParties(info, policy.identify);
    if (call.deps.isDraining()) return call.fail(503, 'Service Unavailable', 'shutting-down', '');
    // Numbers that already look like E.164 (what trunks usually send) are looked up before they
    // are validated, so that validation and the Redis round trip overlap. The answer is used
    // only if validation returns exactly the numbers it was asked about.
    const guess = canonicalGuess(raw);
    if (guess) {
      early = { guess, result: sessions.lookup(guess.virtualNumber, guess.caller), startedAt: process.hrtime.bigint() };
      early.result.catch(() => undefined); // handled below, or dropped with the guess
      await afterQueuedWrites();
    }
    parties = normaliseParties(raw, policy.identify);
  } catch (err) {
    if (!(err instanceof SipRejection)) throw err;
    call.line('info', 'INVITE rejected', () => ({ status: err.status, detail: fmt(err.message), source: info.sourceAddress }));
    return call.fail(err.status, err.reason, err.disposition, '');
  }
  call.virtualNumber = parties.virtualNumber;
  if (call.currentState !== 'routing') return; // cancelled meanwhile

  const sameAsGuess = early?.guess.virtualNumber === parties.virtualNumber && early.guess.caller === parties.caller;
  let result = early && sameAsGuess
    ? await call.lookup(() => early.result, early.startedAt)
    : await call.lookup(() => sessions.lookup(parties.virtualNumber, parties.caller));
  if (!result || call.currentState !== 'routing') return; // store down (already failed) or cancelled meanwhile
  // No session for this caller on V (not a malformed record, nor a one-way session's B): V's
  // dedicated session's unknown_caller treatment first; without one, the out-of-session hook,
  // when configured, may create a session or name a number to route to.
  if (result.kind === 'unknown' && !result.dedicated && call.deps.hooks?.outOfSession) {
    const step = await askOutOfSession(call, parties);
    if (step.next === 'done') return;
    if (step.next === 'route') {
      call.deps.callEvents?.bind(call.callId, { sessionId: '', virtualNumber: parties.virtualNumber, url: '', parties: { caller: parties.caller, callee: step.to } });
      call.setSession('', 'a->b');
      return bridge(call, parties, null, step.to, step.record);
    }
    if (step.next === 'session') result = step.result;
  }
  const decision = decide(result, policy.decision, new Date(call.deps.now()));
  const dedicated = result.kind === 'unknown' ? result.dedicated : undefined;
  const session = result.kind === 'found' || result.kind === 'closed' ? result.session : dedicated ?? null;
  if (call.deps.callEvents) {
    call.deps.callEvents.bind(call.callId, {
      sessionId: session?.id ?? '', virtualNumber: parties.virtualNumber, url: session?.webhookUrl ?? '',
      parties: session ? { a: session.a, b: session.b, ...(dedicated ? { caller: parties.caller } : {}) } : { caller: parties.caller },
    });
  }
  if (dedicated) {
    call.line('info', 'caller has no session; V is dedicated to a session\'s unknown callers', () => ({
      dedicatedSession: dedicated.id, treatment: dedicated.unknownCaller, caller: fmt(parties.caller),
    }));
  }
  if (decision.action === 'bridge' && session && result.kind !== 'closed') {
    call.setSession(decision.sessionId, decision.direction, {
      sliding: session.ttlSec !== undefined, maxDurationSec: session.maxDurationSec, ringTimeoutSec: session.ringTimeoutSec,
    });
    if (!(await admitCall(call, parties.virtualNumber))) return;
    return bridge(call, parties, session, decision.peer, decision.record);
  }
  call.setSession(decision.sessionId);
  if (decision.action === 'reject') {
    call.line('info', 'no open session for caller', () => ({ status: decision.status, disposition: decision.disposition, caller: fmt(parties.caller) }));
    // The PIN prompt is for a caller V is not dedicated to (a dedicated session's treatment comes first).
    if (decision.disposition === 'unknown-caller' && !dedicated && call.deps.media?.pin.enabled) return runPinPrompt(call, parties);
    return call.rejectWithTreatment(decision.status, decision.reason, decision.announcement, decision.disposition);
  }
}

/**
 * Resolves after the commands already queued on the Redis client have been written: node-redis
 * writes its queue in a setImmediate, and immediates run in the order they were set.
 */
function afterQueuedWrites(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
