/**
 * A sink that writes records (CDRs, webhook events; codec.ts) ahead to the spool (spool.ts) and
 * replays the spool into a target (the Redis stream) in batches, in spool order, from one loop.
 * Every record is on disk before it is
 * sent, and leaves the spool only once the target has it; the target de-duplicates, so a batch
 * resent after a lost reply or a crash lands once.
 *
 * Failures (redis-stream.ts `classify`):
 * - unavailable (no answer, connection down, LOADING, ...): the batch is retried with backoff.
 * - config (the stream key holds another type): every record would fail; they are kept, an error
 *   is logged, and the batch is retried every `configRetryMs`.
 * - refused (Redis refused the call or one record): the records are sent one at a time to find
 *   the refused one; it is set aside as poison only when a record after it is accepted (so one
 *   bad record does not block the rest). When the records after it are refused too, Redis is
 *   refusing everything: that is handled like `config`, nothing is set aside.
 * - a line the codec cannot read is set aside at once (never sent).
 */
import type { Logger } from '../log/logger.js';
import type { RecordCodec } from './codec.js';
import type { RecordTarget, WriteFailure } from './redis-stream.js';
import { Spool, type SpoolEntry } from './spool.js';

export interface SpoolSinkMetrics {
  /** Records set aside to the poison file. */
  poison: { inc(): void };
  /** Records not yet in the target. */
  backlog: { set(value: number): void };
}

export interface SpoolingSinkOptions {
  /** Base name of the spool's files (files.ts). */
  spoolFile: string;
  /** Records per round trip to the target. */
  batchSize?: number;
  /** First retry after "unavailable"; doubles up to maxRetryMs. */
  retryMs?: number;
  maxRetryMs?: number;
  /** Retry interval while Redis refuses every record. */
  configRetryMs?: number;
  /** close(): how long the final flush may take. */
  closeTimeoutMs?: number;
  /** flush() without an argument: how long it may take. */
  flushTimeoutMs?: number;
  segmentBytes?: number;
  /** fdatasync the spool (against a power cut) at most `syncMs` after an append; 0 = after each append. */
  fsync?: boolean;
  syncMs?: number;
  /** How often the checkpoint is written while records are confirmed (a crash resends at most this much; Redis drops the repeats). */
  checkpointMs?: number;
  metrics?: SpoolSinkMetrics;
  /**
   * After new records wake the replay, wait this long for more before sending (0: send at once),
   * so records that trickle in go to Redis several per round trip. flush() and close() cut it short.
   */
  lingerMs?: number;
  /** Leave finished segments on disk (spool.ts SpoolOptions.keepFinished): replaying another instance's spool. */
  keepFinished?: boolean;
}

const MAX_PROBES = 5;
/** close(): the most it keeps for records already handed to the disk to get there. */
const WRITER_RESERVE_MS = 500;

type Wait = 'data' | 'retry' | 'linger';

type Ok<T> = SpoolEntry<T> & { kind: 'record' };

export class SpoolingSink<T> {
  protected readonly spool: Spool<T>;
  private readonly batchSize: number;
  private readonly retryMs: number;
  private readonly maxRetryMs: number;
  private readonly configRetryMs: number;
  private pending = 0;
  private stopped = false;
  private closing: Promise<void> | null = null;
  private waiting: { kind: Wait; wake: () => void } | null = null;
  private flushers: Array<() => void> = [];
  private failures = 0;
  private readFailures = 0;
  /** Records left to send one at a time while looking for the one Redis refused. */
  private isolate = 0;
  /** Resolves once the spool left by an earlier process is scanned and counted in `backlog`. */
  readonly ready: Promise<void>;

  private readonly noun: string;
  private readonly plural: string;

  constructor(
    private readonly target: RecordTarget<T>,
    private readonly codec: RecordCodec<T>,
    private readonly opts: SpoolingSinkOptions,
    private readonly log: Logger,
  ) {
    this.noun = codec.noun;
    this.plural = codec.plural;
    this.batchSize = opts.batchSize ?? 200;
    this.retryMs = opts.retryMs ?? 500;
    this.maxRetryMs = opts.maxRetryMs ?? 10_000;
    this.configRetryMs = opts.configRetryMs ?? 30_000;
    this.spool = new Spool(
      opts.spoolFile,
      codec,
      {
        segmentBytes: opts.segmentBytes ?? 4 * 1024 * 1024, fsync: opts.fsync ?? true, syncMs: opts.syncMs ?? 50,
        checkpointMs: opts.checkpointMs ?? 1000, retryMs: this.retryMs, maxQueued: 200_000,
        ...(opts.keepFinished ? { keepFinished: true } : {}),
      },
      log,
    );
    this.spool.onData = () => {
      if (this.waiting?.kind === 'data') this.waiting.wake();
    };
    this.ready = this.count();
    void this.ready.then(() => this.run()).catch((err: Error) => this.log.error({ err: err.message }, `${this.noun} replay stopped`));
  }

