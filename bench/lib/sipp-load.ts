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
import { resolveFreeswitch, type FreeswitchTarget } from '../../test/e2e/support/freeswitch.js';
import { freeUdpPort, onPath, resolveDrachtio, type DrachtioTarget, type Resolved } from '../../test/e2e/support/servers.js';
import { V, type OnExit } from './harness.js';
import { header, sleep } from './report.js';
import { buildChildren, runtimeNote } from './server-child.js';

type Found<T> = Extract<Resolved<T>, { ok: true }>;

/**
 * drachtio-server, FreeSWITCH (when `freeswitch`) and sipp, or null after saying why the
 * benchmark skips; then builds the server children and prints the header and what runs them.
 */
export function sipBench(title: string, children: string, freeswitch = false): { drachtio: Found<DrachtioTarget>; freeswitch: Found<FreeswitchTarget> | null } | null {
  const d = resolveDrachtio();
  const f = freeswitch ? resolveFreeswitch() : null;
  const why = !d.ok ? `drachtio-server not found: skipped (${d.reason})` : f && !f.ok ? `FreeSWITCH not found: skipped (${f.reason})`
    : !onPath('sipp') ? 'sipp not found: skipped (Debian package sip-tester)' : null;
  if (why || !d.ok || (f && !f.ok)) return console.log(why), null;
  buildChildren();
  header(title);
  console.log(runtimeNote(children));
  return { drachtio: d, freeswitch: f };
}

const FROM = 'From: <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]';
const TO = 'To: <sip:[service]@[remote_ip]:[remote_port]>';
const VIA = 'Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]';
const CODECS = 'RTP/AVP 8 101\na=rtpmap:8 PCMA/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\na=ptime:20\na=sendrecv';

/**
 * With `rtp`, a side offers PCMA and, from the ACK on, sipp streams that file (raw G.711 A-law,
 * 160 bytes a packet every 20 ms, looped) as RTP payload type 8 from its rtpstream port: one
 * ordinary UDP socket per call (pcap play sends through raw sockets, and Linux then copies every
 * UDP packet on the host to each of them). Without, it offers `plain` and sends no RTP.
 */
const media = (rtp: string | undefined, plain: string) => rtp
  ? { sdp: `m=audio [rtpstream_audio_port] ${CODECS}`, play: [`  <nop>\n    <action>\n      <exec rtp_stream="${rtp},-1,8"/>\n    </action>\n  </nop>`] }
  : { sdp: plain, play: [] };

/** An SDP body from sipp's own addresses: `version` is the o= line's session id and version, `media` the m= section. */
const sdpBody = (version: string, media: string) =>
  `v=0\no=- ${version} IN IP[local_ip_type] [local_ip]\ns=-\nc=IN IP[media_ip_type] [media_ip]\nt=0 0\n${media}`;

/** The caller's ACK or BYE in the dialog. */
const inDialog = (method: string, cseq: number, attrs?: string) =>
  send(`\n${method} [next_url] SIP/2.0\n${VIA}\n[routes]\n${FROM}\n${TO}[peer_tag_param]\nCall-ID: [call_id]\nCSeq: ${cseq} ${method}\nMax-Forwards: 70\nContent-Length: 0`, attrs);

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
${VIA}
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
    inDialog('ACK', 1),
    ...m.play,
    `  <pause milliseconds="${holdMs}"/>`,
    inDialog('BYE', 2, ' retrans="500"'),
    '  <recv response="200"/>',
    '  <timewait milliseconds="500"/>',
  ].join('\n'));
}

