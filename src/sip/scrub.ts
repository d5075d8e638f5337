/**
 * What crosses from one party to the other. Pure.
 *
 * Headers: an allowlist. The outbound INVITE carries only the headers built here (From, To,
 * P-Asserted-Identity); nothing of the caller's INVITE is copied, so P-Asserted-Identity,
 * P-Preferred-Identity, Remote-Party-ID, Privacy, Diversion, History-Info, Referred-By,
 * Call-Info, display names and every X- header stay behind. Responses back to the caller are
 * likewise built from scratch (status + scrubbed SDP): no PAI/RPID/Contact user of the callee.
 *
 * SDP: rewritten so no field echoes a party (o= username, s=, i=, u=, e=, p=, k= and media i=),
 * then any line still carrying a protected number is dropped.
 */
import type { InviteInfo, OutboundRequest } from './port.js';

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

/** Digit runs that identify a number in free text: full E.164 digits and the last 9+ digits. */
function numberNeedles(numbers: string[]): string[] {
  const out = new Set<string>();
  for (const n of numbers) {
    const digits = n.replace(/\D/g, '');
    if (digits.length < 7) continue;
    out.add(digits);
    if (digits.length > 9) out.add(digits.slice(-9));
  }
  return [...out];
}

/** True when `text` contains any of `numbers` (E.164), with or without country code. */
export function containsNumber(text: string, numbers: string[]): boolean {
  return numberNeedles(numbers).some((needle) => text.includes(needle));
}

/**
 * Rewrites identifying SDP fields; returns '' for an empty body. Never throws.
 *
 * A line filter, not a parse and re-write: every line is kept byte for byte except
 *   o=  the username becomes "-" (the session id and version stay: re-offers must keep them),
 *   s=  becomes "s=-",
 *   i=, u=, e=, p=, k= (session or media level) and a=label: are dropped,
 * and then any line still holding a protected number is dropped. Nothing else needs to be
 * understood to do that, and nothing is reordered or normalised on the way through.
 */
export function scrubSdp(sdp: string, protectedNumbers: string[]): string {
  if (!sdp || !sdp.trim()) return '';
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const needles = numberNeedles(protectedNumbers);
  let out = '';
  for (const line of sdp.split(/\r?\n/)) {
    const kept = scrubLine(line);
    if (kept === null || needles.some((n) => kept.includes(n))) continue;
    out += kept + eol;
  }
  return out;
}

/** SDP line types that only ever describe a party: session/media information, URI, email, phone, key. */
const DROPPED_TYPES = new Set(['i', 'u', 'e', 'p', 'k']);

function scrubLine(line: string): string | null {
  if (line === '') return null;
  if (line[1] !== '=') return line;
  const type = line[0] as string;
  if (DROPPED_TYPES.has(type)) return null;
  if (type === 's') return 's=-';
  if (type === 'o') {
    const space = line.indexOf(' ');
    return space > 0 ? `o=-${line.slice(space)}` : 'o=- 0 0 IN IP4 0.0.0.0';
  }
  if (type === 'a' && line.startsWith('a=label:')) return null;
  return line;
}
