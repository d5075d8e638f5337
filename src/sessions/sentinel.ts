/**
 * Redis Sentinel without changing a call site: a client that follows the primary.
 *
 * `followPrimary` returns an object of the same `Redis` type (RedisClientType) as createRedis
 * does for a plain URL. Behind it, an ordinary node-redis client is connected to the primary the
 * sentinels name (`SENTINEL get-master-addr-by-name`, each sentinel tried in turn, each query with
 * a deadline); every property and command is forwarded to that client. The follower moves to the
 * new primary when a sentinel announces `+switch-master`, when a command gets READONLY (it
 * reached a demoted primary), when the connection fails, and at the latest at the next poll
 * (SENTINEL_POLL_MS). While it moves, commands go to the old client, which has no offline queue:
 * they fail at once (ClientOfflineError, READONLY) and the call path answers 503 (fail closed);
 * nothing waits in a queue. The new client's `ready` is announced to the follower's `ready`
 * listeners only once it is the one commands go to (the app then loads the functions library and
 * flushes the CDR spool there). Subscriptions made through the follower are made again on the new
 * client. `duplicate()` gives another follower (the app's pub/sub subscriber).
 *
 * Why not node-redis's own RedisSentinel (createSentinel): its API is not RedisClientType's
 * (sendCommand(isReadonly, args), no duplicate(), leases for blocking commands), so every call site
 * would change; and WAIT (docs/redis-contract.md, "Durability") must run on the connection that
 * wrote, which its master pool does not promise without a lease.
 */
import { createClient, ErrorReply } from 'redis';
import type { Logger } from '../log/logger.js';
import { withDeadline } from '../util/deadline.js';
import type { Redis } from './redis.js';

export interface SentinelAddress {
  host: string;
  port: number;
}

export interface SentinelFollowOptions {
  /** The data nodes' URL: its credentials, db and TLS apply to whichever node is primary; its host and port are replaced. */
  url: string;
  sentinels: readonly SentinelAddress[];
  /** The primary's name in the sentinels' configuration (`sentinel monitor <name> ...`). */
  name: string;
  /** AUTH to the sentinels (their `requirepass`); empty: none. */
  sentinelPassword?: string;
  commandTimeoutMs: number;
}

/** How often the sentinels are asked who the primary is, besides the triggers above. */
export const SENTINEL_POLL_MS = 1000;

/** Parses "host:port" ("[::1]:26379" for IPv6); throws with the reason. */
export function parseSentinel(entry: string): SentinelAddress {
  const m = /^\s*(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})\s*$/.exec(entry);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) throw new Error(`"${entry}" is not host:port (a port 1-65535; [addr]:port for IPv6)`);
  return { host: (m[1] ?? m[2]) as string, port };
}

/** The data URL with the primary's host and port in place of its own. */
export function urlFor(url: string, addr: SentinelAddress): string {
  const u = new URL(url);
  u.hostname = addr.host.includes(':') ? `[${addr.host}]` : addr.host;
  u.port = String(addr.port);
  return u.toString();
}

const FORWARDED_EVENTS = ['ready', 'error', 'end', 'connect', 'reconnecting', 'sharded-channel-moved'] as const;

type Listener = (...args: unknown[]) => void;
type Subscription = { kind: 'subscribe' | 'pSubscribe'; channel: string; listener: Listener; buffers: boolean | undefined };

const dataClient = (url: string, commandTimeoutMs: number): Redis => createClient({
  url,
  disableOfflineQueue: true,
  socket: {
    connectTimeout: Math.max(commandTimeoutMs, 1000),
    reconnectStrategy: (retries: number) => Math.min(50 * 2 ** Math.min(retries, 6), 2000),
  },
});

/** The sentinels: one query connection and one `+switch-master` subscription, on the first that answers. */
class SentinelLink {
  private index = 0;
  private query: Redis | null = null;
  private sub: Redis | null = null;
  private subscribing = false;
  private closed = false;

  constructor(private readonly opts: SentinelFollowOptions, private readonly onSwitch: () => void) {}

  private deadline(): number {
    return Math.max(this.opts.commandTimeoutMs, 500);
  }

