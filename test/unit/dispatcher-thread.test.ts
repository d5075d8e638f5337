/**
 * The delivery thread's supervisor (src/events/dispatcher-thread.ts) with a fake worker: its
 * metrics reach the main thread's metrics, its log lines the main logger; a worker that crashes
 * is logged and started again with a growing backoff, the process unharmed; a worker that does
 * not stop is terminated at the deadline.
 */
import { isMainThread } from 'node:worker_threads';
import pino from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DispatcherThread, type DispatcherWorkerInit } from '../../src/events/dispatcher-thread.js';
import { webhookMetrics } from '../../src/events/metrics.js';
import { until } from '../helpers/until.js';

const entry = new URL('../helpers/fake-dispatcher-worker.ts', import.meta.url);
const init = (consumer: string): DispatcherWorkerInit => ({
  redis: { url: 'redis://127.0.0.1:1', commandTimeoutMs: 100 },
  logLevel: 'info',
  dispatcher: { keyPrefix: 't:', consumer, defaultUrl: '', defaultUrlTrusted: false, secret: 's', timeoutMs: 100, retryBaseMs: 10, retryMaxMs: 10, maxAttempts: 1, concurrency: 1, claimMinIdleMs: 300, redisTimeoutMs: 100 },
});

function recordingLog() {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
  return { log, lines };
}

describe('webhook delivery thread supervisor', () => {
  it('forwards the worker\'s metrics and logs; restarts a crashed worker with a growing backoff, logged', async () => {
    const { log, lines } = recordingLog();
    const registry = new Registry();
    const t = new DispatcherThread(init('crash'), webhookMetrics(registry), log, { entry, restartBaseMs: 100, restartMaxMs: 400, readyTimeoutMs: 20_000 });
    t.start();
    try {
      await until(() => t.restarts >= 4, 30_000);
      const restarts = lines.filter((l) => String(l.msg).includes('delivery thread exited with code 1; starting it again'));
      expect(restarts.map((l) => l.restartInMs).slice(0, 4)).toEqual([100, 200, 400, 400]);
      expect(lines.some((l) => l.msg === 'webhooks: delivery thread failed' && l.err === 'boom')).toBe(true);
      // The worker's log line, relayed with its level and fields.
      expect(lines).toContainEqual(expect.objectContaining({ level: 40, msg: 'from the fake worker', eventId: 'ev-1', thread: 'webhooks' }));
      // Each run's report landed in the main registry (one report per run that got to send it).
      const text = await registry.metrics();
      const runs = Number(/maskbridge_webhook_retries_total (\d+)/.exec(text)?.[1]);
      expect(runs).toBeGreaterThanOrEqual(4);
      expect(text).toContain(`maskbridge_webhook_deliveries_total{type="call.answered"} ${2 * runs}`);
      expect(text).toContain(`maskbridge_webhook_failures_total{reason="timeout"} ${runs}`);
      expect(text).toContain('maskbridge_webhook_outbox_depth 7');
      expect(text).toContain(`maskbridge_webhook_delivery_seconds_count ${runs}`);
      expect(isMainThread).toBe(true); // still here: the crashes stayed in their thread
    } finally {
      await t.stop(1000);
    }
    const after = t.restarts;
    await new Promise((r) => setTimeout(r, 600));
    expect(t.restarts).toBe(after); // stopped: no restart after stop()
  }, 40_000);

  it('stop() terminates a worker that does not stop, within its deadline', async () => {
    const { log, lines } = recordingLog();
    const t = new DispatcherThread(init('ignore'), webhookMetrics(new Registry()), log, { entry, readyTimeoutMs: 20_000 });
    t.start();
    await until(() => t.threadId !== 0, 20_000);
    const t0 = Date.now();
    await t.stop(300);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(t.threadId).toBe(0);
    expect(lines.some((l) => String(l.msg).includes('did not stop in time; terminated'))).toBe(true);
    expect(t.restarts).toBe(0);
  }, 30_000);
});
