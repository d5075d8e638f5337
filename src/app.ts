/**
 * The composition root: the one place that builds and wires every part. Nothing else reads
 * config from the environment or constructs infrastructure clients.
 */
import Srf from 'drachtio-srf';
import { buildApi, type Api, type Health } from './api/server.js';
import { CallRegistry } from './calls/registry.js';
import { callDepsFromConfig, callPolicyFromConfig, createInviteHandler, optionsResponder, rateLimitedTrunkEntries } from './calls/handler.js';
import { RedisCdrSink } from './cdr/redis-sink.js';
import type { AppConfig } from './config/types.js';
import { createLogger, numberFormatter, type Logger } from './log/logger.js';
import { Metrics } from './metrics/metrics.js';
import { SCHEMA_VERSION, SCHEMA_VERSION_ROUTES } from './sessions/contract.js';
import { connectInBackground, createRedis, redisOptions, withDeadline, type Redis } from './sessions/redis.js';
import { StoreHealth } from './sessions/health.js';
import { Durability } from './sessions/durability.js';
import { SessionStore } from './sessions/store.js';
import { callIdHasher, callIdKeyOrRandom } from './calls/call-id.js';
import { hostname, networkInterfaces } from 'node:os';
import { randomBytes } from 'node:crypto';
import { eslAdvertiseAddress } from './media/advertise.js';
import { CloseWatch } from './calls/close-watch.js';
import { LiveCallRegistry, LiveCalls } from './calls/live-calls.js';
import { LostCallSweeper } from './calls/takeover.js';
import { libraryVersion, loadLibrary } from './sessions/library.js';
import { PoolStore } from './sessions/pools.js';
import { DataLifecycle } from './lifecycle/data.js';
import { CdrReader } from './cdr/query.js';
import { DrachtioSipPort } from './sip/drachtio.js';
import { FsMediaPool, parseMediaServers } from './media/fsmrf.js';
import { hooksFromConfig } from './hooks/hooks.js';
import { hookMetrics } from './hooks/hook-metrics.js';
import type { EventSink } from './events/events.js';
import { NoopEventSink, RedisEventSink } from './events/sink.js';
import { DispatcherThread } from './events/dispatcher-thread.js';
import { webhookMetrics } from './events/metrics.js';
import { CallEvents } from './calls/call-events.js';
import { SessionEvents } from './sessions/session-events.js';
import { instanceLayout, spoolPathFor } from './spool/instance-dir.js';
import { OrphanSpools, orphanKind, type OrphanKind } from './spool/orphans.js';
import { RedisRecordStream } from './spool/redis-stream.js';
import { cdrCodec } from './cdr/cdr.js';
import { eventCodec } from './events/events.js';

export interface App {
  readonly log: Logger;
  readonly store: SessionStore;
  readonly registry: CallRegistry;
  readonly api: Api | null;
  /** Webhook events (docs/webhooks.md); a no-op when webhooks.enabled is false. Also in the calls' CallDeps. */
  readonly events: EventSink;
  /** Connection state (also served by the API's health routes). */
  health(): Health;
  /** False while draining or while Redis fails: OPTIONS keep-alives then get 503, so carriers send calls elsewhere. */
  acceptingCalls(): boolean;
  start(): Promise<void>;
  /** Graceful stop: refuse new calls, drain live ones (up to calls.drainTimeoutSec), close clients. */
  stop(): Promise<void>;
}

/** How often Redis is pinged when no command has run for that long (health follows answers, src/sessions/health.ts). */
const STORE_PROBE_MS = 1000;
/**
 * Longest wait for each step of shutdown after the drain (CDR and event flush with the webhook
 * dispatcher's stop, side by side; API close; Redis close).
 * Shutdown ends within calls.drainTimeoutSec + 3 x media.commandTimeoutMs (the teardown of calls
 * ended at the drain deadline: stop recording, release channels, wait for the file) + 3 x STOP_STEP_MS.
 */
