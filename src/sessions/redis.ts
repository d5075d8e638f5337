import { createHash } from 'node:crypto';
import { createClient, type RedisClientType } from 'redis';
import type { Logger } from '../log/logger.js';
import { followPrimary, parseSentinel, type SentinelAddress } from './sentinel.js';

export type Redis = RedisClientType;

/** Any failure to get an answer from Redis in time. The call path maps it to 503. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  readonly status = 503;
  constructor(override readonly cause: unknown) {
    super(`session store unavailable: ${(cause as Error)?.message ?? String(cause)}`);
  }
}

export interface RedisOptions {
  url: string;
  commandTimeoutMs: number;
  /** Redis Sentinel: the sentinels (empty or absent: `url` is the one Redis). */
  sentinels?: readonly SentinelAddress[];
  /** The primary's name the sentinels monitor. */
  sentinelName?: string;
  sentinelPassword?: string;
}

/** RedisOptions from the `redis` config section (the app, the API and the CLI build their client from it). */
export function redisOptions(c: { url: string; commandTimeoutMs: number; sentinels: string[]; sentinelName: string; sentinelPassword: string }): RedisOptions {
  return {
    url: c.url,
    commandTimeoutMs: c.commandTimeoutMs,
    ...(c.sentinels.length > 0 ? { sentinels: c.sentinels.map(parseSentinel), sentinelName: c.sentinelName, sentinelPassword: c.sentinelPassword } : {}),
  };
}

/**
 * A node-redis client that fails fast instead of queueing: no offline queue (commands
 * issued while disconnected reject at once) and bounded reconnect backoff. Callers bound each
 * round trip with `withDeadline` (node-redis's own `timeout` option is not used: it only covers
 * the wait before a command is written, and its timer fires and builds an error after every
 * reply). Connection errors are logged, never thrown at the process. With `sentinels`, the
 * same kind of client, following the primary the sentinels name (src/sessions/sentinel.ts).
 */
export function createRedis(opts: RedisOptions, log: Logger): Redis {
  const client: Redis = opts.sentinels && opts.sentinels.length > 0
    ? followPrimary({
        url: opts.url, sentinels: opts.sentinels, name: opts.sentinelName ?? 'mymaster', commandTimeoutMs: opts.commandTimeoutMs,
        ...(opts.sentinelPassword ? { sentinelPassword: opts.sentinelPassword } : {}),
      }, log)
    : createClient({
        url: opts.url,
        disableOfflineQueue: true,
        socket: {
          connectTimeout: Math.max(opts.commandTimeoutMs, 1000),
          reconnectStrategy: (retries: number) => Math.min(50 * 2 ** Math.min(retries, 6), 2000),
        },
      });
  let down = false;
  client.on('error', (err: Error) => {
    if (!down) log.error({ err: err.message }, 'redis connection error; calls fail closed with 503 until it returns');
    down = true;
  });
  client.on('ready', () => {
    if (down) log.info('redis connection restored');
    down = false;
  });
  return client;
}

/** Starts connecting without blocking start-up on it; the reconnect strategy keeps trying. */
export function connectInBackground(client: Redis, log: Logger): Promise<void> {
  return client.connect().then(
    () => undefined,
    (err: Error) => log.error({ err: err.message }, 'redis connect failed'),
  );
}

export { DeadlineError, withDeadline } from '../util/deadline.js';

const shaCache = new Map<string, string>();

/** EVALSHA with a one-time EVAL fallback (NOSCRIPT after a Redis restart or flush). */
export async function runScript(client: Redis, script: string, keys: string[], args: string[]): Promise<unknown> {
  let sha = shaCache.get(script);
  if (!sha) {
    sha = createHash('sha1').update(script).digest('hex');
    shaCache.set(script, sha);
  }
  try {
    return await client.sendCommand(['EVALSHA', sha, String(keys.length), ...keys, ...args]);
  } catch (err) {
    if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
    return client.sendCommand(['EVAL', script, String(keys.length), ...keys, ...args]);
  }
}
