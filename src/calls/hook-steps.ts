/**
 * Where a call asks the real-time hooks (src/hooks/, docs/hooks.md): the intercept hook before
 * every B-leg, the out-of-session hook for a caller with no session on V. The hooks never
 * reject; what they answer (or their fail policy decided) is carried out and logged here.
 */
import type { LookupResult, SessionRecord } from '../sessions/contract.js';
import type { CallParties } from '../sip/identify.js';
import type { CallSession } from './call-session.js';

/**
 * Asks the intercept hook, when one is configured, before the other party is called. False when
 * the call may not go on: refused here (hook-denied, or hook-failed under the closed policy), or
 * ended while the hook was asked. `session` null: a call the out-of-session hook routed.
 */
export async function interceptAllows(call: CallSession, parties: CallParties, session: SessionRecord | null, peer: string): Promise<boolean> {
  const hook = call.deps.hooks?.intercept;
  if (!hook) return true;
  const { fmt } = call.deps;
  const state = call.currentState;
  const direction = call.direction.endsWith('->a') ? 'b->a' : 'a->b';
  // A caller with no session on V whom V's dedicated session connects speaks for no participant.
  const from = call.direction.startsWith('unknown') ? 'unknown' : direction === 'a->b' ? 'a' : 'b';
  const meta = session?.meta === undefined ? undefined : parseMeta(session.meta);
  const verdict = await hook.ask({
    call_id: call.callId, session_id: session?.id ?? '', virtual_number: parties.virtualNumber, direction, from,
    caller: parties.caller, callee: peer, ...(meta !== undefined ? { meta } : {}),
  });
  if (call.currentState !== state) return false; // cancelled, or ended otherwise, while the hook was asked
  const fields = () => ({
    outcome: verdict.outcome, ...(verdict.action === 'deny' ? { status: verdict.status } : {}), ...(verdict.problem ? { problem: fmt(verdict.problem) } : {}),
  });
  if (verdict.action === 'allow') {
    if (verdict.outcome !== 'allow') call.line('warn', 'intercept hook failed; failing open: calling the other party', fields);
    return true;
  }
  if (verdict.disposition === 'hook-denied') call.line('info', 'intercept hook denied the call', fields);
  else call.line('warn', 'intercept hook failed; failing closed', fields);
  call.fail(verdict.status, verdict.reason, verdict.disposition, '');
  return false;
}

/** What the call does after the out-of-session hook. */
export type OutOfSessionStep =
  /** The hook created a session: the call goes on as for a session the lookup found. */
  | { next: 'session'; result: LookupResult }
  /** Call `to`, with no session. */
  | { next: 'route'; to: string; record: boolean }
  /** The treatment without the hook (PIN prompt or calls.unknownCaller). */
  | { next: 'static' }
  /** Nothing more: refused here, or the call ended while the hook was asked. */
  | { next: 'done' };

/** Asks the out-of-session hook about a caller the lookup found no session for. */
export async function askOutOfSession(call: CallSession, parties: CallParties): Promise<OutOfSessionStep> {
  const hook = call.deps.hooks?.outOfSession;
  if (!hook) return { next: 'static' };
  const { fmt } = call.deps;
  const verdict = await hook.ask({ call_id: call.callId, virtual_number: parties.virtualNumber, caller: parties.caller });
  if (call.currentState !== 'routing') return { next: 'done' };
  switch (verdict.action) {
    case 'session': {
      const s = verdict.session;
      call.line('info', 'out-of-session hook created a session', () => ({ createdSession: s.id, callee: fmt(s.b) }));
      return { next: 'session', result: { kind: 'found', session: s, callerRole: 'a', peer: s.b } };
    }
    case 'route':
      call.line('info', 'out-of-session hook routed the call', () => ({ callee: fmt(verdict.to) }));
      return { next: 'route', to: verdict.to, record: verdict.record ?? call.deps.policy.decision.recordByDefault };
    case 'static':
      if (verdict.outcome !== 'none') {
        call.line('warn', 'out-of-session hook failed; failing open: static treatment', () => ({ outcome: verdict.outcome, problem: fmt(verdict.problem ?? '') }));
      }
      return { next: 'static' };
    case 'reject':
      call.line('warn', 'out-of-session hook failed; failing closed', () => ({ outcome: verdict.outcome, status: verdict.status, problem: fmt(verdict.problem) }));
      call.fail(verdict.status, '', 'hook-failed', '');
      return { next: 'done' };
  }
}

function parseMeta(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
