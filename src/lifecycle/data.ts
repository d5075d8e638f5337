/**
 * Data lifecycle: CDRs and recordings kept for a configured number of days, and a participant
 * erased on request (sessions, routes, recordings), as privacy laws require. One service under
 * the app's hourly timer, the API and the CLI.
 */
import type { Logger } from '../log/logger.js';
import { eraseRecordings, pruneRecordings } from '../media/retention.js';
import type { Redis } from '../sessions/redis.js';
import type { SessionStore } from '../sessions/store.js';
import { withDeadline } from '../util/deadline.js';

export interface DataLifecycleOptions {
  cdrStream: string;
  /** 0 = keep (the stream is still capped by redis.cdrStreamMaxLen). */
  cdrRetentionDays: number;
  recordingsDir: string;
  /** 0 = keep. */
  recordingRetentionDays: number;
  timeoutMs: number;
}

export interface Erased {
  number: string;
  sessions: string[];
  recordingFolders: number;
}

const HOUR_MS = 3_600_000;

export class DataLifecycle {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly store: Pick<SessionStore, 'erase'>,
    private readonly opts: DataLifecycleOptions,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Applies the retention now and then every hour (no-op when both retentions are 0). */
  start(): void {
    if (this.opts.cdrRetentionDays === 0 && this.opts.recordingRetentionDays === 0) return;
    void this.applyRetention();
    this.timer = setInterval(() => void this.applyRetention(), HOUR_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One pass; never rejects (a failure is logged and retried at the next pass). */
  async applyRetention(): Promise<{ cdrsTrimmed: number; recordingDays: string[] }> {
    let cdrsTrimmed = 0;
    let recordingDays: string[] = [];
    if (this.opts.cdrRetentionDays > 0) {
      const minId = `${this.now() - this.opts.cdrRetentionDays * 86_400_000}-0`;
      try {
        cdrsTrimmed = Number(await withDeadline(this.redis.sendCommand(['XTRIM', this.opts.cdrStream, 'MINID', minId]), this.opts.timeoutMs));
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'CDR retention: trim failed; retrying next hour');
      }
    }
    if (this.opts.recordingRetentionDays > 0) {
      try {
        recordingDays = await pruneRecordings(this.opts.recordingsDir, this.opts.recordingRetentionDays, new Date(this.now()));
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'recording retention: prune failed; retrying next hour');
      }
    }
    if (cdrsTrimmed > 0 || recordingDays.length > 0) this.log.info({ cdrsTrimmed, recordingDays }, 'data retention applied');
    return { cdrsTrimmed, recordingDays };
  }

  /** Erases a participant: their sessions and routes (Redis), then those sessions' recordings. */
  async erase(number: string): Promise<Erased> {
    const sessions = await this.store.erase(number);
    const recordingFolders = sessions.length > 0 ? await eraseRecordings(this.opts.recordingsDir, sessions) : 0;
    this.log.info({ sessions: sessions.length, recordingFolders }, 'participant erased');
    return { number, sessions, recordingFolders };
  }
}
