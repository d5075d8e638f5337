/**
 * The producer side of webhooks: publish() writes the event ahead to a disk spool (the same
 * implementation as the CDR spool, src/spool) and one loop replays the spool into the outbox
 * stream, each event once (de-duplicated by id, `{stream}:seen:{id}`). When Redis is down the
 * events wait in the spool; at the next start the spool is replayed.
 */
import type { Logger } from '../log/logger.js';
import type { Redis } from '../sessions/redis.js';
import { RedisRecordStream, type RecordTarget } from '../spool/redis-stream.js';
import { SpoolingSink, type SpoolingSinkOptions } from '../spool/sink.js';
import { eventCodec, type EventSink, type OutboxEvent } from './events.js';

export interface RedisEventSinkOptions extends SpoolingSinkOptions {
  /** The outbox stream, `${keyPrefix}events`. */
  streamKey: string;
  /** Deadline of one batch's round trip; a batch without an answer is resent (and lands once). */
  timeoutMs?: number;
  /** How long Redis remembers an event it has (`{streamKey}:seen:{id}`), so a resend is dropped. */
  dedupeRetentionMs?: number;
  /** Confirm events only once this many replicas have them (redis.waitReplicas); 0 = don't wait. */
  waitReplicas?: number;
  waitTimeoutMs?: number;
}

/** How long the event spool's replay waits for more events before a round trip (SpoolingSinkOptions.lingerMs). */
export const EVENT_LINGER_MS = 20;

/** Events through a spool into the outbox stream. */
export class SpoolingEventSink extends SpoolingSink<OutboxEvent> implements EventSink {
  constructor(target: RecordTarget<OutboxEvent>, opts: SpoolingSinkOptions, log: Logger) {
    super(target, eventCodec, opts, log);
  }

  /** Synchronous, never throws, never waits on Redis: the event is queued for the spool. */
  publish(e: OutboxEvent): void {
    this.write(e);
  }
}

export class RedisEventSink extends SpoolingEventSink {
  constructor(redis: Redis, opts: RedisEventSinkOptions, log: Logger) {
    // The outbox is never capped by length: trimming would drop events not yet delivered.
    const stream = new RedisRecordStream(redis, eventCodec, {
      streamKey: opts.streamKey,
      maxLen: 0,
      retentionMs: opts.dedupeRetentionMs ?? 24 * 3600 * 1000,
      timeoutMs: opts.timeoutMs ?? 2000,
      ...(opts.waitReplicas ? { waitReplicas: opts.waitReplicas, waitTimeoutMs: opts.waitTimeoutMs ?? 100 } : {}),
    });
    // Events trickle in a few per call: a short wait sends them several per round trip (fewer on the call path's connection).
    super(stream, { lingerMs: EVENT_LINGER_MS, ...opts }, log);
  }
}

/** webhooks.enabled=false: nothing is published. */
export class NoopEventSink implements EventSink {
  readonly backlog = 0;
  publish(_e: OutboxEvent): void {}
  flush(_timeoutMs?: number): Promise<void> {
    return Promise.resolve();
  }
  close(_timeoutMs: number): Promise<void> {
    return Promise.resolve();
  }
}
