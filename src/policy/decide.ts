import type { Cdr } from '../cdr/cdr.js';
import type { Treatment } from '../config/types.js';
import { unknownCallerOf, type LookupResult, type SessionRecord } from '../sessions/contract.js';
import { withinWindows } from '../sessions/windows.js';

export type Decision =
  | {
      action: 'bridge';
      sessionId: string;
      /** `unknown->a` / `unknown->b`: a caller with no session on V, connected by V's dedicated session (unknown_caller connect-a/-b). */
      direction: 'a->b' | 'b->a' | 'unknown->a' | 'unknown->b';
      /** The number to call (the other participant), E.164. */
      peer: string;
      record: boolean;
    }
  | {
      action: 'reject';
      sessionId: string;
      status: number;
      reason: string;
      /** Audio file to play before hanging up ('' = plain SIP rejection). */
      announcement: string;
      disposition: Cdr['disposition'];
    };

export interface DecisionPolicy {
  unknownCaller: Treatment;
  closedSession: Treatment;
  /** A session's call outside its time-of-day windows. */
  outsideWindow: Treatment;
  recordByDefault: boolean;
}

/** Pure: what to do with a call given the lookup result. Only an open, unexpired, consistent session bridges. */
export function decide(result: LookupResult, policy: DecisionPolicy, at: Date = new Date()): Decision {
  switch (result.kind) {
    case 'found':
      // A one-way session: B is told nothing about it (the unknown-caller treatment: the session's
      // own announcement, if it has one; connect-a/-b are for callers with no session, not for B).
      if (result.session.direction === 'a-to-b' && result.callerRole === 'b') {
        const own = unknownCallerOf(result.session);
        return reject(result.session.id, own.kind === 'announce' ? { ...policy.unknownCaller, announcement: own.file } : policy.unknownCaller, 'one-way-refused');
      }
      if (result.session.windows && !withinWindows(result.session.windows, result.session.tz, at)) {
        return reject(result.session.id, policy.outsideWindow, 'outside-window');
      }
      return {
        action: 'bridge',
        sessionId: result.session.id,
        direction: result.callerRole === 'a' ? 'a->b' : 'b->a',
        peer: result.peer,
        record: result.session.record ?? policy.recordByDefault,
      };
    case 'closed':
      return reject(result.session.id, policy.closedSession, 'session-closed');
    case 'unknown':
      if (result.dedicated) return dedicated(result.dedicated, policy, at);
      return reject('', policy.unknownCaller, 'unknown-caller');
    case 'malformed':
      return reject('', policy.unknownCaller, 'unknown-caller');
  }
}

/** A caller with no session on V, which is dedicated to `s`'s unknown callers (the lookup checked it is open, unexpired and on V). */
function dedicated(s: SessionRecord, policy: DecisionPolicy, at: Date): Decision {
  const t = unknownCallerOf(s);
  if (t.kind === 'announce') return reject(s.id, { ...policy.unknownCaller, announcement: t.file }, 'unknown-caller');
  if (t.kind === 'reject') return reject('', policy.unknownCaller, 'unknown-caller');
  if (s.windows && !withinWindows(s.windows, s.tz, at)) return reject(s.id, policy.outsideWindow, 'outside-window');
  return { action: 'bridge', sessionId: s.id, direction: t.to === 'a' ? 'unknown->a' : 'unknown->b', peer: s[t.to], record: s.record ?? policy.recordByDefault };
}

function reject(sessionId: string, t: Treatment, disposition: Cdr['disposition']): Decision {
  return { action: 'reject', sessionId, status: t.status, reason: t.reason, announcement: t.announcement, disposition };
}

/**
 * Maps the callee leg's final failure to what the caller hears and how the CDR classifies it.
 * Statuses that reveal nothing about the callee pass through; anything else is generalised.
 */
export function mapCalleeFailure(status: number): { status: number; reason: string; disposition: Cdr['disposition'] } {
  if (status === 486 || status === 600) return { status: 486, reason: 'Busy Here', disposition: 'busy' };
  if (status === 408 || status === 480) return { status: 480, reason: 'Temporarily Unavailable', disposition: 'no-answer' };
  if (status === 603) return { status: 603, reason: 'Decline', disposition: 'busy' };
  if (status === 404 || status === 484 || status === 604) return { status: 404, reason: 'Not Found', disposition: 'failed' };
  if (status >= 500 && status < 600) return { status: 503, reason: 'Service Unavailable', disposition: 'failed' };
  return { status: 502, reason: 'Bad Gateway', disposition: 'failed' };
}
