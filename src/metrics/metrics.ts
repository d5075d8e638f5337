import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics, one registry per app instance (no global state between tests). */
export class Metrics {
  readonly registry = new Registry();
  readonly calls: Counter<'disposition'>;
  readonly activeCalls: Gauge;
  readonly lookupSeconds: Histogram;
  readonly storeErrors: Counter;
  readonly cdrBacklog: Gauge;
  readonly cdrPoison: Counter;
  readonly sipRejectedSources: Counter<'reason'>;
  readonly sipBannedSources: Gauge;
  readonly concurrencyRejections: Counter<'scope'>;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry });
    this.calls = new Counter({ name: 'maskbridge_calls_total', help: 'Call attempts by final disposition', labelNames: ['disposition'], registers: [this.registry] });
    this.activeCalls = new Gauge({ name: 'maskbridge_active_calls', help: 'Calls in progress (routing, ringing or connected)', registers: [this.registry] });
    this.lookupSeconds = new Histogram({
      name: 'maskbridge_session_lookup_seconds',
      help: 'Redis session lookup latency',
      buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.25, 1],
      registers: [this.registry],
    });
    this.storeErrors = new Counter({ name: 'maskbridge_store_errors_total', help: 'Lookups that failed closed because Redis did not answer', registers: [this.registry] });
    this.cdrBacklog = new Gauge({ name: 'maskbridge_cdr_backlog', help: 'CDRs accepted and not yet in the Redis stream (in the spool)', registers: [this.registry] });
    this.sipRejectedSources = new Counter({
      name: 'maskbridge_sip_rejected_sources_total', help: 'INVITEs refused at the edge before any lookup, by reason (acl, scanner, rate-limited, banned)', labelNames: ['reason'], registers: [this.registry],
    });
    this.sipBannedSources = new Gauge({ name: 'maskbridge_sip_banned_sources', help: 'Source addresses banned by the INVITE rate limit now (approximate)', registers: [this.registry] });
    this.concurrencyRejections = new Counter({
      name: 'maskbridge_concurrency_rejections_total', help: 'Calls refused by the fleet-wide concurrent-call limits, by scope (session, number)', labelNames: ['scope'], registers: [this.registry],
    });
    this.cdrPoison = new Counter({ name: 'maskbridge_cdr_poison_total', help: 'Spooled CDRs set aside to the .poison file (unreadable, or refused by Redis)', registers: [this.registry] });
  }
}
