/**
 * The files of a spool, next to its base name (`cdr.spoolFile`, `webhooks.spoolFile`; docs/operations.md, "CDR spool"):
 *
 *   {spoolFile}.0000000001 ...   segments: JSON lines, appended only, deleted once all in Redis
 *   {spoolFile}.checkpoint       {"segment":n,"offset":bytes}: everything before it is in Redis
 *   {spoolFile}.poison           records set aside (unreadable, or refused by Redis for themselves)
 *   {spoolFile}                  a spool left by a version before segments; taken over at start
 *
 * The checkpoint is replaced atomically (write a temporary file, then rename). It may lag behind
 * what is in Redis (a crash replays from it and the stream de-duplicates), never run ahead.
 */
import { appendFile, open, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';

export interface SpoolPos {
  segment: number;
  offset: number;
}

export interface PoisonEntry {
  /** Why the record was set aside. */
  reason: string;
  segment: number;
  offset: number;
  /** The spooled line as it was (at most the first 64 KiB of it). */
  line: string;
}

const SEGMENT_DIGITS = 10;
const NEWLINE = 0x0a;

export class SpoolFiles {
  readonly dir: string;
  readonly checkpoint: string;
  readonly poison: string;
  private readonly segmentName: RegExp;

  constructor(readonly spoolFile: string) {
    this.dir = dirname(spoolFile);
    this.checkpoint = `${spoolFile}.checkpoint`;
    this.poison = `${spoolFile}.poison`;
    const base = basename(spoolFile).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    this.segmentName = new RegExp(`^${base}\\.(\\d{${SEGMENT_DIGITS}})$`);
  }

  segment(seq: number): string {
    return `${this.spoolFile}.${String(seq).padStart(SEGMENT_DIGITS, '0')}`;
  }

  /** The segments on disk, oldest first. */
  async segments(): Promise<number[]> {
    const names = await readdir(this.dir);
    const out: number[] = [];
    for (const name of names) {
      const m = this.segmentName.exec(name);
      if (m) out.push(Number(m[1]));
    }
    return out.sort((a, b) => a - b);
  }

  /** The checkpoint, or null when there is none; an unreadable one is an Error (the caller starts over). */
  async readCheckpoint(): Promise<SpoolPos | null | Error> {
    let text: string;
    try {
      text = await readFile(this.checkpoint, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      return err as Error;
    }
    try {
      const v = JSON.parse(text) as Partial<SpoolPos>;
      if (Number.isSafeInteger(v.segment) && Number.isSafeInteger(v.offset) && (v.segment as number) >= 0 && (v.offset as number) >= 0) {
        return { segment: v.segment as number, offset: v.offset as number };
      }
    } catch {
      // fall through
    }
    return new Error(`unreadable checkpoint ${JSON.stringify(text.slice(0, 80))}`);
  }

  async writeCheckpoint(pos: SpoolPos): Promise<void> {
    const tmp = `${this.checkpoint}.tmp`;
    await writeFile(tmp, `${JSON.stringify({ segment: pos.segment, offset: pos.offset })}\n`);
    await rename(tmp, this.checkpoint);
  }

  async appendPoison(entries: readonly PoisonEntry[]): Promise<void> {
    const at = new Date().toISOString();
    await appendFile(this.poison, entries.map((e) => `${JSON.stringify({ at, ...e })}\n`).join(''));
  }

  async remove(seq: number): Promise<void> {
    await unlink(this.segment(seq)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /** Moves a pre-segment spool file into segment `seq`; false when there is none. */
  async adoptLegacy(seq: number): Promise<boolean> {
    try {
      await rename(this.spoolFile, this.segment(seq));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /**
   * Non-empty lines of segment `seq` from byte `from` (a final line without its newline counts):
   * read in 1 MiB chunks, so a large spool is counted without holding the event loop.
   */
  async countLines(seq: number, from: number): Promise<number> {
    const fh = await open(this.segment(seq), 'r');
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      let pos = from;
      let count = 0;
      let prev = NEWLINE;
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) break;
        const view = buf.subarray(0, bytesRead);
        for (let i = view.indexOf(NEWLINE); i !== -1; i = view.indexOf(NEWLINE, i + 1)) {
          if ((i === 0 ? prev : view[i - 1]) !== NEWLINE) count++;
        }
        prev = view[bytesRead - 1] as number;
        pos += bytesRead;
      }
      return prev === NEWLINE ? count : count + 1;
    } finally {
      await fh.close();
    }
  }
}
