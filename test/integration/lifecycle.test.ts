/** Data retention against a real Redis: CDRs older than cdr.retentionDays leave the stream; old recording days go. */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataLifecycle } from '../../src/lifecycle/data.js';
import { recordingPaths } from '../../src/media/recording.js';
import { SessionStore } from '../../src/sessions/store.js';
import { useRedis } from '../helpers/redis-server.js';

const db = useRedis({ beforeAll, afterAll });

describe('data retention', () => {
  it('trims CDRs older than the retention by their stream id, and removes recordings of old days', async () => {
    const now = Date.parse('2026-12-02T12:00:00Z');
    const day = 86_400_000;
    for (const [age, id] of [[40, 'old'], [31, 'older-than-30'], [29, 'recent'], [0, 'today']] as const) {
      await db.redis.xAdd('mb:cdr', `${now - age * day}-0`, { id });
    }
    const dir = mkdtempSync(join(tmpdir(), 'mb-life-'));
    const oldRec = recordingPaths(dir, new Date(now - 40 * day), 'o1', 'c1').final;
    const newRec = recordingPaths(dir, new Date(now - day), 'o2', 'c2').final;
    for (const f of [oldRec, newRec]) {
      mkdirSync(join(f, '..'), { recursive: true });
      writeFileSync(f, 'RIFF');
    }
    const life = new DataLifecycle(db.redis, new SessionStore(db.redis, 'mb:', 1000), {
      cdrStream: 'mb:cdr', cdrRetentionDays: 30, recordingsDir: dir, recordingRetentionDays: 30, timeoutMs: 1000,
    }, pino({ level: 'silent' }), () => now);
    const r = await life.applyRetention();
    expect(r.cdrsTrimmed).toBe(2);
    expect((await db.redis.xRange('mb:cdr', '-', '+')).map((e) => e.message.id)).toEqual(['recent', 'today']);
    expect([existsSync(oldRec), existsSync(newRec)]).toEqual([false, true]);
  });
});
