/**
 * The shape of a rebuilt SDP (src/sip/sdp.ts builds it from allowlisted, checked values) and
 * its serialisation. Only what these types hold can ever be written.
 *
 * Written here rather than by sdp-transform's writer: that one walks its whole grammar for the
 * session and for every media section (a third of the rebuild's time), and formats the session
 * version as a JavaScript number, which loses digits of a 64-bit version.
 */

export interface Connection {
  version: 4 | 6;
  ip: string;
}

export interface Bandwidth {
  type: 'AS' | 'TIAS' | 'RR' | 'RS';
  limit: number;
}

/** Attributes allowed at session and media level. */
export interface SharedAttributes {
  direction?: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
  iceUfrag?: string;
  icePwd?: string;
  iceOptions?: string;
  fingerprint?: { type: string; hash: string };
  setup?: string;
}

export interface Candidate {
  foundation: string;
  component: number;
  transport: string;
  priority: number;
  ip: string;
  port: number;
  type: string;
  raddr?: string;
  rport?: number;
  tcptype?: string;
  generation?: number;
}

export interface CleanMedia extends SharedAttributes {
  type: string;
  port: number;
  protocol: string;
  formats: string[];
  connection?: Connection;
  bandwidth: Bandwidth[];
  mid?: string;
  rtpmap: Array<{ payload: number; codec: string; rate?: number; channels?: number }>;
  fmtp: Array<{ payload: number; config: string }>;
  rtcp?: { port: number; address?: Connection };
  rtcpMux: boolean;
  rtcpFb: Array<{ payload: number | '*'; type: string; subtype?: string }>;
  rtcpFbTrrInt: Array<{ payload: number | '*'; value: number }>;
  candidates: Candidate[];
  endOfCandidates: boolean;
  connectionType?: 'new' | 'existing';
  crypto: Array<{ id: number; suite: string; config: string; sessionParams?: string }>;
  ptime?: number;
  maxptime?: number;
  /** a=T38... lines of an image/udptl stream, as "Name" or "Name:value". */
  t38: string[];
}

export interface CleanSession extends SharedAttributes {
  /** Decimal digits, kept as text: 64-bit values do not fit a number. */
  sessionId: string;
  sessionVersion: string;
  origin: Connection;
  connection?: Connection;
  bandwidth: Bandwidth[];
  timing: { start: number; stop: number };
  iceLite: boolean;
  bundle: string[][];
  media: CleanMedia[];
}

const conn = (c: Connection): string => `IN IP${c.version} ${c.ip}`;

function shared(lines: string[], a: SharedAttributes): void {
  if (a.iceUfrag) lines.push(`a=ice-ufrag:${a.iceUfrag}`);
  if (a.icePwd) lines.push(`a=ice-pwd:${a.icePwd}`);
  if (a.iceOptions) lines.push(`a=ice-options:${a.iceOptions}`);
  if (a.fingerprint) lines.push(`a=fingerprint:${a.fingerprint.type} ${a.fingerprint.hash}`);
  if (a.setup) lines.push(`a=setup:${a.setup}`);
}

function media(lines: string[], m: CleanMedia): void {
  lines.push(`m=${m.type} ${m.port} ${m.protocol} ${m.formats.join(' ')}`);
  if (m.connection) lines.push(`c=${conn(m.connection)}`);
  for (const b of m.bandwidth) lines.push(`b=${b.type}:${b.limit}`);
  if (m.mid) lines.push(`a=mid:${m.mid}`);
  for (const r of m.rtpmap) {
    const rate = r.rate === undefined ? '' : `/${r.rate}${r.channels === undefined ? '' : `/${r.channels}`}`;
    lines.push(`a=rtpmap:${r.payload} ${r.codec}${rate}`);
  }
  for (const f of m.fmtp) lines.push(`a=fmtp:${f.payload} ${f.config}`);
  if (m.rtcp) lines.push(`a=rtcp:${m.rtcp.port}${m.rtcp.address ? ` ${conn(m.rtcp.address)}` : ''}`);
  if (m.rtcpMux) lines.push('a=rtcp-mux');
  for (const f of m.rtcpFb) lines.push(`a=rtcp-fb:${f.payload} ${f.type}${f.subtype ? ` ${f.subtype}` : ''}`);
  for (const f of m.rtcpFbTrrInt) lines.push(`a=rtcp-fb:${f.payload} trr-int ${f.value}`);
  shared(lines, m);
  if (m.connectionType) lines.push(`a=connection:${m.connectionType}`);
  for (const c of m.candidates) {
    let line = `a=candidate:${c.foundation} ${c.component} ${c.transport} ${c.priority} ${c.ip} ${c.port} typ ${c.type}`;
    if (c.raddr !== undefined && c.rport !== undefined) line += ` raddr ${c.raddr} rport ${c.rport}`;
    if (c.tcptype) line += ` tcptype ${c.tcptype}`;
    if (c.generation !== undefined) line += ` generation ${c.generation}`;
    lines.push(line);
  }
  if (m.endOfCandidates) lines.push('a=end-of-candidates');
  for (const c of m.crypto) lines.push(`a=crypto:${c.id} ${c.suite} ${c.config}${c.sessionParams ? ` ${c.sessionParams}` : ''}`);
  if (m.ptime !== undefined) lines.push(`a=ptime:${m.ptime}`);
  if (m.maxptime !== undefined) lines.push(`a=maxptime:${m.maxptime}`);
  if (m.direction) lines.push(`a=${m.direction}`);
  for (const t of m.t38) lines.push(`a=${t}`);
}

/** The SDP text of `s`, CRLF line ends (RFC 4566). */
export function writeSdp(s: CleanSession): string {
  const lines = ['v=0', `o=- ${s.sessionId} ${s.sessionVersion} ${conn(s.origin)}`, 's=-'];
  if (s.connection) lines.push(`c=${conn(s.connection)}`);
  for (const b of s.bandwidth) lines.push(`b=${b.type}:${b.limit}`);
  lines.push(`t=${s.timing.start} ${s.timing.stop}`);
  for (const mids of s.bundle) lines.push(`a=group:BUNDLE ${mids.join(' ')}`);
  if (s.iceLite) lines.push('a=ice-lite');
  shared(lines, s);
  if (s.direction) lines.push(`a=${s.direction}`);
  for (const m of s.media) media(lines, m);
  return lines.join('\r\n') + '\r\n';
}
