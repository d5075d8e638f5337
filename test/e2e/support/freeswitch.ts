/**
 * FreeSWITCH for the end-to-end suite: started here as the Compose service runs it (binary on
 * PATH or MB_E2E_FREESWITCH_BIN; see startFreeswitch), or a running one named by MB_E2E_FREESWITCH
 * (host:port:secret of its event socket; it must then share MB_E2E_RECORDINGS_DIR with this host).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { ServiceRemapper, testStack } from './compose.js';
import { freeswitchEslPort, hostEnv, untilListening } from './compose-services.js';
import { onPath, stopProcess, type Resolved, type StartOptions } from './servers.js';

export interface FreeswitchTarget {
  esl: { host: string; port: number; secret: string };
  recordingsDir: string;
  stop(): Promise<void>;
  /** Starts it again on the same ports after stop(); absent for a server this suite did not start. */
  start?(): Promise<void>;
}

export function resolveFreeswitch(env: NodeJS.ProcessEnv = process.env): Resolved<FreeswitchTarget> {
  if (env.MB_E2E_FREESWITCH) {
    const [host, port, ...secret] = env.MB_E2E_FREESWITCH.split(':');
    const recordingsDir = env.MB_E2E_RECORDINGS_DIR;
    if (!recordingsDir) return { ok: false, reason: 'MB_E2E_FREESWITCH is set but MB_E2E_RECORDINGS_DIR (the recordings volume as seen here) is not' };
    return {
      ok: true,
      start: async () => ({ esl: { host: host as string, port: Number(port), secret: secret.join(':') }, recordingsDir, stop: async () => undefined }),
    };
  }
  const bin = env.MB_E2E_FREESWITCH_BIN ?? onPath('freeswitch');
  if (!bin) {
    return { ok: false, reason: 'no FreeSWITCH: put `freeswitch` on PATH, or set MB_E2E_FREESWITCH_BIN, or MB_E2E_FREESWITCH=host:port:secret for a running one (docs/testing.md)' };
  }
  const modDir = env.MB_E2E_FREESWITCH_MODULES ?? [join(dirname(bin), '..', 'mod'), join(dirname(bin), '..', 'lib', 'freeswitch', 'mod'), '/usr/lib/freeswitch/mod']
    .find((d) => existsSync(join(d, 'mod_sofia.so')));
  if (!modDir) return { ok: false, reason: `FreeSWITCH at ${bin} has no mod_sofia.so next to it; set MB_E2E_FREESWITCH_MODULES` };
  return { ok: true, start: (dir, opts) => startFreeswitch(bin, modDir, dir, opts ?? {}) };
}

/**
 * Host additions to the Compose entrypoint: what the image provides and a host install does
 * not. The image's own folders (its base /usr/local/freeswitch and what lies under it) go to the
 * test folder like any container path; -mod names this host's module folder; -np keeps the
 * host's scheduler priority (in the container FreeSWITCH cannot raise it anyway).
 */
const IMAGE_DIRS: ReadonlyArray<readonly [flag: string, containerPath: string]> = [
  ['-base', '/usr/local/freeswitch'],
  ...['run', 'temp', 'storage', 'cache', 'certs', 'scripts', 'htdocs', 'grammar', 'sounds'].map((d) => [`-${d}`, `/usr/local/freeswitch/${d}`] as const),
];

/**
 * FreeSWITCH as the Compose service `freeswitch` runs it: its entrypoint, environment and
 * mounted config folder (docker/freeswitch), remapped by compose.ts (REMAP.freeswitch), plus
 * the host additions above. `opts.rtpPorts` sizes the RTP range (default: Compose's).
 */
