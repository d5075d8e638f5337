import type { Logger } from '../log/logger.js';
import type { Redis } from '../sessions/redis.js';
import type { RedisObserver } from '../util/timing.js';
import { RedisCdrStream } from './redis-stream.js';
import { SpoolingCdrSink, type SpoolingCdrSinkOptions } from './spooling-sink.js';

export interface RedisCdrSinkOptions extends SpoolingCdrSinkOptions {
  streamKey: string;
  /** XADD MAXLEN ~ cap; 0 = uncapped. */
  maxLen: number;
  /** Deadline of one batch's round trip; a batch without an answer is resent (and lands once). */
  timeoutMs?: number;
  /** How long Redis remembers a record it has (`{streamKey}:seen:{id}`), so a resend is dropped. */
  dedupeRetentionMs?: number;
  /** Told each batch's round trip (maskbridge_redis_command_seconds{command="xadd"}). */
  observe?: RedisObserver;
  /** Confirm records only once this many replicas have them (redis.waitReplicas); 0 = don't wait. */
  waitReplicas?: number;
  waitTimeoutMs?: number;
}

export const DEFAULT_DEDUPE_RETENTION_MS = 24 * 3600 * 1000;

/**
 * CDRs to a Redis stream, each once, through a crash-safe spool (spooling-sink.ts): write()
 * appends the record to the spool; a single loop sends the spool to Redis in batches, in order,
 * and moves past what Redis has confirmed. When Redis is down the records wait in the spool; at
 * the next start the spool is replayed.
 */
export class RedisCdrSink extends SpoolingCdrSink {
  constructor(redis: Redis, opts: RedisCdrSinkOptions, log: Logger) {
    const stream = new RedisCdrStream(redis, {
      streamKey: opts.streamKey,
      maxLen: opts.maxLen,
      retentionMs: opts.dedupeRetentionMs ?? DEFAULT_DEDUPE_RETENTION_MS,
      timeoutMs: opts.timeoutMs ?? 2000,
      ...(opts.observe ? { observe: opts.observe } : {}),
      ...(opts.waitReplicas ? { waitReplicas: opts.waitReplicas, waitTimeoutMs: opts.waitTimeoutMs ?? 100 } : {}),
    });
    super(stream, opts, log);
  }
}
