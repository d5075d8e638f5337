/**
 * The spool: a write-ahead log of records (CDRs, webhook events; codec.ts) in append-only segment files (files.ts), written
 * by a SpoolWriter and read back in order by one reader that commits its progress to a checkpoint.
 *
 * Reader: `peek` returns records from the committed position without moving it; `commit(k)`
 * moves it past k of them. A segment before the writer's is deleted once all its records are
 * committed. Everything is async fs; no call does work proportional to the size of the spool.
 */
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import type { Logger } from '../log/logger.js';
import { BadRecordError, type RecordCodec } from './codec.js';
import { SpoolFiles, type SpoolPos } from './files.js';
import { SpoolWriter, type Appended, type SpoolWriterOptions } from './writer.js';

export type SpoolEntry<T> =
  | { kind: 'record'; record: T; line: string; segment: number; offset: number; end: number }
  | { kind: 'bad'; reason: string; line: string; segment: number; offset: number; end: number };

export interface SpoolOptions extends SpoolWriterOptions {
  /** The checkpoint is written at most this often while records are committed (and at once when a segment is done). */
  checkpointMs: number;
  /**
   * Leave finished segments on disk instead of deleting them (the checkpoint still moves): for a
   * replay of another instance's spool (orphans.ts), which deletes them itself once it is sure no
   * one else writes there.
   */
  keepFinished?: boolean;
}

export class SpoolClosedError extends Error {
  override readonly name = 'SpoolClosedError';
}

const NEWLINE = 0x0a;
const READ_CHUNK = 32 * 1024;
const MAX_LINE = 1024 * 1024;
const POISON_LINE_CHARS = 64 * 1024;
/** Appended lines kept for the reader; beyond this it reads them back from the disk. */
const MAX_RECENT = 20_000;
/** Lines moved from memory into the window at a time. */
const READ_RECENT = 256;

export class Spool<T> {
  readonly files: SpoolFiles;
  readonly writer: SpoolWriter;
  /** Called when newly appended records can be read. */
  onData: () => void = () => undefined;

  private opening: Promise<void> | null = null;
  private closed = false;
  /** Everything before this is in the target (the checkpoint is this, or behind it). */
  private pos: SpoolPos = { segment: 0, offset: 0 };
  /** Where the next read starts: the end of the window (it may be segments ahead of `pos`). */
  private readSeg = 0;
  private readAt = 0;
  private window: Array<SpoolEntry<T>> = [];
  /** Segments left by earlier processes, not yet deleted. */
  private older: number[] = [];
  /** Segments below this are deleted (or being deleted). */
  private deletedBelow = 0;
  private deleting: Promise<void> = Promise.resolve();
  /** Lines this process appended, not yet read: taken from here instead of read back (up to MAX_RECENT). */
  private recent: Array<{ segment: number; offset: number; end: number; line: string }> = [];
  private recentHead = 0;
  private rfh: FileHandle | null = null;
  private rfhSeg = -1;
  // checkpoint
  private ckDirty = false;
  private ckTimer: NodeJS.Timeout | null = null;
  private ckWriting: Promise<void> | null = null;

  private readonly name: string;

  constructor(spoolFile: string, private readonly codec: RecordCodec<T>, private readonly opts: SpoolOptions, private readonly log: Logger) {
    this.name = `${codec.noun} spool`;
    this.files = new SpoolFiles(spoolFile);
    this.writer = new SpoolWriter(this.files, { ...opts, name: this.name }, log, () => this.open());
    this.writer.onData = (appended) => {
      this.remember(appended);
      this.onData();
    };
  }

  /** Everything appended has been read and committed, and nothing waits for the disk. */
  get idle(): boolean {
    const w = this.writer;
    return this.window.length === 0 && w.queued === 0 && this.readSeg === w.activeSeq && this.readAt >= w.durableEnd;
  }

  /** Scans the spool directory once (later calls share it; a failed scan is retried on the next call). */
  open(): Promise<void> {
    if (this.closed) return Promise.reject(new SpoolClosedError('spool closed'));
    this.opening ??= this.recover().catch((err: unknown) => {
      this.opening = null;
      throw err;
    });
    return this.opening;
  }

