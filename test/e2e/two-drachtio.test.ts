/**
 * End to end, two drachtio-servers sharing one Redis (docs/scale-out.md, "Several
 * drachtio-servers"): two maskbridge instances on the first, one on the second, signalling only.
 * Calls through either server find the same session. When an instance on the first is killed
 * (SIGKILL), the other instance on the first ends its calls; the instance on the second leaves
 * them alone (it cannot reach their dialogs), and its own calls go on.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveCallKeys } from '../../src/calls/live-calls.js';
import { loadLibrary } from '../../src/sessions/library.js';
import { createRedis, type Redis } from '../../src/sessions/redis.js';
import { SessionStore } from '../../src/sessions/store.js';
import { RedisServer } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';
import { A, B, V } from './support/bed.js';
import { kill9, startInstance, type Instance } from './support/instances.js';
import { uacScenario, uasScenario } from './support/scenarios.js';
import { freeSippPort, resolveDrachtio, type DrachtioTarget } from './support/servers.js';
import { loggedMessages, sippAvailable, startSipp, type SippResult } from './support/sipp.js';

const drachtio = resolveDrachtio();
const skipReason = sippAvailable()
  ?? (drachtio.ok ? null : drachtio.reason)
  ?? (process.env.MB_E2E_DRACHTIO_ADMIN ? 'MB_E2E_DRACHTIO_ADMIN names one running drachtio-server; this suite starts two' : null);
if (skipReason) console.warn(`[e2e] two drachtio-servers suite skipped: ${skipReason}`);

const HEARTBEAT_MS = 2000;
/** docs/operations.md: 4 beats plus a BYE round trip, said as 10 s. */
const BOUND_MS = 10_000;
const TALK_MS = 16_000;
const keys = liveCallKeys('mb:');

describe.skipIf(skipReason !== null)(`two drachtio-servers, one Redis${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'mb-e2e-two-drachtio-'));
  let redisServer: RedisServer;
  let redis: Redis;
  const servers: DrachtioTarget[] = [];
  const instances = new Map<string, Instance>();
  let gatewayPort = 0;

  beforeAll(async () => {
    if (!drachtio.ok) throw new Error('no drachtio-server');
    redisServer = await RedisServer.start();
    redis = createRedis({ url: redisServer.url, commandTimeoutMs: 1000 }, pino({ level: 'silent' }));
    await redis.connect();
    await loadLibrary(redis);
    await new SessionStore(redis, 'mb:', 1000).create({ id: 'order-two', virtualNumber: V, a: A, b: B, expiresAt: Date.now() + 600_000 });
    for (const name of ['d1', 'd2']) servers.push(await drachtio.start(mkdtempSync(join(dir, `${name}-`))));
    gatewayPort = await freeSippPort();
    const on = [['a1', 0], ['a2', 0], ['b1', 1]] as const;
    await Promise.all(on.map(async ([name, d]) => {
      const server = servers[d]!;
      instances.set(name, await startInstance(dir, name, {
        drachtio: { admin: server.admin, sip: server.sip }, redisUrl: redisServer.url, gatewayPort,
        overrides: {
          calls: { instanceId: name, heartbeatMs: HEARTBEAT_MS, callIdKey: 'e2e-two-drachtio', closeSweepSec: 60 },
          defences: { maxCallsPerSession: 0 },
          log: { level: 'info' },
        },
      }));
    }));
  }, 240_000);

  afterAll(async () => {
    for (const inst of instances.values()) await kill9(inst);
    await redis?.close().catch(() => undefined);
    for (const s of servers) await s.stop();
    await redisServer?.stop();
  }, 60_000);

  const byeAt = (r: SippResult) => loggedMessages(r.messages).find((m) => m.direction === 'received' && m.text.startsWith('BYE '))?.at ?? null;

  it('calls through either server reach the session; killing an instance on the first cuts only its calls, ended by its neighbour, within the bound', { timeout: 120_000 }, async () => {
    // Four calls through d1 (two on each of its instances), two through d2.
    const via = [0, 0, 0, 0, 1, 1];
    const callee = startSipp({ name: 'two-callee', scenarioXml: uasScenario({ outcome: 'answer', hangup: 'caller' }), dir, localIp: '127.0.0.1', localPort: gatewayPort, timeoutSec: 60, calls: via.length });
    await new Promise((r) => setTimeout(r, 150));
    const ports: number[] = [];
    while (ports.length < via.length) {
      const port = await freeSippPort();
      if (ports.every((q) => Math.abs(q - port) > 5)) ports.push(port);
    }
    const callers = via.map((d, i) => startSipp({
      name: `two-${i}`, scenarioXml: uacScenario({ outcome: 'answer', hangup: 'caller', byeFirst: true, talkMs: TALK_MS }), dir, localIp: '127.0.0.1',
      localPort: ports[i]!, remote: `${servers[d]!.sip.host}:${servers[d]!.sip.port}`, service: V, keys: { caller: A }, timeoutSec: 60,
    }));
    // A call being set up is registered too (answeredAt ''): wait until all six are connected.
    const registered = async () => Object.values(await redis.hGetAll(keys.calls)).map((t) => JSON.parse(t) as { callId: string; instance: string; answeredAt: string; lost?: { server: string } });
    await until(async () => (await registered()).filter((e) => e.answeredAt !== '').length === via.length, 15_000, 100);
    const entries = await registered();
    const holder = (e: { instance: string }) => e.instance.split('/')[0]!;
    expect(entries.map(holder).sort()).toEqual(['a1', 'a1', 'a2', 'a2', 'b1', 'b1']);
    // Each entry names its own drachtio-server: only an instance on it can end the call.
    expect(new Set(entries.filter((e) => holder(e) !== 'b1').map((e) => e.lost?.server)).size).toBe(1);
    expect(entries.find((e) => holder(e) === 'b1')!.lost?.server).not.toBe(entries.find((e) => holder(e) === 'a1')!.lost?.server);

    const killedAt = await kill9(instances.get('a1')!);
    instances.delete('a1');
    const results = await Promise.all(callers.map((c) => c.done));
    const calleeResult = await callee.done;
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    expect(calleeResult.code, calleeResult.stderr).toBe(0);

    // The two calls a1 held got maskbridge's BYE within the bound; the other four ran their course.
    const cutAfter = results.map(byeAt).filter((at): at is number => at !== null).map((at) => at - killedAt);
    expect(cutAfter).toHaveLength(2);
    for (const ms of cutAfter) expect(ms).toBeLessThan(BOUND_MS);
    await until(async () => (await redis.xLen('mb:cdr')) === via.length, 15_000, 200);
    const cdrs = (await redis.xRange('mb:cdr', '-', '+')).map((e) => e.message);
    expect(cdrs.map((c) => c.ended_by).sort()).toEqual(['caller', 'caller', 'caller', 'caller', 'instance-lost', 'instance-lost']);
    expect(new Set(cdrs.map((c) => c.call_id)).size).toBe(via.length);
    expect(await redis.hLen(keys.calls)).toBe(0);
    console.info(`[e2e] two drachtio-servers: a1's 2 calls cut ${cutAfter.join(', ')} ms after its kill -9, by a2; b1's 2 calls on the other server untouched`);
  });
});
