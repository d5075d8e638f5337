/**
 * The signature on every request maskbridge sends to a backend (webhooks, real-time hooks):
 * HMAC-SHA256 over `${timestamp}.${body}`, in the header
 *   MaskBridge-Signature: t=<unix seconds>,v1=<hex digest>
 * A receiver recomputes it with the shared secret, compares in constant time, and refuses a
 * timestamp older than its tolerance (replay protection; docs/webhooks.md).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'maskbridge-signature';

export function sign(secret: string, body: string, unixSec: number): string {
  const digest = createHmac('sha256', secret).update(`${unixSec}.${body}`).digest('hex');
  return `t=${unixSec},v1=${digest}`;
}

export type SignatureCheck = { ok: true } | { ok: false; reason: 'malformed' | 'stale' | 'mismatch' };

/** Checks a signature header against the body; `toleranceSec` bounds the timestamp's age (and skew). */
export function verify(secret: string, body: string, header: string, nowSec: number, toleranceSec = 300): SignatureCheck {
  const m = /^t=(\d{1,12}),v1=([0-9a-f]{64})$/.exec(header.trim());
  if (!m) return { ok: false, reason: 'malformed' };
  const t = Number(m[1]);
  if (Math.abs(nowSec - t) > toleranceSec) return { ok: false, reason: 'stale' };
  const expected = Buffer.from(sign(secret, body, t).slice(-64), 'hex');
  const given = Buffer.from(m[2] as string, 'hex');
  return timingSafeEqual(expected, given) ? { ok: true } : { ok: false, reason: 'mismatch' };
}
