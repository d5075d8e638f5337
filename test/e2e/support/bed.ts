/** The end-to-end test bed: Redis, drachtio-server, optionally FreeSWITCH, and maskbridge, plus sipp calls. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { RedisServer } from '../../helpers/redis-server.js';
import type { SessionOptions } from '../../../src/sessions/store.js';
import type { FreeswitchTarget } from './freeswitch.js';
import { startMaskbridge, type StartedApp } from './maskbridge.js';
import { optionsScenario, uacScenario, uasScenario, type UacPlan, type UasPlan } from './scenarios.js';
import { freeSippPort, type DrachtioTarget, type Resolved } from './servers.js';
import { startSipp, type SippResult } from './sipp.js';

export const V = '+912240001000';
export const A = '+919812341234';
export const B = '+919876549876';

/** How often a number appears, in any form: its last 10 digits are in E.164, 00-, 0- and national forms alike. */
export function occurrences(text: string, e164: string): number {
  return text.split(e164.slice(-10)).length - 1;
}

export class Bed {
  dir = '';
  redis!: RedisServer;
  drachtio!: DrachtioTarget;
  fs: FreeswitchTarget | null = null;
  mb!: StartedApp;
  gatewayPort = 0;
  private mbStopped = false;

  async start(
    drachtio: Resolved<DrachtioTarget>,
    fs: Resolved<FreeswitchTarget> | null,
    overrides: (bed: Bed) => Record<string, unknown> = () => ({}),
  ): Promise<void> {
    if (!drachtio.ok || (fs && !fs.ok)) throw new Error('servers not available');
    this.dir = mkdtempSync(join(tmpdir(), 'mb-e2e-'));
    this.redis = await RedisServer.start();
    this.drachtio = await drachtio.start(this.dir);
    if (fs?.ok) this.fs = await fs.start(this.dir);
    this.gatewayPort = await freeSippPort();
    this.mb = await startMaskbridge({ dir: this.dir, drachtio: this.drachtio, redisUrl: this.redis.url, gatewayPort: this.gatewayPort, overrides: overrides(this) });
  }

  /** Stops maskbridge (what main.ts runs on SIGTERM), once: stop() then leaves it alone. */
  async stopMaskbridge(): Promise<void> {
    if (this.mbStopped) return;
    this.mbStopped = true;
    await this.mb.app.stop();
  }

  async stop(): Promise<void> {
    if (this.mb) await this.stopMaskbridge();
    await this.fs?.stop();
    await this.drachtio?.stop();
    await this.redis?.stop();
  }

  private async redisClient() {
    const c = createClient({ url: this.redis.url });
    await c.connect();
    return c;
  }

  async flush(): Promise<void> {
    const c = await this.redisClient();
    await c.flushAll();
    await c.quit();
  }

  async openSession(opts: { expiresInMs?: number; record?: boolean } & SessionOptions = {}): Promise<void> {
    const { expiresInMs, ...options } = opts;
    await this.mb.app.store.create({ id: 'order-e2e', virtualNumber: V, a: A, b: B, expiresAt: Date.now() + (expiresInMs ?? 600_000), ...options });
  }

  /**
   * Closes the e2e session as a v1 backend would, with a plain HSET: no mb_close, so no
   * message tells maskbridge (only its sweep, every calls.closeSweepSec, or the re-check at answer).
   */
  async closeQuietly(): Promise<void> {
    const c = await this.redisClient();
    await c.hSet('mb:session:order-e2e', { status: 'closed', closed_at: String(Date.now()) });
    await c.quit();
  }

  /** A PIN on V that speaks for participant `role` of the e2e session (docs/redis-contract.md). */
  async pin(pin: string, role: 'a' | 'b'): Promise<void> {
    const c = await this.redisClient();
    await c.set(`mb:pin:${V}:${pin}`, `order-e2e:${role}`, { PX: 600_000 });
    await c.quit();
  }

  /** Every CDR in the stream, oldest first. */
  async cdrs(): Promise<Record<string, string>[]> {
    const c = await this.redisClient();
    try {
      return (await c.xRange('mb:cdr', '-', '+')).map((e) => e.message as Record<string, string>);
    } finally {
      await c.quit();
    }
  }

  /** Waits for the n-th CDR (1-based) and returns it. */
  async cdr(n = 1): Promise<Record<string, string>> {
    const c = await this.redisClient();
    try {
      for (let i = 0; i < 100; i++) {
        const entries = await c.xRange('mb:cdr', '-', '+');
        if (entries.length >= n) return entries[n - 1]!.message as Record<string, string>;
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await c.quit();
    }
    throw new Error(`CDR #${n} was not written`);
  }

  /** An OPTIONS ping from `localIp`; resolves with sipp's exit code (0 when `status` came back). */
  async options(name: string, status: number, localIp = '127.0.0.1'): Promise<SippResult> {
    return startSipp({
      name, scenarioXml: optionsScenario(status), dir: this.dir, localIp, localPort: await freeSippPort(localIp),
      remote: `${this.drachtio.sip.host}:${this.drachtio.sip.port}`, timeoutSec: 10,
    }).done;
  }

  /** One call: sipp as the trunk's caller, and (unless null) sipp as the called phone behind the gateway. */
  async call(name: string, from: string, uac: UacPlan, uas: UasPlan | null, localIp = '127.0.0.1'): Promise<{ caller: SippResult; callee: SippResult | null }> {
    const { callers, callee } = await this.calls(name, from, [uac], uas, localIp);
    return { caller: callers[0]!, callee };
  }

  /**
   * Calls at once, one sipp caller each (plans[i] for the i-th, named `${name}-<i>-caller` when
   * more than one), all answered (unless `uas` is null) by one sipp phone behind the gateway.
   */
  async calls(name: string, from: string, plans: UacPlan[], uas: UasPlan | null, localIp = '127.0.0.1'): Promise<{ callers: SippResult[]; callee: SippResult | null }> {
    const callee = uas
      ? startSipp({ name: `${name}-callee`, scenarioXml: uasScenario(uas), dir: this.dir, localIp: '127.0.0.1', localPort: this.gatewayPort, timeoutSec: 40, calls: plans.length })
      : null;
    await new Promise((r) => setTimeout(r, 150));
    // Each caller's SIP port and the media ports above it (freeSippPort) apart from the others'.
    const ports: number[] = [];
    while (ports.length < plans.length) {
      const port = await freeSippPort(localIp);
      if (ports.every((q) => Math.abs(q - port) > 5)) ports.push(port);
    }
    const callers = await Promise.all(plans.map((plan, i) => startSipp({
      name: plans.length > 1 ? `${name}-${i}-caller` : `${name}-caller`, scenarioXml: uacScenario(plan), dir: this.dir, localIp,
      localPort: ports[i]!, remote: `${this.drachtio.sip.host}:${this.drachtio.sip.port}`, service: V, keys: { caller: from }, timeoutSec: 40,
    }).done));
    let calleeResult: SippResult | null = null;
    if (callee) {
      const timer = setTimeout(callee.kill, 10_000);
      calleeResult = await callee.done;
      clearTimeout(timer);
    }
    return { callers, callee: calleeResult };
  }
}
