/**
 * The one SDP the other party ever gets: rebuilt from an allowlist. Pure; never throws.
 *
 * The body is parsed with sdp-transform, then a fresh session description is built holding only
 * what a user agent needs to set up media, each value checked against the syntax it must have:
 *   session  v=0; o= written fresh (username "-", the session id and version kept so re-offers
 *            still match, the origin's address when it is an IP literal, else the connection's);
 *            s=-; c=; t=; b=AS/TIAS/RR/RS; a=sendrecv|sendonly|recvonly|inactive; ICE
 *            (ice-ufrag, ice-pwd, ice-lite, ice-options); DTLS-SRTP (fingerprint, setup); group:BUNDLE.
 *   media    type, port, protocol, formats; c=; b=; rtpmap and fmtp of the listed formats;
 *            a=rtcp; rtcp-mux; rtcp-fb; direction; ptime/maxptime; ICE (ufrag, pwd, candidates,
 *            end-of-candidates); fingerprint, setup, connection; crypto (SDES-SRTP); mid;
 *            T.38 fax parameters (a=T38...).
 * Everything else is dropped: i=, u=, e=, p=, k=, z=, r=, a=label, a=ssrc (cname included),
 * a=msid, a=tool, a=X-*, and any attribute this list does not name. ICE, DTLS and SDES values
 * are random tokens, keys and hashes: they are kept because a phone using SRTP or ICE needs them,
 * and they go through the same number check as everything else.
 *
 * Then no value may still hold a protected number: each field's digits are compared with the
 * number's (all its digits, and its last nine), once as written and once with separators
 * (spaces, dots, dashes, parentheses, slashes, "+") removed, so "+91 98123 41234" is caught. An
 * optional value or a media format that holds one is dropped (a stream left with no format makes
 * the SDP unusable); a session id that holds one is replaced by a digest of itself (the same for
 * every re-offer), a session version by its last six digits. Validated IP literals and ports are
 * not checked: they cannot hold seven digits in a row, and an address's dots are its syntax.
 *
 * Lines of any other type, and attributes the allowlist does not name, are removed before
 * sdp-transform reads the body, so it never spends time on them.
 *
 * A body that is not SDP (no v=0, no o=, no m= line, a media line that does not parse, an active
 * stream with no valid connection address) has no usable SDP: null.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { parse } from 'sdp-transform';
import { writeSdp, type Bandwidth, type Candidate, type CleanMedia, type CleanSession, type Connection, type SharedAttributes } from './sdp-write.js';

/** Larger bodies are refused unread (a SIP message over UDP is far smaller). */
export const MAX_SDP_LENGTH = 65_536;

/** Digit runs that identify a number in free text: its full E.164 digits, and the last 9 when longer. */
export function numberNeedles(numbers: readonly string[]): string[] {
  const out = new Set<string>();
  for (const n of numbers) {
    const digits = n.replace(/\D/g, '');
    if (digits.length < 7) continue;
    out.add(digits);
    if (digits.length > 9) out.add(digits.slice(-9));
  }
  return [...out];
}

const SEPARATORS = /[\s.\-()/+]/g;

/** True when `value` holds a needle, as written or (with `separators`) with separators removed. */
function holds(value: unknown, needles: readonly string[], separators = true): boolean {
  if (needles.length === 0 || value === undefined || value === null) return false;
  const written = String(value);
  const joined = separators ? written.replace(SEPARATORS, '') : written;
  return needles.some((n) => written.includes(n) || joined.includes(n));
}

type Rec = Record<string, unknown>;
const asRec = (v: unknown): Rec | undefined => (v !== null && typeof v === 'object' ? (v as Rec) : undefined);
const asList = (v: unknown): Rec[] => (Array.isArray(v) ? v.map(asRec).filter((r): r is Rec => r !== undefined) : []);
const text = (v: unknown): string | undefined => (typeof v === 'string' || typeof v === 'number' ? String(v) : undefined);

function int(v: unknown, min: number, max: number): number | undefined {
  const s = text(v);
  if (s === undefined || !/^\d{1,10}$/.test(s)) return undefined;
  const n = Number(s);
  return n >= min && n <= max ? n : undefined;
}

/** `v` as text when it matches `re` (absent stays absent). */
function match(v: unknown, re: RegExp): string | undefined {
  const s = text(v);
  return s !== undefined && re.test(s) ? s : undefined;
}

function time(v: unknown): number | undefined {
  const s = text(v);
  if (s === undefined || !/^\d{1,5}(\.\d{1,3})?$/.test(s)) return undefined;
  const n = Number(s);
  return n > 0 ? n : undefined;
}

