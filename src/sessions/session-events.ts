/**
 * The session side of webhooks (docs/webhooks.md): while it runs, the contract's functions append
 * session.closed to the outbox stream ({prefix}events) as sessions close, and keep the expiry
 * index ({prefix}expiries) that this sweep reads. Every `everyMs` each instance asks
 * `mb_expire_due` for the sessions past their expiry; the function takes each off the index and
 * appends its session.expired in one atomic step, so exactly one instance announces each expiry,
 * at most `everyMs` (plus one round trip) after it. Keyspace notifications are not used: Redis
 * sends them at most once, to whoever listens at that moment, and only when it evicts the key.
 */
import type { Logger } from '../log/logger.js';
import { withDeadline } from '../util/deadline.js';
import { fcall } from './library.js';
import type { Redis } from './redis.js';

export interface SessionEventsOptions {
  prefix: string;
  everyMs: number;
  /** Sessions per mb_expire_due call; a pass calls again while a call came back full, up to maxBatches. */
  batch?: number;
  maxBatches?: number;
  timeoutMs: number;
}

/**
 * How long the mark outlives the last instance with webhooks on: an outage of every instance
 * shorter than this loses no session event; a deployment that turns webhooks off stops filling
 * the (uncapped) outbox within it.
 */
export const EVENTS_ON_TTL_MS = 3_600_000;

export class SessionEvents {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(private readonly redis: Redis, private readonly opts: SessionEventsOptions, private readonly log: Logger) {}

  get keys(): { on: string; expiries: string } {
    const p = this.opts.prefix;
    return { on: `${p}events:on`, expiries: `${p}expiries` };
  }

  /** Turns the session events on in Redis (idempotent) and starts the sweep. */
  start(): void {
    this.timer = setInterval(() => void this.tick(), this.opts.everyMs);
    this.timer.unref();
    void this.tick();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  private tick(): void {
    // One pass at a time: a slow Redis makes passes late, never piled up.
    if (this.running) return;
    this.running = this.pass().then(() => undefined).finally(() => (this.running = null));
  }

  /** Marks events on (the functions read the mark), then announces what expired. Never rejects. */
  async pass(): Promise<number> {
    let expired = 0;
    try {
      await withDeadline(this.redis.set(this.keys.on, '1', { PX: EVENTS_ON_TTL_MS }), this.opts.timeoutMs);
      const batch = this.opts.batch ?? 500;
      for (let i = 0; i < (this.opts.maxBatches ?? 20); i++) {
        const reply = (await withDeadline(fcall(this.redis, 'mb_expire_due', [this.keys.expiries], [String(batch)]), this.opts.timeoutMs)) as string[];
        if (reply[0] !== 'ok') throw new Error(`mb_expire_due answered ${JSON.stringify(reply)}`);
        expired += Number(reply[1]);
        if (Number(reply[2]) < batch) break;
      }
      if (expired > 0) this.log.debug({ expired }, 'session expiries announced');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'session expiry sweep failed; retried at the next pass (no expiry is lost: they stay in the index)');
    }
    return expired;
  }
}
