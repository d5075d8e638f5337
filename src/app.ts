/**
 * The composition root: the one place that builds and wires every part. Nothing else reads
 * config from the environment or constructs infrastructure clients.
 */
import Srf from 'drachtio-srf';
import { buildApi, type Api, type Health } from './api/server.js';
import { CallRegistry } from './calls/registry.js';
import { callPolicyFromConfig, createInviteHandler, mediaSettingsFromConfig, optionsResponder } from './calls/handler.js';
import { RedisCdrSink } from './cdr/redis-sink.js';
import type { AppConfig } from './config/types.js';
import { createLogger, numberFormatter, type Logger } from './log/logger.js';
import { Metrics } from './metrics/metrics.js';
import { SCHEMA_VERSION } from './sessions/contract.js';
import { connectInBackground, createRedis, type Redis } from './sessions/redis.js';
import { SessionStore } from './sessions/store.js';
import { DrachtioSipPort } from './sip/drachtio.js';
import { FsMediaPool, parseMediaServers } from './media/fsmrf.js';

export interface App {
  readonly log: Logger;
  readonly store: SessionStore;
  readonly registry: CallRegistry;
  readonly api: Api | null;
  /** Connection state (also served by GET /healthz). */
  health(): Health;
  start(): Promise<void>;
  /** Graceful stop: refuse new calls, drain live ones (up to calls.drainTimeoutSec), close clients. */
  stop(): Promise<void>;
}

export function createApp(config: AppConfig, opts: { log?: Logger } = {}): App {
  const log = opts.log ?? createLogger(config.log);
  const redis: Redis = createRedis({ url: config.redis.url, commandTimeoutMs: config.redis.commandTimeoutMs }, log);
  const store = new SessionStore(redis, config.redis.keyPrefix, config.redis.commandTimeoutMs);
  const cdr = new RedisCdrSink(
    redis,
    { streamKey: store.keys.cdr, maxLen: config.redis.cdrStreamMaxLen, spoolFile: config.cdr.spoolFile, timeoutMs: config.redis.commandTimeoutMs * 4 },
    log,
  );
  const metrics = new Metrics({ defaultMetrics: true });
  const registry = new CallRegistry(log);
  const srf = new Srf();
  const fmt = numberFormatter(config.log.redactNumbers);
  const sip = new DrachtioSipPort(srf, log, fmt);
  const pool = config.media.mode === 'anchor'
    ? new FsMediaPool(
        srf,
        parseMediaServers(config.media.servers),
        { address: config.media.eslListenAddress, port: config.media.eslListenPort, advertise: config.media.eslAdvertiseAddress },
        log,
      )
    : null;
  let drachtioConnected = false;

  const policy = callPolicyFromConfig(config);
  sip.onOptions(optionsResponder(policy.acl, () => registry.isDraining));
  sip.onInvite(
    createInviteHandler(
      {
        sip,
        sessions: store,
        cdr,
        metrics,
        log,
        fmt,
        policy,
        media: mediaSettingsFromConfig(config, pool),
        now: Date.now,
        isDraining: () => registry.isDraining,
      },
      registry,
    ),
  );

  const health = (): Health => ({
    redis: redis.isReady,
    drachtio: drachtioConnected,
    liveCalls: registry.size,
    draining: registry.isDraining,
    cdrBacklog: cdr.backlog,
    media: pool?.health() ?? [],
  });
  const api = config.api.enabled
    ? buildApi({ store, metrics, token: config.api.token, defaultRegion: config.numbers.defaultRegion, health, log })
    : null;

  redis.on('ready', () => {
    // Schema marker: written if absent, checked if present.
    redis.set(store.keys.schema, SCHEMA_VERSION, { NX: true })
      .then(() => redis.get(store.keys.schema))
      .then((v) => {
        if (v !== SCHEMA_VERSION) log.error({ found: v, expected: SCHEMA_VERSION }, 'redis holds another session contract version');
      })
      .catch((err: Error) => log.warn({ err: err.message }, 'schema check failed'));
    void cdr.flush();
  });

  return {
    log,
    store,
    registry,
    api,
    health,
    async start() {
      let drachtioErrorLogged = false;
      srf.on('connect', (_err: Error, hostport: string) => {
        drachtioConnected = true;
        drachtioErrorLogged = false;
        log.info({ hostport }, 'connected to drachtio-server');
      });
      srf.on('disconnect', () => {
        drachtioConnected = false;
        log.warn('disconnected from drachtio-server; reconnecting');
      });
      srf.on('error', (err: Error) => {
        // srf retries with backoff; one error line per outage, not one per retry.
        if (drachtioConnected || !drachtioErrorLogged) log.error({ err: err.message }, 'drachtio connection error; retrying');
        drachtioErrorLogged = true;
      });
      srf.connect({ host: config.drachtio.host, port: config.drachtio.port, secret: config.drachtio.secret });
      void connectInBackground(redis, log);
      pool?.start();
      if (api) await api.listen({ host: config.api.host, port: config.api.port });
      log.info({ media: config.media.mode }, 'maskbridge started');
    },
    async stop() {
      log.info('shutting down: refusing new calls');
      await registry.drain(config.calls.drainTimeoutSec * 1000);
      try {
        srf.disconnect();
      } catch {
        // never connected: nothing to close (srf asserts on a missing socket)
      }
      pool?.stop();
      cdr.close();
      await cdr.flush().catch(() => undefined);
      if (api) await api.close();
      // close() waits for pending replies; a client that is not connected has none to wait for.
      if (redis.isReady) await redis.close().catch(() => undefined);
      else redis.destroy();
      log.info('stopped');
    },
  };
}
