/**
 * What crosses from one party to the other. Pure.
 *
 * Headers: an allowlist. The outbound INVITE carries only the headers built here (From, To,
 * P-Asserted-Identity); nothing of the caller's INVITE is copied, so P-Asserted-Identity,
 * P-Preferred-Identity, Remote-Party-ID, Privacy, Diversion, History-Info, Referred-By,
 * Call-Info, display names and every X- header stay behind. Responses back to the caller are
 * likewise built from scratch (status + scrubbed SDP): no PAI/RPID/Contact user of the callee.
 *
 * SDP: rebuilt from an allowlist (src/sip/sdp.ts): only the fields a user agent needs to set up
 * media go across, written fresh, and none that still holds a protected number.
 */
import { NoUsableSdpError } from './body.js';
import type { InviteInfo, OutboundRequest } from './port.js';
import { numberNeedles, rebuildSdp } from './sdp.js';

export const LEAK_HEADERS = [
  'P-Asserted-Identity',
  'P-Preferred-Identity',
  'Remote-Party-ID',
  'Privacy',
  'Diversion',
  'History-Info',
  'Referred-By',
  'Call-Info',
] as const;

export interface OutboundTarget {
  virtualNumber: string;
  peer: string;
  gateway: string;
  transport: 'udp' | 'tcp' | 'tls';
  fromHost: string;
  numberFormat: 'e164' | 'e164-no-plus';
  auth?: { username: string; password: string };
}

/** A gateway's own URI (its OPTIONS ping): sip:host:port, with the transport when not UDP. */
export function gatewayUri(gateway: string, transport: OutboundTarget['transport']): string {
  return `${transport === 'tls' ? 'sips' : 'sip'}:${gateway}${transport === 'udp' ? '' : `;transport=${transport}`}`;
}

export function formatNumber(e164: string, format: OutboundTarget['numberFormat']): string {
  return format === 'e164-no-plus' ? e164.replace(/^\+/, '') : e164;
}

/**
 * The INVITE towards the other party, from the caller's INVITE: identity = the virtual number,
 * body = the caller's SDP scrubbed. No header of the caller's INVITE is read, let alone copied.
 */
export function buildOutboundRequest(t: OutboundTarget, callerInvite: Pick<InviteInfo, 'sdp'>, protectedNumbers: string[]): OutboundRequest {
  const v = formatNumber(t.virtualNumber, t.numberFormat);
  const peer = formatNumber(t.peer, t.numberFormat);
  const scheme = t.transport === 'tls' ? 'sips' : 'sip';
  const transportParam = t.transport === 'udp' ? '' : `;transport=${t.transport}`;
  const identity = `<${scheme}:${v}@${t.fromHost}>`;
  const req: OutboundRequest = {
    uri: `${scheme}:${peer}@${t.gateway}${transportParam}`,
    headers: {
      From: identity,
      To: `<${scheme}:${peer}@${t.gateway}>`,
      'P-Asserted-Identity': identity,
    },
    sdp: scrubSdp(callerInvite.sdp, protectedNumbers),
  };
  if (t.auth) req.auth = t.auth;
  return req;
}

/** True when `text` contains any of `numbers` (E.164), with or without country code. */
export function containsNumber(text: string, numbers: string[]): boolean {
  return numberNeedles(numbers).some((needle) => text.includes(needle));
}

/**
 * The SDP to send the other party: `sdp` (the SDP part of a body, src/sip/body.ts) rebuilt from
 * the allowlist of src/sip/sdp.ts, with no value holding any of `protectedNumbers`, digits
 * written with separators included. '' when `sdp` is empty or holds no usable session
 * description (no v=0, no o=, no m= line, garbage). Never throws.
 *
 * The session id and version of o= are kept (unless they hold a number), so a re-offer still
 * matches the session it changes; nothing is incremented here.
 */
export function scrubSdp(sdp: string, protectedNumbers: string[]): string {
  if (!sdp || !sdp.trim()) return '';
  return rebuildSdp(sdp, protectedNumbers) ?? '';
}

/**
 * scrubSdp for an offer or answer that must go on: an SDP that was there but is not usable once
 * rebuilt throws NoUsableSdpError (488), so it is refused rather than passed on as no SDP at all
 * (which would turn an offer into a delayed offer).
 */
export function scrubRequired(sdp: string, protectedNumbers: string[]): string {
  const out = scrubSdp(sdp, protectedNumbers);
  if (!out && sdp.trim()) throw new NoUsableSdpError('nothing usable is left once rebuilt');
  return out;
}
