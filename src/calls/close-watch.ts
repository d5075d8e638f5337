/**
 * Closing a session hangs up its live calls on every instance. `mb_close` publishes the session
 * id on `{prefix}session-closed`; each instance subscribes and hangs up its own calls of that
 * session. Pub/sub is fire-and-forget (a message sent while the subscriber reconnects is lost),
 * so a sweep also asks Redis, every `sweepMs`, for the status of the sessions of the live calls
 * (one pipelined HGET each) and hangs up those closed or gone. A close through plain Redis that
 * skips mb_close is found by the sweep alone. The same subscriber listens on `{prefix}hangup`
 * for calls hung up through the API or the CLI (src/calls/live-calls.ts).
 */
import type { Logger } from '../log/logger.js';
import { withDeadline } from '../util/deadline.js';
import type { CallRegistry } from './registry.js';

/** What the watch needs of Redis: a subscriber connection, and status reads on the main one. */
export interface CloseSource {
  subscribe(channel: string, onMessage: (sessionId: string) => void): Promise<void>;
  unsubscribe(): Promise<void>;
  /** Each session's `status` field (null when its hash is gone), in order. */
  statuses(ids: string[]): Promise<Array<string | null>>;
}

export class CloseWatch {
  private timer: NodeJS.Timeout | null = null;
  private sweeping = false;

  constructor(
    private readonly source: CloseSource,
    private readonly channel: string,
    private readonly registry: CallRegistry,
    private readonly log: Logger,
    private readonly opts: { sweepMs: number; timeoutMs: number; hangupChannel?: string },
  ) {}

  start(): void {
    const { hangupChannel } = this.opts;
    this.source.subscribe(this.channel, (id) => this.closed(id, 'pub/sub'))
      .then(() => hangupChannel === undefined ? undefined : this.source.subscribe(hangupChannel, (callId) => {
        if (this.registry.hangup(callId)) this.log.info({ callId }, 'call hung up through the live-call registry');
      }))
      .catch((err: Error) => {
        this.log.warn({ err: err.message }, 'subscription failed; the sweep still hangs up closed sessions\' calls, hang-ups through the API do not reach this instance');
      });
    this.timer = setInterval(() => void this.sweep(), this.opts.sweepMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await withDeadline(this.source.unsubscribe(), this.opts.timeoutMs).catch(() => undefined);
  }

  /** One pass over the live calls' sessions; exported for tests. Never rejects. */
  async sweep(): Promise<void> {
    if (this.sweeping) return;
    const ids = [...this.registry.sessionIds()];
    if (ids.length === 0) return;
    this.sweeping = true;
    try {
      const statuses = await withDeadline(this.source.statuses(ids), this.opts.timeoutMs);
      ids.forEach((id, i) => {
        if (statuses[i] !== 'open') this.closed(id, statuses[i] === null ? 'sweep: session gone' : 'sweep');
      });
    } catch (err) {
      // Redis away: live calls go on (calls.maxDurationSec bounds them); new calls fail closed.
      this.log.debug({ err: (err as Error).message }, 'session sweep skipped');
    } finally {
      this.sweeping = false;
    }
  }

  private closed(sessionId: string, via: string): void {
    const n = this.registry.sessionClosed(sessionId);
    if (n > 0) this.log.info({ sessionId, calls: n, via }, 'session closed: hanging up its live calls');
  }
}
