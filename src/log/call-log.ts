/**
 * A call's child logger (Call-ID, then the session id), made on first use. A call that goes
 * through logs nothing at info until it ends, so its way to the 200 pays nothing for logging;
 * bindings added before then go into the one child made later.
 */
import type { Logger } from './logger.js';

export class CallLog {
  private child: Logger | null = null;
  private readonly bindings: Record<string, string>;

  constructor(private readonly parent: Logger, callId: string) {
    this.bindings = { callId };
  }

  /** Adds bindings to every line from now on (and to none before). */
  bind(extra: Record<string, string>): void {
    if (this.child) this.child.setBindings(extra);
    else Object.assign(this.bindings, extra);
  }

  get logger(): Logger {
    this.child ??= this.parent.child(this.bindings);
    return this.child;
  }
}
