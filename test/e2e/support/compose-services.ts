/**
 * The Compose services as this host runs them (the rules and the table: compose.ts): the
 * drachtio-server config file, maskbridge's environment, Redis with the stack's ACL users, and
 * where each service's container ports ended up (Peers).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitForTcp } from '../../helpers/net.js';
import { ComposeError, loopbackAddress, portNumber, ServiceRemapper, testStack, type ComposeEnv, type ComposeStack, type HostPort, type Peers } from './compose.js';

/** Environment variables of this host a server needs to start at all (host additions). */
export function hostEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ['PATH', 'LD_LIBRARY_PATH']) {
    const v = process.env[k];
    if (v) out[k] = v;
  }
  return out;
}

function flagValue(argv: readonly string[], flags: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length - 1; i++) if (flags.includes(argv[i] as string)) return argv[i + 1];
  return undefined;
}

function composeArgv(stack: ComposeStack, service: string): string[] {
  const s = stack.services[service];
  if (!s) throw new ComposeError(`${stack.file} has no service ${service}`);
  return [...(s.entrypoint ?? []), ...(s.command ?? [])];
}

const ADMIN = /<admin\b([^>]*?)\sport="(\d+)"([^>]*)>([^<]*)<\/admin>/g;

/**
 * Container ports drachtio-server listens on: admin (--port, else the conf's <admin port>) and
 * the first SIP contact's on its command line (null without one: the suite remaps it there).
 */
export function drachtioContainerPorts(stack: ComposeStack): { admin: number; sip: number | null } {
  const argv = composeArgv(stack, 'drachtio');
  const contact = flagValue(argv, ['--contact', '-c']);
  const sip = contact ? Number(/^sips?:[^:;]+(?::(\d+))?/.exec(contact)?.[1] ?? '5060') : null;
  const port = flagValue(argv, ['--port', '-p']);
  if (port) return { admin: portNumber(port, 'drachtio --port'), sip };
  const conf = flagValue(argv, ['-f', '--file']);
  const mount = stack.services.drachtio?.volumes.find((m) => m.target === conf && m.kind === 'bind');
  if (!conf || !mount) throw new ComposeError('service drachtio: -f does not name a mounted file');
  const admin = [...readFileSync(mount.source, 'utf8').matchAll(ADMIN)];
  if (admin.length !== 1) throw new ComposeError(`${mount.source}: expected one <admin port="...">address</admin>, found ${admin.length}`);
  return { admin: Number(admin[0]?.[2]), sip };
}

/**
 * Rewrites the suite's copy of the mounted drachtio.conf.xml in place: <admin port> and the
 * admin address remapped. `logLevel` (a test option, used by the benchmarks) replaces <loglevel>.
 */
export async function remapDrachtioConf(r: ServiceRemapper, containerPath: string, logLevel?: string): Promise<void> {
  const file = r.path(containerPath);
  const text = readFileSync(file, 'utf8');
  const found = [...text.matchAll(ADMIN)];
  if (found.length !== 1) throw new ComposeError(`${containerPath}: expected one <admin port="...">address</admin>, found ${found.length}`);
  const [whole, before, port, after, address] = found[0] as unknown as [string, string, string, string, string];
  const hostPort = await r.port(Number(port));
  let out = text.replace(whole, `<admin${before} port="${hostPort}"${after}>${loopbackAddress(r.stack, address.trim())}</admin>`);
  if (logLevel !== undefined) {
    if (!/<loglevel>[^<]*<\/loglevel>/.test(out)) throw new ComposeError(`${containerPath}: no <loglevel> to set`);
    out = out.replace(/<loglevel>[^<]*<\/loglevel>/, `<loglevel>${logLevel}</loglevel>`);
  }
  writeFileSync(file, out);
}

/** Container port of FreeSWITCH's event socket (MB_FS_ESL_PORT in its Compose environment). */
export function freeswitchEslPort(stack: ComposeStack): number {
  return portNumber(stack.services.freeswitch?.environment.MB_FS_ESL_PORT ?? '', 'service freeswitch MB_FS_ESL_PORT');
}

/** Container port of Redis (--port on its command line, else 6379). */
export function redisContainerPort(stack: ComposeStack): number {
  const port = flagValue(composeArgv(stack, 'redis'), ['--port']);
  return port ? portNumber(port, 'redis --port') : 6379;
}

/** Peers from the endpoints the suite started (or was given). */
export function composePeers(stack: ComposeStack, started: {
  drachtio?: { admin: HostPort; sip: HostPort };
  freeswitch?: { esl: HostPort } | null;
  redis?: HostPort;
}): Peers {
  const peers: Peers = {};
  if (started.drachtio) {
    const c = drachtioContainerPorts(stack);
    peers.drachtio = { [c.admin]: started.drachtio.admin, ...(c.sip === null ? {} : { [c.sip]: started.drachtio.sip }) };
  }
  if (started.freeswitch) peers.freeswitch = { [freeswitchEslPort(stack)]: started.freeswitch.esl };
  if (started.redis) peers.redis = { [redisContainerPort(stack)]: started.redis };
  return peers;
}

