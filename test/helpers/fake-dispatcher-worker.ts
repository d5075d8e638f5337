/**
 * A stand-in for src/events/dispatcher-worker.ts (test/unit/dispatcher-thread.test.ts), speaking
 * the same messages. Its behaviour is `workerData.dispatcher.consumer`:
 *   crash   ready, one metrics report and a log line, then an uncaught exception
 *   ignore  ready, then ignores `stop` and keeps running
 */
import { parentPort, threadId, workerData } from 'node:worker_threads';
import type { DispatcherWorkerInit, FromDispatcherWorker } from '../../src/events/dispatcher-thread.js';

const port = parentPort!;
const init = workerData as DispatcherWorkerInit;
const post = (m: FromDispatcherWorker) => port.postMessage(m);
post({ type: 'ready', threadId });
post({ type: 'metrics', delivered: { 'call.answered': 2 }, failures: { timeout: 1 }, retries: 1, dead: 0, depth: 7, seconds: [0.02] });
post({ type: 'log', line: JSON.stringify({ level: 40, time: 1, msg: 'from the fake worker', eventId: 'ev-1' }) });
if (init.dispatcher.consumer === 'crash') setTimeout(() => { throw new Error('boom'); }, 30);
else setInterval(() => undefined, 1000);
