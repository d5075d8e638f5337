/**
 * sipp for the load benchmarks (bench/sipp-load.ts, bench/media-load.ts): the two scenarios
 * (signalling only, or G.711 A-law RTP both ways), a uas-then-uac run, and readers for the files
 * sipp writes (-trace_stat, -trace_rtt, -trace_shortmsg). Ideas from test/e2e/support/scenarios.ts,
 * but lean: one caller number per call from an injection file ([field0]), no identity-header zoo.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { linearToAlaw } from '../../test/e2e/support/pcap.js';
import { send, xml } from '../../test/e2e/support/scenarios.js';
import { freeUdpPort } from '../../test/e2e/support/servers.js';
import { V, type OnExit } from './harness.js';
import { sleep } from './report.js';

const FROM = 'From: <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]';
const TO = 'To: <sip:[service]@[remote_ip]:[remote_port]>';

const CODECS = 'RTP/AVP 8 101\na=rtpmap:8 PCMA/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\na=ptime:20\na=sendrecv';

/**
 * With `rtp`, a side offers PCMA and, from the ACK on, sipp streams that file (raw G.711 A-law,
 * 160 bytes a packet every 20 ms, looped) as RTP payload type 8 from its rtpstream port to the
 * media address the other side gave: one ordinary UDP socket per call and a few sender threads
 * for all calls (pcap play, by contrast, sends through raw sockets, and Linux then copies every
 * UDP packet on the host to each of them).
 */
const media = (rtp: string | undefined, plain: string) => rtp
  ? { sdp: `m=audio [rtpstream_audio_port] ${CODECS}`, play: [`  <nop>\n    <action>\n      <exec rtp_stream="${rtp},-1,8"/>\n    </action>\n  </nop>`] }
  : { sdp: plain, play: [] };

/** An SDP body from sipp's own addresses: `version` is the o= line's session id and version, `media` the m= section. */
const sdpBody = (version: string, media: string) =>
  `v=0\no=- ${version} IN IP[local_ip_type] [local_ip]\ns=-\nc=IN IP[media_ip_type] [media_ip]\nt=0 0\n${media}`;

/**
 * The trunk: INVITE (response-time timer "invite" starts), provisional responses (a
 * media-anchored call gets 183 with the media server's SDP first), 200 (timer stops), ACK, hold
 * (with RTP from `rtp`), BYE from the caller.
 */
export function uacScenario(holdMs: number, rtp?: string): string {
  const m = media(rtp, 'm=audio [media_port] RTP/AVP 0 101\na=rtpmap:0 PCMU/8000\na=rtpmap:101 telephone-event/8000\na=sendrecv');
  return xml(rtp ? 'bench media caller' : 'bench trunk caller', [
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

${sdpBody('53655765 2353687637', m.sdp)}`, ' retrans="500" start_rtd="invite"'),
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
    ...m.play,
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
 * The called phone behind the gateway: answers at once (180, 200), waits for ACK and BYE, with
 * RTP from `rtp` from the ACK on.
 */
export function uasScenario(rtp?: string): string {
  const to = '[last_To:];tag=[pid]SIPpTag01[call_number]';
  const m = media(rtp, 'm=audio [media_port] RTP/AVP 0\na=rtpmap:0 PCMU/8000');
  return xml(rtp ? 'bench media called phone' : 'bench called phone', [
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

${sdpBody('1 1', m.sdp)}`, ' retrans="500"'),
    '  <recv request="ACK"/>',
    ...m.play,
    '  <recv request="BYE"/>',
    reply('200 OK'),
    '  <timewait milliseconds="500"/>',
  ].join('\n'));
}

/** One caller per line, SEQUENTIAL: call n uses line n as [field0]. */
export function writeInjectionFile(path: string, callers: string[]): void {
  writeFileSync(path, `SEQUENTIAL\n${callers.map((c) => `${c};`).join('\n')}\n`);
}