/** An IP literal of the stated version (4 or 6). */
function ipOf(version: unknown, address: unknown): Connection | undefined {
  const ip = text(address);
  const v = Number(version);
  if (ip === undefined || (v !== 4 && v !== 6) || isIP(ip) !== v) return undefined;
  return { version: v, ip };
}

const TOKEN = /^[A-Za-z0-9._-]{1,32}$/;
const ICE_CHARS = /^[A-Za-z0-9+/]{1,256}$/;
const DIRECTIONS = new Set(['sendrecv', 'sendonly', 'recvonly', 'inactive']);
const BANDWIDTHS = new Set(['AS', 'TIAS', 'RR', 'RS']);
/** The attributes read at all (plus a=T38...); every other a= line is removed before parsing. */
const ATTRIBUTES = new Set([
  'rtpmap', 'fmtp', 'rtcp', 'rtcp-fb', 'rtcp-mux', ...DIRECTIONS, 'ptime', 'maxptime', 'ice-ufrag', 'ice-pwd',
  'ice-lite', 'ice-options', 'candidate', 'end-of-candidates', 'fingerprint', 'setup', 'connection', 'crypto', 'mid', 'group',
]);

/** The lines worth parsing: v, o, c, b, t and m lines, and the attributes above. */
function allowedLines(sdp: string): string {
  let out = '';
  for (const line of sdp.split(/\r\n|\r|\n/)) {
    const type = line[0];
    if (line[1] !== '=') continue;
    if (type === 'a') {
      const colon = line.indexOf(':');
      const name = line.slice(2, colon < 0 ? undefined : colon).trimEnd();
      if (!ATTRIBUTES.has(name) && !name.startsWith('T38')) continue;
    } else if (type !== 'v' && type !== 'o' && type !== 'c' && type !== 'b' && type !== 't' && type !== 'm') continue;
    out += line + '\r\n';
  }
  return out;
}

/** Builds the clean parts from sdp-transform's parse; each value checked, and dropped if it holds a number. */
class Builder {
  constructor(readonly needles: readonly string[]) {}

  /** `value` unless one of `parts` holds a protected number. */
  keep<T>(value: T | undefined, ...parts: unknown[]): T | undefined {
    if (value === undefined) return undefined;
    return parts.some((p) => holds(p, this.needles)) ? undefined : value;
  }

  /** Builds each entry of `list`, keeping those that are valid and clean. */
  each<T>(list: unknown, build: (r: Rec) => T | undefined): T[] {
    return asList(list).map(build).filter((x): x is T => x !== undefined);
  }

  connection(c: unknown): Connection | undefined {
    const r = asRec(c);
    return r ? ipOf(r.version, r.ip) : undefined;
  }

  bandwidth(list: unknown): Bandwidth[] {
    return this.each(list, (b) => {
      const type = text(b.type);
      const limit = int(b.limit, 0, 10_000_000);
      if (!type || !BANDWIDTHS.has(type) || limit === undefined) return undefined;
      return this.keep({ type: type as Bandwidth['type'], limit }, limit);
    });
  }