export const STOP_STEP_MS = 2000;
/** Scrapes within this long of the last read of the pools' counts get the same values (docs/observability.md). */
export const POOL_STATS_MAX_AGE_MS = 15_000;
/** Longest wait for the answer to a BYE a survivor sends in a dead instance's dialog (then it counts as sent). */
export const TAKEOVER_BYE_TIMEOUT_MS = 4000;

export function createApp(config: AppConfig, opts: { log?: Logger } = {}): App {
  const log = opts.log ?? createLogger(config.log);
  const redis: Redis = createRedis(redisOptions(config.redis), log);
  // With redis.waitReplicas, WAIT follows CDR and webhook-event batches and the API's session
  // writes. It blocks its connection until it answers, so those writes get connections of their
  // own (the two spools share one), and the call path's stays free (docs/redis-contract.md, "Durability").
  const waiting = config.redis.waitReplicas > 0;
  const sideConnection = (): Redis => {
    const c = redis.duplicate();
    c.on('error', () => undefined); // the main client logs connection trouble
    return c;
  };
  const cdrRedis: Redis = waiting ? sideConnection() : redis;
  const apiRedis: Redis = waiting && config.api.enabled ? sideConnection() : redis;
  const sideConnections = [cdrRedis, apiRedis].filter((c) => c !== redis);
  // CDRs waiting in the spool go out as soon as their connection is (back) up.
  if (cdrRedis !== redis) {
    cdrRedis.on('ready', () => {
      void cdr.flush();
      void events.flush();
    });
  }
  const metrics = new Metrics({ defaultMetrics: true });
  const storeHealth = new StoreHealth(Date.now, metrics.observeRedis);
  const store = new SessionStore(redis, config.redis.keyPrefix, config.redis.commandTimeoutMs, Date.now, storeHealth);
  const callIdKey = callIdKeyOrRandom(config.calls.callIdKey);
  // In a container the hostname is the container id and the pid 1: the same across restarts of the container.
  const instanceId = config.calls.instanceId || `${hostname()}-${process.pid}`;
  const cdrSpoolFile = spoolPathFor('cdr.spoolFile', config.cdr.spoolFile, instanceId);
  const cdr = new RedisCdrSink(
    cdrRedis,
    {
      streamKey: store.keys.cdr, maxLen: config.redis.cdrStreamMaxLen, spoolFile: cdrSpoolFile, timeoutMs: config.redis.commandTimeoutMs * 4,
      dedupeRetentionMs: config.cdr.dedupeRetentionSec * 1000, waitReplicas: config.redis.waitReplicas, waitTimeoutMs: config.redis.waitTimeoutMs,
      metrics: { poison: metrics.cdrPoison, backlog: metrics.cdrBacklog }, observe: metrics.observeRedis,
    },
    log,
  );
  const webhooks = config.webhooks;
  const events: EventSink = webhooks.enabled
    ? new RedisEventSink(cdrRedis, {
        streamKey: `${config.redis.keyPrefix}events`, spoolFile: spoolPathFor('webhooks.spoolFile', webhooks.spoolFile, instanceId), timeoutMs: config.redis.commandTimeoutMs * 4,
        dedupeRetentionMs: webhooks.dedupeRetentionSec * 1000, waitReplicas: config.redis.waitReplicas, waitTimeoutMs: config.redis.waitTimeoutMs,
      }, log)
    : new NoopEventSink();
  const registry = new CallRegistry(log);
  // The drachtio-server this instance's dialogs are on: survivors end the calls of a dead instance through the same server.
  const drachtioServer = `${config.drachtio.host}:${config.drachtio.port}`;
  // The registry knows this process by the instance id and a tag of its own: after a crash and a
  // restart under the same id (a container's hostname and pid 1), the calls of the life that died
  // are another instance's, taken over like any other's (src/calls/takeover.ts).
  const registryId = `${instanceId}/${randomBytes(4).toString('hex')}`;
  const liveCalls = new LiveCallRegistry(redis, config.redis.keyPrefix, registryId, log, {
    heartbeatMs: config.calls.heartbeatMs, timeoutMs: config.redis.commandTimeoutMs * 4, server: drachtioServer, observe: metrics.observeRedis,
  });
  const orphans = orphanSpools(config, cdrRedis, { instanceId, cdrStream: store.keys.cdr, metrics }, log);
  const lifecycle = new DataLifecycle(redis, store, {
    cdrStream: store.keys.cdr, cdrRetentionDays: config.cdr.retentionDays, recordingsDir: config.media.recording.dir,
    recordingRetentionDays: config.media.recording.retentionDays, timeoutMs: config.redis.commandTimeoutMs * 20,
  }, log);
  // Call events go to the outbox; session events come from the contract's functions, and
  // expiries from every instance's sweep (src/sessions/session-events.ts).
  const callEvents = webhooks.enabled ? new CallEvents(events, config.media.recording.dir) : null;
  const sessionEvents = webhooks.enabled
    ? new SessionEvents(redis, { prefix: config.redis.keyPrefix, everyMs: webhooks.expirySweepSec * 1000, timeoutMs: config.redis.commandTimeoutMs * 4 }, log)
    : null;
  // Delivery runs in a worker thread with its own Redis clients (src/events/dispatcher-thread.ts): never on the calls' event loop.
  const dispatcher = webhooks.enabled
    ? new DispatcherThread({
        redis: redisOptions(config.redis),
        logLevel: log.level,
        dispatcher: {
          keyPrefix: config.redis.keyPrefix, consumer: instanceId, defaultUrl: webhooks.defaultUrl, defaultUrlTrusted: webhooks.defaultUrlTrusted,
          secret: webhooks.secret, timeoutMs: webhooks.timeoutMs, retryBaseMs: webhooks.retryBaseMs, retryMaxMs: webhooks.retryMaxMs,
          maxAttempts: webhooks.maxAttempts, concurrency: webhooks.concurrency, claimMinIdleMs: webhooks.claimMinIdleMs,
          redisTimeoutMs: config.redis.commandTimeoutMs * 4, readLingerMs: 20,
        },
      }, webhookMetrics(metrics.registry), log)
    : null;
  const liveCallsView = new LiveCalls(redis, config.redis.keyPrefix, config.redis.commandTimeoutMs * 4);
  const pools = new PoolStore(redis, config.redis.keyPrefix, config.redis.commandTimeoutMs, storeHealth);
  const srf = new Srf();
  const fmt = numberFormatter(config.log.redactNumbers);
  const sip = new DrachtioSipPort(srf, log, { text: fmt, callId: callIdHasher(callIdKey.key) });
  const pool = config.media.mode === 'anchor'
    ? new FsMediaPool(
        srf,
        parseMediaServers(config.media.servers),
        { address: config.media.eslListenAddress, port: config.media.eslListenPort, advertise: eslAdvertiseAddress(config.media.eslAdvertiseAddress, config.media.eslListenAddress, networkInterfaces()) },
        log,
        {
          commandTimeoutMs: config.media.commandTimeoutMs, keepAliveMs: config.media.keepAliveMs,
          keepAliveTimeoutMs: config.media.keepAliveTimeoutMs, deadAfterMs: config.media.deadAfterMs,
        },
      )
    : null;
  // The calls of instances that died are hung up from here (src/calls/takeover.ts).
  const takeover = new LostCallSweeper(
    { redis, keys: liveCalls.keys, sip, cdr: callEvents ? callEvents.cdrSink(cdr) : cdr, ...(callEvents ? { callEvents } : {}), sessions: store,
      ...(config.media.mode === 'anchor' ? { recordings: { dir: config.media.recording.dir, settleMs: 200, timeoutMs: config.media.commandTimeoutMs } } : {}), log, now: Date.now, ready: () => drachtioConnected && storeUp() },
    { instanceId: registryId, server: drachtioServer, heartbeatMs: config.calls.heartbeatMs, timeoutMs: config.redis.commandTimeoutMs * 4, byeTimeoutMs: TAKEOVER_BYE_TIMEOUT_MS },
  );
  let drachtioConnected = false;
  let probe: NodeJS.Timeout | null = null;
  const probeStore = async (): Promise<void> => {
    // Half the period: the last probe's own answer lands just after its tick, and must not make the next one skip.
    if (storeHealth.idleMs() < STORE_PROBE_MS / 2) return;
    await storeHealth.track(withDeadline(redis.ping(), config.redis.commandTimeoutMs), 'ping').catch(() => undefined);
  };

  const policy = callPolicyFromConfig(config);
  // OPTIONS keep-alives get 503 while draining or while Redis fails, so carriers move calls elsewhere.
  const storeUp = () => storeHealth.healthy && redis.isReady;
  const acceptingCalls = () => !registry.isDraining && storeUp();
  sip.onOptions(optionsResponder(policy.acl, () => !acceptingCalls()));
  // The out-of-session hook creates sessions through the same store path as the API (mb_create).
  const hooks = hooksFromConfig(config.hooks, { metrics: hookMetrics(metrics.registry), create: (s) => store.create(s) });
  const callDeps = callDepsFromConfig(config, { sip, sessions: store, cdr, metrics, log, pool, callIdKey: callIdKey.key, isDraining: () => registry.isDraining, liveCalls, hooks, ...(callEvents ? { callEvents } : {}) });
  sip.onInvite(createInviteHandler(callDeps, registry));

  const health = (): Health => ({
    redis: storeUp(),
    drachtio: drachtioConnected,
    liveCalls: registry.size,
    draining: registry.isDraining,
    cdrBacklog: cdr.backlog,
    media: pool?.health() ?? [],
  });
  metrics.bindHealth(health);
  metrics.bindGateways(() => callDeps.gateways.health());
  // Pool gauges: read at scrape time, at most every POOL_STATS_MAX_AGE_MS, never waiting longer than the management deadline.
  metrics.bindPools(() => pools.stateCounts(), { maxAgeMs: POOL_STATS_MAX_AGE_MS, timeoutMs: config.redis.commandTimeoutMs * 4 });
  // The API's session writes (and their WAIT) on apiRedis; reads and everything else as before.
  const apiStore = apiRedis === redis ? store : new SessionStore(apiRedis, config.redis.keyPrefix, config.redis.commandTimeoutMs, Date.now, storeHealth);
  const apiLifecycle = apiRedis === redis ? lifecycle : new DataLifecycle(apiRedis, apiStore, {
    cdrStream: store.keys.cdr, cdrRetentionDays: 0, recordingsDir: config.media.recording.dir, recordingRetentionDays: 0, timeoutMs: config.redis.commandTimeoutMs * 20,
  }, log);
  const durability = waiting ? new Durability(apiRedis, { replicas: config.redis.waitReplicas, timeoutMs: config.redis.waitTimeoutMs }) : undefined;
  const api = config.api.enabled
    ? buildApi({ store: apiStore, pools, calls: liveCallsView, lifecycle: apiLifecycle, ...(durability ? { durability } : {}), cdrs: new CdrReader(redis, store.keys.cdr, config.redis.commandTimeoutMs * 4), recordingsDir: config.media.recording.dir, metrics, token: config.api.token, defaultRegion: config.numbers.defaultRegion, health, log })
    : null;

  // Sessions that close hang up their live calls, on every instance (src/calls/close-watch.ts).
  const subscriber: Redis = redis.duplicate();
  subscriber.on('error', () => undefined); // the main client logs connection trouble
  const closeWatch = new CloseWatch(
    {
      subscribe: async (channel, onMessage) => {
        if (!subscriber.isOpen) await subscriber.connect();
        await subscriber.subscribe(channel, onMessage);
      },
      unsubscribe: async () => {
        if (subscriber.isOpen) await withDeadline(subscriber.close(), STOP_STEP_MS).catch(() => {
          if (subscriber.isOpen) subscriber.destroy();
        });
      },
      statuses: (ids) => Promise.all(ids.map((id) => redis.hGet(store.keys.session(id), 'status'))).then((r) => r.map((v) => v ?? null)),
    },
    store.keys.closedChannel,
    registry,
    log,
    { sweepMs: config.calls.closeSweepSec * 1000, timeoutMs: config.redis.commandTimeoutMs * 4, hangupChannel: liveCalls.keys.hangupChannel },
  );

  redis.on('ready', () => {
    // The contract v2 functions: loaded unless Redis has this version (idempotent).
    withDeadline(loadLibrary(redis), config.redis.commandTimeoutMs * 10)
      .then((outcome) => log.info({ outcome, version: libraryVersion() }, 'redis functions library maskbridge checked'))
      .catch((err: Error) => log.error({ err: err.message }, 'redis functions library not loaded: session create, close and pools fail until it is (maskbridge contract load)'));
    // Key layout marker: written if absent, checked if present (docs/redis-contract.md, "Key layout").
    redis.set(store.keys.schema, SCHEMA_VERSION, { NX: true })
      .then(() => redis.get(store.keys.schema))
      .then((v) => {
        if (v === SCHEMA_VERSION_ROUTES) {
          log.warn({ found: v, expected: SCHEMA_VERSION }, `redis holds key layout ${v}: the functions also write route keys (for maskbridge before 0.3); once every instance runs this version, SET ${store.keys.schema} ${SCHEMA_VERSION}`);
        } else if (v !== SCHEMA_VERSION) {
          log.error({ found: v, expected: SCHEMA_VERSION }, 'redis holds another session contract version');
        }
      })
      .catch((err: Error) => log.warn({ err: err.message }, 'schema check failed'));
    void cdr.flush();
    void events.flush();
  });

  return {
    log,
    store,
    registry,
    api,
    events,
    health,
    acceptingCalls,
    async start() {
      // The API first: a port it cannot take fails start() (main exits) before anything else runs.
      if (api) {
        await api.listen({ host: config.api.host, port: config.api.port }).catch((err: Error) => {
          throw new Error(`HTTP API cannot listen on ${config.api.host}:${config.api.port}: ${err.message}`);
        });
      }
      let drachtioErrorLogged = false;
      let takeoverStarted = false;
      srf.on('connect', (_err: Error, hostport: string) => {
        drachtioConnected = true;
        // Dialogs can be ended only through drachtio-server: the sweeps start once it is connected (src/calls/takeover.ts).
        if (!takeoverStarted) {
          takeoverStarted = true;
          takeover.start();
        }
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
      for (const c of sideConnections) void connectInBackground(c, log);
      pool?.start();
      closeWatch.start();
      liveCalls.start();
      lifecycle.start();
      callDeps.gateways.start();
      dispatcher?.start();
      sessionEvents?.start();
      orphans?.start();
      probe = setInterval(() => void probeStore(), STORE_PROBE_MS);
      probe.unref();
      if (config.media.mode === 'none') {
        log.warn('media.mode is "none" (no media server configured): the parties exchange RTP directly, and see each other\'s media address and whatever their phones put in RTP/RTCP (RTCP SDES can carry a SIP URI with a number). Configure media.servers to anchor media (docs/media.md)');
      }
      const limited = rateLimitedTrunkEntries(config);
      if (limited.length > 0) {
        log.warn({ entries: limited, limit: config.defences.rateLimit.limit, windowSec: config.defences.rateLimit.windowSec }, 'trunk.inboundAllow entries outside defences.trunkSources are rate limited per source address; name your carrier SBCs in defences.trunkSources');
      }
      if (callIdKey.random) log.warn('calls.callIdKey is not set: call ids in CDRs and logs use a random key and will not match across restarts or instances');
      log.info({ media: config.media.mode, hooks: { intercept: hooks.intercept !== undefined, outOfSession: hooks.outOfSession !== undefined } }, 'maskbridge started');
    },
    async stop() {
      log.info('shutting down: refusing new calls');
      if (probe) clearInterval(probe);
      await registry.drain(config.calls.drainTimeoutSec * 1000);
      await closeWatch.stop();
      await takeover.stop();
      await liveCalls.stop();
      lifecycle.stop();
      callDeps.gateways.stop();
      try {
        srf.disconnect();
      } catch {
        // never connected: nothing to close (srf asserts on a missing socket)
      }
      pool?.stop();
      // A last flush of up to STOP_STEP_MS; what Redis has not taken stays in the spool for the next start. Never rejects.
      await sessionEvents?.stop();
      // The dispatcher stops in the same step: deliveries not finished by then are resent later (same event id).
      await Promise.all([cdr.close(STOP_STEP_MS), events.close(STOP_STEP_MS), dispatcher?.stop(STOP_STEP_MS), orphans?.stop(STOP_STEP_MS)]);
      if (api) await withDeadline(api.close(), STOP_STEP_MS).catch(() => log.warn('API did not close in time'));
      // close() waits for pending replies, which a hung server never sends: bounded, then dropped.
      await Promise.all([redis, ...sideConnections].map((c) => withDeadline(c.isReady ? c.close() : Promise.reject(new Error('not connected')), STOP_STEP_MS).catch(() => {
        if (c.isOpen) c.destroy();
      })));
      log.info('stopped');
    },
  };
}

/**
 * Replay of other instances' spools (src/spool/orphans.ts), for each spool path with {instance}
 * (CDRs; events when webhooks are on): into the same streams, with the same de-duplication, as
 * this instance's own sinks; it also says in Redis that this instance's spool directory has its owner
 * (even with spool.orphanScanSec 0, which only stops the looking). Null when no spool path has {instance}.
 */
function orphanSpools(
  config: AppConfig,
  redis: Redis,
  { instanceId, cdrStream, metrics }: { instanceId: string; cdrStream: string; metrics: Metrics },
  log: Logger,
): OrphanSpools | null {
  const timeoutMs = config.redis.commandTimeoutMs * 4;
  const durable = config.redis.waitReplicas > 0 ? { waitReplicas: config.redis.waitReplicas, waitTimeoutMs: config.redis.waitTimeoutMs } : {};
  const kinds: OrphanKind[] = [];
  const cdrLayout = instanceLayout('cdr.spoolFile', config.cdr.spoolFile);
  if (cdrLayout) {
    const target = new RedisRecordStream(redis, cdrCodec, {
      streamKey: cdrStream, maxLen: config.redis.cdrStreamMaxLen, retentionMs: config.cdr.dedupeRetentionSec * 1000, timeoutMs, ...durable,
    });
    kinds.push(orphanKind('cdr', cdrLayout, cdrCodec, target, log));
  }
  const eventLayout = config.webhooks.enabled ? instanceLayout('webhooks.spoolFile', config.webhooks.spoolFile) : null;
  if (eventLayout) {
    const target = new RedisRecordStream(redis, eventCodec, {
      streamKey: `${config.redis.keyPrefix}events`, maxLen: 0, retentionMs: config.webhooks.dedupeRetentionSec * 1000, timeoutMs, ...durable,
    });
    kinds.push(orphanKind('events', eventLayout, eventCodec, target, log));
  }
  if (kinds.length === 0) return null;
  const { orphanGraceSec: graceSec, orphanScanSec: scanSec } = config.spool;
  return new OrphanSpools(redis, kinds, {
    instanceId, keyPrefix: config.redis.keyPrefix, graceMs: graceSec * 1000, scanMs: scanSec * 1000,
    claimTtlMs: 30_000, timeoutMs, stallMs: 60_000, metrics: { replays: metrics.orphanSpoolReplays, records: metrics.orphanSpoolRecords },
  }, log);
}
