/**
 * End to end, signalling only and anchored on FreeSWITCH: two maskbridge processes on one
 * drachtio-server share the calls; one is killed (SIGKILL) in the middle of a call, and the
 * survivor hangs both parties up within the documented bound (docs/operations.md, "Several
 * instances and app-instance failure"), ends the media channels, writes one CDR with ended_by
 * instance-lost, and takes the new calls.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { liveCallKeys } from '../../src/calls/live-calls.js';
import { loadLibrary } from '../../src/sessions/library.js';
import { createRedis, type Redis } from '../../src/sessions/redis.js';
import { SessionStore } from '../../src/sessions/store.js';
import { RedisServer } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';
import { A, B, V } from './support/bed.js';
import { kill9 as killInstance, startInstance as spawnInstance, type Instance } from './support/instances.js';
import { channelCount, resolveFreeswitch, type FreeswitchTarget } from './support/freeswitch.js';
import { uacScenario, uasScenario, type UacPlan, type UasPlan } from './support/scenarios.js';
import { freeSippPort, resolveDrachtio, type DrachtioTarget } from './support/servers.js';
import { loggedMessages, sippAvailable, startSipp, type SippResult } from './support/sipp.js';

const drachtio = resolveDrachtio();
const freeswitch = resolveFreeswitch();
const baseSkip = sippAvailable() ?? (drachtio.ok ? null : drachtio.reason);

/** calls.heartbeatMs as shipped; the documented bound is 4 beats plus a BYE round trip, said as 10 s. */
const HEARTBEAT_MS = 2000;
const BOUND_MS = 10_000;
const keys = liveCallKeys('mb:');

