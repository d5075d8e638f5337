/** maskbridge itself, built by its composition root against the e2e servers. */
import { join } from 'node:path';
import pino from 'pino';
import { createApp, type App } from '../../../src/app.js';
import { loadConfig } from '../../../src/config/load.js';
import type { DrachtioTarget } from './servers.js';

export interface StartedApp {
  app: App;
  logFile: string;
}

export async function startMaskbridge(opts: {
  dir: string;
  drachtio: Pick<DrachtioTarget, 'admin' | 'sip'>;
  redisUrl: string;
  gatewayPort: number;
  overrides?: Record<string, unknown>;
}): Promise<StartedApp> {
  const logFile = join(opts.dir, 'maskbridge.log');
  const config = loadConfig({
    files: ['config/default.json', 'config/test.json'],
    overrides: {
      drachtio: { host: opts.drachtio.admin.host, port: opts.drachtio.admin.port, secret: opts.drachtio.admin.secret },
      redis: { url: opts.redisUrl, keyPrefix: 'mb:', commandTimeoutMs: 500 },
      // No OPTIONS pings to the gateway: it is a sipp phone, which would count a ping as a call.
      trunk: { inboundAllow: ['127.0.0.1/32'], outbound: { gateway: `127.0.0.1:${opts.gatewayPort}`, pingSec: 0 } },
      cdr: { spoolFile: join(opts.dir, 'cdr-spool.jsonl') },
      log: { level: 'debug' },
      ...opts.overrides,
    },
  });
  const log = pino({ level: config.log.level }, pino.destination({ dest: logFile, sync: true }));
  const app = createApp(config, { log });
  await app.start();
  const deadline = Date.now() + 10_000;
  const ready = () => {
    const h = app.health();
    return h.drachtio && h.redis && h.media.every((m) => m.healthy);
  };
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`maskbridge did not connect: ${JSON.stringify(app.health())}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { app, logFile };
}