  /** Attributes allowed at both levels: direction, ICE credentials and options, DTLS-SRTP. */
  shared(from: Rec, to: SharedAttributes): void {
    const direction = text(from.direction);
    if (direction && DIRECTIONS.has(direction)) to.direction = direction as SharedAttributes['direction'];
    const ufrag = this.keep(match(from.iceUfrag, ICE_CHARS), from.iceUfrag);
    if (ufrag) to.iceUfrag = ufrag;
    const pwd = this.keep(match(from.icePwd, ICE_CHARS), from.icePwd);
    if (pwd) to.icePwd = pwd;
    const options = this.keep(match(from.iceOptions, /^[A-Za-z0-9._-]{1,64}$/), from.iceOptions);
    if (options) to.iceOptions = options;
    const fp = asRec(from.fingerprint);
    const fpType = fp && match(fp.type, /^(sha-(1|224|256|384|512)|md5|md2)$/i);
    const fpHash = fp && this.keep(match(fp.hash, /^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){15,63}$/), fp.hash);
    if (fpType && fpHash) to.fingerprint = { type: fpType, hash: fpHash };
    const setup = match(from.setup, /^(actpass|active|passive|holdconn)$/);
    if (setup) to.setup = setup;
  }

  /** One media section, or null when its m= line is not usable (the whole SDP is then unusable). */
  media(m: Rec, session: Connection | undefined): CleanMedia | null {
    const type = match(m.type, /^[a-z]{1,16}$/i);
    const port = int(m.port, 0, 65_535);
    const protocol = match(m.protocol, /^[A-Za-z0-9]{1,16}(\/[A-Za-z0-9]{1,16}){0,4}$/);
    if (!type || port === undefined || !protocol) return null;
    const rtp = /(^|\/)RTP\//i.test(protocol);
    const formats = (text(m.payloads) ?? '').split(' ').filter(Boolean)
      .filter((f) => (rtp ? int(f, 0, 127) !== undefined : TOKEN.test(f) || f === '*') && !holds(f, this.needles));
    const connection = this.connection(m.connection);
    if (!formats.length || (port !== 0 && !connection && !session)) return null;
    const listed = (p: number): boolean => formats.includes(String(p));
    const out: CleanMedia = {
      type, port, protocol, formats, bandwidth: this.bandwidth(m.bandwidth),
      rtpmap: this.each(m.rtp, (r) => {
        const payload = int(r.payload, 0, 127);
        const codec = match(r.codec, TOKEN);
        const rate = int(r.rate, 1, 10_000_000);
        const channels = int(r.encoding, 1, 64);
        if (payload === undefined || !listed(payload) || !codec) return undefined;
        if ((r.rate !== undefined && rate === undefined) || (r.encoding !== undefined && channels === undefined)) return undefined;
        return this.keep({ payload, codec, rate, channels }, codec, rate, channels);
      }),
      fmtp: this.each(m.fmtp, (f) => {
        const payload = int(f.payload, 0, 127);
        const config = match(f.config, /^[\x21-\x7e][\x20-\x7e]{0,511}$/);
        if (payload === undefined || !listed(payload) || !config) return undefined;
        return this.keep({ payload, config: config.trim() }, config);
      }),
      rtcpMux: m.rtcpMux === 'rtcp-mux',
      rtcpFb: [],
      rtcpFbTrrInt: [],
      candidates: this.each(m.candidates, (c) => this.candidate(c)),
      endOfCandidates: false,
      crypto: this.each(m.crypto, (c) => {
        const id = int(c.id, 0, 999_999_999);
        const suite = match(c.suite, /^[A-Za-z0-9_]{1,64}$/);
        const config = match(c.config, /^inline:[A-Za-z0-9+/=|:^]{1,256}(;inline:[A-Za-z0-9+/=|:^]{1,256})*$/);
        const sessionParams = match(c.sessionConfig, /^[A-Za-z0-9_=]{1,64}$/);
        if (id === undefined || !suite || !config || (c.sessionConfig !== undefined && !sessionParams)) return undefined;
        return this.keep({ id, suite, config, sessionParams }, id, suite, config, sessionParams);
      }),
      t38: type === 'image'
        ? this.each(m.invalid, (a) => this.keep(match(a.value, /^T38[A-Za-z]{2,40}(:[A-Za-z0-9._-]{1,32})?$/), a.value))
        : [],
    };
    if (connection) out.connection = connection;
    out.endOfCandidates = out.candidates.length > 0 && m.endOfCandidates === 'end-of-candidates';
    this.rtcp(m, out);
    this.shared(m, out);
    const ptime = this.keep(time(m.ptime), m.ptime);
    if (ptime !== undefined) out.ptime = ptime;
    const maxptime = this.keep(time(m.maxptime), m.maxptime);
    if (maxptime !== undefined) out.maxptime = maxptime;
    const connectionType = match(m.connectionType, /^(new|existing)$/);
    if (connectionType) out.connectionType = connectionType as CleanMedia['connectionType'];
    const mid = this.keep(match(m.mid, TOKEN), m.mid);
    if (mid) out.mid = mid;
    return out;
  }

  private rtcp(m: Rec, out: CleanMedia): void {
    const r = asRec(m.rtcp);
    const port = r && int(r.port, 0, 65_535);
    if (r && port !== undefined) {
      const address = ipOf(r.ipVer, r.address);
      if (r.address === undefined) out.rtcp = { port };
      else if (address && r.netType === 'IN') out.rtcp = { port, address };
    }
    const fbPayload = (p: unknown): number | '*' | undefined => (p === '*' ? '*' : int(p, 0, 127));
    out.rtcpFb = this.each(m.rtcpFb, (f) => {
      const payload = fbPayload(f.payload);
      const type = match(f.type, /^[A-Za-z0-9_-]{1,32}$/);
      const subtype = match(f.subtype, /^[A-Za-z0-9_-]{1,32}$/);
      if (payload === undefined || !type || (f.subtype !== undefined && !subtype)) return undefined;
      return this.keep({ payload, type, subtype }, type, subtype);
    });
    out.rtcpFbTrrInt = this.each(m.rtcpFbTrrInt, (f) => {
      const payload = fbPayload(f.payload);
      const value = int(f.value, 0, 100_000_000);
      return payload === undefined || value === undefined ? undefined : this.keep({ payload, value }, value);
    });
  }

  private candidate(c: Rec): Candidate | undefined {
    const foundation = match(c.foundation, ICE_CHARS);
    const component = int(c.component, 1, 256);
    const transport = match(c.transport, /^(udp|tcp)$/i);
    const priority = int(c.priority, 0, 4_294_967_295);
    const ip = text(c.ip);
    const port = int(c.port, 0, 65_535);
    const type = match(c.type, /^(host|srflx|prflx|relay)$/);
    if (!foundation || component === undefined || !transport || priority === undefined || !ip || !isIP(ip) || port === undefined || !type) {
      return undefined;
    }
    const out: Candidate = { foundation, component, transport, priority, ip, port, type };
    const raddr = text(c.raddr);
    const rport = int(c.rport, 0, 65_535);
    if (raddr && isIP(raddr) && rport !== undefined) Object.assign(out, { raddr, rport });
    const tcptype = match(c.tcptype, /^(active|passive|so)$/);
    if (tcptype) out.tcptype = tcptype;
    const generation = int(c.generation, 0, 1_000_000);
    if (generation !== undefined) out.generation = generation;
    return this.keep(out, foundation, priority);
  }
}

