/** CDR builders, spool fixtures and a fake stream for the CDR sink's tests and bench/cdr-replay. */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Cdr } from '../../src/cdr/cdr.js';
import type { BatchResult, CdrTarget } from '../../src/cdr/redis-stream.js';

export const cdr = (n: number, id = `cdr-${n}`): Cdr => ({
  id, callId: `call-${n}`, sessionId: 'order-1', virtualNumber: '+912240001000', direction: 'a->b',
  startedAt: 1_767_225_600_000, answeredAt: 1_767_225_605_000, endedAt: 1_767_225_665_000, durationSec: 60,
  finalStatus: 200, disposition: 'answered', endedBy: 'caller', media: 'none', recording: null,
});

/** Writes a spool as an earlier process would leave it: JSON lines in `spoolFile` (taken over at start). */
export function writeSpool(spoolFile: string, lines: Array<Cdr | string>): void {
  writeFileSync(spoolFile, lines.map((l) => `${typeof l === 'string' ? l : JSON.stringify(l)}\n`).join(''));
}

/** The spool's segment files, oldest first. */
export function segments(spoolFile: string): string[] {
  const base = basename(spoolFile);
  return readdirSync(dirname(spoolFile)).filter((f) => new RegExp(`^${base.replace(/\./g, '\\.')}\\.\\d{10}$`).test(f)).sort().map((f) => join(dirname(spoolFile), f));
}

/** The ids of the records in the spool's segments, in order. */
export function spooledIds(spoolFile: string): string[] {
  return segments(spoolFile).flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as Cdr).id));
}

export function poisonEntries(spoolFile: string): Array<{ reason: string; line: string; segment: number; offset: number }> {
  try {
    return readFileSync(`${spoolFile}.poison`, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { reason: string; line: string; segment: number; offset: number });
  } catch {
    return [];
  }
}

/**
 * A stream in memory that de-duplicates on the CDR id like the Redis script does. `answer` may
 * replace the reply of a call (a failure), and `hold` keeps calls pending until released.
 */
export class FakeStream implements CdrTarget {
  /** The ids in the stream, in order. */
  readonly ids: string[] = [];
  readonly batches: string[][] = [];
  private readonly seen = new Set<string>();
  answer: ((cdrs: readonly Cdr[], call: number) => BatchResult | null) | null = null;
  private held: Array<() => void> | null = null;

  async write(cdrs: readonly Cdr[]): Promise<BatchResult> {
    const call = this.batches.push(cdrs.map((c) => c.id)) - 1;
    const forced = this.answer?.(cdrs, call) ?? null;
    let done = cdrs.length;
    if (forced) done = forced.done;
    let added = 0;
    for (const c of cdrs.slice(0, done)) {
      if (this.seen.has(c.id)) continue;
      this.seen.add(c.id);
      this.ids.push(c.id);
      added++;
    }
    if (this.held) await new Promise<void>((r) => this.held?.push(r));
    return forced ? { ...forced, added } : { done, added, failure: null };
  }

  /** From now on calls land at once but their replies wait for release(). */
  hold(): void {
    this.held = [];
  }

  release(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const r of held) r();
  }

  get sent(): number {
    return this.batches.reduce((n, b) => n + b.length, 0);
  }
}
