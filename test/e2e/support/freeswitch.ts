/**
 * FreeSWITCH for the end-to-end suite: started here with a config generated in the test's temp
 * dir (binary on PATH or MB_E2E_FREESWITCH_BIN), or a running one named by MB_E2E_FREESWITCH
 * (host:port:secret of its event socket; it must then share MB_E2E_RECORDINGS_DIR with this host).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { freePort } from '../../helpers/redis-server.js';
import { freeUdpPort, onPath, stopProcess, waitForTcp, type Resolved, type StartOptions } from './servers.js';

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

async function startFreeswitch(bin: string, modDir: string, dir: string, opts: StartOptions): Promise<FreeswitchTarget> {
  const eslPort = await freePort();
  const sipPort = await freeUdpPort();
  const rtpPorts = opts.rtpPorts ?? 100;
  const rtpStart = 20000 + Math.floor(Math.random() * 20) * 100;
  const secret = 'ClueCon';
  // The shipped config (docker/freeswitch/freeswitch.xml), with loopback values from the environment.
  const conf = join(dir, 'fs-conf');
  mkdirSync(conf, { recursive: true });
  copyFileSync('docker/freeswitch/freeswitch.xml', join(conf, 'freeswitch.xml'));
  const env = {
    ...process.env,
    MB_FS_ESL_IP: '127.0.0.1', MB_FS_ESL_PORT: String(eslPort), MB_FS_ESL_PASSWORD: secret, MB_FS_ESL_ACL: '127.0.0.0/8',
    MB_FS_SIP_IP: '127.0.0.1', MB_FS_SIP_PORT: String(sipPort), MB_FS_RTP_IP: '127.0.0.1', MB_FS_EXT_RTP_IP: '127.0.0.1',
    MB_FS_RTP_START: String(rtpStart), MB_FS_RTP_END: String(rtpStart + rtpPorts - 1),
  };
  const run = (d: string) => {
    const p = join(dir, 'fs', d);
    mkdirSync(p, { recursive: true });
    return p;
  };
  const args = ['-nonat', '-nonatmap', '-nc', '-nf', '-np', '-base', run('base'), '-mod', modDir, '-conf', conf];
  for (const d of ['log', 'run', 'db', 'temp', 'storage', 'recordings', 'cache', 'certs', 'scripts', 'htdocs', 'grammar', 'sounds']) args.push(`-${d}`, run(d));
  const esl = { host: '127.0.0.1', port: eslPort, secret };
  let proc = await launch(bin, args, env, esl);
  return {
    esl,
    recordingsDir: join(dir, 'recordings'),
    stop: () => stopProcess(proc, 8000),
    start: async () => {
      proc = await launch(bin, args, env, esl);
    },
  };
}

async function launch(bin: string, args: string[], env: NodeJS.ProcessEnv, esl: FreeswitchTarget['esl']): Promise<ChildProcess> {
  const proc = spawn(bin, args, { stdio: 'ignore', env });
  proc.on('error', () => undefined);
  await waitForTcp(esl.host, esl.port, 30_000);
  // The event socket opens before sofia's profile is up; wait until the profile answers.
  const deadline = Date.now() + 20_000;
  while (!(await eslApi(esl, 'sofia status').catch(() => '')).includes('drachtio_mrf')) {
    if (Date.now() > deadline) throw new Error('FreeSWITCH profile drachtio_mrf did not come up');
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
export async function channelCount(esl: FreeswitchTarget['esl']): Promise<number> {
  const body = await eslApi(esl, 'show channels count');
  const m = /(\d+) total/.exec(body);
  if (!m) throw new Error(`unexpected reply: ${body}`);
  return Number(m[1]);
}
