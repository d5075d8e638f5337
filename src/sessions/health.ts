import { ErrorReply } from 'redis';
import { timed, type RedisObserver } from '../util/timing.js';

/**
 * Store health from what Redis actually did: the outcome of the most recent command (a lookup,
 * a re-check, a CDR write, or the idle probe). A socket can be "ready" while the server is hung
 * (SIGSTOP, a stalled disk under appendfsync): only answers count. One failure marks the store
 * failing; the next answer clears it. While it fails, OPTIONS keep-alives get 503 so carriers
 * move traffic away, and /readyz says not ready. With an observer, each command named to track()
 * is also timed (maskbridge_redis_command_seconds, maskbridge_redis_errors_total): this is the one
 * place the store's commands pass through.
 */
export class StoreHealth {
  private failing = false;
  private lastOutcomeAt = 0;
  private lastError = '';

  constructor(
    private readonly now: () => number = Date.now,
    private readonly observe?: RedisObserver,
  ) {}

  ok(): void {
    this.failing = false;
    this.lastOutcomeAt = this.now();
  }

  failed(err: unknown): void {
    this.failing = true;
    this.lastOutcomeAt = this.now();
    this.lastError = err instanceof Error ? err.message : String(err);
  }

  get healthy(): boolean {
    return !this.failing;
  }

  /** Milliseconds since any command last finished (for the idle probe). */
  idleMs(): number {
    return this.now() - this.lastOutcomeAt;
  }

  get lastFailure(): string {
    return this.lastError;
  }

  /** Records the outcome of `work` and passes it through; `command` names it for the Redis metrics. */
  track<T>(work: Promise<T>, command?: string): Promise<T> {
    return (command ? timed(this.observe, command, work) : work).then(
      (v) => {
        this.ok();
        return v;
      },
      (err: unknown) => {
        // An error reply (WRONGTYPE, NOSCRIPT, ...) is an answer: Redis is up.
        if (err instanceof ErrorReply) this.ok();
        else this.failed(err);
        throw err;
      },
    );
  }
}
