import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../log/logger.js';
import { withDeadline, type Redis } from '../sessions/redis.js';
import { cdrToFields, type Cdr, type CdrSink } from './cdr.js';

export interface RedisCdrSinkOptions {
  streamKey: string;
  maxLen: number;
  /** JSON-lines file holding records not yet in Redis; survives restarts. */
  spoolFile: string;
  retryMs?: number;
  /** A write that gets no answer in this time is spooled (a later duplicate is possible: CDR ids are unique). */
  timeoutMs?: number;
}

/**
 * Appends CDRs to a Redis stream. When Redis cannot take one, the record goes to a spool
 * file and is replayed, in order, once Redis answers again (and at the next start).
 */
export class RedisCdrSink implements CdrSink {
  private pending: Cdr[] = [];
  private flushing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly opts: RedisCdrSinkOptions,
    private readonly log: Logger,
  ) {
    this.pending = readSpool(opts.spoolFile, log);
    if (this.pending.length > 0) {
      log.warn({ count: this.pending.length, spool: opts.spoolFile }, 'replaying spooled CDRs');
      this.scheduleFlush(0);
    }
  }

  write(cdr: Cdr): void {
    if (this.pending.length > 0 || this.flushing) {
      this.spool(cdr);
      return;
    }
    this.xadd(cdr).catch((err: Error) => {
      this.log.warn({ err: err.message, cdrId: cdr.id }, 'CDR not written to redis; spooled for retry');
      this.spool(cdr);
    });
  }

  /** Records not yet in Redis (for health and tests). */
  get backlog(): number {
    return this.pending.length;
  }

  /** Tries to write everything pending now; resolves when done or when Redis fails again. */
  flush(): Promise<void> {
    if (!this.flushing) {
      this.flushing = this.drain().finally(() => {
        this.flushing = null;
      });
    }
    return this.flushing;
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private spool(cdr: Cdr): void {
    this.pending.push(cdr);
    try {
      mkdirSync(dirname(this.opts.spoolFile), { recursive: true });
      appendFileSync(this.opts.spoolFile, `${JSON.stringify(cdr)}\n`);
    } catch (err) {
      this.log.error({ err: (err as Error).message, spool: this.opts.spoolFile }, 'cannot write CDR spool; record kept in memory only');
    }
    this.scheduleFlush(this.opts.retryMs ?? 1000);
  }

  private scheduleFlush(delay: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, delay);
    this.timer.unref();
  }

  private async drain(): Promise<void> {
    if (this.pending.length === 0) return;
    while (this.pending.length > 0) {
      const next = this.pending[0] as Cdr;
      try {
        await this.xadd(next);
      } catch {
        this.scheduleFlush(this.opts.retryMs ?? 1000);
        return;
      }
      this.pending.shift();
      this.rewriteSpool();
    }
    this.log.info('CDR spool drained');
  }

  private rewriteSpool(): void {
    try {
      writeFileSync(this.opts.spoolFile, this.pending.map((c) => `${JSON.stringify(c)}\n`).join(''));
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'cannot rewrite CDR spool');
    }
  }

  private async xadd(cdr: Cdr): Promise<void> {
    const options = this.opts.maxLen > 0
      ? { TRIM: { strategy: 'MAXLEN' as const, strategyModifier: '~' as const, threshold: this.opts.maxLen } }
      : undefined;
    await withDeadline(this.redis.xAdd(this.opts.streamKey, '*', cdrToFields(cdr), options), this.opts.timeoutMs ?? 2000);
  }
}

function readSpool(file: string, log: Logger): Cdr[] {
  if (!existsSync(file)) return [];
  const out: Cdr[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as Cdr);
    } catch {
      log.error({ spool: file }, 'skipping an unreadable line in the CDR spool');
    }
  }
  return out;
}
