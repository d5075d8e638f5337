/**
 * Reads the SDP out of a SIP message body, by its Content-Type. Pure; never throws.
 *
 * Read: application/sdp, and multipart/mixed or multipart/alternative (RFC 5621: SIP-I trunks
 * send SDP with an application/isup part), boundary quoted or not, CRLF or bare LF line ends,
 * nested multipart up to three levels. Only an application/sdp part is ever used; every other
 * part (ISUP, whose BCD digits no text scrubber sees, QSIG, XML, ...) is dropped unread. In
 * multipart/mixed the first usable SDP part wins, in multipart/alternative the last (RFC 2046:
 * the last is the richest). A part whose Content-Disposition is not "session" (early-session,
 * render, signal, ...) or whose Content-Transfer-Encoding is not an identity one is not used.
 *
 * A body without a Content-Type (RFC 3261 requires one) is read as SDP when it starts with
 * "v=0", and as multipart when its first line is a delimiter ("--boundary") closed later by
 * "--boundary--". That is safe because whatever is read is then only ever passed on as an SDP
 * rebuilt from an allowlist (src/sip/sdp.ts): a body misread this way can fail the call, never
 * leak. The same reading serves responses whose headers the adapter cannot see (drachtio-srf's
 * Dialog#modify resolves with the body of the 200 only).
 */
import { OutboundFailure } from './port.js';
import { isUsableSdp } from './sdp.js';

/** What a body holds for the call: nothing (a delayed offer), an SDP, or a refusal status. */
export type SdpBody =
  | { kind: 'none' }
  | { kind: 'sdp'; sdp: string }
  | { kind: 'refused'; status: 400 | 413 | 415 | 488; reason: string; detail: string };

/** The Accept header to send with a 415: the body types read here. */
export const ACCEPTED_TYPES = 'application/sdp, multipart/mixed, multipart/alternative';

const MAX_DEPTH = 3;
const MAX_BODY = 262_144;

const unsupported = (detail: string): SdpBody => ({ kind: 'refused', status: 415, reason: 'Unsupported Media Type', detail });
const unusable = (detail: string): SdpBody => ({ kind: 'refused', status: 488, reason: 'Not Acceptable Here', detail });
const malformed = (detail: string): SdpBody => ({ kind: 'refused', status: 400, reason: 'Bad Request', detail });

export interface MediaType {
  /** "type/subtype", lower case. */
  type: string;
  /** Parameters by lower-case name; values unquoted, case kept. */
  params: Map<string, string>;
}