  private client(): Redis {
    const s = this.opts.sentinels[this.index] as SentinelAddress;
    const c: Redis = createClient({
      socket: { host: s.host, port: s.port, connectTimeout: this.deadline(), reconnectStrategy: false },
      disableOfflineQueue: true,
      ...(this.opts.sentinelPassword ? { password: this.opts.sentinelPassword } : {}),
    });
    c.on('error', () => undefined); // a sentinel down is routine: the next one is asked
    return c;
  }

  /** The primary's address, from the first sentinel that knows it; null when none answers in time. */
  async primary(): Promise<SentinelAddress | null> {
    for (let tried = 0; tried < this.opts.sentinels.length && !this.closed; tried++) {
      try {
        if (!this.query?.isReady) {
          this.drop();
          this.query = this.client();
          await withDeadline(this.query.connect(), this.deadline());
        }
        const reply = await withDeadline(this.query.sendCommand(['SENTINEL', 'get-master-addr-by-name', this.opts.name]), this.deadline());
        if (Array.isArray(reply) && reply.length === 2) {
          void this.subscribe();
          return { host: String(reply[0]), port: Number(reply[1]) };
        }
        // This sentinel does not monitor the name (misconfigured, or still starting): ask the next.
      } catch {
        // no answer in time, refused, or not a sentinel: ask the next
      }
      this.drop();
      this.index = (this.index + 1) % this.opts.sentinels.length;
    }
    return null;
  }

  /** The +switch-master subscription, on the sentinel that last answered; made again when it was lost. */
  private async subscribe(): Promise<void> {
    if (this.subscribing || this.closed || this.sub?.isReady) return;
    if (this.sub) destroyQuietly(this.sub);
    this.subscribing = true;
    const sub = this.client();
    this.sub = sub;
    try {
      await withDeadline(sub.connect(), this.deadline());
      await withDeadline(sub.subscribe('+switch-master', () => this.onSwitch()), this.deadline());
    } catch {
      if (this.sub === sub) this.sub = null;
      destroyQuietly(sub);
    } finally {
      this.subscribing = false;
    }
  }

  private drop(): void {
    if (this.query) destroyQuietly(this.query);
    if (this.sub) destroyQuietly(this.sub);
    this.query = null;
    this.sub = null;
  }

  open(): void {
    this.closed = false;
  }

  close(): void {
    this.closed = true;
    this.drop();
  }
}

function destroyQuietly(c: Redis): void {
  try {
    if (c.isOpen) c.destroy();
  } catch {
    // already closed
  }
}

class PrimaryFollower {
  /** Where commands go: an unconnected client until the first primary is found (commands reject with ClientClosedError). */
  current: Redis;
  private address: SentinelAddress | null = null;
  /** How many times commands moved to another node. */
  moves = 0;
  private readonly listeners = new Map<string, Set<{ fn: Listener; once: boolean }>>();
  private readonly subscriptions: Subscription[] = [];
  private readonly link: SentinelLink;
  private readonly wrapped = new WeakMap<Redis, Map<PropertyKey, unknown>>();
  private wantOpen = false;
  private checking = false;
  private again = false;
  private sentinelsDown = false;
  private poll: NodeJS.Timeout | null = null;
  private firstReady: { resolve: () => void; reject: (err: Error) => void } | null = null;
  proxy!: Redis;

  constructor(readonly opts: SentinelFollowOptions, private readonly log: Logger) {
    this.current = dataClient(opts.url, opts.commandTimeoutMs);
    this.link = new SentinelLink(opts, () => {
      this.log.info({ name: opts.name }, 'sentinel announced a new primary');
      this.check();
    });
  }

  get isOpen(): boolean {
    return this.wantOpen;
  }

  connect(): Promise<Redis> {
    if (this.wantOpen) return Promise.reject(new Error('Socket already opened'));
    this.wantOpen = true;
    this.link.open();
    const ready = new Promise<Redis>((resolve, reject) => {
      this.firstReady = { resolve: () => resolve(this.proxy), reject };
    });
    this.poll = setInterval(() => this.check(), SENTINEL_POLL_MS);
    this.poll.unref();
    this.check();
    return ready;
  }