  /** Never throws, never waits: the record is queued for the spool (and from there sent to Redis). */
  write(record: T): void {
    let line: string;
    try {
      line = `${JSON.stringify(record)}\n`;
    } catch (err) {
      this.log.error({ err: (err as Error).message, [this.codec.idField]: this.idOf(record) }, `${this.noun} cannot be serialised; dropped`);
      return;
    }
    if (!this.spool.writer.append(line)) {
      this.log.error({ [this.codec.idField]: this.idOf(record), queued: this.spool.writer.queued, closed: this.stopped }, `${this.noun} not taken by the spool (closed, or the disk has failed for long); dropped`);
      return;
    }
    this.changeBacklog(1);
  }

  /** Records accepted by write() (or left by an earlier process) and not yet in Redis. */
  get backlog(): number {
    return this.pending;
  }

  /**
   * Sends what is pending now (including a spool left by an earlier process); resolves when the
   * backlog is empty, when a write fails, or after `timeoutMs`. Never rejects.
   */
  async flush(timeoutMs = this.opts.flushTimeoutMs ?? 5000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    try {
      await Promise.race([this.ready, expired]);
      if (this.pending === 0 || this.stopped) return;
      await Promise.race([expired, new Promise<void>((resolve) => {
        this.flushers.push(resolve);
        this.waiting?.wake();
      })]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * A last flush, then stops, all within `timeoutMs` (the last quarter of it, up to 500 ms, is
   * kept for records still on their way to the disk): records not in Redis stay in the spool for
   * the next start. Later write() calls are dropped (logged). Never rejects.
   */
  close(timeoutMs = this.opts.closeTimeoutMs ?? 2000): Promise<void> {
    this.closing ??= (async () => {
      const deadline = Date.now() + timeoutMs;
      const reserve = Math.min(WRITER_RESERVE_MS, timeoutMs / 4);
      if (timeoutMs > 0) await this.flush(timeoutMs - reserve);
      this.stopped = true;
      this.waiting?.wake();
      const lost = await this.spool.close(Math.max(0, deadline - Date.now()));
      if (lost > 0) this.log.error({ lost }, `${this.plural} lost at shutdown: the disk did not take them in time`);
      if (this.pending - lost > 0) this.log.warn({ backlog: this.pending - lost, spool: this.opts.spoolFile }, `${this.plural} not yet in redis stay in the spool for the next start`);
    })().catch((err: Error) => this.log.error({ err: err.message }, `closing the ${this.noun} sink failed`));
    return this.closing;
  }

  private changeBacklog(delta: number): void {
    this.pending = Math.max(0, this.pending + delta);
    this.opts.metrics?.backlog.set(this.pending);
    if (this.pending === 0) this.settleFlushers();
  }

  private settleFlushers(): void {
    const waiting = this.flushers;
    this.flushers = [];
    for (const f of waiting) f();
  }

  private sleep(kind: Wait, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        if (this.waiting?.wake === wake) this.waiting = null;
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.waiting = { kind, wake };
    });
  }

  private async count(): Promise<void> {
    try {
      const older = await this.spool.countOlder();
      if (older > 0) {
        this.changeBacklog(older);
        this.log.warn({ count: older, spool: this.opts.spoolFile }, `replaying spooled ${this.plural}`);
      }
    } catch (err) {
      if (this.stopped) return;
      this.log.error({ err: (err as Error).message, spool: this.opts.spoolFile }, `cannot read the ${this.noun} spool; the backlog count leaves its records out`);
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.step();
      } catch (err) {
        if (this.stopped) return;
        this.readFailures++;
        if (this.readFailures === 1) this.log.error({ err: (err as Error).message, spool: this.opts.spoolFile }, `${this.noun} spool read failed; retrying`);
        this.settleFlushers();
        await this.sleep('retry', Math.min(this.retryMs * 2 ** (this.readFailures - 1), this.maxRetryMs));
        continue;
      }
      this.readFailures = 0;
    }
  }

