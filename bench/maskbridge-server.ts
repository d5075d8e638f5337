/**
 * maskbridge for bench/sipp-load.ts, built by its composition root (src/app.ts) as in production:
 * config/default.json plus the addresses of this run, pino at 'info' into a file (asynchronous,
 * like stdout in production), API off.
 *
 *   node --import tsx bench/maskbridge-server.ts '{"admin":{...},"redisUrl":"redis://127.0.0.1:6379","gateway":"127.0.0.1:5070","dir":"/tmp/x"}'
 */
import { join } from 'node:path';
import pino from 'pino';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/log/logger.js';
import { serveChild, type Running } from './lib/server-child.js';

export interface MaskbridgeConfig {
  admin: { host: string; port: number; secret: string };
  redisUrl: string;
  gateway: string;
  /** Where the log and the CDR spool go. */
  dir: string;
}

export async function startMaskbridgeServer(cfg: MaskbridgeConfig): Promise<Running> {
  const config = loadConfig({
    files: ['config/default.json'],
    overrides: {
      drachtio: cfg.admin,
      redis: { url: cfg.redisUrl, keyPrefix: 'mb:' },
      trunk: { inboundAllow: ['127.0.0.1/32'], outbound: { gateway: cfg.gateway } },
      cdr: { spoolFile: join(cfg.dir, 'cdr-spool.jsonl') },
      log: { level: 'info' },
      api: { enabled: false },
    },
  });
  const log = createLogger(config.log, pino.destination({ dest: join(cfg.dir, 'maskbridge.log'), sync: false }));
  const app = createApp(config, { log });
  await app.start();
  const deadline = Date.now() + 10_000;
  while (!(app.health().drachtio && app.health().redis)) {
    if (Date.now() > deadline) throw new Error(`maskbridge did not connect: ${JSON.stringify(app.health())}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    async stop() {
      const live = app.registry.size;
      await app.stop();
      return { liveCallsAtStop: live };
    },
  };
}

serveChild(() => startMaskbridgeServer(JSON.parse(process.argv[2] ?? '{}') as MaskbridgeConfig));
