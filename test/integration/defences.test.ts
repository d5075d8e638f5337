/**
 * Trunk defences against a real Redis: a flood from a source inside the allowed range costs no
 * Redis command once banned (INFO commandstats before and after), and the fleet-wide
 * concurrent-call limits (mb_call_admit) hold across two stores sharing one Redis.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallRegistry } from '../../src/calls/registry.js';
import { callDepsFromConfig, createInviteHandler } from '../../src/calls/handler.js';
import { loadConfig } from '../../src/config/load.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { loadLibrary } from '../../src/sessions/library.js';
import { SessionStore } from '../../src/sessions/store.js';
import { FakeSipPort } from '../helpers/fake-sip.js';
import { A, inviteFrom, MemoryCdrSink, settle } from '../helpers/harness.js';
import { useRedis } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

const db = useRedis({ beforeAll, afterAll });
const log = pino({ level: 'silent' });

/** Calls per command name, from INFO commandstats. */
async function commandCounts(): Promise<Record<string, number>> {
  const info = await db.redis.sendCommand(['INFO', 'commandstats']) as string;
  const out: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1] as string] = Number(m[2]);
  return out;
}

/** Commands run between two snapshots, without the ones the snapshots themselves cost. */
function spent(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const d: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const n = v - (before[k] ?? 0) - (k === 'info' ? 1 : 0);
    if (n > 0) d[k] = n;
  }
  return d;
}

describe('trunk defences against a real Redis', () => {
  beforeAll(async () => {
    await loadLibrary(db.redis);
  });

  it('a banned flood from an allowed source costs no Redis command, while the trunk still looks up', async () => {
    const config = loadConfig({
      files: ['config/default.json', 'config/test.json'],
      overrides: { trunk: { inboundAllow: ['127.0.0.0/8'] }, defences: { trunkSources: ['127.0.0.1/32'] } },
    });
    const store = new SessionStore(db.redis, config.redis.keyPrefix, 500);
    const sip = new FakeSipPort();
    const registry = new CallRegistry(log);
    sip.onInvite(createInviteHandler(callDepsFromConfig(config, { sip, sessions: store, cdr: new MemoryCdrSink(), metrics: new Metrics(), log, callIdKey: 'k', isDraining: () => false }), registry));

    // The source goes over 30 INVITEs in 2 s: the first 30 cost a lookup each, then it is banned.
    const opening = Array.from({ length: 40 }, () => sip.invite(inviteFrom('+919800000001', { source: '127.0.0.3' })));
    await until(() => opening.every((c) => c.finalStatus !== undefined), 5000);
    expect(opening.filter((c) => c.finalStatus === 404)).toHaveLength(30);

    const before = await commandCounts();
    const flood = Array.from({ length: 500 }, () => sip.invite(inviteFrom('+919800000001', { source: '127.0.0.3', headers: { 'User-Agent': 'friendly-scanner' } })));
    await settle();
    expect(flood.every((c) => c.finalStatus === 403)).toBe(true);
    expect(spent(before, await commandCounts())).toEqual({});

    // The trunk is not limited: its INVITE reaches Redis.
    const trunk = sip.invite(inviteFrom(A));
    await until(() => trunk.finalStatus !== undefined, 5000);
    expect(trunk.finalStatus).toBe(404);
    expect(Object.keys(spent(before, await commandCounts())).length).toBeGreaterThan(0);
    await registry.drain(1000);
  });

  it('mb_call_admit counts calls per session and per number across stores, and releases them', async () => {
    const one = new SessionStore(db.redis, 'mbdef:', 500);
    const two = new SessionStore(db.redis, 'mbdef:', 500);
    const req = (callId: string, sessionId: string) => ({ sessionId, virtualNumber: '+912240001000', callId, leaseMs: 60_000, maxPerSession: 2, maxPerNumber: 3 });
    expect(await one.admit(req('c1', 's1'))).toBe('ok');
    expect(await two.admit(req('c2', 's1'))).toBe('ok');
    expect(await one.admit(req('c1', 's1'))).toBe('ok'); // the same call again is not a second call
    expect(await two.admit(req('c3', 's1'))).toBe('session');
    expect(await two.admit(req('c3', 's2'))).toBe('ok');
    expect(await one.admit(req('c4', 's3'))).toBe('number');
    await one.release(req('c1', 's1'));
    expect(await one.admit(req('c4', 's1'))).toBe('ok');
    expect(await db.redis.zCard('mbdef:calls:number:+912240001000')).toBe(3);
    expect(await db.redis.pTTL('mbdef:calls:session:s1')).toBeGreaterThan(50_000);
  });

  it('a call whose lease ran out (its instance died) stops counting', async () => {
    const store = new SessionStore(db.redis, 'mblease:', 500);
    const req = (callId: string, leaseMs: number) => ({ sessionId: 's1', virtualNumber: '+912240001000', callId, leaseMs, maxPerSession: 1, maxPerNumber: 0 });
    expect(await store.admit(req('lost', 50))).toBe('ok');
    expect(await store.admit(req('next', 60_000))).toBe('session');
    await new Promise((r) => setTimeout(r, 80));
    expect(await store.admit(req('next', 60_000))).toBe('ok');
  });
});
