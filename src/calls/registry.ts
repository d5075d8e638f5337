import type { Logger } from '../log/logger.js';
import type { CallSession } from './call-session.js';

/** Live calls: for draining on shutdown, and for hanging up the calls of a session that closed. */
export class CallRegistry {
  private readonly live = new Set<CallSession>();
  private draining = false;

  constructor(private readonly log: Logger) {}

  get size(): number {
    return this.live.size;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** The ids (keyed Call-ID hashes) of the live calls. */
  callIds(): string[] {
    return [...this.live].map((c) => c.callId);
  }

  /** The session ids of the live calls that have one. */
  sessionIds(): Set<string> {
    const ids = new Set<string>();
    for (const c of this.live) if (c.sessionId) ids.add(c.sessionId);
    return ids;
  }

  /** Hangs up the live calls of a session that closed; returns how many there were. */
  sessionClosed(sessionId: string): number {
    let n = 0;
    for (const c of this.live) {
      if (c.sessionId === sessionId && !c.isOver()) {
        c.sessionClosed();
        n++;
      }
    }
    return n;
  }

  /** Hangs up the connected call with this id (the keyed Call-ID hash); false when it is not here. */
  hangup(callId: string): boolean {
    for (const c of this.live) {
      if (c.callId === callId && c.currentState === 'connected') {
        c.operatorHangup();
        return true;
      }
    }
    return false;
  }

  track(session: CallSession): void {
    this.live.add(session);
    void session.done.then(() => this.live.delete(session));
  }

  /**
   * Stops taking calls (new INVITEs get 503), waits up to `timeoutMs` for live calls to end,
   * then ends the rest. Resolves when every call has finished its teardown.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    if (this.live.size === 0) return;
    this.log.info({ live: this.live.size, timeoutMs }, 'draining live calls');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
    const allDone = Promise.all([...this.live].map((s) => s.done)).then(() => 'done' as const);
    const outcome = await Promise.race([allDone, timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.log.warn({ live: this.live.size }, 'drain time over; ending remaining calls');
      for (const s of this.live) s.terminate();
      await Promise.all([...this.live].map((s) => s.done));
    }
  }
}
