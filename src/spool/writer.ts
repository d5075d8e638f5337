/**
 * The spool's writer: records are queued and appended to the current segment in groups
 * (everything queued while the previous append was on its way goes in the next one); a record
 * is spooled, safe from a crash of the process, once its group's write has returned. With
 * `fsync`, the segment is also fdatasync'd within `syncMs` of an append (and before it is left),
 * so a power cut loses at most that much. It moves to a new segment when the current one reaches
 * `segmentBytes`, and after a failed append (so torn bytes stay at the end of a segment nobody
 * appends to again). Records it cannot write stay queued (in memory, up to `maxQueued`) and are
 * retried every `retryMs`.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { Logger } from '../log/logger.js';
import type { SpoolFiles } from './files.js';

export interface SpoolWriterOptions {
  /** Start a new segment once the current one holds this many bytes. */
  segmentBytes: number;
  /** fdatasync the segment after appends (against a power cut; a crash of the process loses nothing without it). */
  fsync: boolean;
  /** With fsync: at most this long after an append (0: after every append, before the records count as spooled). */
  syncMs: number;
  /** Wait before retrying a failed append. */
  retryMs: number;
  /** Records waiting for the disk beyond this are refused: the disk has been failing for long. */
  maxQueued: number;
  /** How logs name the spool ("CDR spool", "event spool"). */
  name?: string;
}

const MAX_GROUP_BYTES = 1024 * 1024;
/** While the disk keeps failing, one error line per this interval. */
const FAILURE_LOG_MS = 60_000;

/** Lines just appended, with where they start: the reader takes them from here rather than from the disk. */
export interface Appended {
  segment: number;
  offset: number;
  lines: readonly string[];
}

export class SpoolWriter {
  /** Called when newly appended records can be read. */
  onData: (appended: Appended) => void = () => undefined;
  /** The segment appended to; every segment before it is complete. */
  activeSeq = 0;
  /** Bytes of the active segment on disk (a record boundary). */
  durableEnd = 0;

  private closed = false;
  private wfh: FileHandle | null = null;
  private queue: string[] = [];
  private writing: Promise<void> | null = null;
  private retryTimer: { timer: NodeJS.Timeout; done: () => void } | null = null;
  private failingSince: number | null = null;
  private lastFailureLog = 0;
  private unsynced = false;
  private syncTimer: NodeJS.Timeout | null = null;

  /** `ready` resolves once the spool has been scanned (and activeSeq set). */
  constructor(
    private readonly files: SpoolFiles,
    private readonly opts: SpoolWriterOptions,
    private readonly log: Logger,
    private readonly ready: () => Promise<void>,
  ) {
    this.name = opts.name ?? 'spool';
  }

  private readonly name: string;

  /** Records handed to `append` and not on disk yet. */
  get queued(): number {
    return this.queue.length;
  }

  /** Queues one JSON line (with its newline) for the next append; false when refused. Never throws. */
  append(line: string): boolean {
    if (this.closed || this.queue.length >= this.opts.maxQueued) return false;
    this.queue.push(line);
    this.writing ??= this.writeLoop().finally(() => {
      this.writing = null;
    });
    return true;
  }

  /** Waits up to `ms` for queued records to reach the disk, then closes; returns how many did not. */
  async close(ms: number): Promise<number> {
    if (this.retryTimer) {
      clearTimeout(this.retryTimer.timer);
      this.retryTimer.done();
    }
    let timer: NodeJS.Timeout | undefined;
    if (this.writing) await Promise.race([this.writing, new Promise((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
    this.closed = true;
    if (this.syncTimer) clearTimeout(this.syncTimer);
    this.syncTimer = null;
    const fh = this.wfh;
    this.wfh = null;
    await this.sync(fh);
    await fh?.close().catch(() => undefined);
    return this.queue.length;
  }

  private async writeLoop(): Promise<void> {
    while (this.queue.length > 0 && !this.closed) {
      let bytes = 0;
      let n = 0;
      while (n < this.queue.length && bytes < MAX_GROUP_BYTES) bytes += (this.queue[n++] as string).length;
      const group = this.queue.slice(0, n);
      try {
        await this.ready();
        if (this.durableEnd >= this.opts.segmentBytes) await this.rotate();
        const fh = (this.wfh ??= await this.openActive());
        const buf = Buffer.from(group.join(''));
        for (let off = 0; off < buf.length; ) off += (await fh.write(buf, off)).bytesWritten;
        if (this.opts.fsync && this.opts.syncMs <= 0) await fh.datasync();
        const appended = { segment: this.activeSeq, offset: this.durableEnd, lines: group };
        this.durableEnd += buf.length;
        this.queue.splice(0, n);
        this.scheduleSync();
        this.onData(appended);
        if (this.failingSince !== null) this.log.info({ spool: this.files.spoolFile }, `${this.name} writable again`);
        this.failingSince = null;
      } catch (err) {
        if (this.closed) return;
        const now = Date.now();
        if (this.failingSince === null || now - this.lastFailureLog >= FAILURE_LOG_MS) {
          this.log.error({ err: (err as Error).message, spool: this.files.spoolFile, queued: this.queue.length }, `cannot append to the ${this.name}; retrying (records are held in memory meanwhile)`);
          this.lastFailureLog = now;
        }
        this.failingSince ??= now;
        await this.rotate().catch(() => undefined);
        await new Promise<void>((done) => {
          this.retryTimer = { timer: setTimeout(done, this.opts.retryMs), done };
        });
        this.retryTimer = null;
      }
    }
  }

  private async openActive(): Promise<FileHandle> {
    const fh = await open(this.files.segment(this.activeSeq), 'a');
    this.durableEnd = (await fh.stat()).size;
    return fh;
  }

  private async rotate(): Promise<void> {
    const fh = this.wfh;
    this.wfh = null;
    this.activeSeq += 1;
    this.durableEnd = 0;
    await this.sync(fh);
    await fh?.close();
  }

  private scheduleSync(): void {
    if (!this.opts.fsync || this.opts.syncMs <= 0) return;
    this.unsynced = true;
    this.syncTimer ??= setTimeout(() => {
      this.syncTimer = null;
      void this.sync(this.wfh);
    }, this.opts.syncMs);
  }

  /** fdatasync of what was appended since the last one; a failure is logged (the records are in the page cache). */
  private async sync(fh: FileHandle | null): Promise<void> {
    if (!this.unsynced || !fh) return;
    this.unsynced = false;
    await fh.datasync().catch((err: Error) => this.log.warn({ err: err.message, spool: this.files.spoolFile }, `fdatasync of the ${this.name} failed`));
  }
}
