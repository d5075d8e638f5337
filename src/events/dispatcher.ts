/**
 * Webhook delivery (docs/webhooks.md): one dispatcher per instance, all in the consumer group
 * `webhooks` of the outbox stream, so instances share the work.
 *
 * - New entries: XREADGROUP ... BLOCK on a connection of its own (a blocking read on the main
 *   client would stall call lookups), with a deadline; never more than the free delivery slots.
 * - Each entry is POSTed, signed (src/util/signature.ts), with a timeout. 2xx: acknowledged and
 *   deleted. Failure: acknowledged in the group and scheduled in {p}events:retry, in one script,
 *   after an exponential backoff with full jitter; after maxAttempts it becomes a dead letter.
 * - Due retries are claimed by lease (their score moves to now + claimMinIdleMs), not removed:
 *   a dispatcher that dies holding them lets the lease run out and they are due again.
 * - Entries read by a dispatcher that died (pending in the group for claimMinIdleMs) are taken
 *   over with XAUTOCLAIM and resent with the same event id.
 * - A malformed entry (missing field, data that is not JSON, ...) is dead-lettered with the
 *   reason, never sent nor retried.
 *
 * Nothing here is on the call path: the call path only publishes (src/events/sink.ts).
 */
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log/logger.js';
import { DeadlineError, runScript, withDeadline, type Redis } from '../sessions/redis.js';
import { postJson } from '../util/http-post.js';
import { sign, SIGNATURE_HEADER } from '../util/signature.js';
import { parseOutboxEntry, type OutboxEvent } from './events.js';
import { CLAIM_DUE_SCRIPT, DEAD_SCRIPT, DONE_BATCH, DONE_SCRIPT, fieldsOf, outboxKeys, RETRY_SCRIPT, WEBHOOK_GROUP, type DeadLetter, type OutboxKeys } from './outbox.js';

export interface WebhookMetrics {
  delivered: { inc(labels: { type: string }): void };
  failures: { inc(labels: { reason: 'http' | 'timeout' | 'network' }): void };
  retries: { inc(): void };
  dead: { inc(): void };
  outboxDepth: { set(n: number): void };
  deliverySeconds: { observe(s: number): void };
}

export interface DispatcherOptions {
  keyPrefix: string;
  /** This instance's consumer name in the group (calls.instanceId, or hostname-pid). */
  consumer: string;
  /** Used when an entry has no url of its own; '' = none (such events are dropped). */
  defaultUrl: string;
  /** Send participant numbers to defaultUrl too (they always go to a session's own URL). */
  defaultUrlTrusted: boolean;
  secret: string;
  /** Deadline of one POST (headers and body). */
  timeoutMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** Attempts (the first included) before an event is dead-lettered. */
  maxAttempts: number;
  /** Deliveries in flight at most. */
  concurrency: number;
  /** Pending entries idle this long are taken over from their consumer; also the lease of a claimed retry. */
  claimMinIdleMs: number;
  /** Deadline of one Redis command (scripts, claims). */
  redisTimeoutMs: number;
  /** XREADGROUP BLOCK (its deadline is this plus redisTimeoutMs). */
  blockMs?: number;
  /** How often due retries are looked for. */
  pollMs?: number;
  /** After a read that filled fewer slots than it could, wait this long before the next (more per read, fewer wakeups); 0 = none. */
  readLingerMs?: number;
  /** How often the outbox depth gauge is refreshed. */
  depthMs?: number;
  /** [0, 1): the jitter's source (tests make it fixed). */
  random?: () => number;
}

type Failure = { reason: 'http' | 'timeout' | 'network' | 'stopped'; error: string };

interface Work {
  entryId: string;
  fields: Record<string, string>;
  /** Failed attempts before this one. */
  attempts: number;
}

/** The delay before retry number `attempt` (1 = the first retry): full jitter over an exponential cap. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 40));
  return Math.floor(random() * cap);
}

/** The JSON body of a delivery; numbers only when `withParties`. */
export function deliveryBody(e: OutboxEvent, withParties: boolean): string {
  return JSON.stringify({
    id: e.id,
    type: e.type,
    created_at: new Date(e.at).toISOString(),
    session_id: e.sessionId === '' ? null : e.sessionId,
    data: e.data,
    ...(withParties && e.parties ? { parties: e.parties } : {}),
  });
}

