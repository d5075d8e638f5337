/**
 * What the metrics learn from each CDR as it is written: recording failures and per-leg media
 * quality (maskbridge_recording_failures_total, maskbridge_call_packet_loss_ratio,
 * maskbridge_call_jitter_seconds, maskbridge_call_mos). One place, so the metrics and the CDRs
 * always agree.
 */
import type { Cdr, CdrSink } from '../cdr/cdr.js';
import type { Metrics } from './metrics.js';

export function observeCdr(metrics: Metrics, cdr: Cdr): void {
  if (cdr.recording?.failed) metrics.recordingFailures.inc();
  for (const leg of ['a', 'b'] as const) {
    const q = cdr.quality?.[leg];
    if (!q) continue;
    metrics.callPacketLoss.observe({ leg }, q.lossRatio);
    metrics.callJitterSeconds.observe({ leg }, q.jitterMs / 1000);
    metrics.callMos.observe({ leg }, q.mos);
  }
}

/** `sink`, with each CDR observed first (O(1) per CDR; never throws). */
export function meteredCdrSink(sink: CdrSink, metrics: Metrics): CdrSink {
  return {
    write(cdr) {
      try {
        observeCdr(metrics, cdr);
      } catch {
        // a metric must never cost a CDR
      }
      sink.write(cdr);
    },
  };
}
