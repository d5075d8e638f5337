/**
 * What docker/docker-compose.yml runs, made runnable on this host: the end-to-end suite starts
 * drachtio-server, FreeSWITCH and Redis with the Compose service's own entrypoint/command,
 * environment and mounted files, and builds maskbridge's environment from its Compose service.
 *
 * Only paths, ports and addresses change, and only the values REMAP names: everything else
 * (flags included) passes through untouched, so a Compose command the real server refuses
 * fails a test. The rules:
 *   address  a Compose service name, an address in the stack's subnet, or a wildcard
 *            (0.0.0.0, *) → 127.0.0.1; any other address (e.g. PUBLIC_IP) as it is
 *   cidr     within the stack's subnet → 127.0.0.0/8 (a /32 → 127.0.0.1/32); others as they are
 *   port     a port the service listens on → a free loopback port (UDP and TCP), the same one
 *            wherever that service's port appears
 *   peer     another service's host:port (maskbridge's MB_REDIS_URL, MB_MEDIA_SERVERS, ...) →
 *            where the suite started that service; a port it does not listen on is an error
 *   path     under a volume mount: a bind mount's source is copied to <dir>/<service><target>,
 *            a named volume is <dir>/<volume> (shared, like the volume); any other container path
 *            is <dir>/<service><path>
 */
