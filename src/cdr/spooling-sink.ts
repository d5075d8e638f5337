/**
 * The CDR sink: the spooling sink (src/spool/sink.ts) over CDRs. Every CDR is on disk before it
 * is sent, and leaves the spool only once the target (the Redis stream) has it; the target
 * de-duplicates, so a batch resent after a lost reply or a crash lands once.
 */
import { SpoolingSink, type SpoolSinkMetrics, type SpoolingSinkOptions } from '../spool/sink.js';
import type { Logger } from '../log/logger.js';
import { cdrCodec, type Cdr, type CdrSink } from './cdr.js';
import type { CdrTarget } from './redis-stream.js';

export type CdrSinkMetrics = SpoolSinkMetrics;
export type SpoolingCdrSinkOptions = SpoolingSinkOptions;

export class SpoolingCdrSink extends SpoolingSink<Cdr> implements CdrSink {
  constructor(target: CdrTarget, opts: SpoolingCdrSinkOptions, log: Logger) {
    super(target, cdrCodec, opts, log);
  }
}