  /** Asks the sentinels who the primary is and moves there if it is not where commands go. One at a time. */
  check(): void {
    if (!this.wantOpen) return;
    if (this.checking) {
      this.again = true;
      return;
    }
    this.checking = true;
    void (async () => {
      do {
        this.again = false;
        const addr = await this.link.primary();
        if (!this.wantOpen) break;
        if (!addr) {
          if (!this.sentinelsDown) this.log.error({ name: this.opts.name, sentinels: this.opts.sentinels.length }, 'no sentinel answered who the redis primary is; asking again every second');
          this.sentinelsDown = true;
          continue;
        }
        if (this.sentinelsDown) this.log.info({ name: this.opts.name }, 'a sentinel answers again');
        this.sentinelsDown = false;
        if (this.address && addr.host === this.address.host && addr.port === this.address.port) continue;
        await this.moveTo(addr);
      } while (this.again && this.wantOpen);
    })().catch((err: Error) => this.log.error({ err: err.message }, 'following the redis primary failed; retrying at the next poll'))
      .finally(() => {
        this.checking = false;
      });
  }

  private async moveTo(addr: SentinelAddress): Promise<void> {
    const next = dataClient(urlFor(this.opts.url, addr), this.opts.commandTimeoutMs);
    for (const event of FORWARDED_EVENTS) {
      next.on(event, (...args: unknown[]) => {
        if (next !== this.current) return; // a client not (or no longer) in use is nobody's business
        if (event === 'error') this.check();
        this.emit(event, ...args);
      });
    }
    const deadline = Math.max(this.opts.commandTimeoutMs * 4, 1000);
    try {
      await withDeadline(next.connect(), deadline);
      const role = await withDeadline(next.sendCommand(['ROLE']), deadline) as unknown[];
      if (role[0] !== 'master') throw new Error(`${addr.host}:${addr.port} is a ${String(role[0])}, not a primary yet`);
      for (const s of this.subscriptions) await withDeadline(resubscribe(next, s), deadline);
    } catch (err) {
      destroyQuietly(next);
      this.log.warn({ primary: `${addr.host}:${addr.port}`, err: (err as Error).message }, 'cannot use the redis primary the sentinels name yet; retrying');
      setTimeout(() => this.check(), 200).unref();
      return;
    }
    if (!this.wantOpen) {
      destroyQuietly(next);
      return;
    }
    const old = this.current;
    const from = this.address;
    this.current = next;
    this.address = addr;
    this.moves++;
    if (from) this.log.warn({ from: `${from.host}:${from.port}`, to: `${addr.host}:${addr.port}` }, 'redis primary moved; following it');
    else this.log.info({ primary: `${addr.host}:${addr.port}`, name: this.opts.name }, 'redis primary found through sentinel');
    // Pending replies on the old node are not waited for: they fail, as commands do during a failover.
    destroyQuietly(old);
    this.emit('ready');
    if (this.firstReady) {
      this.firstReady.resolve();
      this.firstReady = null;
    }
  }

  private emit(event: string, ...args: unknown[]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const l of [...set]) {
      if (l.once) set.delete(l);
      try {
        l.fn(...args);
      } catch (err) {
        this.log.error({ err: (err as Error).message, event }, 'redis event listener threw');
      }
    }
  }

  on(event: string, fn: Listener, once = false): void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add({ fn, once });
  }

  off(event: string, fn: Listener): void {
    const set = this.listeners.get(event);
    if (set) for (const l of set) if (l.fn === fn) set.delete(l);
  }

  private stop(): void {
    this.wantOpen = false;
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    this.link.close();
    if (this.firstReady) {
      this.firstReady.reject(new Error('closed before a redis primary was found'));
      this.firstReady = null;
    }
  }

  async close(): Promise<void> {
    this.stop();
    const c = this.current;
    if (c.isReady) await c.close();
    else destroyQuietly(c);
    this.emit('end');
  }

  destroy(): void {
    this.stop();
    destroyQuietly(this.current);
    this.emit('end');
  }

  async subscribe(kind: Subscription['kind'], channel: string, listener: Listener, buffers?: boolean): Promise<void> {
    const s: Subscription = { kind, channel, listener, buffers };
    await resubscribe(this.current, s);
    this.subscriptions.push(s);
  }

  async unsubscribe(kind: 'unsubscribe' | 'pUnsubscribe', channel?: string): Promise<void> {
    const from = kind === 'unsubscribe' ? 'subscribe' : 'pSubscribe';
    for (let i = this.subscriptions.length - 1; i >= 0; i--) {
      const s = this.subscriptions[i] as Subscription;
      if (s.kind === from && (channel === undefined || s.channel === channel)) this.subscriptions.splice(i, 1);
    }
    const c = this.current as unknown as Record<string, (ch?: string) => Promise<unknown>>;
    if (this.current.isReady) await (c[kind] as (ch?: string) => Promise<unknown>).call(this.current, channel);
  }

  /** A command of the current client; a READONLY reply (a demoted primary) makes the follower look again. */
  forward(prop: PropertyKey): unknown {
    const client = this.current;
    const value = (client as unknown as Record<PropertyKey, unknown>)[prop];
    if (typeof value !== 'function') return value;
    let cache = this.wrapped.get(client);
    if (!cache) this.wrapped.set(client, (cache = new Map()));
    let fn = cache.get(prop);
    if (!fn) {
      const method = value as (...a: unknown[]) => unknown;
      fn = (...args: unknown[]) => {
        const out = method.apply(client, args);
        if (out instanceof Promise) {
          out.catch((err: unknown) => {
            if (err instanceof ErrorReply && err.message.startsWith('READONLY')) this.check();
          });
        }
        return out;
      };
      cache.set(prop, fn);
    }
    return fn;
  }
}