import { cpSync, mkdirSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { freeUdpPort } from './servers.js';
import { ComposeError, readCompose, type ComposeEnv, type ComposeService, type ComposeStack } from './compose-file.js';

export { ComposeError, readCompose, type ComposeEnv, type ComposeStack };

export const LOOPBACK = '127.0.0.1';

/** docker/.env for the suite: loopback addresses and throwaway secrets. */
export const TEST_COMPOSE_ENV: Readonly<Record<string, string>> = {
  PUBLIC_IP: LOOPBACK,
  TRUNK_CIDRS: '127.0.0.1/32',
  OUTBOUND_GATEWAY: '127.0.0.1:5070',
  DEFAULT_REGION: 'IN',
  DRACHTIO_SECRET: 'e2e-drachtio-secret',
  FS_ESL_PASSWORD: 'e2e-esl-password',
  API_TOKEN: 'e2e-api-token',
  REDIS_MASKBRIDGE_PASSWORD: 'e2e-redis-maskbridge',
  REDIS_BACKEND_PASSWORD: 'e2e-redis-backend',
};

export type Kind =
  | 'path' | 'port' | 'address' | 'cidr'
  /** sip:HOST:PORT;params (drachtio --contact): address and port */
  | 'sip-contact'
  /** FreeSWITCH's RTP range: the start moves to a free area, the end keeps the count */
  | 'rtp-start' | 'rtp-end'
  /** peers: another service's endpoint */
  | 'peer-host' | 'peer-port' | 'peer-url' | 'peer-list';

export interface ServiceRemap {
  /** What argv[0] may be (the image's binary); it becomes the host's. */
  binaries?: readonly string[];
  /** Flags whose next argument is remapped. */
  flags?: Readonly<Record<string, Kind>>;
  /** Positional arguments (argv index) that are remapped. */
  positional?: Readonly<Record<number, Kind>>;
  /** Environment variables that are remapped. */
  env?: Readonly<Record<string, Kind>>;
  /** For a peer-port variable: the variable holding its host. */
  peerHostOf?: Readonly<Record<string, string>>;
}

/** The remapping table. Anything not listed passes through as Compose gives it. */
export const REMAP: Readonly<Record<'drachtio' | 'freeswitch' | 'redis' | 'maskbridge', ServiceRemap>> = {
  drachtio: {
    binaries: ['/usr/local/bin/drachtio', 'drachtio'],
    flags: { '-f': 'path', '--file': 'path', '--contact': 'sip-contact', '-c': 'sip-contact', '--external-ip': 'address', '--local-net': 'cidr', '--address': 'address', '--port': 'port', '-p': 'port' },
    // and in the mounted /etc/drachtio.conf.xml: <admin port="PORT">ADDRESS</admin> (drachtioConf below)
  },
  freeswitch: {
    binaries: ['/usr/local/freeswitch/bin/freeswitch', 'freeswitch'],
    flags: { '-conf': 'path', '-log': 'path', '-db': 'path', '-recordings': 'path', '-run': 'path', '-temp': 'path', '-storage': 'path', '-sounds': 'path', '-mod': 'path', '-base': 'path' },
    env: {
      MB_FS_ESL_IP: 'address', MB_FS_ESL_PORT: 'port', MB_FS_ESL_ACL: 'cidr',
      MB_FS_SIP_IP: 'address', MB_FS_SIP_PORT: 'port', MB_FS_RTP_IP: 'address', MB_FS_EXT_RTP_IP: 'address',
      MB_FS_RTP_START: 'rtp-start', MB_FS_RTP_END: 'rtp-end',
    },
  },
  redis: {
    binaries: ['sh'],
    // sh start.sh ACL_TEMPLATE ACL_FILE redis-server ...
    positional: { 1: 'path', 2: 'path', 3: 'path' },
    flags: { '--aclfile': 'path', '--port': 'port', '--bind': 'address', '--dir': 'path' },
  },
  maskbridge: {
    env: {
      MB_DRACHTIO_HOST: 'peer-host', MB_DRACHTIO_PORT: 'peer-port', MB_REDIS_URL: 'peer-url', MB_MEDIA_SERVERS: 'peer-list',
      MB_MEDIA_ESL_LISTEN_ADDRESS: 'address', MB_MEDIA_ESL_LISTEN_PORT: 'port', MB_MEDIA_ESL_ADVERTISE_ADDRESS: 'address',
      MB_API_HOST: 'address', MB_API_PORT: 'port',
      MB_RECORDING_DIR: 'path', MB_RECORDING_CONSENT: 'path', MB_CDR_SPOOL_FILE: 'path', MB_WEBHOOKS_SPOOL_FILE: 'path',
    },
    peerHostOf: { MB_DRACHTIO_PORT: 'MB_DRACHTIO_HOST' },
  },
};

export interface HostPort {
  host: string;
  port: number;
}

/** Where the suite started each service: service name → its container port → host endpoint. */
export type Peers = Record<string, Record<number, HostPort>>;

/** One service being made runnable: its stack, test folder and port plan. */
export class ServiceRemapper {
  /** Container port → host port, for the ports this service listens on. */
  readonly ports = new Map<number, number>();
  private rtpStart: number | null = null;

  constructor(
    readonly stack: ComposeStack,
    readonly service: ComposeService,
    readonly dir: string,
    readonly table: ServiceRemap,
    readonly peers: Peers = {},
    /** RTP ports to give (default: as many as Compose gives). */
    private readonly rtpCount?: number,
  ) {}

  static for(stack: ComposeStack, name: keyof typeof REMAP, dir: string, peers: Peers = {}, rtpCount?: number): ServiceRemapper {
    const service = stack.services[name];
    if (!service) throw new ComposeError(`${stack.file} has no service ${name}`);
    return new ServiceRemapper(stack, service, dir, REMAP[name], peers, rtpCount);
  }

  get name(): string {
    return this.service.name;
  }

  /** The Compose entrypoint + command, remapped; argv[0] replaced by `bin`. */
  async argv(bin: string): Promise<string[]> {
    const argv = [...(this.service.entrypoint ?? []), ...(this.service.command ?? [])];
    const first = argv[0];
    if (!first || !this.table.binaries?.includes(first)) {
      throw new ComposeError(`service ${this.name} runs "${first ?? ''}"; the suite knows ${this.table.binaries?.join(', ') ?? 'no binary'} for it`);
    }
    const out = [bin];
    for (let i = 1; i < argv.length; i++) {
      const arg = argv[i] as string;
      const positional = this.table.positional?.[i];
      const flag = this.table.flags?.[arg];
      if (positional) out.push(await this.value(positional, arg, `argv[${i}]`));
      else if (flag && i + 1 < argv.length) {
        out.push(arg, await this.value(flag, argv[i + 1] as string, arg));
        i++;
      } else out.push(arg);
    }
    return out;
  }

  /** The Compose environment, remapped. */
  async env(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.service.environment)) {
      const kind = this.table.env?.[k];
      out[k] = kind ? await this.value(kind, v, k) : v;
    }
    return out;
  }

  async value(kind: Kind, v: string, where: string): Promise<string> {
    switch (kind) {
      case 'path': return v === '' ? v : this.pathWithParent(v);
      case 'address': return loopbackAddress(this.stack, v);
      case 'cidr': return loopbackCidr(this.stack, v);
      case 'port': return String(await this.port(portNumber(v, `${this.name} ${where}`)));
      case 'sip-contact': return this.sipContact(v, where);
      case 'rtp-start': return String(this.rtp('start'));
      case 'rtp-end': return String(this.rtp('end'));
      case 'peer-host': return this.peerHost(v, where);
      case 'peer-port': return String(this.peer(this.service.environment[this.table.peerHostOf?.[where] ?? ''] ?? '', v, where).port);
      case 'peer-url': return this.peerUrl(v, where);
      case 'peer-list': return v.split(',').map((item) => this.peerItem(item.trim(), where)).join(',');
    }
  }

  /** A host port for container port `p` of this service (allocated once). */
  async port(p: number): Promise<number> {
    let host = this.ports.get(p);
    const taken = new Set(this.ports.values());
    while (host === undefined || (!this.ports.has(p) && taken.has(host))) host = await freeUdpPort();
    this.ports.set(p, host);
    return host;
  }

  /** Where a container path of this service lives in the test folder. */
  path(p: string): string {
    if (!p.startsWith('/')) throw new ComposeError(`service ${this.name}: "${p}" is not an absolute container path`);
    const norm = posix.normalize(p);
    const mount = this.service.volumes
      .filter((m) => norm === m.target || norm.startsWith(m.target.endsWith('/') ? m.target : `${m.target}/`))
      .sort((a, b) => b.target.length - a.target.length)[0];
    if (mount?.kind === 'volume') return join(this.dir, mount.source, posix.relative(mount.target, norm));
    return join(this.dir, this.name, norm);
  }

  /** path(), with its parent folder created (the image's filesystem has it). */
  pathWithParent(p: string): string {
    const host = this.path(p);
    // A spool path with {instance} (one directory per replica): the app makes its own; the root is there.
    const token = host.indexOf('/{instance}/');
    mkdirSync(token === -1 ? dirname(host) : host.slice(0, token), { recursive: true });
    return host;
  }

  /** Copies the bind mounts' sources into place and creates the named volumes' folders. */
  materialise(): void {
    for (const m of this.service.volumes) {
      if (m.kind === 'volume') mkdirSync(join(this.dir, m.source), { recursive: true });
      else {
        const to = join(this.dir, this.name, m.target);
        mkdirSync(dirname(to), { recursive: true });
        cpSync(m.source, to, { recursive: true });
      }
    }
  }

  private sipContact(v: string, where: string): Promise<string> {
    const m = /^(sips?):([^:;]+)(?::(\d+))?(;.*)?$/.exec(v);
    if (!m) throw new ComposeError(`service ${this.name} ${where}: unreadable SIP contact "${v}"`);
    const [, scheme, host, port, params = ''] = m as unknown as [string, string, string, string | undefined, string | undefined];
    return this.port(port ? Number(port) : 5060).then((p) => `${scheme}:${loopbackAddress(this.stack, host)}:${p}${params}`);
  }

  private rtp(which: 'start' | 'end'): number {
    const start = portNumber(this.service.environment.MB_FS_RTP_START ?? '', 'MB_FS_RTP_START');
    const end = portNumber(this.service.environment.MB_FS_RTP_END ?? '', 'MB_FS_RTP_END');
    if (end < start) throw new ComposeError(`service ${this.name}: MB_FS_RTP_END ${end} is below MB_FS_RTP_START ${start}`);
    const count = this.rtpCount ?? end - start + 1;
    // An even start (FreeSWITCH takes even RTP ports) in 20000-32767, below Linux's ephemeral
    // ports where the free ports above come from, with room for the whole range.
    const room = 32768 - 20000 - count;
    if (room < 0) throw new ComposeError(`service ${this.name}: ${count} RTP ports do not fit in 20000-32767`);
    this.rtpStart ??= 20000 + 2 * Math.floor((Math.random() * room) / 2);
    return which === 'start' ? this.rtpStart : this.rtpStart + count - 1;
  }

  /** The service a Compose host (service name or fixed address) names. */
  private serviceOf(host: string, where: string): string {
    if (this.stack.services[host]) return host;
    const byAddress = Object.values(this.stack.services).find((s) => s.addresses.includes(host));
    if (!byAddress) throw new ComposeError(`service ${this.name} ${where}: "${host}" is no service of the stack`);
    return byAddress.name;
  }

  private peer(host: string, port: string, where: string): HostPort {
    const service = this.serviceOf(host, where);
    const endpoint = this.peers[service]?.[portNumber(port, where)];
    if (!endpoint) {
      const known = Object.keys(this.peers[service] ?? {}).join(', ') || 'none started';
      throw new ComposeError(`service ${this.name} ${where}: ${service}:${port} is no port the ${service} service listens on (its ports: ${known})`);
    }
    return endpoint;
  }

  private peerHost(host: string, where: string): string {
    const service = this.serviceOf(host, where);
    const first = Object.values(this.peers[service] ?? {})[0];
    if (!first) throw new ComposeError(`service ${this.name} ${where}: ${service} was not started`);
    return first.host;
  }

  private peerUrl(v: string, where: string): string {
    const url = new URL(v);
    const p = this.peer(url.hostname, url.port || '6379', where);
    url.hostname = p.host;
    url.port = String(p.port);
    return url.toString().replace(/\/$/, '');
  }

  /** host:port[:rest] → the peer's host:port[:rest]. */
  private peerItem(item: string, where: string): string {
    const [host = '', port = '', ...rest] = item.split(':');
    const p = this.peer(host, port, where);
    return [p.host, String(p.port), ...rest].join(':');
  }
}