/** Parses a Content-Type (or Content-Disposition) value: `type/subtype *(; name=value)`, quoted values included. */
export function parseMediaType(value: string): MediaType | null {
  const semi = value.indexOf(';');
  const type = (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
  if (!/^[a-z0-9!#$&^_.+-]+(\/[a-z0-9!#$&^_.+-]+)?$/.test(type)) return null;
  const params = new Map<string, string>();
  const re = /\s*;\s*([^\s=;]+)(?:\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;"]*)))?/y;
  re.lastIndex = semi < 0 ? value.length : semi;
  let m: RegExpExecArray | null;
  while ((m = re.exec(value)) !== null) {
    params.set((m[1] as string).toLowerCase(), m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? ''));
  }
  return { type, params };
}

/** Reads the SDP of a body with the given Content-Type (undefined: absent, or not known). */
export function readSdpBody(body: string | undefined, contentType: string | undefined): SdpBody {
  if (typeof body !== 'string' || body.trim() === '') return { kind: 'none' };
  if (body.length > MAX_BODY) return { kind: 'refused', status: 413, reason: 'Request Entity Too Large', detail: `body of ${body.length} characters` };
  return read(body, contentType === undefined || contentType.trim() === '' ? sniff(body) : contentType, 0);
}

/** The Content-Type a body without one is read as, or '' when it is neither SDP nor multipart. */
function sniff(body: string): string {
  const start = body.trimStart();
  if (/^v=0[ \t]*\r?\n/.test(start)) return 'application/sdp';
  const first = /^--([0-9A-Za-z'()+_,./:=?-]{1,70})[ \t]*\r?\n/.exec(start);
  if (first && start.includes(`--${first[1]}--`)) return `multipart/mixed; boundary="${first[1]}"`;
  return '';
}

function read(body: string, contentType: string, depth: number): SdpBody {
  const mt = parseMediaType(contentType);
  if (!mt) return unsupported(contentType ? 'unreadable Content-Type' : 'body without Content-Type that is not SDP');
  if (mt.type === 'application/sdp') return isUsableSdp(body) ? { kind: 'sdp', sdp: body } : unusable('application/sdp that is not a usable session description');
  if (mt.type !== 'multipart/mixed' && mt.type !== 'multipart/alternative') return unsupported(`Content-Type ${mt.type}`);
  if (depth >= MAX_DEPTH) return unsupported(`multipart nested deeper than ${MAX_DEPTH}`);
  const boundary = mt.params.get('boundary');
  if (!boundary || boundary.length > 70) return malformed(`${mt.type} without a usable boundary`);
  const parts = splitParts(body, boundary);
  if (!parts) return malformed(`${mt.type} without a part delimited by its boundary`);
  const ordered = mt.type === 'multipart/alternative' ? parts.reverse() : parts;
  let best: SdpBody = unsupported(`${mt.type} without an application/sdp part`);
  for (const part of ordered) {
    const result = readPart(part, depth);
    if (result.kind === 'sdp') return result;
    // An SDP that was there but unusable says more than a part of another type.
    if (result.kind === 'refused' && result.status === 488) best = result;
  }
  return best;
}

function readPart(part: string, depth: number): SdpBody {
  const { headers, content } = splitHeaders(part);
  const disposition = headers.get('content-disposition');
  if (disposition !== undefined && parseMediaType(disposition)?.type !== 'session') return unsupported('part not for the session');
  const encoding = headers.get('content-transfer-encoding')?.trim().toLowerCase();
  if (encoding !== undefined && encoding !== '7bit' && encoding !== '8bit' && encoding !== 'binary') return unsupported(`part in ${encoding}`);
  // RFC 2046: a part without a Content-Type is text/plain.
  return read(content, headers.get('content-type') ?? 'text/plain', depth + 1);
}

/**
 * The parts of a multipart body (RFC 2046 section 5.1.1): the text between delimiter lines
 * "--boundary" (each at the start of a line, the line end before it belonging to it), up to the
 * close delimiter "--boundary--" or, leniently, the end of the body. Null when there is no part.
 */
function splitParts(body: string, boundary: string): string[] | null {
  const dash = `--${boundary}`;
  const parts: string[] = [];
  let open = -1; // where the current part's content starts
  let from = 0;
  for (;;) {
    const at = body.indexOf(dash, from);
    if (at < 0) break;
    from = at + dash.length;
    if (at > 0 && body[at - 1] !== '\n') continue;
    const close = body.startsWith('--', from);
    const lineEnd = /^[ \t]*(\r?\n|$)/.exec(body.slice(from + (close ? 2 : 0), from + (close ? 2 : 0) + 80));
    if (!lineEnd) continue; // "--boundaryX...": not a delimiter
    if (open >= 0) {
      const end = at - (body[at - 2] === '\r' ? 2 : 1);
      parts.push(body.slice(open, Math.max(open, end)));
    }
    if (close) return parts.length ? parts : null;
    open = from + lineEnd[0].length;
  }
  if (open >= 0) parts.push(body.slice(open));
  return parts.length ? parts : null;
}

/** A part's headers by lower-case name (folded lines joined) and its content. */
function splitHeaders(part: string): { headers: Map<string, string>; content: string } {
  const headers = new Map<string, string>();
  const blank = /\r?\n\r?\n/.exec(part);
  const startsBlank = /^\r?\n/.exec(part);
  let head = '';
  let content: string;
  if (startsBlank) content = part.slice(startsBlank[0].length);
  else if (blank) {
    head = part.slice(0, blank.index);
    content = part.slice(blank.index + blank[0].length);
  } else {
    head = part;
    content = '';
  }
  let last = '';
  for (const line of head.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && last) {
      headers.set(last, `${headers.get(last) ?? ''} ${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    last = line.slice(0, colon).trim().toLowerCase();
    if (last === 'c') last = 'content-type';
    headers.set(last, line.slice(colon + 1).trim());
  }
  return { headers, content };
}

/**
 * A callee's final 2xx (or an answer to a re-INVITE) with no usable SDP: the attempt ends (the
 * adapter hangs the dialog up). An OutboundFailure, so call logic that does not know it treats
 * it as a failed attempt; `status` is the 488 maskbridge judged it with, not what the far end sent.
 */
export class NoUsableSdpError extends OutboundFailure {
  constructor(readonly detail: string) {
    super(488, 'Not Acceptable Here');
    this.message = `answer without usable SDP (${detail})`;
  }
}
