/**
 * The webhook dispatcher (dispatcher.ts) in a worker thread of its own, so reading the outbox,
 * the HTTP POSTs, their signatures, retries and dead letters never run on the event loop that
 * handles calls (docs/webhooks.md, "Where delivery runs"). One deploy unit: the thread is started
 * by the composition root (src/app.ts) and talks to it only through the messages below.
 *
 * - The worker has its own Redis client (and the dispatcher's blocking connection), built from
 *   the same options as the app's.
 * - Metrics: the worker counts locally and sends the increments (and the histogram's
 *   observations) every METRICS_MS and before it stops; this side adds them to the app's
 *   registry, so /metrics shows them as before.
 * - Logs: the worker's pino lines come here and go to the app's logger (same destination, level
 *   and redaction rules: the dispatcher never logs numbers).
 * - A worker that crashes (an exception, an exit, no `ready` in time) is logged and started
 *   again after a backoff (RESTART_BASE_MS doubling up to RESTART_MAX_MS); it never takes the
 *   process down. What it was delivering stays pending or leased in Redis and is resent, same id.
 * - stop(timeoutMs) asks the worker to stop its dispatcher and close its clients; at the deadline
 *   it is terminated.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../log/logger.js';
import type { RedisOptions } from '../sessions/redis.js';
import type { DispatcherOptions, WebhookMetrics } from './dispatcher.js';

export type FailureReason = 'http' | 'timeout' | 'network';

/** workerData of the worker (structured-clone data only). */
export interface DispatcherWorkerInit {
  redis: RedisOptions;
  dispatcher: Omit<DispatcherOptions, 'random'>;
  /** pino level of the worker's logger (the app's). */
  logLevel: string;
}

/** Main thread -> worker. */
export type ToDispatcherWorker = { type: 'stop'; timeoutMs: number };

/** Increments since the last report. */
export interface MetricsReport {
  type: 'metrics';
  delivered: Record<string, number>;
  failures: Partial<Record<FailureReason, number>>;
  retries: number;
  dead: number;
  /** The last outbox depth read, or null when none since the last report. */
  depth: number | null;
  /** Delivery durations (seconds) observed since the last report. */
  seconds: number[];
}

/** Worker -> main thread. */
export type FromDispatcherWorker =
  | { type: 'ready'; threadId: number }
  | MetricsReport
  | { type: 'log'; line: string }
  | { type: 'stopped' };

export const METRICS_MS = 250;
export const RESTART_BASE_MS = 500;
export const RESTART_MAX_MS = 30_000;
/** A worker that ran this long before it crashed restarts after RESTART_BASE_MS again. */
const HEALTHY_MS = 60_000;
const READY_TIMEOUT_MS = 15_000;

export interface DispatcherThreadOptions {
  /** The worker's script (tests give one that crashes); default dispatcher-worker.{js,ts} next to this file. */
  entry?: URL;
  restartBaseMs?: number;
  restartMaxMs?: number;
  readyTimeoutMs?: number;
}

/** The worker entry next to this module: dist's .js, or the .ts source (run through tsx, for tests and tsx). */
function workerScript(entry: URL): { script: string | URL; eval: boolean } {
  const path = fileURLToPath(entry);
  if (!path.endsWith('.ts')) return { script: entry, eval: false };
  // tsx's ESM entry (its exports map's "import"), for the .ts sources: a dev dependency, never in production.
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('tsx/package.json');
  const api = (require('tsx/package.json') as { exports: Record<string, { import: { default: string } }> }).exports['./esm/api']?.import.default ?? './dist/esm/api/index.mjs';
  const tsx = pathToFileURL(join(dirname(pkg), api)).href;
  return { script: `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`, eval: true };
}

function defaultEntry(): URL {
  const js = new URL('./dispatcher-worker.js', import.meta.url);
  return existsSync(fileURLToPath(js)) ? js : new URL('./dispatcher-worker.ts', import.meta.url);
}

const LEVELS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** Adds a worker's report to the app's metrics. */
export function applyMetrics(r: MetricsReport, m: WebhookMetrics): void {
  for (const [type, n] of Object.entries(r.delivered)) for (let i = 0; i < n; i++) m.delivered.inc({ type });
  for (const [reason, n] of Object.entries(r.failures) as Array<[FailureReason, number]>) for (let i = 0; i < n; i++) m.failures.inc({ reason });
  for (let i = 0; i < r.retries; i++) m.retries.inc();
  for (let i = 0; i < r.dead; i++) m.dead.inc();
  if (r.depth !== null) m.outboxDepth.set(r.depth);
  for (const s of r.seconds) m.deliverySeconds.observe(s);
}

