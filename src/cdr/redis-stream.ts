/**
 * The CDR stream writer: the generic record stream (src/spool/redis-stream.ts) over CDRs. One
 * script call per batch marks each record seen (`SET {stream}:seen:{id} 1 NX PX retention`) and
 * appends it only when the mark is new (docs/redis-contract.md, "CDR stream").
 */
import type { Redis } from '../sessions/redis.js';
import { RedisRecordStream, WRITE_RECORDS_SCRIPT, type RecordTarget, type RedisRecordStreamOptions } from '../spool/redis-stream.js';
import { cdrCodec, type Cdr } from './cdr.js';

export { classify, type BatchResult, type FailureKind, type WriteFailure } from '../spool/redis-stream.js';

export const WRITE_CDRS_SCRIPT = WRITE_RECORDS_SCRIPT;

/** Where the CDR sink writes: the Redis stream, a fake in unit tests. */
export type CdrTarget = RecordTarget<Cdr>;
export type RedisCdrStreamOptions = RedisRecordStreamOptions;

export class RedisCdrStream extends RedisRecordStream<Cdr> {
  constructor(redis: Redis, opts: RedisCdrStreamOptions) {
    super(redis, cdrCodec, opts);
  }
}
