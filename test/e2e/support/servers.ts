/**
 * Real servers for the end-to-end suite. Each is either started here (binary on PATH or named by
 * an env var), as docker/docker-compose.yml runs it (support/compose.ts), or taken from env vars
 * naming a running one (e.g. a Compose testbed). When neither, the suite is skipped and the
 * reason printed.
 *
 *   drachtio:   MB_E2E_DRACHTIO_BIN, or `drachtio` on PATH
 *               or MB_E2E_DRACHTIO_ADMIN=host:port + MB_E2E_DRACHTIO_SECRET + MB_E2E_DRACHTIO_SIP=host:port
 *   FreeSWITCH: MB_E2E_FREESWITCH_BIN (+ MB_E2E_FREESWITCH_MODULES), or `freeswitch` on PATH
 *               or MB_E2E_FREESWITCH=host:port:secret (event socket)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitForTcp } from '../../helpers/net.js';
import { ServiceRemapper, testStack } from './compose.js';
import { drachtioContainerPorts, hostEnv, remapDrachtioConf, untilListening } from './compose-services.js';

export { waitForTcp };

export function onPath(bin: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

function udpFree(port: number, host: string): Promise<boolean> {
  if (port > 65535) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, host, () => s.close(() => resolve(true)));
  });
}

export async function freeUdpPort(host = '127.0.0.1'): Promise<number> {
  // A port free for both UDP and TCP (sofia and drachtio bind both).
  for (;;) {
    const port = await freePort(host);
    if (await udpFree(port, host)) return port;
  }
}

/**
 * A SIP port for a sipp run (support/sipp.ts gives it `-mp port+2`), with the media ports sipp
 * binds from that free too: audio at port+2, video at port+4, and their RTCP neighbours. A taken
 * one makes sipp exit with "Unable to bind video RTP socket".
 */
export async function freeSippPort(host = '127.0.0.1'): Promise<number> {
  for (;;) {
    const port = await freeUdpPort(host);
    const media = await Promise.all([2, 3, 4, 5].map((d) => udpFree(port + d, host)));
    if (media.every(Boolean)) return port;
  }
}

export interface DrachtioTarget {
  admin: { host: string; port: number; secret: string };
  sip: { host: string; port: number };
  /** Its console log, for a server this suite started. */
  logFile?: string;
  stop(): Promise<void>;
}

/** drachtio-server's log levels; it reads any other value as info without a word. */
export const DRACHTIO_LOG_LEVELS = ['error', 'warning', 'notice', 'info', 'debug'] as const;
export type DrachtioLogLevel = (typeof DRACHTIO_LOG_LEVELS)[number];

/** Options for servers this suite starts itself (ignored for running ones). */
export interface StartOptions {
  /** RTP ports to give FreeSWITCH (4 per anchored call: two channels, RTP and RTCP). Default 100. */
  rtpPorts?: number;
  /** drachtio-server's <loglevel> (default: the Compose conf's, info: every SIP message is logged). */
  drachtioLogLevel?: DrachtioLogLevel;
}

export type Resolved<T> = { ok: true; start: (dir: string, opts?: StartOptions) => Promise<T> } | { ok: false; reason: string };

export function resolveDrachtio(env: NodeJS.ProcessEnv = process.env): Resolved<DrachtioTarget> {
  if (env.MB_E2E_DRACHTIO_ADMIN && env.MB_E2E_DRACHTIO_SIP) {
    const secret = env.MB_E2E_DRACHTIO_SECRET;
    if (!secret) return { ok: false, reason: 'MB_E2E_DRACHTIO_ADMIN is set but MB_E2E_DRACHTIO_SECRET (its admin secret) is not' };
    const [ah, ap] = env.MB_E2E_DRACHTIO_ADMIN.split(':');
    const [sh, sp] = env.MB_E2E_DRACHTIO_SIP.split(':');
    return {
      ok: true,
      start: async () => ({
        admin: { host: ah as string, port: Number(ap), secret },
        sip: { host: sh as string, port: Number(sp) },
        stop: async () => undefined,
      }),
    };
  }
  const bin = env.MB_E2E_DRACHTIO_BIN ?? onPath('drachtio');
  if (!bin) {
    return { ok: false, reason: 'no drachtio-server: put `drachtio` on PATH, or set MB_E2E_DRACHTIO_BIN, or MB_E2E_DRACHTIO_ADMIN/_SIP/_SECRET for a running one (docs/testing.md)' };
  }
  return { ok: true, start: (dir, opts) => startDrachtio(bin, dir, opts?.drachtioLogLevel) };
}

/**
 * drachtio-server as the Compose service `drachtio` runs it: its entrypoint (flags untouched),
 * its mounted drachtio.conf.xml and an environment with nothing else in it, remapped by
 * compose.ts (REMAP.drachtio; in the conf copy: <admin port> and address). Its console log
 * goes to <dir>/drachtio.log. `logLevel` (benchmarks only) replaces the conf's <loglevel>.
 */
async function startDrachtio(bin: string, dir: string, logLevel: DrachtioLogLevel | undefined): Promise<DrachtioTarget> {
  const stack = testStack();
  const r = ServiceRemapper.for(stack, 'drachtio', dir);
  r.materialise();
  const argv = await r.argv(bin);
  const composeArgv = [...(r.service.entrypoint ?? []), ...(r.service.command ?? [])];
  const confAt = composeArgv.findIndex((a) => a === '-f' || a === '--file');
  if (confAt < 0) throw new Error('service drachtio: no -f; the suite needs the mounted drachtio.conf.xml');
  await remapDrachtioConf(r, composeArgv[confAt + 1] as string, logLevel);
  const ports = drachtioContainerPorts(stack);
  const adminPort = await r.port(ports.admin);
  const logFile = join(dir, 'drachtio.log');
  const log = createWriteStream(logFile);
  // Started before anything else is checked: a command line drachtio-server refuses fails here, in its words.
  const proc: ChildProcess = spawn(argv[0] as string, argv.slice(1), { env: hostEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout?.pipe(log, { end: false });
  proc.stderr?.pipe(log, { end: false });
  await untilListening(proc, '127.0.0.1', adminPort, 10_000, logFile, 'drachtio-server (Compose service drachtio)');
  const secret = argv.includes('--secret') ? argv[argv.indexOf('--secret') + 1] : undefined;
  const sipPort = ports.sip === null ? undefined : r.ports.get(ports.sip);
  if (!secret || sipPort === undefined) {
    await stopProcess(proc);
    throw new Error(`service drachtio: ${secret ? 'no --contact' : 'no --secret'} on its command line (the suite takes it from there)`);
  }
  return {
    admin: { host: '127.0.0.1', port: adminPort, secret },
    sip: { host: '127.0.0.1', port: sipPort },
    logFile,
    stop: () => stopProcess(proc),
  };
}

export async function stopProcess(proc: ChildProcess, graceMs = 6000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