export function portNumber(v: string, where: string): number {
  const n = Number(v);
  if (!/^\d{1,5}$/.test(v) || n < 1 || n > 65535) throw new ComposeError(`${where}: "${v}" is not a port`);
  return n;
}

function ipv4(v: string): number | null {
  const parts = v.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

function inSubnet(addr: string, cidr: string): boolean {
  const [net = '', bits = '32'] = cidr.split('/');
  const a = ipv4(addr);
  const n = ipv4(net);
  if (a === null || n === null) return false;
  const size = 2 ** (32 - Number(bits));
  return Math.floor(a / size) === Math.floor(n / size);
}

export function loopbackAddress(stack: ComposeStack, v: string): string {
  if (v === '0.0.0.0' || v === '*') return LOOPBACK;
  if (stack.services[v]) return LOOPBACK;
  if (stack.subnets.some((s) => inSubnet(v, s))) return LOOPBACK;
  return v;
}

export function loopbackCidr(stack: ComposeStack, v: string): string {
  const [addr = '', bits = '32'] = v.split('/');
  if (!stack.subnets.some((s) => inSubnet(addr, s))) return v;
  return bits === '32' ? `${LOOPBACK}/32` : '127.0.0.0/8';
}

/** The Compose file with the suite's environment (`env` on top of TEST_COMPOSE_ENV). */
export function testStack(env: ComposeEnv = {}, file?: string): ComposeStack {
  return readCompose({ ...TEST_COMPOSE_ENV, ...env }, file);
}