export class DispatcherThread {
  /** Times the worker was started again after a crash. */
  restarts = 0;
  /** The running worker's thread id (0 when none is running). */
  threadId = 0;
  private worker: Worker | null = null;
  private running = false;
  private startedAt = 0;
  private backoffMs: number;
  private restartTimer: NodeJS.Timeout | null = null;
  private readyTimer: NodeJS.Timeout | null = null;
  private readonly entry: URL;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly readyTimeoutMs: number;
  private onStopped: (() => void) | null = null;

  constructor(private readonly init: DispatcherWorkerInit, private readonly metrics: WebhookMetrics, private readonly log: Logger, opts: DispatcherThreadOptions = {}) {
    this.entry = opts.entry ?? defaultEntry();
    this.baseMs = opts.restartBaseMs ?? RESTART_BASE_MS;
    this.maxMs = opts.restartMaxMs ?? RESTART_MAX_MS;
    this.readyTimeoutMs = opts.readyTimeoutMs ?? READY_TIMEOUT_MS;
    this.backoffMs = this.baseMs;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.spawn();
  }

  private spawn(): void {
    this.restartTimer = null;
    if (!this.running) return;
    const { script, eval: isEval } = workerScript(this.entry);
    let w: Worker;
    try {
      w = new Worker(script, { eval: isEval, workerData: this.init, stdout: false, stderr: false });
    } catch (err) {
      this.crashed(`cannot start: ${(err as Error).message}`);
      return;
    }
    // The delivery thread never keeps the process alive on its own.
    w.unref();
    this.worker = w;
    this.startedAt = Date.now();
    this.readyTimer = setTimeout(() => {
      this.log.error({ timeoutMs: this.readyTimeoutMs }, 'webhooks: delivery thread not ready in time; restarting it');
      void w.terminate();
    }, this.readyTimeoutMs);
    this.readyTimer.unref();
    w.on('message', (m: FromDispatcherWorker) => this.onMessage(m));
    w.on('error', (err: Error) => this.log.error({ err: err.message }, 'webhooks: delivery thread failed'));
    w.on('exit', (code) => {
      if (this.worker !== w) return;
      this.worker = null;
      this.threadId = 0;
      if (this.readyTimer) clearTimeout(this.readyTimer);
      this.readyTimer = null;
      if (this.running) this.crashed(`exited with code ${code}`);
    });
  }

  private crashed(why: string): void {
    if (Date.now() - this.startedAt >= HEALTHY_MS) this.backoffMs = this.baseMs;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.maxMs);
    this.restarts++;
    this.log.error({ restartInMs: delay, restarts: this.restarts }, `webhooks: delivery thread ${why}; starting it again (events wait in the outbox)`);
    this.restartTimer = setTimeout(() => this.spawn(), delay);
    this.restartTimer.unref();
  }

  private onMessage(m: FromDispatcherWorker): void {
    switch (m.type) {
      case 'ready':
        this.threadId = m.threadId;
        if (this.readyTimer) clearTimeout(this.readyTimer);
        this.readyTimer = null;
        return;
      case 'metrics':
        applyMetrics(m, this.metrics);
        return;
      case 'log':
        this.relay(m.line);
        return;
      case 'stopped':
        this.onStopped?.();
        return;
    }
  }

  private relay(line: string): void {
    try {
      const { level, msg, time: _t, pid: _p, hostname: _h, ...fields } = JSON.parse(line) as Record<string, unknown>;
      const name = LEVELS[Number(level)] ?? 'info';
      this.log[name]({ thread: 'webhooks', ...fields }, String(msg ?? ''));
    } catch {
      this.log.warn('webhooks: unreadable log line from the delivery thread');
    }
  }

  /**
   * Stops within `timeoutMs`: the worker stops its dispatcher (deliveries not finished are
   * resent later, same id), sends its last metrics and closes its clients; at the deadline it is
   * terminated. Never rejects.
   */
  async stop(timeoutMs: number): Promise<void> {
    this.running = false;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    if (this.readyTimer) clearTimeout(this.readyTimer);
    this.readyTimer = null;
    const w = this.worker;
    if (!w) return;
    const exited = new Promise<'done'>((r) => w.once('exit', () => r('done')));
    // Messages arrive in order: once 'stopped' is here, so are its last metrics and logs.
    const stopped = new Promise<'done'>((r) => (this.onStopped = () => r('done')));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), timeoutMs)));
    try {
      w.postMessage({ type: 'stop', timeoutMs: Math.max(0, timeoutMs - 200) } satisfies ToDispatcherWorker);
    } catch {
      // already gone
    }
    const outcome = await Promise.race([exited, stopped, deadline]);
    clearTimeout(timer);
    this.onStopped = null;
    if (outcome === 'late') this.log.warn({ timeoutMs }, 'webhooks: delivery thread did not stop in time; terminated (its deliveries are resent later, same id)');
    // Bounded: terminate() of a thread stuck in native code could take its time.
    await Promise.race([w.terminate().catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
  }
}
