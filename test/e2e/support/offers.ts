/** What the e2e phones put in their offers and RTCP to betray their numbers, and reading an SDP back. */
import { A, B } from './bed.js';
import type { MediaOpts } from './scenarios.js';

/** "+91 98123 41234": how a person writes the number (a scrubber looking for its digits in a row misses it). */
export const spaced = (e164: string) => `${e164.slice(0, 3)} ${e164.slice(3, 8)} ${e164.slice(8)}`;

/**
 * Lines a carrier or a softphone adds to the caller's SDP, each holding A in some form, plus one
 * harmless attribute (ptime) the allowlist keeps.
 */
export const JUNK_SDP: NonNullable<MediaOpts['extraLines']> = {
  session: [`u=http://carrier.example/cust/${A}`, `e=alice.${A.slice(1)}@carrier.example (Alice Customer)`, `p=${spaced(A)}`],
  media: ['a=ptime:20', `a=X-orig:${spaced(A)}`, `a=ssrc:1 cname:sip:${A}@carrier`, `a=label:${A.slice(3, 8)}-${A.slice(8)}`, `a=tool:Alice phone 0${A.slice(3)}`],
};

/** RTCP SDES items of a softphone whose CNAME is its own SIP URI. */
export const SDES_A = { cname: `sip:${A}@phone.example`, name: spaced(A) };
export const SDES_B = { cname: `sip:${B}@phone.example`, name: spaced(B) };

/** The SDP of a logged SIP message ('' when it has none). */
export function sdpOf(message: string): string {
  const at = message.search(/^v=0/m);
  return at < 0 ? '' : message.slice(at).trim();
}