/** A `hz` tone as raw G.711 A-law at 8 kHz, `seconds` long: the file rtp_stream sends. */
export function writeToneAlaw(path: string, hz: number, seconds: number, amplitude = 10000): void {
  const out = Buffer.alloc(Math.round(seconds * 8000));
  for (let n = 0; n < out.length; n++) out[n] = linearToAlaw(Math.round(amplitude * Math.sin((2 * Math.PI * hz * n) / 8000)));
  writeFileSync(path, out);
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

/** Waits for `p` to exit, killing it after `ms` (and calling `onKill`) if it has not; its exit code. */
async function exitOrKill(p: SippProcess, ms: number, onKill?: () => void): Promise<number | null> {
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

export interface SippPair {
  dir: string;
  /** drachtio-server's SIP address, host:port. */
  target: string;
  /** The SEQUENTIAL injection file of callers (writeInjectionFile). */
  injection: string;
  calls: number;
  rate: number;
  /** sipp's -timeout: the ramp, the hold and this much more; the uac is killed 20 s after it. */
  holdMs: number;
  slackSec: number;
  uac: { scenario: string; args: string[]; port?: number };
  uas: { scenario: string; args: string[]; port: number };
  /** Flags for both. */
  common?: string[];
  /** How long the uas may go on after the uac ended before it is killed. */
  uasGraceMs: number;
  /** Where kills and sipp's stderr are noted. */
  notes?: string[];
  onExit?: OnExit;
  /** After the uas started, before the uac starts (the clock starts after it). */
  beforeUac?: () => unknown;
  /** Once both run (pins, samplers). */
  started?: (uac: SippProcess, uas: SippProcess) => void;
  /** Once the uac ended, before waiting for the uas. */
  uacEnded?: () => unknown;
}

export interface SippOutcome {
  uacExit: number | null;
  uasExit: number | null;
  /** From the uac's start to its exit. */
  elapsedSec: number;
  stats: SippStats;
}

/** The phone (uas) on its gateway port, 300 ms later the trunk (uac) calling it through drachtio; both bounded. */
export async function runSippPair(o: SippPair): Promise<SippOutcome> {
  const timeoutSec = Math.ceil(o.calls / o.rate + o.holdMs / 1000 + o.slackSec);
  const common = ['-i', '127.0.0.1', '-m', String(o.calls), '-nostdin', '-timeout', `${timeoutSec}s`, '-trace_stat', ...(o.common ?? [])];
  const scenario = (name: string, text: string) => (writeFileSync(join(o.dir, name), text), name);
  const uas = runSipp('uas', o.dir, ['-sf', scenario('uas.xml', o.uas.scenario), '-p', String(o.uas.port), '-mp', String(await freeUdpPort()),
    '-stf', 'uas-stat.csv', ...o.uas.args, ...common]);
  o.onExit?.(() => uas.kill());
  await sleep(300);
  await o.beforeUac?.();
  const t0 = Date.now();
  const uac = runSipp('uac', o.dir, [o.target, '-sf', scenario('uac.xml', o.uac.scenario), '-inf', o.injection, '-s', V,
    '-p', String(o.uac.port ?? await freeUdpPort()), '-mp', String(await freeUdpPort()), '-r', String(o.rate), '-rp', '1000',
    '-stf', 'uac-stat.csv', ...o.uac.args, ...common]);
  o.onExit?.(() => uac.kill());
  o.started?.(uac, uas);
  const uacExit = await exitOrKill(uac, (timeoutSec + 20) * 1000, () => o.notes?.push(`uac killed after ${timeoutSec + 20}s`));
  const elapsedSec = (Date.now() - t0) / 1000;
  await o.uacEnded?.();
  const uasExit = await exitOrKill(uas, o.uasGraceMs, () => o.notes?.push(`uas killed ${o.uasGraceMs / 1000} s after the uac ended`));
  for (const p of [uac, uas]) {
    const stderr = p.stderr().replace(/Resolving remote host[^\n]*\n?/g, '').trim();
    if (stderr) o.notes?.push(`${p.name} stderr: ${stderr.split('\n')[0]}`);
  }
  return { uacExit, uasExit, elapsedSec, stats: readSippStats(o.dir) };
}

export interface SippStats {
  attempted: number;
  succeeded: number;
  failedUac: number;
  failedUas: number;
  retransmissions: number;
  /** The Failed* counters above 0, as "FailedCallRejected 3", per side. */
  failures: { uac: string[]; uas: string[] };
}

/** The totals of uac-stat.csv and uas-stat.csv in `dir`. */
export function readSippStats(dir: string): SippStats {
  const [uac, uas] = ['uac', 'uas'].map((side) => readStatCsv(join(dir, `${side}-stat.csv`))) as [Record<string, string>, Record<string, string>];
  const n = (stat: Record<string, string>, key: string) => Number(stat[`${key}(C)`] || 0);
  const failures = (stat: Record<string, string>) => Object.entries(stat)
    .filter(([k, v]) => /^Failed.+\(C\)$/.test(k) && Number(v) > 0).map(([k, v]) => `${k.replace('(C)', '')} ${v}`);
  return {
    attempted: n(uac, 'OutgoingCall'), succeeded: n(uac, 'SuccessfulCall'), failedUac: n(uac, 'FailedCall'), failedUas: n(uas, 'FailedCall'),
    retransmissions: n(uac, 'Retransmissions') + n(uas, 'Retransmissions'), failures: { uac: failures(uac), uas: failures(uas) },
  };
}

/** The last row of a -trace_stat csv as name -> value (cumulative "(C)" columns are the totals). */
function readStatCsv(path: string): Record<string, string> {
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
