/** Runs sipp for one call and returns what it sent and received. */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

export function sippAvailable(): string | null {
  const r = spawnSync('sipp', ['-v'], { encoding: 'utf8' });
  return r.error ? 'sipp is not installed (Debian package sip-tester)' : null;
}

export interface SippRun {
  name: string;
  scenarioXml: string;
  dir: string;
  localIp: string;
  localPort: number;
  /** host:port to send to (UAC); omit for a UAS. */
  remote?: string;
  service?: string;
  keys?: Record<string, string>;
  timeoutSec?: number;
  /** Calls to take (a UAS) or place before exiting; default 1. */
  calls?: number;
  /** New calls per second (a UAC placing several); sipp's default is 10. */
  rate?: number;
  /** More calls at once than sipp's default limit (-l). */
  limit?: number;
  /** Skip -trace_msg (a flood of thousands of calls would write megabytes for nothing). */
  quiet?: boolean;
}

export interface SippResult {
  code: number | null;
  /** Every SIP message sipp sent or received, as logged by -trace_msg. */
  messages: string;
  /** The same log as bytes (a binary body, an ISUP part say, is only exact here). */
  raw: Buffer;
  stderr: string;
}

export function startSipp(run: SippRun): { done: Promise<SippResult>; kill: () => void } {
  const scenario = join(run.dir, `${run.name}.xml`);
  const messageFile = join(run.dir, `${run.name}.messages.log`);
  // The scenarios declare ISO-8859-1: one character, one byte (a binary body part needs that).
  writeFileSync(scenario, run.scenarioXml, 'latin1');
  const args = [
    ...(run.remote ? [run.remote] : []),
    '-sf', scenario,
    '-i', run.localIp,
    '-p', String(run.localPort),
    '-m', String(run.calls ?? 1),
    '-bg', '-nostdin',
    ...(run.quiet ? [] : ['-trace_msg', '-message_file', messageFile]),
    '-trace_err', '-error_file', join(run.dir, `${run.name}.errors.log`),
    '-timeout', String(run.timeoutSec ?? 20), '-timeout_error',
    '-mi', run.localIp, '-mp', String(run.localPort + 2),
  ];
  if (run.service) args.push('-s', run.service);
  if (run.rate) args.push('-r', String(run.rate), '-rp', '1000');
  if (run.limit) args.push('-l', String(run.limit));
  for (const [k, v] of Object.entries(run.keys ?? {})) args.push('-key', k, v);
  // -bg forks; run in the foreground instead so the exit code is the call's result.
  const fgArgs = args.filter((a) => a !== '-bg');
  const child = spawn('sipp', fgArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<SippResult>((resolve) => {
    child.on('exit', (code) => {
      const raw = existsSync(messageFile) ? readFileSync(messageFile) : Buffer.alloc(0);
      const messages = raw.toString('utf8');
      const errFile = join(run.dir, `${run.name}.errors.log`);
      const errors = existsSync(errFile) ? readFileSync(errFile, 'utf8') : '';
      resolve({ code, messages, raw, stderr: stderr + errors });
    });
  });
  return { done, kill: () => child.kill('SIGKILL') };
}

/** The first final response status in a UAC message log. */
export function finalStatus(messages: string): number | null {
  for (const m of messages.matchAll(/^SIP\/2\.0 (\d{3})/gm)) {
    const status = Number(m[1]);
    if (status >= 200) return status;
  }
  return null;
}

export interface LoggedMessage {
  /** Epoch ms, from sipp's log line. */
  at: number;
  direction: 'sent' | 'received';
  text: string;
}

/** The messages of a -trace_msg log with the time sipp logged each (local time, as sipp writes it). */
export function loggedMessages(messages: string): LoggedMessage[] {
  const out: LoggedMessage[] = [];
  const re = /^-{10,} (\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{6})\r?\n\S+ message (sent|received)[^\n]*\n/gm;
  const heads = [...messages.matchAll(re)];
  heads.forEach((m, i) => {
    const [y, mo, d, h, mi, sec, us] = m.slice(1, 8).map(Number) as [number, number, number, number, number, number, number];
    const start = m.index + m[0].length;
    const end = i + 1 < heads.length ? heads[i + 1]!.index : messages.length;
    out.push({ at: new Date(y, mo - 1, d, h, mi, sec, us / 1000).getTime(), direction: m[8] as 'sent' | 'received', text: messages.slice(start, end).trim() });
  });
  return out;
}