/** The called phone behind the gateway: answers at once (180, 200), waits for ACK and BYE, with RTP from `rtp` from the ACK on. */
export function uasScenario(rtp?: string): string {
  const m = media(rtp, 'm=audio [media_port] RTP/AVP 0\na=rtpmap:0 PCMU/8000');
  const head = '[last_Via:]\n[last_From:]\n[last_To:];tag=[pid]SIPpTag01[call_number]\n[last_Call-ID:]\n[last_CSeq:]\nContact: <sip:[local_ip]:[local_port]>';
  return xml(rtp ? 'bench media called phone' : 'bench called phone', [
    '  <recv request="INVITE"/>',
    send(`SIP/2.0 180 Ringing\n${head}\nContent-Length: 0`),
    send(`\nSIP/2.0 200 OK\n${head}\nContent-Type: application/sdp\nContent-Length: [len]\n\n${sdpBody('1 1', m.sdp)}`, ' retrans="500"'),
    '  <recv request="ACK"/>',
    ...m.play,
    '  <recv request="BYE"/>',
    send('SIP/2.0 200 OK\n[last_Via:]\n[last_From:]\n[last_To:]\n[last_Call-ID:]\n[last_CSeq:]\nContent-Length: 0'),
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

/** sipp in the foreground with cwd = dir, so its trace files land there; wait() kills it after `ms` if it has not exited. */
function runSipp(name: string, dir: string, args: string[]) {
  const child = spawn('sipp', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(null));
  });
  const kill = () => child.kill('SIGKILL');
  const wait = (ms: number, onKill: () => void) => {
    const timer = setTimeout(() => (onKill(), kill()), ms);
    return done.finally(() => clearTimeout(timer));
  };
  return { name, pid: child.pid ?? null, kill, wait, stderr: () => stderr };
}

export interface SippPair {
  /** Where the scenarios and sipp's files go; `target` is drachtio-server's SIP host:port; `injection` the callers' file. */
  dir: string;
  target: string;
  injection: string;
  /** sipp's -timeout is the ramp (calls / rate), the hold and `slackSec`; the uac is killed 20 s after it. */
  calls: number;
  rate: number;
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
  /** Hooks: after the uas started, before the uac (the clock starts after it); once both run; once the uac ended. */
  beforeUac?: () => unknown;
  started?: (pids: { uac: number | null; uas: number | null }) => void;
  uacEnded?: () => unknown;
}

/** The phone (uas) on its gateway port, 300 ms later the trunk (uac) calling it through drachtio; both bounded. */
export async function runSippPair(o: SippPair): Promise<{ uacExit: number | null; uasExit: number | null; elapsedSec: number; stats: SippStats }> {
  const timeoutSec = Math.ceil(o.calls / o.rate + o.holdMs / 1000 + o.slackSec);
  const common = ['-i', '127.0.0.1', '-m', String(o.calls), '-nostdin', '-timeout', `${timeoutSec}s`, '-trace_stat', ...(o.common ?? [])];
  const scenario = (name: string, text: string) => (writeFileSync(join(o.dir, name), text), name);
  const uas = runSipp('uas', o.dir, ['-sf', scenario('uas.xml', o.uas.scenario), '-p', String(o.uas.port), '-mp', String(await freeUdpPort()),
    '-stf', 'uas-stat.csv', ...o.uas.args, ...common]);
  o.onExit?.(uas.kill);
  await sleep(300);
  await o.beforeUac?.();
  const t0 = Date.now();
  const uac = runSipp('uac', o.dir, [o.target, '-sf', scenario('uac.xml', o.uac.scenario), '-inf', o.injection, '-s', V,
    '-p', String(o.uac.port ?? await freeUdpPort()), '-mp', String(await freeUdpPort()), '-r', String(o.rate), '-rp', '1000',
    '-stf', 'uac-stat.csv', ...o.uac.args, ...common]);
  o.onExit?.(uac.kill);
  o.started?.({ uac: uac.pid, uas: uas.pid });
  const uacExit = await uac.wait((timeoutSec + 20) * 1000, () => o.notes?.push(`uac killed after ${timeoutSec + 20}s`));
  const elapsedSec = (Date.now() - t0) / 1000;
  await o.uacEnded?.();
  const uasExit = await uas.wait(o.uasGraceMs, () => o.notes?.push(`uas killed ${o.uasGraceMs / 1000} s after the uac ended`));
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

/**
 * Per call (Call-ID) of a -trace_shortmsg log (tab separated: date, time, epoch seconds with
 * microseconds, S/R, Call-ID, CSeq, first line), ms: its INVITE first sent or received (and the
 * Request-URI), its first 180/183 and its first 200 for the INVITE. sipp stamps each line with
 * gettimeofday() when it handles the message, so these keep microseconds.
 */
function inviteTimes(path: string): Map<string, { invite?: number; uri?: string; ringing?: number; answer?: number }> {
  const calls = new Map<string, { invite?: number; uri?: string; ringing?: number; answer?: number }>();
  if (!existsSync(path)) return calls;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const [, , epoch, dir, callId, cseq, first] = line.split('\t');
    if (!epoch || !dir || !callId || !cseq?.endsWith('INVITE') || !first) continue;
    const t = Number(epoch) * 1000;
    const c = calls.get(callId) ?? {};
    calls.set(callId, c);
    if (first.startsWith('INVITE ')) {
      c.invite ??= t;
      c.uri ??= first.split(' ')[1] ?? '';
    } else if (/^SIP\/2\.0 18[03] /.test(first)) c.ringing ??= t;
    else if (first.startsWith('SIP/2.0 200 ')) c.answer ??= t;
  }
  return calls;
}

/** From the UAC's log: INVITE sent -> first 180/183, and -> first 200, ms, per call that got one. */
export function readShortMessages(path: string): { toRinging: number[]; toAnswer: number[] } {
  const out = { toRinging: [] as number[], toAnswer: [] as number[] };
  for (const c of inviteTimes(path).values()) {
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
  const uac = new Map([...inviteTimes(uacPath)].map(([id, c]) => [Number(/^(\d+)-/.exec(id)?.[1] ?? Number.NaN) - 1, c]));
  for (const c of inviteTimes(uasPath).values()) {
    const index = c.uri === undefined ? null : indexOfUri(c.uri);
    const a = index === null ? undefined : uac.get(index);
    if (!a) continue;
    if (a.invite !== undefined && c.invite !== undefined) out.inbound.push(c.invite - a.invite);
    if (a.answer !== undefined && c.answer !== undefined) out.answerBack.push(a.answer - c.answer);
  }
  return out;
}
