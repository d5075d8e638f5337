/**
 * sipp under load for bench/sipp-load.ts: the two scenarios, the command lines, and readers for
 * the files sipp writes (-trace_stat, -trace_rtt). Ideas from test/e2e/support/scenarios.ts, but
 * lean: one caller number per call from an injection file ([field0]), no identity-header zoo.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { send, xml } from '../../test/e2e/support/scenarios.js';

const FROM = 'From: <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]';
const TO = 'To: <sip:[service]@[remote_ip]:[remote_port]>';

/**
 * sipp streams `file` (raw G.711 A-law, 160 bytes a packet every 20 ms, looped) as RTP payload
 * type 8 from its rtpstream port ([rtpstream_audio_port] in the SDP) to the media address the
 * other side gave. Unlike pcap play, which sends through raw sockets (and Linux then copies every
 * UDP packet on the host to each of them), it uses one ordinary UDP socket per call and a few
 * sender threads for all calls.
 */
export const playStream = (file: string) => `  <nop>\n    <action>\n      <exec rtp_stream="${file},-1,8"/>\n    </action>\n  </nop>`;

/** An SDP body from sipp's own addresses: `version` is the o= line's session id and version, `media` the m= section. */
const sdpBody = (version: string, media: string) =>
  `v=0\no=- ${version} IN IP[local_ip_type] [local_ip]\ns=-\nc=IN IP[media_ip_type] [media_ip]\nt=0 0\n${media}`;

/** Media for a scenario: the SDP media section it offers or answers, and the XML that sends RTP. */
export interface ScenarioMedia {
  sdp: string;
  play: string;
}

/**
 * The trunk: INVITE (response-time timer "invite" starts), provisional responses, 200 (timer
 * stops), ACK, hold, BYE from the caller. With `media`, it offers that SDP media section and
 * sends RTP (`media.play`) from the ACK on.
 */
export function uacScenario(holdMs: number, media?: ScenarioMedia): string {
  return xml(media ? 'bench media caller' : 'bench trunk caller', [
    send(`
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
${FROM}
${TO}
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:[field0]@[local_ip]:[local_port]>
P-Asserted-Identity: <sip:[field0]@carrier.example>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

${sdpBody('53655765 2353687637', media?.sdp ?? 'm=audio [media_port] RTP/AVP 0 101\na=rtpmap:0 PCMU/8000\na=rtpmap:101 telephone-event/8000\na=sendrecv')}`, ' retrans="500" start_rtd="invite"'),
    ...['100', '180', '183', '180'].map((s) => `  <recv response="${s}" optional="true"/>`),
    '  <recv response="200" rrs="true" rtd="invite"/>',
    send(`
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
${FROM}
${TO}[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0`),
    ...(media ? [media.play] : []),
    `  <pause milliseconds="${holdMs}"/>`,
    send(`
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[routes]
${FROM}
${TO}[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0`, ' retrans="500"'),
    '  <recv response="200"/>',
    '  <timewait milliseconds="500"/>',
  ].join('\n'));
}


const reply = (status: string, extra = '') =>
  send(`SIP/2.0 ${status}\n[last_Via:]\n[last_From:]\n[last_To:]\n[last_Call-ID:]\n[last_CSeq:]\n${extra}Content-Length: 0`);

/**
 * The called phone behind the gateway: answers at once (180, 200), waits for ACK and BYE.
 * With `media`, it offers that SDP media section and sends RTP (`media.play`) from the ACK on.
 */
export function uasScenario(media?: ScenarioMedia): string {
  const to = '[last_To:];tag=[pid]SIPpTag01[call_number]';
  return xml(media ? 'bench media called phone' : 'bench called phone', [
    '  <recv request="INVITE"/>',
    send(`SIP/2.0 180 Ringing\n[last_Via:]\n[last_From:]\n${to}\n[last_Call-ID:]\n[last_CSeq:]\nContact: <sip:[local_ip]:[local_port]>\nContent-Length: 0`),
    send(`
SIP/2.0 200 OK
[last_Via:]
[last_From:]
${to}
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

${sdpBody('1 1', media?.sdp ?? 'm=audio [media_port] RTP/AVP 0\na=rtpmap:0 PCMU/8000')}`, ' retrans="500"'),
    '  <recv request="ACK"/>',
    ...(media ? [media.play] : []),
    '  <recv request="BYE"/>',
    reply('200 OK'),
    '  <timewait milliseconds="500"/>',
  ].join('\n'));
}

/** One caller per line, SEQUENTIAL: call n uses line n as [field0]. */
export function writeInjectionFile(path: string, callers: string[]): void {
  writeFileSync(path, `SEQUENTIAL\n${callers.map((c) => `${c};`).join('\n')}\n`);
}

export interface SippProcess {
  name: string;
  pid: number | null;
  /** Resolves with sipp's exit code (null when killed). */
  done: Promise<number | null>;
  kill(): void;
  stderr(): string;
}

/** Starts sipp in the foreground with cwd = dir, so its trace files land there. */
export function runSipp(name: string, dir: string, args: string[]): SippProcess {
  const child = spawn('sipp', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(null));
  });
  return { name, pid: child.pid ?? null, done, kill: () => child.kill('SIGKILL'), stderr: () => stderr };
}

/**
 * Waits for `p` to exit, killing it after `ms` (and calling `onKill`, e.g. to note it) if it has
 * not. Resolves with its exit code.
 */
export async function exitOrKill(p: SippProcess, ms: number, onKill?: () => void): Promise<number | null> {
  const timer = setTimeout(() => {
    onKill?.();
    p.kill();
  }, ms);
  try {
    return await p.done;
  } finally {
    clearTimeout(timer);
  }
}