/** A session id holding a protected number becomes a digest of itself: the same for every re-offer. */
function cleanSessionId(id: string, needles: readonly string[]): string {
  if (!holds(id, needles, false)) return id;
  for (let salt = 0; ; salt++) {
    const digest = createHash('sha256').update(`${salt}:${id}`).digest('hex');
    const digits = BigInt(`0x${digest.slice(0, 15)}`).toString().slice(0, 15);
    if (!holds(digits, needles, false)) return digits;
  }
}

/** The clean session description of `sdp`, or null when it holds no usable one. */
function build(sdp: string, protectedNumbers: readonly string[]): CleanSession | null {
  if (typeof sdp !== 'string' || sdp.length > MAX_SDP_LENGTH) return null;
  const lines = allowedLines(sdp);
  if (!/^v=0[ \t]*\r?$/m.test(lines)) return null;
  const parsed = parse(lines) as unknown as Rec;
  const origin = asRec(parsed.origin);
  if (parsed.version !== 0 || !origin || !Array.isArray(parsed.media) || parsed.media.length === 0) return null;
  const sessionId = match(origin.sessionId, /^\d{1,20}$/);
  const sessionVersion = match(origin.sessionVersion, /^\d{1,20}$/);
  if (!sessionId || !sessionVersion || origin.netType !== 'IN') return null;

  const b = new Builder(numberNeedles(protectedNumbers));
  const connection = b.connection(parsed.connection);
  const media: CleanMedia[] = [];
  for (const m of asList(parsed.media)) {
    const built = b.media(m, connection);
    if (!built) return null;
    media.push(built);
  }
  const timing = asRec(parsed.timing);
  const start = b.keep(int(timing?.start, 0, 4_294_967_295), timing?.start);
  const stop = b.keep(int(timing?.stop, 0, 4_294_967_295), timing?.stop);
  const mids = new Set(media.map((m) => m.mid));
  const out: CleanSession = {
    sessionId: cleanSessionId(sessionId, b.needles),
    // Its last six digits: still one more on each re-offer.
    sessionVersion: holds(sessionVersion, b.needles, false) ? String(Number(sessionVersion.slice(-6))) : sessionVersion,
    origin: ipOf(origin.ipVer, origin.address) ?? connection ?? media.find((m) => m.connection)?.connection ?? { version: 4, ip: '0.0.0.0' },
    bandwidth: b.bandwidth(parsed.bandwidth),
    timing: start === undefined || stop === undefined ? { start: 0, stop: 0 } : { start, stop },
    iceLite: parsed.icelite === 'ice-lite',
    bundle: b.each(parsed.groups, (g) => {
      const ids = (text(g.mids) ?? '').split(' ').filter((id) => mids.has(id));
      return g.type === 'BUNDLE' && ids.length ? ids : undefined;
    }),
    media,
  };
  if (connection) out.connection = connection;
  b.shared(parsed, out);
  return out;
}

/** The rebuilt SDP, or null when `sdp` holds no usable session description. Never throws. */
export function rebuildSdp(sdp: string, protectedNumbers: readonly string[]): string | null {
  try {
    const session = build(sdp, protectedNumbers);
    return session && writeSdp(session);
  } catch {
    return null; // sdp-transform on input it did not expect: nothing of it is sent
  }
}

/** True when `sdp` is a session description the rebuild can use (its structure; numbers aside). */
export function isUsableSdp(sdp: string): boolean {
  try {
    return build(sdp, []) !== null;
  } catch {
    return false;
  }
}
