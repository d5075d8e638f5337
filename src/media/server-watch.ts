/**
 * Health of one media server's control connection, by keep-alive: a command (`api status`)
 * every `pingMs` with a deadline of `pingTimeoutMs` (media.keepAliveMs, media.keepAliveTimeoutMs;
 * dead after media.deadAfterMs: src/config/schema.ts, which takes its defaults from here). A closed connection is seen at once (the
 * socket ends); this is for a server whose socket stays open but that stops answering (hung,
 * SIGSTOP, partitioned without a FIN, overloaded). A missed ping (or a command that missed its
 * deadline: missed()) takes the server out of rotation; the next answer puts it back. A server
 * that has answered nothing for `deadAfterMs` is dead: its calls have no media, and the pool ends
 * them and reconnects (src/media/fsmrf.ts).
 */

/** The defaults of media.keepAliveMs, media.keepAliveTimeoutMs and media.deadAfterMs. */
export const KEEP_ALIVE_DEFAULTS = { keepAliveMs: 1000, keepAliveTimeoutMs: 2000, deadAfterMs: 10_000 } as const;

export interface ServerWatchOptions {
  pingMs: number;
  pingTimeoutMs: number;
  deadAfterMs: number;
  /** Milliseconds clock (tests); default Date.now. */
  now?: () => number;
}

export interface ServerWatchEvents {
  /** Out of rotation: a ping or a command missed its deadline. */
  down(why: string): void;
  /** Answers again after down(). */
  up(): void;
  /** Nothing answered for deadAfterMs: the watch has stopped. */
  dead(silentMs: number): void;
}

export class ServerWatch {
  private timer: NodeJS.Timeout | null = null;
  private inFlight = false;
  private lastAnswer: number;
  private healthy = true;
  private stopped = false;
  private readonly now: () => number;

  constructor(
    private readonly ping: () => Promise<unknown>,
    private readonly opts: ServerWatchOptions,
    private readonly events: ServerWatchEvents,
  ) {
    this.now = opts.now ?? Date.now;
    this.lastAnswer = this.now();
  }

  get isHealthy(): boolean {
    return this.healthy && !this.stopped;
  }

  start(): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => this.tick(), this.opts.pingMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** The server answered something (a ping, or any command). */
  answered(): void {
    if (this.stopped) return;
    this.lastAnswer = this.now();
    if (!this.healthy) {
      this.healthy = true;
      this.events.up();
    }
  }

  /** A command missed its deadline: out of rotation until the next answer. */
  missed(what: string): void {
    if (this.stopped) return;
    if (this.healthy) {
      this.healthy = false;
      this.events.down(`${what} missed its deadline`);
    }
    this.checkDead();
  }

  /** One keep-alive round (the interval calls it; tests may too). */
  tick(): void {
    if (this.stopped) return;
    this.checkDead();
    // A hung server has one ping outstanding, not one more every interval.
    if (this.stopped || this.inFlight) return;
    this.inFlight = true;
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      this.missed('keep-alive');
    }, this.opts.pingTimeoutMs);
    timer.unref();
    this.ping().then(
      () => {
        // An answer after the deadline still says the server is alive.
        clearTimeout(timer);
        this.inFlight = false;
        this.answered();
      },
      () => {
        clearTimeout(timer);
        this.inFlight = false;
        if (!late) this.missed('keep-alive (failed)');
      },
    );
  }

  private checkDead(): void {
    const silent = this.now() - this.lastAnswer;
    if (silent < this.opts.deadAfterMs) return;
    this.stop();
    this.events.dead(silent);
  }
}
