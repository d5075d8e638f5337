/**
 * A call's log lines, carrying its Call-ID (masked: some carriers put the caller's number in it)
 * and, once known, its session id. A call that goes through logs nothing at info until it ends,
 * so its way to the 200 pays nothing for logging:
 * - `line()` evaluates its fields only when the level is on, and until a child logger exists it
 *   writes through the parent with the bindings merged in (the same JSON), so a call that logs
 *   one line, as a connected call does, never makes a child;
 * - `logger` makes the child (for code that wants a Logger) on first use, with every binding so far.
 */
import type { Logger } from './logger.js';

export type CallLogLevel = 'debug' | 'info' | 'warn' | 'error';

export class CallLog {
  private child: Logger | null = null;
  /** callId first; it is masked when the first line needs it. */
  private readonly bindings: Record<string, string>;
  private callIdMasked = false;

  constructor(
    private readonly parent: Logger,
    callId: string,
    private readonly fmt: (value: string) => string = (value) => value,
  ) {
    this.bindings = { callId };
  }

  /** Adds bindings to every line from now on (and to none before). */
  bind(extra: Record<string, string>): void {
    if (this.child) this.child.setBindings(extra);
    else Object.assign(this.bindings, extra);
  }

  get logger(): Logger {
    this.child ??= this.parent.child(this.currentBindings());
    return this.child;
  }

  /** One line at `level`; `fields` is only called when that level is on. */
  line(level: CallLogLevel, msg: string, fields?: () => Record<string, unknown>): void {
    if (this.child) {
      if (this.child.isLevelEnabled(level)) this.child[level](fields ? fields() : {}, msg);
      return;
    }
    if (!this.parent.isLevelEnabled(level)) return;
    this.parent[level]({ ...this.currentBindings(), ...(fields ? fields() : {}) }, msg);
  }

  private currentBindings(): Record<string, string> {
    if (!this.callIdMasked) {
      this.bindings.callId = this.fmt(this.bindings.callId as string);
      this.callIdMasked = true;
    }
    return this.bindings;
  }
}
