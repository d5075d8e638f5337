/**
 * Reading CDRs back from the stream (`mb:cdr`) for the API and the CLI: by time (stream ids are
 * epoch milliseconds) and by session, a page at a time with a cursor. A session filter scans
 * the time range: each request examines at most `scanLimit` entries and returns a cursor to go on.
 */
import type { Redis } from '../sessions/redis.js';
import { withDeadline } from '../util/deadline.js';

export interface CdrQuery {
  sessionId?: string;
  /** Epoch ms, inclusive. */
  from?: number;
  /** Epoch ms, inclusive. */
  to?: number;
  limit: number;
  /** The `next` of the previous page. */
  cursor?: string;
}

export interface CdrPage {
  cdrs: Array<Record<string, string>>;
  /** Pass as `cursor` for the next page; null when the range is done. */
  next: string | null;
}

const BATCH = 500;

export class CdrReader {
  constructor(private readonly redis: Redis, private readonly stream: string, private readonly timeoutMs: number, private readonly scanLimit = 50_000) {}

  async query(q: CdrQuery): Promise<CdrPage> {
    let start = q.cursor ? `(${q.cursor}` : q.from !== undefined ? `${q.from}-0` : '-';
    const end = q.to !== undefined ? `${q.to}-18446744073709551615` : '+';
    const cdrs: Array<Record<string, string>> = [];
    let examined = 0;
    let last: string | null = null;
    while (cdrs.length < q.limit && examined < this.scanLimit) {
      const batch = await withDeadline(this.redis.xRange(this.stream, start, end, { COUNT: Math.min(BATCH, q.sessionId ? BATCH : q.limit - cdrs.length) }), this.timeoutMs);
      if (batch.length === 0) return { cdrs, next: null };
      for (const entry of batch) {
        examined++;
        last = entry.id;
        if (!q.sessionId || entry.message.session_id === q.sessionId) cdrs.push({ stream_id: entry.id, ...(entry.message as Record<string, string>) });
        if (cdrs.length >= q.limit) break;
      }
      start = `(${last}`;
    }
    return { cdrs, next: last };
  }

  /** The newest `n`, oldest first. */
  async tail(n: number): Promise<Array<Record<string, string>>> {
    const batch = await withDeadline(this.redis.xRevRange(this.stream, '+', '-', { COUNT: n }), this.timeoutMs);
    return batch.reverse().map((e) => ({ stream_id: e.id, ...(e.message as Record<string, string>) }));
  }
}
