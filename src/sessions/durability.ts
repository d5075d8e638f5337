/**
 * Durability of writes (docs/redis-contract.md, "Durability"). Redis replicates asynchronously:
 * a write the primary confirmed is lost if the primary fails before a replica has it (a failover
 * promotes that replica). WAIT after the write says whether `replicas` replicas have it within
 * `timeoutMs`. It must run on the connection that wrote (it waits for that connection's last
 * write), so it is only trusted when the socket did not change in between (socketEpoch; the
 * Sentinel follower changes it when it moves to another primary). WAIT blocks that connection
 * until it answers: callers give it a connection the call path does not use.
 */
import { withDeadline } from '../util/deadline.js';
import type { Redis } from './redis.js';

export interface DurabilityOptions {
  /** Replicas to wait for; 0 = do not wait. */
  replicas: number;
  timeoutMs: number;
}

/** true: `replicas` replicas have the write; false: not within the timeout (the write stands on the primary); null: not asked. */
export type Replicated = boolean | null;

/** The slack on top of WAIT's own timeout, for the round trip. */
const WAIT_SLACK_MS = 250;

export class Durability {
  constructor(private readonly redis: Redis, readonly opts: DurabilityOptions) {}

  get enabled(): boolean {
    return this.opts.replicas > 0;
  }

  /** Runs `write` (which uses this connection), then WAIT when enabled. A failed WAIT is reported as false, never thrown. */
  async run<T>(write: () => Promise<T>): Promise<{ value: T; replicated: Replicated }> {
    if (!this.enabled) return { value: await write(), replicated: null };
    const epoch = this.redis.socketEpoch;
    const value = await write();
    return { value, replicated: await this.waitSince(epoch) };
  }

  /** WAIT for the writes this connection made since `epoch` (its socketEpoch before them). */
  async waitSince(epoch: number): Promise<boolean> {
    try {
      const acked = Number(await withDeadline(
        this.redis.sendCommand(['WAIT', String(this.opts.replicas), String(this.opts.timeoutMs)]),
        this.opts.timeoutMs + WAIT_SLACK_MS,
      ));
      return acked >= this.opts.replicas && this.redis.socketEpoch === epoch;
    } catch {
      return false;
    }
  }
}
