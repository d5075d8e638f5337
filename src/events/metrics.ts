/**
 * The dispatcher's metrics on an app's prom-client registry, under the names of docs/webhooks.md.
 * Metrics already registered under those names (src/metrics/metrics.ts) are used as they are.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { WebhookMetrics } from './dispatcher.js';

export function webhookMetrics(registry: Registry): WebhookMetrics {
  const existing = <T>(name: string): T | undefined => registry.getSingleMetric(name) as T | undefined;
  const counter = (name: string, help: string, labelNames: string[] = []) =>
    existing<Counter>(name) ?? new Counter({ name, help, labelNames, registers: [registry] });
  const delivered = counter('maskbridge_webhook_deliveries_total', 'Webhook events delivered (2xx), by type', ['type']);
  const failures = counter('maskbridge_webhook_failures_total', 'Failed webhook delivery attempts, by reason (http, timeout, network)', ['reason']);
  const retries = counter('maskbridge_webhook_retries_total', 'Webhook deliveries scheduled for another attempt');
  const dead = counter('maskbridge_webhook_dead_total', 'Webhook events dead-lettered (attempts exhausted, or malformed)');
  const depth = existing<Gauge>('maskbridge_webhook_outbox_depth')
    ?? new Gauge({ name: 'maskbridge_webhook_outbox_depth', help: 'Events in the outbox stream not yet delivered (nor dead)', registers: [registry] });
  const seconds = existing<Histogram>('maskbridge_webhook_delivery_seconds')
    ?? new Histogram({ name: 'maskbridge_webhook_delivery_seconds', help: 'Duration of one webhook delivery attempt', buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] });
  return {
    delivered: { inc: (l) => delivered.inc(l) },
    failures: { inc: (l) => failures.inc(l) },
    retries: { inc: () => retries.inc() },
    dead: { inc: () => dead.inc() },
    outboxDepth: { set: (n) => depth.set(n) },
    deliverySeconds: { observe: (s) => seconds.observe(s) },
  };
}
