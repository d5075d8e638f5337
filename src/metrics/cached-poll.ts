/**
 * A value read from another process at scrape time, at most every `maxAgeMs`, each read bounded
 * by `timeoutMs`: a scrape never waits longer, and scrapes that come together share one read.
 * A read that fails or times out keeps the last value (and is reported to `observe`).
 */
import { withDeadline } from '../util/deadline.js';

export class CachedPoll<T> {
  private last: T | null = null;
  private readAt = Number.NEGATIVE_INFINITY;
  private pending: Promise<void> | null = null;

  constructor(
    private readonly read: () => Promise<T>,
    private readonly opts: { maxAgeMs: number; timeoutMs: number },
    private readonly observe: (seconds: number, failed: boolean) => void = () => undefined,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The latest value (null until a read has succeeded). */
  async get(): Promise<T | null> {
    if (this.now() - this.readAt < this.opts.maxAgeMs) return this.last;
    this.pending ??= this.refresh().finally(() => (this.pending = null));
    await this.pending;
    return this.last;
  }

  private async refresh(): Promise<void> {
    const t0 = this.now();
    try {
      this.last = await withDeadline(this.read(), this.opts.timeoutMs);
      this.observe((this.now() - t0) / 1000, false);
    } catch {
      this.observe((this.now() - t0) / 1000, true);
    }
    // A failed read also waits maxAgeMs before the next: a slow Redis is not asked at every scrape.
    this.readAt = this.now();
  }
}
