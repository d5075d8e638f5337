/**
 * The live-call registry in Redis: which instance holds each connected call, so that the API
 * and the CLI of any instance can list calls across instances and hang one up.
 *
 *   {prefix}calls                HASH   call id (keyed hash) -> JSON LiveCall
 *   {prefix}instance:{id}        STRING heartbeat, PX 3 x heartbeatMs: the instance is alive
 *   {prefix}hangup               CHANNEL a call id: the instance holding it hangs it up
 *
 * Writes happen when a call connects and when it ends, never on the way to the B-leg; they are
 * bounded and a failure is logged, never felt by the call. An entry whose instance stopped
 * beating (it crashed) is dropped by the next listing.
 */
import type { Logger } from '../log/logger.js';
import type { Redis } from '../sessions/redis.js';
import { withDeadline } from '../util/deadline.js';
import { timed, type RedisObserver } from '../util/timing.js';

export interface LiveCall {
  callId: string;
  instance: string;
  sessionId: string;
  virtualNumber: string;
  direction: string;
  startedAt: string;
  answeredAt: string;
}

/** What a call tells the registry (CallDeps.liveCalls). */
export interface LiveCallSink {
  connected(call: LiveCall): void;
  ended(callId: string): void;
}

export interface LiveCallKeys {
  calls: string;
  instance(id: string): string;
  hangupChannel: string;
}

export const liveCallKeys = (prefix: string): LiveCallKeys => ({
  calls: `${prefix}calls`,
  instance: (id) => `${prefix}instance:${id}`,
  hangupChannel: `${prefix}hangup`,
});

export class LiveCallRegistry implements LiveCallSink {
  private timer: NodeJS.Timeout | null = null;
  readonly keys: LiveCallKeys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    readonly instanceId: string,
    private readonly log: Logger,
    /** observe: told each write's round trip (maskbridge_redis_command_seconds{command="live_register"|"live_unregister"|"live_heartbeat"}). */
    private readonly opts: { heartbeatMs: number; timeoutMs: number; observe?: RedisObserver },
  ) {
    this.keys = liveCallKeys(prefix);
  }

  /** Starts the heartbeat. */
  start(): void {
    const beat = () => this.bounded(this.redis.set(this.keys.instance(this.instanceId), String(Date.now()), { PX: this.opts.heartbeatMs * 3 }), 'heartbeat');
    beat();
    this.timer = setInterval(beat, this.opts.heartbeatMs);
    this.timer.unref();
  }

  /** Stops the heartbeat and says this instance is gone (its calls have ended by then). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await withDeadline(this.redis.del(this.keys.instance(this.instanceId)), this.opts.timeoutMs).catch(() => undefined);
  }

  connected(call: LiveCall): void {
    this.bounded(this.redis.hSet(this.keys.calls, call.callId, JSON.stringify({ ...call, instance: this.instanceId })), 'register');
  }

  ended(callId: string): void {
    this.bounded(this.redis.hDel(this.keys.calls, callId), 'unregister');
  }

  private bounded(work: Promise<unknown>, what: string): void {
    timed(this.opts.observe, `live_${what}`, withDeadline(work, this.opts.timeoutMs)).catch((err: Error) => this.log.warn({ err: err.message, what }, 'live-call registry write failed'));
  }
}

/** Listing and hanging up, for the API and the CLI (any instance, or none: the CLI). */
export class LiveCalls {
  readonly keys: LiveCallKeys;

  constructor(private readonly redis: Redis, prefix: string, private readonly timeoutMs: number) {
    this.keys = liveCallKeys(prefix);
  }

  /** Every live call on a live instance; entries of instances that stopped beating are dropped. */
  async list(filter: { sessionId?: string } = {}): Promise<LiveCall[]> {
    const all = await withDeadline(this.redis.hGetAll(this.keys.calls), this.timeoutMs);
    const calls: LiveCall[] = [];
    const stale: string[] = [];
    const alive = new Map<string, boolean>();
    for (const [id, text] of Object.entries(all)) {
      let call: LiveCall;
      try {
        call = JSON.parse(text) as LiveCall;
      } catch {
        stale.push(id);
        continue;
      }
      if (!alive.has(call.instance)) alive.set(call.instance, (await withDeadline(this.redis.exists(this.keys.instance(call.instance)), this.timeoutMs)) === 1);
      if (!alive.get(call.instance)) stale.push(id);
      else if (!filter.sessionId || call.sessionId === filter.sessionId) calls.push(call);
    }
    if (stale.length > 0) await withDeadline(this.redis.hDel(this.keys.calls, stale), this.timeoutMs).catch(() => undefined);
    return calls.sort((x, y) => x.startedAt.localeCompare(y.startedAt));
  }

  /** Asks the instance holding the call to hang it up; false when no live instance holds it. */
  async hangup(callId: string): Promise<boolean> {
    const text = await withDeadline(this.redis.hGet(this.keys.calls, callId), this.timeoutMs);
    if (!text) return false;
    const receivers = await withDeadline(this.redis.publish(this.keys.hangupChannel, callId), this.timeoutMs);
    return receivers > 0;
  }
}