  /** Lines left by earlier processes, not yet committed (read in chunks; for the backlog count). */
  async countOlder(): Promise<number> {
    await this.open();
    let n = 0;
    for (const seq of [...this.older]) {
      try {
        n += await this.files.countLines(seq, seq === this.pos.segment ? this.pos.offset : 0);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return n;
  }

  /** Up to `n` records from the committed position, in spool order ([] when there is nothing new yet). */
  async peek(n: number): Promise<ReadonlyArray<SpoolEntry<T>>> {
    await this.open();
    while (this.window.length < n && (await this.readMore()) === 'more');
    if (this.window.length === 0 && this.readSeg > this.pos.segment) {
      // Nothing uncommitted before the read position: the segments behind it are done.
      this.pos = { segment: this.readSeg, offset: this.readAt };
      this.ckDirty = true;
      await this.deleteBelow(this.readSeg);
    }
    return this.window.slice(0, n);
  }

  /** Moves the committed position past the first `k` peeked records. */
  commit(k: number): void {
    if (k <= 0 || this.closed) return;
    const last = this.window[k - 1];
    if (!last) throw new Error(`commit(${k}) beyond the ${this.window.length} peeked records`);
    this.window.splice(0, k);
    this.pos = { segment: last.segment, offset: last.end };
    this.ckDirty = true;
    if (last.segment > this.deletedBelow) {
      void this.deleteBelow(last.segment);
      return;
    }
    this.ckTimer ??= setTimeout(() => {
      this.ckTimer = null;
      void this.saveCheckpoint();
    }, this.opts.checkpointMs);
    this.ckTimer.unref();
  }

  /**
   * Stops: waits up to `ms` for queued records to reach the disk, writes the checkpoint and closes
   * the files. Returns how many records were still queued (they are lost: only a disk that does
   * not answer gets here).
   */
  async close(ms: number): Promise<number> {
    if (this.closed) return this.writer.queued;
    const lost = await this.writer.close(ms);
    this.closed = true;
    if (this.ckTimer) clearTimeout(this.ckTimer);
    this.ckTimer = null;
    await this.deleting;
    await this.saveCheckpoint();
    await this.rfh?.close().catch(() => undefined);
    this.rfh = null;
    return lost;
  }

  private async recover(): Promise<void> {
    await mkdir(this.files.dir, { recursive: true });
    const cp = await this.files.readCheckpoint();
    if (cp instanceof Error) {
      this.log.warn({ err: cp.message, file: this.files.checkpoint }, `${this.name} checkpoint unreadable; replaying the spool from its start (Redis drops the records it already has)`);
    }
    const from = cp instanceof Error || cp === null ? { segment: 0, offset: 0 } : cp;
    let segs = await this.files.segments();
    const legacy = Math.max(segs.at(-1) ?? 0, from.segment) + 1;
    if (await this.files.adoptLegacy(legacy)) {
      segs.push(legacy);
      this.log.info({ file: this.files.segment(legacy) }, `${this.name} of an earlier version taken over`);
    }
    // Segments wholly before the checkpoint were finished when the last process stopped.
    if (!this.opts.keepFinished) for (const s of segs.filter((s) => s < from.segment)) await this.files.remove(s);
    segs = segs.filter((s) => s >= from.segment);
    this.writer.activeSeq = Math.max(segs.at(-1) ?? 0, from.segment) + 1;
    const first = segs[0];
    this.pos = first === undefined ? { segment: this.writer.activeSeq, offset: 0 } : { segment: first, offset: first === from.segment ? from.offset : 0 };
    this.readSeg = this.pos.segment;
    this.readAt = this.pos.offset;
    this.deletedBelow = this.pos.segment;
    this.older = segs;
  }

  /** Reads complete lines after the window into it: 'more' when it read something (or moved to the next segment). */
  private async readMore(): Promise<'more' | 'caught-up'> {
    const seg = this.readSeg;
    const sealed = seg < this.writer.activeSeq;
    const limit = sealed ? Number.POSITIVE_INFINITY : this.writer.durableEnd;
    if (this.readAt >= limit) return 'caught-up';
    if (this.takeRecent(seg)) return 'more';
    const fh = await this.readHandle(seg);
    if (!fh) return sealed ? this.nextSegment() : 'caught-up';
    for (let size = READ_CHUNK; ; size = Math.min(size * 4, MAX_LINE)) {
      const want = Math.min(size, limit - this.readAt);
      const buf = Buffer.allocUnsafe(want);
      const { bytesRead } = await fh.read(buf, 0, want, this.readAt);
      if (this.closed) throw new SpoolClosedError('spool closed');
      if (bytesRead === 0) return sealed ? this.nextSegment() : 'caught-up';
      const view = buf.subarray(0, bytesRead);
      const last = view.lastIndexOf(NEWLINE);
      if (last >= 0) {
        this.parse(seg, view.subarray(0, last + 1));
        return 'more';
      }
      if (bytesRead < want) {
        if (!sealed) return 'caught-up';
        // The end of a segment whose last append was cut short (a crash): a line without its newline.
        this.parse(seg, view);
        return 'more';
      }
      if (size >= MAX_LINE) {
        const end = await this.lineEnd(fh, this.readAt + bytesRead, limit);
        const line = view.toString('utf8', 0, POISON_LINE_CHARS);
        this.window.push({ kind: 'bad', reason: `line longer than ${MAX_LINE} bytes`, line, segment: seg, offset: this.readAt, end });
        this.readAt = end;
        return 'more';
      }
    }
  }

  /** Where the line that runs past `from` ends (after its newline, or at the end of the data). */
  private async lineEnd(fh: FileHandle, from: number, limit: number): Promise<number> {
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    for (let at = from; at < limit; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, limit - at), at);
      if (bytesRead === 0) return at;
      const i = buf.subarray(0, bytesRead).indexOf(NEWLINE);
      if (i >= 0) return at + i + 1;
      at += bytesRead;
    }
    return limit;
  }

