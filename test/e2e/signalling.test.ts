/**
 * End to end, signalling only: sipp plays the carrier trunk (caller) and the called phone behind
 * the outbound gateway, against a real drachtio-server, a real redis-server and maskbridge.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { StartedApp } from './support/maskbridge.js';
import { startMaskbridge } from './support/maskbridge.js';
import { finalStatus, sippAvailable, startSipp, type SippResult } from './support/sipp.js';
import { uacScenario, uasScenario, type UacPlan, type UasPlan } from './support/scenarios.js';
import { freeUdpPort, resolveDrachtio, type DrachtioTarget } from './support/servers.js';
import { RedisServer } from '../helpers/redis-server.js';

const V = '+912240001000';
const A = '+919812341234';
const B = '+919876549876';

const drachtio = resolveDrachtio();
const skipReason = sippAvailable() ?? (drachtio.ok ? null : drachtio.reason);
if (skipReason) console.warn(`[e2e] signalling suite skipped: ${skipReason}`);

/** How often a number appears, in any form: its last 10 digits are in E.164, 00-, 0- and national forms alike. */
function occurrences(text: string, e164: string): number {
  return text.split(e164.slice(-10)).length - 1;
}

describe.skipIf(skipReason !== null)(`signalling end to end${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let dir: string;
  let redis: RedisServer;
  let server: DrachtioTarget;
  let mb: StartedApp;
  let gatewayPort: number;

  beforeAll(async () => {
    if (!drachtio.ok) return;
    dir = mkdtempSync(join(tmpdir(), 'mb-e2e-'));
    redis = await RedisServer.start();
    server = await drachtio.start(dir);
    gatewayPort = await freeUdpPort();
    mb = await startMaskbridge({ dir, drachtio: server, redisUrl: redis.url, gatewayPort });
  });

  afterAll(async () => {
    await mb?.app.stop();
    await server?.stop();
    await redis?.stop();
  });

  beforeEach(async () => {
    const { createClient } = await import('redis');
    const c = createClient({ url: redis.url });
    await c.connect();
    await c.flushAll();
    await c.quit();
  });

  async function call(name: string, from: string, uac: UacPlan, uas: UasPlan | null, localIp = '127.0.0.1') {
    const callee = uas ? startSipp({ name: `${name}-callee`, scenarioXml: uasScenario(uas), dir, localIp: '127.0.0.1', localPort: gatewayPort }) : null;
    await new Promise((r) => setTimeout(r, 150));
    const caller = startSipp({
      name: `${name}-caller`, scenarioXml: uacScenario(uac), dir, localIp, localPort: await freeUdpPort(localIp),
      remote: `${server.sip.host}:${server.sip.port}`, service: V, keys: { caller: from },
    });
    const callerResult = await caller.done;
    let calleeResult: SippResult | null = null;
    if (callee) {
      const timer = setTimeout(callee.kill, 8000);
      calleeResult = await callee.done;
      clearTimeout(timer);
    }
    return { caller: callerResult, callee: calleeResult };
  }

  async function lastCdr(): Promise<Record<string, string>> {
    const { createClient } = await import('redis');
    const c = createClient({ url: redis.url });
    await c.connect();
    for (let i = 0; i < 40; i++) {
      const entries = await c.xRange('mb:cdr', '-', '+');
      if (entries.length > 0) {
        await c.quit();
        return entries.at(-1)!.message as Record<string, string>;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await c.quit();
    throw new Error('no CDR written');
  }

  async function openSession(expiresInMs = 600_000) {
    await mb.app.store.create({ id: 'order-e2e', virtualNumber: V, a: A, b: B, expiresAt: Date.now() + expiresInMs });
  }

  function expectNoLeak(r: { caller: SippResult; callee: SippResult | null }) {
    expect(occurrences(r.caller.messages, B)).toBe(0);
    if (r.callee) expect(occurrences(r.callee.messages, A)).toBe(0);
  }

  it('A calls V, B sees V and answers, A hangs up', async () => {
    await openSession();
    const r = await call('a-hangs-up', A, { outcome: 'answer', hangup: 'caller' }, { outcome: 'answer', hangup: 'caller' });
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(r.callee!.code, r.callee!.stderr).toBe(0);
    expect(r.callee!.messages).toMatch(new RegExp(`^From: <sip:\\${V}@`, 'm'));
    expectNoLeak(r);
    expect(await lastCdr()).toMatchObject({ session_id: 'order-e2e', direction: 'a->b', disposition: 'answered', ended_by: 'caller', final_status: '200' });
  });

  it('A calls V, B answers and hangs up', async () => {
    await openSession();
    const r = await call('b-hangs-up', A, { outcome: 'answer', hangup: 'callee' }, { outcome: 'answer', hangup: 'callee' });
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(r.callee!.code, r.callee!.stderr).toBe(0);
    expectNoLeak(r);
    expect(await lastCdr()).toMatchObject({ disposition: 'answered', ended_by: 'callee' });
  });

  it('B calls V and reaches A, who sees V', async () => {
    await openSession();
    const r = await call('b-calls', B, { outcome: 'answer', hangup: 'caller' }, { outcome: 'answer', hangup: 'caller' });
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(r.callee!.code, r.callee!.stderr).toBe(0);
    expect(r.callee!.messages).toMatch(new RegExp(`^INVITE sip:\\${A}@`, 'm'));
    expect(occurrences(r.callee!.messages, B)).toBe(0);
    expect(occurrences(r.caller.messages, A)).toBe(0);
    expect(await lastCdr()).toMatchObject({ direction: 'b->a', disposition: 'answered' });
  });

  it('an unknown caller is rejected and nobody is called', async () => {
    await openSession();
    const r = await call('unknown', '+919800000001', { outcome: 'reject', status: 404 }, null);
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(finalStatus(r.caller.messages)).toBe(404);
    expect(await lastCdr()).toMatchObject({ disposition: 'unknown-caller', final_status: '404' });
  });

  it('an expired session is rejected', async () => {
    await openSession(300);
    await new Promise((r) => setTimeout(r, 400));
    const r = await call('expired', A, { outcome: 'reject', status: 410 }, null);
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(await lastCdr()).toMatchObject({ disposition: 'session-closed', final_status: '410' });
  });

  it('a CANCEL before answer cancels B and A gets 487', async () => {
    await openSession();
    const r = await call('cancel', A, { outcome: 'cancel', afterMs: 300 }, { outcome: 'ring-until-cancel' });
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(r.callee!.code, r.callee!.stderr).toBe(0);
    expectNoLeak(r);
    expect(await lastCdr()).toMatchObject({ disposition: 'cancelled', final_status: '487' });
  });

  it('B busy gives A 486', async () => {
    await openSession();
    const r = await call('busy', A, { outcome: 'reject', status: 486 }, { outcome: 'reject', status: 486, reason: 'Busy Here' });
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(r.callee!.code, r.callee!.stderr).toBe(0);
    expectNoLeak(r);
    expect(await lastCdr()).toMatchObject({ disposition: 'busy', final_status: '486' });
  });

  it('a call from outside the trunk (127.0.0.2) gets 403', async () => {
    await openSession();
    const r = await call('acl', A, { outcome: 'reject', status: 403 }, null, '127.0.0.2');
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(await lastCdr()).toMatchObject({ disposition: 'rejected-acl', final_status: '403' });
  });
});