function resubscribe(c: Redis, s: Subscription): Promise<unknown> {
  const fn = (c as unknown as Record<string, (ch: string, l: Listener, b?: boolean) => Promise<unknown>>)[s.kind] as (ch: string, l: Listener, b?: boolean) => Promise<unknown>;
  return fn.call(c, s.channel, s.listener, s.buffers);
}

/**
 * A `Redis` that follows the primary the sentinels name (see the top of this file). connect()
 * resolves once a primary is connected and keeps trying until then (the CLI bounds it, the app
 * does not wait); close() and destroy() stop following.
 */
export function followPrimary(opts: SentinelFollowOptions, log: Logger): Redis {
  if (opts.sentinels.length === 0) throw new Error('redis.sentinels: no sentinel given');
  const f = new PrimaryFollower(opts, log);
  const own: Record<string, unknown> = {
    connect: () => f.connect(),
    close: () => f.close(),
    quit: () => f.close(),
    disconnect: () => Promise.resolve(f.destroy()),
    destroy: () => f.destroy(),
    duplicate: () => followPrimary(opts, log),
    on: (e: string, fn: Listener) => (f.on(e, fn), f.proxy),
    addListener: (e: string, fn: Listener) => (f.on(e, fn), f.proxy),
    once: (e: string, fn: Listener) => (f.on(e, fn, true), f.proxy),
    off: (e: string, fn: Listener) => (f.off(e, fn), f.proxy),
    removeListener: (e: string, fn: Listener) => (f.off(e, fn), f.proxy),
    subscribe: (ch: string | string[], l: Listener, b?: boolean) => Promise.all([ch].flat().map((c) => f.subscribe('subscribe', c, l, b))).then(() => undefined),
    SUBSCRIBE: (ch: string | string[], l: Listener, b?: boolean) => Promise.all([ch].flat().map((c) => f.subscribe('subscribe', c, l, b))).then(() => undefined),
    pSubscribe: (ch: string | string[], l: Listener, b?: boolean) => Promise.all([ch].flat().map((c) => f.subscribe('pSubscribe', c, l, b))).then(() => undefined),
    unsubscribe: (ch?: string) => f.unsubscribe('unsubscribe', ch),
    pUnsubscribe: (ch?: string) => f.unsubscribe('pUnsubscribe', ch),
  };
  f.proxy = new Proxy({} as Redis, {
    get(_t, prop) {
      if (prop === 'isOpen') return f.isOpen;
      // Changes whenever the connection does, also to another node (src/sessions/durability.ts).
      if (prop === 'socketEpoch') return f.moves * 1_000_000 + f.current.socketEpoch;
      if (typeof prop === 'string' && Object.hasOwn(own, prop)) return own[prop];
      return f.forward(prop);
    },
    has(_t, prop) {
      return prop in f.current;
    },
  });
  return f.proxy;
}
