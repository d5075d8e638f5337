/**
 * Prometheus metrics, one registry per app instance (no global state between tests).
 * docs/observability.md describes each one; docker/prometheus/alerts.yml and the Grafana
 * dashboard use them (test/unit/alert-rules.test.ts checks that every name they use is here).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { VERSION } from '../version.js';
import type { RedisObserver } from '../util/timing.js';
import { CachedPoll } from './cached-poll.js';

/** What the connectivity gauges read at each scrape (the app's health(), src/app.ts). */
export interface HealthView {
  redis: boolean;
  drachtio: boolean;
  media: ReadonlyArray<{ server: string; healthy: boolean }>;
}

export type PoolState = 'active' | 'reserved' | 'draining' | 'quarantined';
export const POOL_STATES: readonly PoolState[] = ['active', 'reserved', 'draining', 'quarantined'];

/** One pool's numbers by state (src/sessions/pools.ts, PoolStore.stateCounts). */
export interface PoolCounts {
  pool: string;
  counts: Record<PoolState, number>;
}

export interface PoolStatsOptions {
  /** Scrapes within this long of the last read get the cached values (Redis is read at most this often). */
  maxAgeMs: number;
  /** Longest wait for Redis in a scrape; past it the last values stay. */
  timeoutMs: number;
  /** Milliseconds clock for maxAgeMs (tests); default performance.now. */
  now?: () => number;
}

