/**
 * Bearer-token check in constant time: both sides are reduced to SHA-256 digests, so the
 * comparison (crypto.timingSafeEqual) always runs over 32 bytes and neither the token's
 * content nor its length shows in how long a wrong guess takes to be refused.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** The bearer credential in an Authorization header ("Bearer <token>", scheme case-insensitive), or null. */
function bearerOf(header: string | undefined): string | null {
  if (header === undefined) return null;
  const m = /^Bearer +(.+)$/i.exec(header);
  return m ? (m[1] as string) : null;
}

/**
 * Returns the check for one configured token. With an empty token (auth off, allowed on
 * loopback only; see api.token) every request passes.
 */
export function bearerCheck(token: string): (authorization: string | undefined) => boolean {
  if (token === '') return () => true;
  const expected = digest(token);
  return (authorization) => {
    const presented = bearerOf(authorization);
    // A missing credential is compared too, so it takes as long as a wrong one.
    const ok = timingSafeEqual(digest(presented ?? ''), expected);
    return ok && presented !== null;
  };
}
