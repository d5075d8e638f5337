/**
 * The baseline for bench/sipp-load.ts: the least a drachtio-srf B2BUA can do. Every INVITE is
 * bridged with srf.createB2BUA to sip:{calling number}@{uas}, rewriting only From to the virtual
 * number; no lookup, no policy, no scrubbing, no CDR, no logging. BYE on one leg ends the other.
 * (The calling number as the Request-URI user lets sipp-load pair each call's INVITE at the
 * phone with the trunk's, as maskbridge's unique callee numbers do; it costs nothing.)
 *
 * With `redisUrl`, it first does one plain Redis GET of the caller's route key
 * ({prefix}route:{V}:{caller}, docs/redis-contract.md) and waits for the answer, ignoring it:
 * the floor for any B2BUA that asks Redis once per INVITE, which the issue requires.
 *
 *   node --import tsx bench/bare-b2bua.ts '{"admin":{"host":"127.0.0.1","port":9022,"secret":"cymru"},"uas":"127.0.0.1:5070","virtualNumber":"+912240001000"}'
 */
import Srf from 'drachtio-srf';
import { createClient } from 'redis';
import { serveChild, type Running } from './lib/server-child.js';

export interface BareConfig {
  admin: { host: string; port: number; secret: string };
  /** host:port of the called phones (the sipp UAS). */
  uas: string;
  virtualNumber: string;
  /** Set: one GET per INVITE before dialling (see above). */
  redisUrl?: string;
}

const end = (dialog: Srf.Dialog): void => {
  // destroy() returns a promise when given no callback; a BYE on a gone dialog may reject.
  Promise.resolve(dialog.destroy()).catch(() => undefined);
};

export async function startBare(cfg: BareConfig): Promise<Running> {
  const srf = new Srf();
  const counts = { invites: 0, bridged: 0, failed: 0 };
  const redis = cfg.redisUrl ? createClient({ url: cfg.redisUrl }) : null;
  if (redis) {
    redis.on('error', () => undefined);
    await redis.connect();
  }
  srf.invite(async (req, res) => {
    counts.invites++;
    if (redis) await redis.get(`mb:route:${cfg.virtualNumber}:${req.callingNumber}`).catch(() => null);
    srf.createB2BUA(req, res, `sip:${req.callingNumber}@${cfg.uas}`, {
      headers: { From: `<sip:${cfg.virtualNumber}@localhost>` },
    }).then(
      ({ uas, uac }) => {
        counts.bridged++;
        uas.on('destroy', () => end(uac));
        uac.on('destroy', () => end(uas));
      },
      () => counts.failed++,
    );
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('drachtio connect timeout')), 10_000);
    srf.on('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    srf.on('error', () => undefined); // srf retries; the timeout above bounds start-up
    srf.connect(cfg.admin);
  });
  return {
    async stop() {
      srf.disconnect();
      await redis?.close().catch(() => undefined);
      return counts;
    },
  };
}

serveChild(() => startBare(JSON.parse(process.argv[2] ?? '{}') as BareConfig));