async function startFreeswitch(bin: string, modDir: string, dir: string, opts: StartOptions): Promise<FreeswitchTarget> {
  const stack = testStack();
  const r = ServiceRemapper.for(stack, 'freeswitch', dir, {}, opts.rtpPorts);
  r.materialise();
  // argv[0] is the binary: launch() passes the rest.
  const args = (await r.argv(bin)).slice(1);
  const composeEnv = await r.env();
  for (const [flag, path] of IMAGE_DIRS) {
    if (args.includes(flag)) continue;
    const p = r.path(path);
    mkdirSync(p, { recursive: true });
    args.push(flag, p);
  }
  args.push('-mod', modDir, '-np');
  const env = { ...hostEnv(), ...composeEnv };
  const composeArgv = [...(r.service.entrypoint ?? []), ...(r.service.command ?? [])];
  const flag = (f: string) => {
    const i = composeArgv.indexOf(f);
    return i >= 0 ? composeArgv[i + 1] : undefined;
  };
  const recordings = flag('-recordings');
  if (!recordings) throw new Error('service freeswitch: no -recordings on its entrypoint');
  for (const f of ['-log', '-db', '-recordings']) {
    const p = flag(f);
    if (p) mkdirSync(r.path(p), { recursive: true });
  }
  const esl = { host: '127.0.0.1', port: await r.port(freeswitchEslPort(stack)), secret: composeEnv.MB_FS_ESL_PASSWORD ?? '' };
  const logFile = join(dir, 'freeswitch.out');
  let proc = await launch(bin, args, env, esl, logFile);
  return {
    esl,
    recordingsDir: r.path(recordings),
    stop: () => stopProcess(proc, 8000),
    start: async () => {
      proc = await launch(bin, args, env, esl, logFile);
    },
  };
}

async function launch(bin: string, args: string[], env: NodeJS.ProcessEnv, esl: FreeswitchTarget['esl'], logFile: string): Promise<ChildProcess> {
  const log = createWriteStream(logFile, { flags: 'a' });
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  proc.stdout?.pipe(log, { end: false });
  proc.stderr?.pipe(log, { end: false });
  await untilListening(proc, esl.host, esl.port, 30_000, logFile, 'FreeSWITCH (Compose service freeswitch)');
  // The event socket opens before sofia's profile is up; wait until the profile answers.
  const deadline = Date.now() + 20_000;
  while (!(await eslApi(esl, 'sofia status').catch(() => '')).includes('drachtio_mrf')) {
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`FreeSWITCH profile drachtio_mrf did not come up (log: ${logFile})`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return proc;
}

/** One ESL `api` command over a fresh inbound connection; resolves with the reply body. */
export function eslApi(esl: { host: string; port: number; secret: string }, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(esl.port, esl.host);
    let buf = '';
    let stage: 'auth' | 'authed' | 'api' = 'auth';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('ESL timeout'));
    }, 5000);
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('data', (d: Buffer) => {
      buf += d.toString();
      for (;;) {
        const end = buf.indexOf('\n\n');
        if (end < 0) return;
        const head = buf.slice(0, end);
        const len = Number(/Content-Length: (\d+)/.exec(head)?.[1] ?? 0);
        if (buf.length < end + 2 + len) return;
        const body = buf.slice(end + 2, end + 2 + len);
        buf = buf.slice(end + 2 + len);
        if (stage === 'auth' && head.includes('auth/request')) {
          sock.write(`auth ${esl.secret}\n\n`);
          stage = 'authed';
        } else if (stage === 'authed' && head.includes('command/reply')) {
          if (!head.includes('+OK')) return reject(new Error('ESL auth failed'));
          sock.write(`api ${command}\n\n`);
          stage = 'api';
        } else if (stage === 'api' && head.includes('api/response')) {
          clearTimeout(timer);
          sock.end();
          return resolve(body);
        }
      }
    });
  });
}

/** Live channels on the server, from `show channels count`. */
/** Calls FreeSWITCH has bridged (two channels each). */
export async function bridgedCount(esl: FreeswitchTarget['esl']): Promise<number> {
  const body = await eslApi(esl, 'show bridged_calls count');
  const m = /(\d+) total/.exec(body);
  if (!m) throw new Error(`unexpected reply: ${body}`);
  return Number(m[1]);
}

export async function channelCount(esl: FreeswitchTarget['esl']): Promise<number> {
  const body = await eslApi(esl, 'show channels count');
  const m = /(\d+) total/.exec(body);
  if (!m) throw new Error(`unexpected reply: ${body}`);
  return Number(m[1]);
}
