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
}

export interface SippResult {
  code: number | null;
  /** Every SIP message sipp sent or received, as logged by -trace_msg. */
  messages: string;
  stderr: string;
}

export function startSipp(run: SippRun): { done: Promise<SippResult>; kill: () => void } {
  const scenario = join(run.dir, `${run.name}.xml`);
  const messageFile = join(run.dir, `${run.name}.messages.log`);
  writeFileSync(scenario, run.scenarioXml);
  const args = [
    ...(run.remote ? [run.remote] : []),
    '-sf', scenario,
    '-i', run.localIp,
    '-p', String(run.localPort),
    '-m', '1',
    '-bg', '-nostdin',
    '-trace_msg', '-message_file', messageFile,
    '-trace_err', '-error_file', join(run.dir, `${run.name}.errors.log`),
    '-timeout', String(run.timeoutSec ?? 20), '-timeout_error',
    '-mi', run.localIp, '-mp', String(run.localPort + 2),
  ];
  if (run.service) args.push('-s', run.service);
  for (const [k, v] of Object.entries(run.keys ?? {})) args.push('-key', k, v);
  // -bg forks; run in the foreground instead so the exit code is the call's result.
  const fgArgs = args.filter((a) => a !== '-bg');
  const child = spawn('sipp', fgArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<SippResult>((resolve) => {
    child.on('exit', (code) => {
      const messages = existsSync(messageFile) ? readFileSync(messageFile, 'utf8') : '';
      const errFile = join(run.dir, `${run.name}.errors.log`);
      const errors = existsSync(errFile) ? readFileSync(errFile, 'utf8') : '';
      resolve({ code, messages, stderr: stderr + errors });
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
