/**
 * The hooks' two Prometheus metrics, made here rather than in src/metrics/metrics.ts (where they
 * are to move) so that this branch adds nothing to the Metrics class. Kept out of src/app.ts so
 * the test harness can take them without loading the whole composition root.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { HookMetrics } from './client.js';

/**
 * maskbridge_hook_seconds{hook} (the delay each hook adds to a call) and
 * maskbridge_hook_outcomes_total{hook,outcome} on `registry`; taken from it when something
 * registered them already.
 */
export function hookMetrics(registry: Registry): HookMetrics {
  const seconds = (registry.getSingleMetric('maskbridge_hook_seconds') as Histogram<'hook'> | undefined) ?? new Histogram({
    name: 'maskbridge_hook_seconds',
    help: 'Time a real-time hook took to answer (or to time out), by hook',
    labelNames: ['hook'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const outcomes = (registry.getSingleMetric('maskbridge_hook_outcomes_total') as Counter<'hook' | 'outcome'> | undefined) ?? new Counter({
    name: 'maskbridge_hook_outcomes_total',
    help: 'Real-time hook answers by hook and outcome (allow, deny, create, route, none, timeout, error)',
    labelNames: ['hook', 'outcome'],
    registers: [registry],
  });
  return { seconds, outcomes };
}