/**
 * maskbridge's Compose environment, remapped for this host: the drachtio admin, Redis and
 * FreeSWITCH endpoints from `peers`, listen ports free (or from `ports`, container → host),
 * paths in `dir`. Feed it to loadConfig({ env }).
 */
export async function composeMaskbridgeEnv(opts: {
  dir: string;
  peers: Peers;
  ports?: Record<number, number>;
  env?: ComposeEnv;
}): Promise<Record<string, string>> {
  const r = ServiceRemapper.for(testStack(opts.env), 'maskbridge', opts.dir, opts.peers);
  for (const [c, h] of Object.entries(opts.ports ?? {})) r.ports.set(Number(c), h);
  r.materialise();
  return r.env();
}

export interface ComposeRedis {
  host: string;
  port: number;
  /** redis://user:password@host:port for one of the stack's users. */
  url(user: 'maskbridge' | 'backend'): string;
  stop(): Promise<void>;
}

/**
 * Redis as the redis service runs it: its command (start.sh writing the ACL from
 * docker/redis/users.acl and the passwords in its environment, then redis-server), in `dir`.
 * Host additions: --port <free> --bind 127.0.0.1 (or `opts.bind`; Compose uses the defaults,
 * 6379 on all of the container's interfaces), and the image's working directory /data (the
 * redis-data volume).
 */
export async function startComposeRedis(dir: string, opts: { env?: ComposeEnv; bind?: string[] } = {}): Promise<ComposeRedis> {
  const stack = testStack(opts.env);
  const r = ServiceRemapper.for(stack, 'redis', dir);
  r.materialise();
  const argv = await r.argv('sh');
  const port = await r.port(redisContainerPort(stack));
  argv.push('--port', String(port), '--bind', ...(opts.bind ?? ['127.0.0.1']));
  const cwd = r.path('/data');
  mkdirSync(cwd, { recursive: true });
  const composeEnv = await r.env();
  const logFile = join(dir, 'redis.log');
  const log = createWriteStream(logFile);
  const proc = spawn(argv[0] as string, argv.slice(1), { cwd, env: { ...hostEnv(), ...composeEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout?.pipe(log, { end: false });
  proc.stderr?.pipe(log, { end: false });
  await untilListening(proc, '127.0.0.1', port, 10_000, logFile, 'redis (Compose service)');
  const passwords: Record<string, string | undefined> = { maskbridge: composeEnv.REDIS_MASKBRIDGE_PASSWORD, backend: composeEnv.REDIS_BACKEND_PASSWORD };
  return {
    host: '127.0.0.1',
    port,
    url: (user) => `redis://${user}:${passwords[user] ?? ''}@127.0.0.1:${port}`,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((res) => proc.once('exit', res));
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * Waits until `proc` listens on host:port; if it exits first, throws with the end of its output
 * (so a command the server refuses fails with the server's own words). `logFile` is named in
 * the error for the rest.
 */
export async function untilListening(proc: ChildProcess, host: string, port: number, timeoutMs: number, logFile: string, what: string): Promise<void> {
  // The first lines say why a server refused its arguments (drachtio then prints its usage).
  let head = '';
  let rest = '';
  const collect = (d: Buffer) => {
    const text = d.toString();
    const room = 800 - head.length;
    head += text.slice(0, Math.max(room, 0));
    rest = (rest + text.slice(Math.max(room, 0))).slice(-1200);
  };
  const output = () => (rest ? `${head} ... ${rest}` : head);
  proc.stdout?.on('data', collect);
  proc.stderr?.on('data', collect);
  let exited: ((err: Error) => void) | null = null;
  const died = new Promise<never>((_, reject) => {
    exited = reject;
  });
  const onExit = (code: number | null, signal: string | null) => {
    // Let the last output arrive before reporting it.
    setTimeout(() => exited?.(new Error(`${what} exited (${signal ?? `code ${code}`}) before listening on ${host}:${port}: ${output().trim() || '(no output)'} [log: ${logFile}]`)), 100);
  };
  const onError = (err: Error) => exited?.(new Error(`${what} could not be started: ${err.message}`));
  proc.once('exit', onExit);
  proc.once('error', onError);
  try {
    await Promise.race([waitForTcp(host, port, timeoutMs), died]);
  } catch (err) {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    throw err;
  } finally {
    proc.off('exit', onExit);
    proc.off('error', onError);
    proc.stdout?.off('data', collect);
    proc.stderr?.off('data', collect);
    exited = null;
  }
}