for (const mode of ['none', 'anchored'] as const) {
  const skipReason = baseSkip ?? (mode === 'none' || freeswitch.ok ? null : (freeswitch as { reason: string }).reason);
  if (skipReason) console.warn(`[e2e] instance-lost suite (media ${mode}) skipped: ${skipReason}`);

  describe.skipIf(skipReason !== null)(`two instances on one drachtio-server, media ${mode}${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
    let fs: FreeswitchTarget | null = null;
    let dir = '';
    let redisServer: RedisServer;
    let redis: Redis;
    let store: SessionStore;
    let sip: DrachtioTarget;
    let gatewayPort = 0;
    const instances = new Map<string, Instance>();

    async function startInstance(name: string): Promise<Instance> {
      const inst = await spawnInstance(dir, name, {
        drachtio: { admin: sip.admin, sip: sip.sip }, redisUrl: redisServer.url, gatewayPort,
        overrides: {
          calls: { instanceId: name, heartbeatMs: HEARTBEAT_MS, callIdKey: 'e2e-instance-lost', closeSweepSec: 60 },
          defences: { maxCallsPerSession: 10 }, // four calls at once on the one session
          ...(fs ? {
            media: {
              mode: 'anchor', servers: [`${fs.esl.host}:${fs.esl.port}:${fs.esl.secret}`], eslListenAddress: '127.0.0.1',
              recording: { enabledByDefault: false, dir: fs.recordingsDir },
            },
          } : {}),
        },
      });
      instances.set(name, inst);
      return inst;
    }

    async function kill9(inst: Instance): Promise<number> {
      const at = await killInstance(inst);
      instances.delete(inst.name);
      return at;
    }

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'mb-e2e-lost-'));
      redisServer = await RedisServer.start();
      redis = createRedis({ url: redisServer.url, commandTimeoutMs: 1000 }, pino({ level: 'silent' }));
      await redis.connect();
      await loadLibrary(redis);
      store = new SessionStore(redis, 'mb:', 1000);
      sip = await (drachtio as Extract<typeof drachtio, { ok: true }>).start(dir);
      if (mode === 'anchored') fs = await (freeswitch as Extract<typeof freeswitch, { ok: true }>).start(dir);
      gatewayPort = await freeSippPort();
      await store.create({ id: 'order-lost', virtualNumber: V, a: A, b: B, expiresAt: Date.now() + 600_000 });
      // Each process compiles the app with tsx first: on a busy 2-core box that takes tens of seconds.
      await Promise.all([startInstance('mb-1'), startInstance('mb-2')]);
    }, 180_000);

    afterAll(async () => {
      for (const inst of [...instances.values()]) await kill9(inst);
      await redis?.close().catch(() => undefined);
      await fs?.stop();
      await sip?.stop();
      await redisServer?.stop();
    }, 60_000);

    beforeEach(async () => {
      await redis.del('mb:cdr');
    });

    /** Calls at once from A to V, answered by one sipp phone behind the gateway; `during` runs once all are connected. */
    async function calls(name: string, plans: UacPlan[], uas: UasPlan, during?: () => Promise<void>): Promise<{ callers: SippResult[]; callee: SippResult }> {
      const callee = startSipp({ name: `${name}-callee`, scenarioXml: uasScenario(uas), dir, localIp: '127.0.0.1', localPort: gatewayPort, timeoutSec: 40, calls: plans.length });
      await new Promise((r) => setTimeout(r, 150));
      const ports: number[] = [];
      while (ports.length < plans.length) {
        const port = await freeSippPort();
        if (ports.every((q) => Math.abs(q - port) > 5)) ports.push(port);
      }
      const runs = plans.map((plan, i) => startSipp({
        name: `${name}-${i}-caller`, scenarioXml: uacScenario(plan), dir, localIp: '127.0.0.1', localPort: ports[i]!,
        remote: `${sip.sip.host}:${sip.sip.port}`, service: V, keys: { caller: A }, timeoutSec: 40,
      }));
      const callers = runs.map((r) => r.done);
      if (during) {
        try {
          await until(async () => (await connectedEntries()).length === plans.length, 15_000);
          await during();
        } catch (err) {
          for (const r of runs) r.kill(); // the next test's phone needs the gateway port
          callee.kill();
          await Promise.all([...callers, callee.done]);
          throw err;
        }
      }
      const timer = setTimeout(callee.kill, 40_000);
      const result = { callers: await Promise.all(callers), callee: await callee.done };
      clearTimeout(timer);
      return result;
    }

    /** The instance name (calls.instanceId) holding each registered call. */
    /** Registry entries of connected calls (a call being set up has one too, with answeredAt ''). */
    async function connectedEntries(): Promise<Array<{ instance: string; answeredAt: string }>> {
      return Object.values(await redis.hGetAll(keys.calls)).map((t) => JSON.parse(t) as { instance: string; answeredAt: string }).filter((e) => e.answeredAt !== '');
    }
    const holders = async (): Promise<string[]> => (await connectedEntries()).map((e) => e.instance.split('/')[0]!).sort();

    async function cdrs(): Promise<Record<string, string>[]> {
      return (await redis.xRange('mb:cdr', '-', '+')).map((e) => e.message as Record<string, string>);
    }

    it('drachtio-server shares the calls between the two instances', async () => {
      let seen: string[] = [];
      const plan: UacPlan = { outcome: 'answer', hangup: 'caller', talkMs: 2500 };
      const r = await calls('spread', [plan, plan, plan, plan], { outcome: 'answer', hangup: 'caller' }, async () => {
        seen = await holders();
      });
      for (const c of r.callers) expect(c.code, c.stderr).toBe(0);
      expect(r.callee.code, r.callee.stderr).toBe(0);
      expect(seen).toEqual(['mb-1', 'mb-1', 'mb-2', 'mb-2']); // round robin over the connected applications
      await until(async () => (await cdrs()).length === 4, 10_000);
      expect((await cdrs()).map((c) => c.ended_by)).toEqual(['caller', 'caller', 'caller', 'caller']);
    });

    it('kill -9 while the callee rings: the survivor CANCELs the callee, answers the caller 503 within the bound, one CDR failed 503 instance-lost', { timeout: 180_000 }, async () => {
      const callee = startSipp({ name: 'setup-callee', scenarioXml: uasScenario({ outcome: 'ring-until-cancel' }), dir, localIp: '127.0.0.1', localPort: gatewayPort, timeoutSec: 40, calls: 1 });
      await new Promise((r) => setTimeout(r, 150));
      const caller = startSipp({
        name: 'setup-caller', scenarioXml: uacScenario({ outcome: 'reject', status: 503, ringing: true }), dir, localIp: '127.0.0.1', localPort: await freeSippPort(),
        remote: `${sip.sip.host}:${sip.sip.port}`, service: V, keys: { caller: A }, timeoutSec: 40,
      });
      let victim = '';
      let killedAt = 0;
      try {
        // Registered from the callee's INVITE on, before any answer.
        await until(async () => Object.values(await redis.hGetAll(keys.calls)).some((t) => (JSON.parse(t) as { answeredAt: string }).answeredAt === ''), 15_000, 50);
        const entry = JSON.parse(Object.values(await redis.hGetAll(keys.calls))[0]!) as { instance: string };
        victim = entry.instance.split('/')[0]!;
        killedAt = await kill9(instances.get(victim)!);
      } catch (err) {
        caller.kill();
        callee.kill();
        throw err;
      }
      const [c, e] = await Promise.all([caller.done, callee.done]);
      expect(c.code, c.stderr).toBe(0);
      expect(e.code, e.stderr).toBe(0);
      const cancelAt = loggedMessages(e.messages).find((m) => m.direction === 'received' && m.text.startsWith('CANCEL '))?.at ?? null;
      const failedAt = loggedMessages(c.messages).find((m) => m.direction === 'received' && /^SIP\/2\.0 503/.test(m.text))?.at ?? null;
      console.log(`[e2e] in set-up: callee CANCEL ${cancelAt === null ? 'none' : cancelAt - killedAt} ms, caller 503 ${failedAt === null ? 'none' : failedAt - killedAt} ms after kill -9 of ${victim}`);
      for (const at of [cancelAt, failedAt]) {
        expect(at).not.toBeNull();
        expect(at! - killedAt).toBeGreaterThan(0);
        expect(at! - killedAt).toBeLessThan(BOUND_MS);
      }
      await until(async () => (await cdrs()).length === 1, 10_000);
      expect(await cdrs()).toEqual([expect.objectContaining({ disposition: 'failed', ended_by: 'instance-lost', final_status: '503', answered_at: '', media: mode })]);
      expect(await redis.hLen(keys.calls)).toBe(0);
      if (fs) await until(async () => (await channelCount(fs!.esl)) === 0, 5000, 100);
      await startInstance(victim); // the next test needs two instances again
    });

    it('kill -9 of the instance holding a call: both parties get BYE within the bound, one CDR ended_by instance-lost, new calls go to the survivor', async () => {
      let killedAt = 0;
      let victim = '';
      const r = await calls('lost', [{ outcome: 'answer', hangup: 'callee' }], { outcome: 'answer', hangup: 'caller' }, async () => {
        victim = (await holders())[0] ?? '';
        killedAt = await kill9(instances.get(victim!)!);
      });
      expect(r.callers[0]!.code, r.callers[0]!.stderr).toBe(0); // it got a BYE and answered it
      expect(r.callee.code, r.callee.stderr).toBe(0);
      for (const [who, res] of [['caller', r.callers[0]!], ['callee', r.callee]] as const) {
        const bye = loggedMessages(res.messages).find((m) => m.direction === 'received' && m.text.startsWith('BYE '));
        expect(bye, `${who} got no BYE`).toBeDefined();
        const after = bye!.at - killedAt;
        console.log(`[e2e] ${who}: BYE ${after} ms after kill -9 of ${victim}`);
        expect(after).toBeGreaterThan(0);
        expect(after).toBeLessThan(BOUND_MS);
      }
      // The caller's BYE is in its dialog: its Call-ID, our 200's To tag as its From tag, its own From tag as its To tag.
      const msgs = loggedMessages(r.callers[0]!.messages);
      const invite = msgs.find((m) => m.direction === 'sent' && m.text.startsWith('INVITE '))!.text;
      const ok = msgs.find((m) => m.direction === 'received' && /^SIP\/2\.0 200/.test(m.text) && /^CSeq: 1 INVITE/m.test(m.text))!.text;
      const bye = msgs.find((m) => m.direction === 'received' && m.text.startsWith('BYE '))!.text;
      const header = (text: string, name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'mi').exec(text)?.[1]?.trim() ?? '';
      const tag = (value: string) => /;tag=([^;>\s]+)/.exec(value)?.[1] ?? '';
      expect(header(bye, 'Call-ID')).toBe(header(invite, 'Call-ID'));
      expect(tag(header(bye, 'From'))).toBe(tag(header(ok, 'To')));
      expect(tag(header(bye, 'To'))).toBe(tag(header(invite, 'From')));
      expect(header(bye, 'CSeq')).toMatch(/^\d+ BYE$/);
      const lost = (await until(async () => (await cdrs()).length === 1, 10_000), await cdrs());
      expect(lost).toHaveLength(1);
      expect(lost[0]).toMatchObject({ disposition: 'answered', ended_by: 'instance-lost', direction: 'a->b', final_status: '200', media: mode });
      expect(await redis.hLen(keys.calls)).toBe(0);
      // The dead instance's FreeSWITCH channels ended with the BYEs in their dialogs.
      if (fs) await until(async () => (await channelCount(fs!.esl)) === 0, 5000, 100);

      // New calls, at once: drachtio-server sends them to the survivor.
      const next = await calls('after-lost', [{ outcome: 'answer', hangup: 'caller' }, { outcome: 'answer', hangup: 'caller' }], { outcome: 'answer', hangup: 'caller' });
      for (const c of next.callers) expect(c.code, c.stderr).toBe(0);
      await until(async () => (await cdrs()).length === 3, 10_000);
      expect((await cdrs()).map((c) => c.ended_by)).toEqual(['instance-lost', 'caller', 'caller']);
      // Still exactly one CDR of the lost call, however long we wait past another sweep.
      await new Promise((res) => setTimeout(res, HEARTBEAT_MS * 1.5));
      expect((await cdrs()).filter((c) => c.ended_by === 'instance-lost')).toHaveLength(1);
    });
  });
}