/** Seconds, for waits from about a millisecond to half a minute (setup, hooks, webhook deliveries). */
const SETUP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30];
const REDIS_BUCKETS = [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** Share of a pool's numbers not in rotation (not active); 1 when the pool has none. */
export function utilisationOf(counts: Record<PoolState, number>): number {
  let total = 0;
  for (const state of POOL_STATES) total += counts[state];
  return total === 0 ? 1 : 1 - counts.active / total;
}

export class Metrics {
  readonly registry = new Registry();
  readonly buildInfo: Gauge<'version' | 'node_version'>;
  // calls
  readonly calls: Counter<'disposition'>;
  readonly activeCalls: Gauge;
  readonly callSetupSeconds: Histogram<'stage'>;
  // Redis
  readonly lookupSeconds: Histogram;
  readonly storeErrors: Counter;
  readonly redisCommandSeconds: Histogram<'command'>;
  readonly redisErrors: Counter<'command'>;
  // connectivity (set at each scrape from the app's health)
  readonly redisUp: Gauge;
  readonly drachtioConnected: Gauge;
  readonly mediaServerUp: Gauge<'server'>;
  readonly gatewayUp: Gauge<'gateway'>;
  // pools (read from Redis at scrape time, cached)
  readonly poolNumbers: Gauge<'pool' | 'state'>;
  readonly poolUtilisation: Gauge<'pool'>;
  // webhooks (fed by the webhook sender)
  readonly webhookDeliveries: Counter<'type'>;
  readonly webhookFailures: Counter<'reason'>;
  readonly webhookRetries: Counter;
  readonly webhookDead: Counter;
  readonly webhookOutboxDepth: Gauge;
  readonly webhookDeliverySeconds: Histogram;
  // real-time hooks (fed by the hook client)
  readonly hookSeconds: Histogram<'hook'>;
  readonly hookOutcomes: Counter<'hook' | 'outcome'>;
  // CDRs and recordings
  readonly cdrBacklog: Gauge;
  readonly cdrPoison: Counter;
  readonly recordingFailures: Counter;
  // orphan spools (fed by src/spool/orphans.ts)
  readonly orphanSpoolReplays: Counter<'spool' | 'outcome'>;
  readonly orphanSpoolRecords: Counter<'spool'>;
  // media quality (per anchored leg, at the end of a bridged call)
  readonly callPacketLoss: Histogram<'leg'>;
  readonly callJitterSeconds: Histogram<'leg'>;
  readonly callMos: Histogram<'leg'>;
  // trunk defences (fed by the SIP defences)
  readonly sipRejectedSources: Counter<'reason'>;
  readonly sipBannedSources: Gauge;
  readonly concurrencyRejections: Counter<'scope'>;

  private health: (() => HealthView) | null = null;
  private gateways: (() => ReadonlyArray<{ gateway: string; up: boolean }>) | null = null;
  private pools: CachedPoll<PoolCounts[]> | null = null;
  private readonly redisChildren = new Map<string, { seconds: ReturnType<Histogram<'command'>['labels']>; errors: ReturnType<Counter<'command'>['labels']> }>();

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry });
    // Getters, not `this`, inside collect(): prom-client calls them with the metric as `this`.
    const health = () => this.health?.() ?? null;
    const pools = () => this.pools;
    const gateways = () => this.gateways?.() ?? null;

    this.buildInfo = new Gauge({ name: 'maskbridge_build_info', help: 'Always 1; the labels say which maskbridge and Node.js run', labelNames: ['version', 'node_version'], registers });
    this.buildInfo.set({ version: VERSION, node_version: process.version }, 1);

    this.calls = new Counter({ name: 'maskbridge_calls_total', help: 'Call attempts by final disposition', labelNames: ['disposition'], registers });
    this.activeCalls = new Gauge({ name: 'maskbridge_active_calls', help: 'Calls in progress (routing, ringing or connected)', registers });
    this.callSetupSeconds = new Histogram({
      name: 'maskbridge_call_setup_seconds',
      help: 'From the INVITE received to the INVITE sent to the other party (stage b_leg_sent), and to its answer (stage answered)',
      labelNames: ['stage'], buckets: SETUP_BUCKETS, registers,
    });
    for (const stage of ['b_leg_sent', 'answered']) this.callSetupSeconds.zero({ stage });

    this.lookupSeconds = new Histogram({
      name: 'maskbridge_session_lookup_seconds', help: 'Redis session lookup latency',
      buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.25, 1], registers,
    });
    this.storeErrors = new Counter({ name: 'maskbridge_store_errors_total', help: 'Lookups that failed closed because Redis did not answer', registers });
    this.redisCommandSeconds = new Histogram({
      name: 'maskbridge_redis_command_seconds', help: 'Round trip of one Redis command or script, by what it does (lookup, recheck, mb_* functions, xadd, ping, pool_stats, ...)',
      labelNames: ['command'], buckets: REDIS_BUCKETS, registers,
    });
    this.redisErrors = new Counter({
      name: 'maskbridge_redis_errors_total', help: 'Redis commands that failed: no answer within the deadline, connection lost, or an error reply',
      labelNames: ['command'], registers,
    });

    this.redisUp = new Gauge({
      name: 'maskbridge_redis_up', help: '1 while Redis answers (the last command got an answer), else 0', registers,
      collect() {
        const h = health();
        if (h) this.set(h.redis ? 1 : 0);
      },
    });
    this.drachtioConnected = new Gauge({
      name: 'maskbridge_drachtio_connected', help: '1 while connected to drachtio-server, else 0', registers,
      collect() {
        const h = health();
        if (h) this.set(h.drachtio ? 1 : 0);
      },
    });
    this.mediaServerUp = new Gauge({
      name: 'maskbridge_media_server_up', help: '1 while the media server (host:port) is connected and answering, else 0', labelNames: ['server'], registers,
      collect() {
        const h = health();
        if (!h) return;
        this.reset();
        for (const m of h.media) this.set({ server: m.server }, m.healthy ? 1 : 0);
      },
    });

    this.gatewayUp = new Gauge({
      name: 'maskbridge_gateway_up', help: '1 while the outbound gateway (host[:port]) is up (answers OPTIONS pings and INVITEs), else 0', labelNames: ['gateway'], registers,
      collect() {
        const g = gateways();
        if (!g) return;
        this.reset();
        for (const { gateway, up } of g) this.set({ gateway }, up ? 1 : 0);
      },
    });

    // Both pool gauges await the same cached read (CachedPoll shares one in-flight read).
    const latestPools = async () => (await pools()?.get()) ?? null;
    this.poolNumbers = new Gauge({
      name: 'maskbridge_pool_numbers', help: 'Numbers in each pool by state (read from Redis at most every few seconds)',
      labelNames: ['pool', 'state'], registers,
      async collect() {
        const fresh = await latestPools();
        if (!fresh) return;
        this.reset();
        for (const p of fresh) for (const state of POOL_STATES) this.set({ pool: p.pool, state }, p.counts[state]);
      },
    });
    this.poolUtilisation = new Gauge({
      name: 'maskbridge_pool_utilisation_ratio',
      help: 'Share of the pool\'s numbers that cannot be allocated (reserved, draining or quarantined); 1 for an empty pool',
      labelNames: ['pool'], registers,
      async collect() {
        const fresh = await latestPools();
        if (!fresh) return;
        this.reset();
        for (const p of fresh) this.set({ pool: p.pool }, utilisationOf(p.counts));
      },
    });

    this.webhookDeliveries = new Counter({ name: 'maskbridge_webhook_deliveries_total', help: 'Webhook events delivered (2xx), by type', labelNames: ['type'], registers });
    this.webhookFailures = new Counter({ name: 'maskbridge_webhook_failures_total', help: 'Failed webhook delivery attempts, by reason (http, timeout, network)', labelNames: ['reason'], registers });
    this.webhookRetries = new Counter({ name: 'maskbridge_webhook_retries_total', help: 'Webhook deliveries scheduled for another attempt', registers });
    this.webhookDead = new Counter({ name: 'maskbridge_webhook_dead_total', help: 'Webhook events dead-lettered (attempts exhausted, or malformed)', registers });
    this.webhookOutboxDepth = new Gauge({ name: 'maskbridge_webhook_outbox_depth', help: 'Events in the outbox stream not yet delivered (nor dead)', registers });
    this.webhookDeliverySeconds = new Histogram({ name: 'maskbridge_webhook_delivery_seconds', help: 'Duration of one webhook delivery attempt', buckets: SETUP_BUCKETS, registers });

    this.hookSeconds = new Histogram({ name: 'maskbridge_hook_seconds', help: 'Time a real-time hook took to answer (or to time out), by hook', labelNames: ['hook'], buckets: SETUP_BUCKETS, registers });
    this.hookOutcomes = new Counter({ name: 'maskbridge_hook_outcomes_total', help: 'Real-time hook answers by hook and outcome (allow, deny, create, route, none, timeout, error)', labelNames: ['hook', 'outcome'], registers });

    this.cdrBacklog = new Gauge({ name: 'maskbridge_cdr_backlog', help: 'CDRs accepted and not yet in the Redis stream (in the spool)', registers });
    this.cdrPoison = new Counter({ name: 'maskbridge_cdr_poison_total', help: 'Spooled CDRs set aside to the .poison file (unreadable, or refused by Redis)', registers });
    this.recordingFailures = new Counter({ name: 'maskbridge_recording_failures_total', help: 'Calls whose recording failed (did not start, or no usable file): the CDR says recording_failed 1', registers });
    this.orphanSpoolReplays = new Counter({
      name: 'maskbridge_orphan_spool_replays_total',
      help: 'Replays of the spool directory of an instance gone for good, once per spool (cdr, events) in it, by outcome: replayed (and removed), left (given up for now, tried again later)',
      labelNames: ['spool', 'outcome'], registers,
    });
    this.orphanSpoolRecords = new Counter({
      name: 'maskbridge_orphan_spool_records_total',
      help: 'Records taken off the spools of instances gone for good by their replays (from the checkpoint on: confirmed by Redis, de-duplicated ones included, or set aside as poison), by spool',
      labelNames: ['spool'], registers,
    });

    this.callPacketLoss = new Histogram({
      name: 'maskbridge_call_packet_loss_ratio', help: 'Share of RTP packets the media server missed from each party over a bridged call (leg a: caller, b: callee)',
      labelNames: ['leg'], buckets: [0, 0.001, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1], registers,
    });
    this.callJitterSeconds = new Histogram({
      name: 'maskbridge_call_jitter_seconds', help: 'RTP inter-arrival jitter from each party over a bridged call (the square root of FreeSWITCH\'s largest variance)',
      labelNames: ['leg'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5], registers,
    });
    this.callMos = new Histogram({
      name: 'maskbridge_call_mos', help: 'FreeSWITCH\'s estimated MOS (1 to 5) of what each party sent, over a bridged call',
      labelNames: ['leg'], buckets: [1, 2, 2.5, 3, 3.5, 3.8, 4, 4.2, 4.4, 5], registers,
    });

    this.sipRejectedSources = new Counter({
      name: 'maskbridge_sip_rejected_sources_total', help: 'INVITEs refused at the edge before any lookup, by reason (acl, scanner, rate-limited, banned)', labelNames: ['reason'], registers,
    });
    this.sipBannedSources = new Gauge({ name: 'maskbridge_sip_banned_sources', help: 'Source addresses banned by the INVITE rate limit now (approximate)', registers });
    this.concurrencyRejections = new Counter({
      name: 'maskbridge_concurrency_rejections_total', help: 'Calls refused by the fleet-wide concurrent-call limits, by scope (session, number)', labelNames: ['scope'], registers,
    });
  }

  /** The connectivity gauges read this at each scrape. */
  bindHealth(health: () => HealthView): void {
    this.health = health;
  }

  /** maskbridge_gateway_up reads this at each scrape (src/sip/gateways.ts, GatewayPool.health). */
  bindGateways(gateways: () => ReadonlyArray<{ gateway: string; up: boolean }>): void {
    this.gateways = gateways;
  }

  /**
   * The pool gauges read `read` (bounded by opts.timeoutMs) at most every opts.maxAgeMs; a read
   * that fails or times out keeps the last values and counts maskbridge_redis_errors_total{command="pool_stats"}.
   */
  bindPools(read: () => Promise<PoolCounts[]>, opts: PoolStatsOptions): void {
    this.pools = new CachedPoll(read, opts, (seconds, failed) => this.observeRedis('pool_stats', seconds, failed), opts.now);
  }

  /** Told of every Redis round trip (src/sessions/health.ts, src/cdr/redis-stream.ts). O(1): one map lookup, one histogram bucket. */
  readonly observeRedis: RedisObserver = (command, seconds, failed) => {
    let c = this.redisChildren.get(command);
    if (!c) {
      c = { seconds: this.redisCommandSeconds.labels(command), errors: this.redisErrors.labels(command) };
      this.redisChildren.set(command, c);
    }
    c.seconds.observe(seconds);
    if (failed) c.errors.inc();
  };
}
