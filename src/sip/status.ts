/**
 * Which SIP statuses drachtio-srf can send, and what to send instead of one it cannot. Pure.
 *
 * drachtio-srf's Response#send (lib/response.js) throws for any status that is not a key of its
 * reason-phrase table, the `sip-status` package (0.1.0 with drachtio-srf 5.0.29): 607 Unwanted,
 * 608 Rejected, 425, 499, 555 and every other code missing from it cannot be sent at all. The
 * table is copied here rather than read from drachtio-srf's dependency at run time (it is not part
 * of drachtio-srf's API); test/unit/sip-status.test.ts compares the copy with the library's own.
 */

/** The keys of sip-status 0.1.0 (node_modules/sip-status/index.js), i.e. what Response#send accepts. */
const SENDABLE: ReadonlySet<number> = new Set([
  100, 180, 181, 182, 183, 199,
  200, 202, 204,
  300, 301, 302, 305, 380,
  400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417,
  420, 421, 422, 423, 424, 428, 429, 430, 433, 436, 437, 438, 439, 470,
  480, 481, 482, 483, 484, 485, 486, 487, 488, 489, 491, 493, 494,
  500, 501, 502, 503, 504, 505, 513, 580,
  600, 603, 604, 606,
]);

/** Every status drachtio-srf can send, ascending (for error messages and tests). */
export const SENDABLE_STATUSES: readonly number[] = [...SENDABLE].sort((a, b) => a - b);

/** True when drachtio-srf's Response#send accepts `n` (for config validation). */
export function isSendableStatus(n: unknown): n is number {
  return typeof n === 'number' && SENDABLE.has(n);
}

/**
 * What a failure is answering: `offer` = a mid-call SDP offer (a re-INVITE or UPDATE) the other
 * side refused; `final` = anything else.
 */
export type StatusContext = 'offer' | 'final';

/**
 * `status` when drachtio-srf can send it, else the fallback of its class:
 *   1xx -> 183 and 2xx..5xx -> x00, as RFC 3261 8.1.3.2 tells a UAC to read an unknown code,
 *   except: 4xx answering an offer -> 488 Not Acceptable Here (the offer was not taken, whatever
 *   the far end's reason), and 6xx -> 603 Decline (607 Unwanted and 608 Rejected are refusals;
 *   600 Busy Everywhere would tell the caller's phone the callee is busy).
 * Anything that is not a status at all (not an integer in 100..699) -> 500.
 */
export function sendableStatus(status: number, context: StatusContext = 'final'): number {
  if (SENDABLE.has(status)) return status;
  if (!Number.isInteger(status) || status < 100 || status > 699) return 500;
  const cls = Math.floor(status / 100);
  if (cls === 1) return 183;
  if (cls === 4) return context === 'offer' ? 488 : 400;
  if (cls === 6) return 603;
  return cls * 100;
}
