/**
 * maskbridge for the load benchmarks (bench/sipp-load.ts, bench/media-load.ts), in its own node
 * process (bench/lib/server-child.ts), built by its composition root as in production:
 * config/default.json plus this run's addresses, pino at 'info' (or as told) into a file
 * through the destination production uses for stdout (logDestination: asynchronous, batched by
 * log.bufferBytes), API off. Media mode 'anchor' (FreeSWITCH, every call
 * recorded) or 'none' (signalling only).
 * While it runs it samples its live calls and media channels; the peaks come back in STATS.
 *
 *   node dist/bench/lib/maskbridge-media.js '{"admin":{...},"redisUrl":"redis://...","gateway":"127.0.0.1:5070","dir":"/tmp/x","mode":"anchor","freeswitch":{...}}'
 */
import { join } from 'node:path';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger, logDestination } from '../../src/log/logger.js';
import { serveChild, type Running } from './server-child.js';

export interface MediaServerConfig {
  admin: { host: string; port: number; secret: string };
  redisUrl: string;
  gateway: string;
  /** Where the log and the CDR spool go. */
  dir: string;
  mode: 'none' | 'anchor';
  /** Needed for mode 'anchor': FreeSWITCH's event socket (host:port:secret) and the directory it records into. */
  freeswitch?: { esl: string; recordingsDir: string };
  logLevel: 'info' | 'warn' | 'debug';
  /** Webhooks on, every event to this URL (bench/sipp-load.ts target maskbridge+webhooks). */
  webhookUrl?: string;
}

export async function startMediaServer(cfg: MediaServerConfig): Promise<Running> {
  if (cfg.mode === 'anchor' && !cfg.freeswitch) throw new Error('mode anchor needs freeswitch');
  const media = cfg.mode === 'anchor' && cfg.freeswitch
    ? {
        mode: 'anchor',
        servers: [cfg.freeswitch.esl],
        eslListenAddress: '127.0.0.1',
        recording: { enabledByDefault: true, dir: cfg.freeswitch.recordingsDir },
      }
    : { mode: 'none' };
  const config = loadConfig({
    files: ['config/default.json'],
    overrides: {
      drachtio: cfg.admin,
      redis: { url: cfg.redisUrl, keyPrefix: 'mb:' },
      // No OPTIONS pings: the gateway is a sipp phone, which would take a ping for a call.
      trunk: { inboundAllow: ['127.0.0.1/32'], outbound: { gateway: cfg.gateway, pingSec: 0 } },
      ...(cfg.webhookUrl ? { webhooks: { enabled: true, secret: 'bench', defaultUrl: cfg.webhookUrl, spoolFile: join(cfg.dir, 'events-spool.jsonl') } } : {}),
      cdr: { spoolFile: join(cfg.dir, 'cdr-spool.jsonl') },
      log: { level: cfg.logLevel },
      api: { enabled: false },
      media,
    },
  });
  const log = createLogger(config.log, logDestination(config.log, join(cfg.dir, `maskbridge-${cfg.mode}.log`)));
  const app = createApp(config, { log });
  await app.start();
  const ready = () => {
    const h = app.health();
    return h.drachtio && h.redis && h.media.every((m) => m.healthy);
  };
  const deadline = Date.now() + 15_000;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`maskbridge did not connect: ${JSON.stringify(app.health())}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const peak = { liveCalls: 0, mediaChannels: 0 };
  const sampler = setInterval(() => {
    const h = app.health();
    peak.liveCalls = Math.max(peak.liveCalls, h.liveCalls);
    peak.mediaChannels = Math.max(peak.mediaChannels, h.media.reduce((n, m) => n + m.active, 0));
  }, 100);
  return {
    async stop() {
      clearInterval(sampler);
      const live = app.registry.size;
      await app.stop();
      return { peakLiveCalls: peak.liveCalls, peakMediaChannels: peak.mediaChannels, liveCallsAtStop: live };
    },
  };
}

serveChild(() => startMediaServer(JSON.parse(process.argv[2] ?? '{}') as MediaServerConfig));