  private parse(segment: number, data: Buffer): void {
    const base = this.readAt;
    let start = 0;
    while (start < data.length) {
      let nl = data.indexOf(NEWLINE, start);
      if (nl === -1) nl = data.length;
      if (nl > start) this.push(segment, data.toString('utf8', start, nl), base + start, base + Math.min(nl + 1, data.length));
      start = nl + 1;
    }
    this.readAt = base + data.length;
  }

  private push(segment: number, line: string, offset: number, end: number): void {
    try {
      this.window.push({ kind: 'record', record: this.codec.parse(line), line, segment, offset, end });
    } catch (err) {
      const reason = err instanceof BadRecordError ? err.message : String(err);
      this.window.push({ kind: 'bad', reason, line: line.slice(0, POISON_LINE_CHARS), segment, offset, end });
    }
  }

  private remember(a: Appended): void {
    if (this.recent.length - this.recentHead + a.lines.length > MAX_RECENT) return; // the reader is far behind: it reads the disk
    let offset = a.offset;
    for (const text of a.lines) {
      const end = offset + Buffer.byteLength(text);
      this.recent.push({ segment: a.segment, offset, end, line: text.slice(0, -1) });
      offset = end;
    }
  }

  /** Moves appended lines that start at the read position into the window, without reading the disk. */
  private takeRecent(seg: number): boolean {
    const r = this.recent;
    let h = this.recentHead;
    while (h < r.length && ((r[h] as { segment: number }).segment < seg || (r[h]!.segment === seg && r[h]!.offset < this.readAt))) h++;
    let taken = 0;
    for (; h < r.length && taken < READ_RECENT; h++, taken++) {
      const e = r[h]!;
      if (e.segment !== seg || e.offset !== this.readAt) break;
      this.push(seg, e.line, e.offset, e.end);
      this.readAt = e.end;
    }
    if (h === r.length) {
      this.recent = [];
      h = 0;
    } else if (h > 4096) {
      this.recent = r.slice(h);
      h = 0;
    }
    this.recentHead = h;
    return taken > 0;
  }

  private async readHandle(seg: number): Promise<FileHandle | null> {
    if (this.rfh && this.rfhSeg === seg) return this.rfh;
    await this.rfh?.close().catch(() => undefined);
    this.rfh = null;
    if (this.closed) throw new SpoolClosedError('spool closed');
    try {
      this.rfh = await open(this.files.segment(seg), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    this.rfhSeg = seg;
    return this.rfh;
  }

  /** The read position is at the end of a segment the writer has left: on to the next one. */
  private nextSegment(): 'more' {
    const done = this.readSeg;
    void this.rfh?.close().catch(() => undefined);
    this.rfh = null;
    this.readSeg = this.older.find((s) => s > done) ?? done + 1;
    this.readAt = 0;
    return 'more';
  }

  /** Records the committed position, then deletes the segments before `seg` (all their records are in the target). */
  private deleteBelow(seg: number): Promise<void> {
    const from = this.deletedBelow;
    if (seg <= from) return this.deleting;
    this.deletedBelow = seg;
    const doomed = [...this.older.filter((s) => s < seg)];
    for (let s = Math.max(from, (this.older.at(-1) ?? 0) + 1); s < seg; s++) doomed.push(s);
    this.older = this.older.filter((s) => s >= seg);
    this.deleting = this.deleting.then(async () => {
      await this.saveCheckpoint();
      if (this.opts.keepFinished) return;
      for (const s of doomed) await this.files.remove(s).catch((err: Error) => this.log.warn({ err: err.message, segment: s }, `cannot delete a finished ${this.name} segment`));
    });
    return this.deleting;
  }

  /** Writes the committed position if it changed; one write at a time, the latest position wins. */
  private async saveCheckpoint(): Promise<void> {
    while (this.ckWriting) await this.ckWriting;
    if (!this.ckDirty) return;
    this.ckDirty = false;
    const pos = { ...this.pos };
    this.ckWriting = this.files.writeCheckpoint(pos).then(
      () => undefined,
      (err: Error) => {
        this.ckDirty = true;
        this.log.error({ err: err.message, file: this.files.checkpoint }, `cannot write the ${this.name} checkpoint`);
      },
    ).finally(() => {
      this.ckWriting = null;
    });
    await this.ckWriting;
  }
}