  /** One round: a batch to the target (or one record set aside, or a wait). */
  private async step(): Promise<void> {
    const window = await this.spool.peek(this.batchSize);
    if (this.stopped) return;
    const head = window[0];
    if (!head) {
      // Caught up: whatever is not queued for the disk is in Redis.
      if (this.spool.idle && this.pending > 0) this.changeBacklog(-this.pending);
      await this.sleep('data', 60_000);
      const linger = this.opts.lingerMs ?? 0;
      if (linger > 0 && !this.stopped && this.flushers.length === 0) await this.sleep('linger', linger);
      return;
    }
    if (head.kind === 'bad') {
      await this.setAside(head, head.reason);
      return;
    }
    let n = 1;
    if (this.isolate === 0) while (n < window.length && window[n]?.kind === 'record') n++;
    const res = await this.target.write(recordsOf(window.slice(0, n)));
    if (this.stopped) return;
    this.spool.commit(res.done);
    this.changeBacklog(-res.done);
    this.isolate = Math.max(0, this.isolate - res.done);
    const f = res.failure;
    if (!f) {
      if (this.failures > 0) this.log.info({ backlog: this.pending }, `${this.noun} stream writes resumed`);
      this.failures = 0;
      return;
    }
    this.settleFlushers();
    if (f.kind === 'unavailable') return this.backoff(f);
    if (f.kind === 'config') return this.refusedByConfig(f);
    if (!f.atRecord && n > 1) {
      this.isolate = n;
      return;
    }
    await this.judge(window.slice(res.done), f);
  }

  /** `entries[0]` was refused: poison if Redis takes one of the records after it, else Redis refuses everything. */
  private async judge(entries: ReadonlyArray<SpoolEntry<T>>, f: WriteFailure): Promise<void> {
    const suspect = entries[0] as Ok<T>;
    const probes = entries.slice(1).filter((e): e is Ok<T> => e.kind === 'record').slice(0, MAX_PROBES);
    for (const probe of probes) {
      const r = await this.target.write([probe.record]);
      if (this.stopped) return;
      if (r.done === 1) {
        await this.setAside(suspect, `refused by redis: ${f.message}`);
        return;
      }
      if (r.failure?.kind === 'unavailable') return this.backoff(r.failure);
    }
    this.isolate = Math.max(this.isolate, 1);
    if (probes.length === 0) {
      // Nothing after it to tell a bad record from a refusing Redis: ask again when more arrive.
      this.log.warn({ [this.codec.idField]: this.codec.id(suspect.record), code: f.code, err: f.message }, `redis refused a ${this.noun}; keeping it, retrying when the next one arrives`);
      await this.sleep('data', this.configRetryMs);
      return;
    }
    await this.refusedByConfig(f);
  }

  private async refusedByConfig(f: WriteFailure): Promise<void> {
    this.log.error(
      { code: f.code, err: f.message, backlog: this.pending, retryInMs: this.configRetryMs },
      `redis refuses every ${this.noun}: check the stream key and the ACL of maskbridge's user; ${this.plural} are kept in the spool`,
    );
    await this.sleep('retry', this.configRetryMs);
  }

  private async backoff(f: WriteFailure): Promise<void> {
    this.failures++;
    if (this.failures === 1) {
      this.log.warn({ code: f.code, err: f.message, backlog: this.pending }, `${this.plural} not written to redis; kept in the spool, retrying`);
    }
    await this.sleep('retry', Math.min(this.retryMs * 2 ** (this.failures - 1), this.maxRetryMs));
  }

  /** Moves the head record to the poison file, then past it. */
  private async setAside(entry: SpoolEntry<T>, reason: string): Promise<void> {
    await this.spool.files.appendPoison([{ reason, segment: entry.segment, offset: entry.offset, line: entry.line }]);
    this.spool.commit(1);
    this.changeBacklog(-1);
    this.isolate = Math.max(0, this.isolate - 1);
    this.opts.metrics?.poison.inc();
    this.log.error(
      { reason, [this.codec.idField]: entry.kind === 'record' ? this.codec.id(entry.record) : undefined, segment: entry.segment, offset: entry.offset, poison: this.spool.files.poison },
      `${this.noun} set aside as poison; replay goes on`,
    );
  }

  /** The id of a record handed to write(), for logs; undefined when it has none (write() never throws). */
  private idOf(record: T): string | undefined {
    try {
      return this.codec.id(record);
    } catch {
      return undefined;
    }
  }
}

function recordsOf<T>(entries: ReadonlyArray<SpoolEntry<T>>): T[] {
  return entries.map((e) => (e as Ok<T>).record);
}
