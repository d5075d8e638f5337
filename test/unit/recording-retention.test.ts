import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { eraseRecordings, pruneRecordings } from '../../src/media/retention.js';
import { recordingPaths } from '../../src/media/recording.js';

function recordingAt(dir: string, iso: string, session: string, call: string): string {
  const p = recordingPaths(dir, new Date(iso), session, call).final;
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, 'RIFF');
  return p;
}

describe('recording retention', () => {
  it('removes the days older than the retention, keeps the rest and anything not in the layout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mb-rec-'));
    const old = recordingAt(dir, '2026-10-01T10:00:00Z', 'order-1', 'c1');
    const edge = recordingAt(dir, '2026-11-02T23:59:00Z', 'order-2', 'c2');
    const fresh = recordingAt(dir, '2026-12-01T08:00:00Z', 'order-3', 'c3');
    writeFileSync(join(dir, 'README'), 'not a recording');
    const removed = await pruneRecordings(dir, 30, new Date('2026-12-02T12:00:00Z'));
    expect(removed).toEqual(['2026-10-01']);
    expect([existsSync(old), existsSync(edge), existsSync(fresh), existsSync(join(dir, 'README'))]).toEqual([false, true, true, true]);
    expect(await pruneRecordings(join(dir, 'absent'), 30, new Date())).toEqual([]);
  });

  it('erases every recording of the given sessions, on every day, and nothing else', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mb-rec-'));
    const a1 = recordingAt(dir, '2026-11-30T10:00:00Z', 'order-9', 'c1');
    const a2 = recordingAt(dir, '2026-12-01T10:00:00Z', 'order-9', 'c2');
    const other = recordingAt(dir, '2026-12-01T10:00:00Z', 'order-10', 'c3');
    expect(await eraseRecordings(dir, ['order-9'])).toBe(2);
    expect([existsSync(a1), existsSync(a2), existsSync(other)]).toEqual([false, false, true]);
  });
});