/** Consumers of instances gone for this long with nothing pending are removed from the group (hostname-pid names pile up). */
const GONE_CONSUMER_MS = 3600_000;
const PRUNE_EVERY_MS = 600_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class WebhookDispatcher {
  readonly keys: OutboxKeys;
  /** Events acknowledged without a delivery: no URL at all. */
  dropped = 0;
  private running = false;
  private readonly blockMs: number;
  private readonly pollMs: number;
  private readonly depthMs: number;
  private readonly random: () => number;
  private blocking: Redis | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly queue: Work[] = [];
  /** Sessions with a delivery in flight: one at a time per session, so a session's events arrive in order. */
  private readonly sessionsInFlight = new Set<string>();
  /** Woken when a slot frees or at stop. */
  private slotWaiters: Array<() => void> = [];
  private sleeper: { timer: NodeJS.Timeout; wake: () => void } | null = null;
  private readonly stopAll = new AbortController();
  private loops: Promise<void>[] = [];
  private groupReady = false;
  private claimCursor = '0-0';
  private lastClaim = 0;
  private lastDepth = 0;
  private lastPrune = Date.now();
  private failingSince: number | null = null;
  /** Delivered entries waiting for their shared acknowledgement (done()). */
  private doneBatch: { ids: string[]; settled: Promise<void> } | null = null;

  constructor(private readonly redis: Redis, private readonly opts: DispatcherOptions, private readonly metrics: WebhookMetrics, private readonly log: Logger) {
    this.keys = outboxKeys(opts.keyPrefix);
    this.blockMs = opts.blockMs ?? 2000;
    this.pollMs = opts.pollMs ?? Math.max(50, Math.min(1000, Math.floor(opts.retryBaseMs / 2)));
    this.depthMs = opts.depthMs ?? 5000;
    this.random = opts.random ?? Math.random;
    // Every delivery in flight listens for the stop (up to webhooks.concurrency of them).
    setMaxListeners(0, this.stopAll.signal);
  }

  /** Deliveries in flight or waiting for a slot. */
  get busy(): number {
    return this.inFlight.size + this.queue.length;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loops = [this.readLoop(), this.maintenanceLoop()];
  }

  /**
   * Stops within `timeoutMs`: no new reads; deliveries in flight may finish until then, after
   * which they are aborted and left as they are (pending or leased: resent later, same id).
   */
  async stop(timeoutMs: number): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.sleeper?.wake();
    for (const w of this.slotWaiters.splice(0)) w();
    this.queue.length = 0;
    const blocking = this.blocking;
    this.blocking = null;
    if (blocking?.isOpen) blocking.destroy();
    const deadline = Date.now() + timeoutMs;
    // The last quarter (up to 500 ms) is kept for the state moves of deliveries that finish in time.
    const reserve = Math.min(500, timeoutMs / 4);
    await Promise.race([Promise.all([...this.inFlight]), sleep(timeoutMs - reserve)]);
    this.stopAll.abort();
    // Aborted deliveries settle at once (nothing written to Redis for them: resent later, same id).
    await Promise.race([Promise.all([...this.inFlight, ...this.loops]), sleep(Math.max(0, deadline - Date.now()))]);
  }

  private free(): number {
    return this.opts.concurrency - this.inFlight.size - this.queue.length;
  }

  private waitForSlot(): Promise<void> {
    if (this.free() > 0 || !this.running) return Promise.resolve();
    return new Promise((r) => this.slotWaiters.push(r));
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        if (this.sleeper?.wake === wake) this.sleeper = null;
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleeper = { timer, wake };
    });
  }

  private async readLoop(): Promise<void> {
    let failures = 0;
    while (this.running) {
      await this.waitForSlot();
      if (!this.running) return;
      try {
        const entries = await this.readNew(this.free());
        failures = 0;
        this.recovered();
        for (const e of entries) this.enqueue(e);
        const linger = this.opts.readLingerMs ?? 0;
        if (linger > 0 && entries.length > 0 && this.free() > 0) await sleep(linger);
      } catch (err) {
        if (!this.running) return;
        failures++;
        this.failing(err, 'reading the outbox');
        await sleep(Math.min(100 * 2 ** Math.min(failures, 5), 2000));
      }
    }
  }

  private async maintenanceLoop(): Promise<void> {
    while (this.running) {
      try {
        await this.ensureGroup();
        const now = Date.now();
        if (this.free() > 0) await this.claimDue(now);
        if (this.free() > 0 && now - this.lastClaim >= Math.min(this.opts.claimMinIdleMs / 2, 5000)) {
          this.lastClaim = now;
          await this.claimStale();
        }
        if (now - this.lastPrune >= PRUNE_EVERY_MS) {
          this.lastPrune = now;
          await this.pruneConsumers();
        }
        if (now - this.lastDepth >= this.depthMs) {
          this.lastDepth = now;
          this.metrics.outboxDepth.set(Number(await withDeadline(this.redis.sendCommand(['XLEN', this.keys.stream]), this.opts.redisTimeoutMs)));
        }
      } catch (err) {
        if (!this.running) return;
        this.failing(err, 'scheduling webhook retries');
      }
      await this.pause(this.pollMs);
    }
  }

  private failing(err: unknown, what: string): void {
    if (this.failingSince !== null) return;
    this.failingSince = Date.now();
    this.log.warn({ err: (err as Error).message }, `webhooks: ${what} failed; retrying (events wait in the outbox)`);
  }

  private recovered(): void {
    if (this.failingSince === null) return;
    this.failingSince = null;
    this.log.info('webhooks: outbox reachable again');
  }

  private async ensureGroup(): Promise<void> {
    if (this.groupReady) return;
    try {
      await withDeadline(this.redis.sendCommand(['XGROUP', 'CREATE', this.keys.stream, WEBHOOK_GROUP, '0', 'MKSTREAM']), this.opts.redisTimeoutMs);
    } catch (err) {
      if (!String((err as Error).message).startsWith('BUSYGROUP')) throw err;
    }
    this.groupReady = true;
  }

  private async blockingClient(): Promise<Redis> {
    if (this.blocking?.isReady) return this.blocking;
    if (this.blocking?.isOpen) this.blocking.destroy();
    const c: Redis = this.redis.duplicate();
    c.on('error', () => undefined); // the main client logs connection trouble
    this.blocking = c;
    try {
      await withDeadline(c.connect(), Math.max(this.opts.redisTimeoutMs, 1000));
      if (!this.running) throw new Error('dispatcher stopped');
    } catch (err) {
      if (c.isOpen) c.destroy();
      if (this.blocking === c) this.blocking = null;
      throw err;
    }
    return c;
  }

  private async readNew(count: number): Promise<Work[]> {
    await this.ensureGroup();
    const c = await this.blockingClient();
    let reply: unknown;
    try {
      reply = await withDeadline(
        c.sendCommand(['XREADGROUP', 'GROUP', WEBHOOK_GROUP, this.opts.consumer, 'COUNT', String(count), 'BLOCK', String(this.blockMs), 'STREAMS', this.keys.stream, '>']),
        this.blockMs + this.opts.redisTimeoutMs,
      );
    } catch (err) {
      // A read without an answer leaves the connection busy: start a new one.
      if (err instanceof DeadlineError && c.isOpen) c.destroy();
      if (String((err as Error).message).startsWith('NOGROUP')) this.groupReady = false;
      throw err;
    }
    if (!Array.isArray(reply)) return [];
    const out: Work[] = [];
    for (const stream of reply) {
      const entries = Array.isArray(stream) ? (stream[1] as unknown) : null;
      if (!Array.isArray(entries)) continue;
      for (const e of entries) if (Array.isArray(e)) out.push({ entryId: String(e[0]), fields: fieldsOf(e[1]), attempts: 0 });
    }
    return out;
  }

  private async claimDue(now: number): Promise<void> {
    const reply = await withDeadline(
      runScript(this.redis, CLAIM_DUE_SCRIPT, [this.keys.retry, this.keys.stream, this.keys.attempts], [String(now), String(now + this.opts.claimMinIdleMs), String(this.free())]),
      this.opts.redisTimeoutMs,
    );
    if (!Array.isArray(reply)) return;
    for (const r of reply) {
      if (!Array.isArray(r)) continue;
      const attempts = Number(r[1]);
      this.enqueue({ entryId: String(r[0]), fields: fieldsOf(r[2]), attempts: Number.isFinite(attempts) ? attempts : 0 });
    }
  }

  /** Entries pending for claimMinIdleMs with any consumer (one that died, or this one before a restart): ours now. */
  private async claimStale(): Promise<void> {
    const reply = await withDeadline(
      this.redis.sendCommand(['XAUTOCLAIM', this.keys.stream, WEBHOOK_GROUP, this.opts.consumer, String(this.opts.claimMinIdleMs), this.claimCursor, 'COUNT', String(this.free())]),
      this.opts.redisTimeoutMs,
    );
    if (!Array.isArray(reply)) return;
    this.claimCursor = String(reply[0] ?? '0-0');
    const entries = reply[1];
    if (!Array.isArray(entries)) return;
    let n = 0;
    for (const e of entries) {
      if (!Array.isArray(e)) continue;
      n++;
      this.enqueue({ entryId: String(e[0]), fields: fieldsOf(e[1]), attempts: await this.attemptsOf(String(e[0])) });
    }
    if (n > 0) this.log.info({ count: n }, 'webhooks: took over events left pending by a stopped dispatcher; resending them');
  }

  /** Removes consumers idle for GONE_CONSUMER_MS that hold no pending entry (a live dispatcher reads every blockMs). */
  private async pruneConsumers(): Promise<void> {
    const reply = await withDeadline(this.redis.sendCommand(['XINFO', 'CONSUMERS', this.keys.stream, WEBHOOK_GROUP]), this.opts.redisTimeoutMs);
    if (!Array.isArray(reply)) return;
    for (const raw of reply.slice(0, 1000)) {
      const c = fieldsOf(raw);
      if (c.name === undefined || c.name === this.opts.consumer || Number(c.pending) !== 0 || !(Number(c.idle) >= GONE_CONSUMER_MS)) continue;
      await withDeadline(this.redis.sendCommand(['XGROUP', 'DELCONSUMER', this.keys.stream, WEBHOOK_GROUP, c.name]), this.opts.redisTimeoutMs);
    }
  }

  private async attemptsOf(entryId: string): Promise<number> {
    const v = await withDeadline(this.redis.sendCommand(['HGET', this.keys.attempts, entryId]), this.opts.redisTimeoutMs).catch(() => null);
    const n = Number(v ?? 0);
    return Number.isFinite(n) ? n : 0;
  }

  private enqueue(w: Work): void {
    this.queue.push(w);
    this.pump();
  }

  private pump(): void {
    while (this.running && this.queue.length > 0 && this.inFlight.size < this.opts.concurrency) {
      // The first queued event whose session has nothing in flight (the queue is at most `concurrency` long).
      const at = this.queue.findIndex((q) => !q.fields.session || !this.sessionsInFlight.has(q.fields.session));
      if (at < 0) return;
      const w = this.queue.splice(at, 1)[0] as Work;
      const key = w.fields.session ?? '';
      if (key) this.sessionsInFlight.add(key);
      const p: Promise<void> = this.deliver(w)
        .catch((err: Error) => this.log.error({ err: err.message, entry: w.entryId }, 'webhooks: delivery failed unexpectedly; the event stays in the outbox'))
        .finally(() => {
          if (key) this.sessionsInFlight.delete(key);
          this.inFlight.delete(p);
          this.pump();
          if (this.free() > 0) for (const wake of this.slotWaiters.splice(0)) wake();
        });
      this.inFlight.add(p);
    }
  }

  private async deliver(w: Work): Promise<void> {
    const parsed = parseOutboxEntry(w.fields);
    if ('problem' in parsed) {
      await this.deadLetter(w, parsed.problem, 'malformed', w.attempts);
      this.log.error({ entry: w.entryId, reason: parsed.problem }, 'webhooks: malformed outbox entry dead-lettered');
      return;
    }
    const e = parsed;
    const url = e.url !== '' ? e.url : this.opts.defaultUrl;
    if (url === '') {
      await this.done(w);
      this.dropped++;
      this.log.debug({ eventId: e.id, type: e.type }, 'webhooks: no URL for the event (none on the session, no webhooks.defaultUrl); dropped');
      return;
    }
    const body = deliveryBody(e, e.url !== '' || this.opts.defaultUrlTrusted);
    const started = performance.now();
    const failure = await this.post(url, body, e);
    this.metrics.deliverySeconds.observe((performance.now() - started) / 1000);
    if (failure?.reason === 'stopped') return; // left pending or leased: resent later with the same id
    if (!failure) {
      await this.done(w);
      this.metrics.delivered.inc({ type: e.type });
      return;
    }
    this.metrics.failures.inc({ reason: failure.reason });
    const attempts = w.attempts + 1;
    const target = new URL(url).host;
    if (attempts >= this.opts.maxAttempts) {
      await this.deadLetter(w, failure.error, 'failed', attempts);
      this.log.warn({ eventId: e.id, type: e.type, attempts, err: failure.error, host: target }, 'webhooks: delivery failed for good; event dead-lettered (maskbridge events dead / replay)');
      return;
    }
    const delay = backoffMs(attempts, this.opts.retryBaseMs, this.opts.retryMaxMs, this.random);
    await this.script(RETRY_SCRIPT, [this.keys.stream, this.keys.retry, this.keys.attempts], [WEBHOOK_GROUP, w.entryId, String(Date.now() + delay), String(attempts)]);
    this.metrics.retries.inc();
    this.log.debug({ eventId: e.id, type: e.type, attempts, err: failure.error, host: target, retryInMs: delay }, 'webhooks: delivery failed; retry scheduled');
  }

  /** POSTs the body: null when the receiver answered 2xx. */
  private async post(url: string, body: string, e: OutboxEvent): Promise<Failure | null> {
    const r = await postJson(url, body, {
      [SIGNATURE_HEADER]: sign(this.opts.secret, body, Math.floor(Date.now() / 1000)),
      'maskbridge-event-id': e.id,
      'maskbridge-event-type': e.type,
    }, this.opts.timeoutMs, this.stopAll.signal);
    if ('status' in r) return r.status >= 200 && r.status < 300 ? null : { reason: 'http', error: `HTTP ${r.status}` };
    return { reason: r.error, error: r.message };
  }

  /**
   * Acknowledges and deletes a delivered entry. Deliveries that end in the same turn of the event
   * loop share one round trip (at most DONE_BATCH entries each): one script call, not one per event.
   */
  private done(w: Work): Promise<void> {
    let batch = this.doneBatch;
    if (!batch || batch.ids.length >= DONE_BATCH) {
      const ids: string[] = [];
      const settled = new Promise<void>((resolve) => setImmediate(() => {
        if (this.doneBatch === batch) this.doneBatch = null;
        resolve(this.script(DONE_SCRIPT, [this.keys.stream, this.keys.retry, this.keys.attempts], [WEBHOOK_GROUP, ...ids]));
      }));
      batch = this.doneBatch = { ids, settled };
    }
    batch.ids.push(w.entryId);
    return batch.settled;
  }

  private deadLetter(w: Work, error: string, reason: DeadLetter['reason'], attempts: number): Promise<void> {
    const id = w.fields.id;
    const key = id && id.length <= 128 ? id : `entry:${w.entryId}`;
    const letter: Omit<DeadLetter, 'key'> = { entryId: w.entryId, fields: w.fields, attempts, error, reason, deadAt: Date.now() };
    this.metrics.dead.inc();
    return this.script(DEAD_SCRIPT, [this.keys.stream, this.keys.retry, this.keys.attempts, this.keys.dead], [WEBHOOK_GROUP, w.entryId, key, JSON.stringify(letter)]);
  }

  /** A state move; when Redis does not take it the entry stays where it was (and is resent: at least once). */
  private async script(script: string, keys: string[], args: string[]): Promise<void> {
    try {
      await withDeadline(runScript(this.redis, script, keys, args), this.opts.redisTimeoutMs);
    } catch (err) {
      this.log.warn({ err: (err as Error).message, entry: args[1] }, 'webhooks: outbox update failed; the event will be sent again (same id)');
    }
  }
}