/** The last row of a -trace_stat csv as name -> value (cumulative "(C)" columns are the totals). */
export function readStatCsv(path: string): Record<string, string> {
  if (!existsSync(path)) return {};
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim());
  const head = lines[0]?.split(';') ?? [];
  const last = lines.at(-1)?.split(';') ?? [];
  return Object.fromEntries(head.map((h, i) => [h.trim(), (last[i] ?? '').trim()]));
}

/**
 * sipp's own INVITE->200 response times (ms) from the *_rtt.csv files of `dir` whose name starts
 * with `prefix`. sipp measures them on its clock tick: whole milliseconds, in practice steps of
 * several ms, so readShortMessages() is the precise source.
 */
export function readRttMs(dir: string, prefix: string): number[] {
  const out: number[] = [];
  for (const f of readdirSync(dir).filter((n) => n.startsWith(prefix) && n.endsWith('_rtt.csv'))) {
    // Header "Date_ms;response_time_ms;rtd_no", then one line per measured call.
    const lines = readFileSync(join(dir, f), 'utf8').split('\n');
    const col = (lines[0] ?? '').split(';').findIndex((h) => h.trim() === 'response_time_ms');
    for (const line of lines.slice(1)) {
      const v = Number(line.split(';')[col < 0 ? 1 : col]);
      if (line.trim() && Number.isFinite(v)) out.push(v);
    }
  }
  return out;
}

export interface CallTimings {
  /** First INVITE sent -> first 180/183 received, ms, per call that got one. */
  toRinging: number[];
  /** First INVITE sent -> first 200 received for the INVITE, ms, per answered call. */
  toAnswer: number[];
}

/**
 * Per-call timings from a -trace_shortmsg log (tab separated: date, time, epoch seconds with
 * microseconds, S/R, Call-ID, CSeq, first line). sipp stamps each line with gettimeofday()
 * when it handles the message, so these keep microseconds.
 */
export function readShortMessages(path: string): CallTimings {
  const calls = new Map<string, { invite?: number; ringing?: number; answer?: number }>();
  if (!existsSync(path)) return { toRinging: [], toAnswer: [] };
  for (const [t, dir, callId, cseq, first] of shortLines(path)) {
    if (!cseq.endsWith('INVITE')) continue;
    let c = calls.get(callId);
    if (!c) calls.set(callId, (c = {}));
    if (dir === 'S' && first.startsWith('INVITE ')) c.invite ??= t;
    else if (dir === 'R' && /^SIP\/2\.0 18[03] /.test(first)) c.ringing ??= t;
    else if (dir === 'R' && first.startsWith('SIP/2.0 200 ')) c.answer ??= t;
  }
  const out: CallTimings = { toRinging: [], toAnswer: [] };
  for (const c of calls.values()) {
    if (c.invite === undefined) continue;
    if (c.ringing !== undefined) out.toRinging.push(c.ringing - c.invite);
    if (c.answer !== undefined) out.toAnswer.push(c.answer - c.invite);
  }
  return out;
}

/** Where a call's INVITE->200 went: the two crossings of the B2BUA, per call, ms. */
export interface LegSplit {
  /** The trunk's INVITE sent -> the phone receives its INVITE (drachtio twice, the B2BUA before it dials). */
  inbound: number[];
  /** The phone's 200 sent -> the trunk receives its 200 (drachtio twice, the B2BUA answering). */
  answerBack: number[];
}

/**
 * Pairs the UAC's and the UAS's -trace_shortmsg logs call by call. UAC call n (Call-ID
 * "n-pid@host") used line n of the SEQUENTIAL injection file; `indexOfUri` maps the Request-URI
 * the phone received back to that line (0-based), or null.
 */
export function readLegSplit(uacPath: string, uasPath: string, indexOfUri: (requestUri: string) => number | null): LegSplit {
  const out: LegSplit = { inbound: [], answerBack: [] };
  if (!existsSync(uacPath) || !existsSync(uasPath)) return out;
  const uac = new Map<number, { invite?: number; answer?: number }>();
  for (const [epoch, dir, callId, cseq, first] of shortLines(uacPath)) {
    const n = Number(/^(\d+)-/.exec(callId)?.[1] ?? Number.NaN) - 1;
    if (!Number.isInteger(n) || !cseq.endsWith('INVITE')) continue;
    const c = uac.get(n) ?? {};
    uac.set(n, c);
    if (dir === 'S' && first.startsWith('INVITE ')) c.invite ??= epoch;
    else if (dir === 'R' && first.startsWith('SIP/2.0 200 ')) c.answer ??= epoch;
  }
  const uas = new Map<string, { index: number | null; invite?: number; answer?: number }>();
  for (const [epoch, dir, callId, cseq, first] of shortLines(uasPath)) {
    if (!cseq.endsWith('INVITE')) continue;
    let c = uas.get(callId);
    if (!c && dir === 'R' && first.startsWith('INVITE ')) uas.set(callId, (c = { index: indexOfUri(first.split(' ')[1] ?? ''), invite: epoch }));
    if (c && dir === 'S' && first.startsWith('SIP/2.0 200 ')) c.answer ??= epoch;
  }
  for (const c of uas.values()) {
    const a = c.index === null ? undefined : uac.get(c.index);
    if (!a) continue;
    if (a.invite !== undefined && c.invite !== undefined) out.inbound.push(c.invite - a.invite);
    if (a.answer !== undefined && c.answer !== undefined) out.answerBack.push(a.answer - c.answer);
  }
  return out;
}

function shortLines(path: string): Array<[number, string, string, string, string]> {
  const rows: Array<[number, string, string, string, string]> = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const [, , epoch, dir, callId, cseq, first] = line.split('\t');
    if (epoch && dir && callId && cseq && first) rows.push([Number(epoch) * 1000, dir, callId, cseq, first]);
  }
  return rows;
}
