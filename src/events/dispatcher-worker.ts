/**
 * The webhook delivery thread (started by dispatcher-thread.ts; nothing else imports this file):
 * its own Redis client, the dispatcher, metrics counted here and sent to the main thread every
 * METRICS_MS, log lines sent there too. On `stop` it stops the dispatcher, sends the last
 * metrics, closes its clients (each step bounded) and lets the thread end.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads';
import pino from 'pino';
import { createRedis, connectInBackground, withDeadline } from '../sessions/redis.js';
import { lowerThreadPriority } from '../util/thread-priority.js';
import { WebhookDispatcher, type WebhookMetrics } from './dispatcher.js';
import { METRICS_MS, type DispatcherWorkerInit, type FailureReason, type FromDispatcherWorker, type MetricsReport, type ToDispatcherWorker } from './dispatcher-thread.js';

const port = parentPort;
if (!port) throw new Error('dispatcher-worker.ts runs in a worker thread (src/events/dispatcher-thread.ts)');
const init = workerData as DispatcherWorkerInit;
const post = (m: FromDispatcherWorker) => port.postMessage(m);

const log = pino({ level: init.logLevel, base: undefined }, { write: (line: string) => post({ type: 'log', line }) });

/** Below the call path's: on a host short of CPU, calls go first and deliveries wait (they are queued in Redis). */
const DELIVERY_THREAD_NICE = 10;
const tid = lowerThreadPriority(DELIVERY_THREAD_NICE);
log.debug({ tid, nice: tid === null ? null : DELIVERY_THREAD_NICE }, 'webhooks: delivery thread priority');

const empty = (): MetricsReport => ({ type: 'metrics', delivered: {}, failures: {}, retries: 0, dead: 0, depth: null, seconds: [] });
let report = empty();
let dirty = false;
const touch = () => void (dirty = true);
const metrics: WebhookMetrics = {
  delivered: { inc: ({ type }) => void ((report.delivered[type] = (report.delivered[type] ?? 0) + 1), touch()) },
  failures: { inc: ({ reason }: { reason: FailureReason }) => void ((report.failures[reason] = (report.failures[reason] ?? 0) + 1), touch()) },
  retries: { inc: () => void (report.retries++, touch()) },
  dead: { inc: () => void (report.dead++, touch()) },
  outboxDepth: { set: (n) => void ((report.depth = n), touch()) },
  deliverySeconds: { observe: (s) => void (report.seconds.push(s), touch()) },
};
const sendMetrics = () => {
  if (!dirty) return;
  post(report);
  report = empty();
  dirty = false;
};
const metricsTimer = setInterval(sendMetrics, METRICS_MS);

// The main thread's client logs connection trouble; this one's shows as the dispatcher's own warnings.
const redis = createRedis(init.redis, pino({ level: 'silent' }));
void connectInBackground(redis, log);
const dispatcher = new WebhookDispatcher(redis, init.dispatcher, metrics, log);
dispatcher.start();
post({ type: 'ready', threadId });

let stopping = false;
port.on('message', (m: ToDispatcherWorker) => {
  if (m.type !== 'stop' || stopping) return;
  stopping = true;
  void (async () => {
    await dispatcher.stop(Math.max(0, m.timeoutMs - 300));
    clearInterval(metricsTimer);
    sendMetrics();
    await withDeadline(redis.isReady ? redis.close() : Promise.reject(new Error('not connected')), 250).catch(() => {
      if (redis.isOpen) redis.destroy();
    });
    post({ type: 'stopped' });
    port.close();
  })();
});
