/**
 * Writes batches of records (CDRs, webhook events) to a Redis stream, each at most once
 * (docs/redis-contract.md, "CDR stream"): one script call per batch marks each record seen (`SET {stream}:seen:{id} 1 NX PX
 * retention`) and appends it only when the mark is new, so resending a batch whose reply was lost
 * adds nothing twice.
 */
import { ErrorReply } from 'redis';
import { runScript, withDeadline, type Redis } from '../sessions/redis.js';
import { Durability } from '../sessions/durability.js';
import type { RecordCodec } from './codec.js';
import { timed, type RedisObserver } from '../util/timing.js';

/**
 * unavailable: Redis did not answer, or cannot write now; retry the same records later.
 * config: Redis refuses every record (the stream key holds another type); retry slowly.
 * refused: Redis refused the call; a record may be at fault (the sink finds out which).
 */
export type FailureKind = 'unavailable' | 'config' | 'refused';

export interface WriteFailure {
  kind: FailureKind;
  /** First word of a Redis error (WRONGTYPE, NOPERM, ...), or the error's name. */
  code: string;
  message: string;
  /** True when Redis named the record at `done` as the one refused; false when it refused the call. */
  atRecord: boolean;
}

export interface BatchResult {
  /** Records handled, in order, from the first: each is now in the stream (added or already there). */
  done: number;
  /** How many of those were appended by this call (the rest were there already). */
  added: number;
  /** Why the record at `done` (and those after it) were not handled; null when all were. */
  failure: WriteFailure | null;
}

/** Where the sink writes: the Redis stream here, a fake in unit tests. */
export interface RecordTarget<T> {
  write(records: readonly T[]): Promise<BatchResult>;
}

export interface RedisRecordStreamOptions {
  streamKey: string;
  /** XADD MAXLEN ~ cap; 0 = uncapped. */
  maxLen: number;
  /** How long a record's "seen" mark lives (the de-duplication window). */
  retentionMs: number;
  /** Deadline of one batch's round trip. */
  timeoutMs: number;
  /** Told each batch's round trip, as `command` (default `xadd`; maskbridge_redis_command_seconds). */
  observe?: RedisObserver;
  command?: string;
  /**
   * Confirm a batch only once this many replicas have it (WAIT; redis.waitReplicas), so a failover
   * cannot lose a confirmed record; 0 = on the primary's word. A batch not replicated in time is
   * "unavailable" and resent: the marks make the resend add nothing twice.
   */
  waitReplicas?: number;
  waitTimeoutMs?: number;
}

/**
 * KEYS[1] the stream, KEYS[2..] one seen key per record. ARGV[1] MAXLEN (0 = none), ARGV[2] the
 * mark's PX; then per record the number of field/value strings and the strings. Returns
 * {status, error}: status holds one character per record handled ('1' appended, '0' already
 * seen, its mark renewed); error is '' or the error that stopped it at the next record (whose
 * mark is removed).
 */
export const WRITE_RECORDS_SCRIPT = `
local t = redis.call('TYPE', KEYS[1]).ok
if t ~= 'stream' and t ~= 'none' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' holds a ' .. t .. ', not a stream')
end
local maxlen = tonumber(ARGV[1])
local done = {}
local a = 3
for i = 2, #KEYS do
  local n = tonumber(ARGV[a])
  local fresh = redis.pcall('SET', KEYS[i], '1', 'NX', 'PX', ARGV[2])
  if type(fresh) == 'table' and fresh.err then return {table.concat(done), fresh.err} end
  if fresh then
    local r
    if maxlen > 0 then
      r = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', unpack(ARGV, a + 1, a + n))
    else
      r = redis.pcall('XADD', KEYS[1], '*', unpack(ARGV, a + 1, a + n))
    end
    if type(r) == 'table' and r.err then
      redis.call('DEL', KEYS[i])
      return {table.concat(done), r.err}
    end
    done[#done + 1] = '1'
  else
    -- Already there: renew the mark. Besides the longer memory, it is a write, so a WAIT after
    -- this resend also covers the first write of the record (replication is in order).
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
    done[#done + 1] = '0'
  end
  a = a + n + 1
end
return {table.concat(done), ''}
`;

/** Redis errors that mean "not now" rather than "not this": the same write may succeed later. */
const TRANSIENT = new Set(['LOADING', 'BUSY', 'TRYAGAIN', 'CLUSTERDOWN', 'MASTERDOWN', 'READONLY', 'OOM', 'MISCONF', 'NOREPLICAS', 'NOSCRIPT']);

export function classify(err: unknown, atRecord: boolean): WriteFailure {
  const message = err instanceof Error ? err.message : String(err);
  if (!(err instanceof ErrorReply) && !atRecord) {
    return { kind: 'unavailable', code: err instanceof Error ? err.name : 'Error', message, atRecord };
  }
  const code = /^\S+/.exec(message)?.[0] ?? 'ERR';
  if (TRANSIENT.has(code)) return { kind: 'unavailable', code, message, atRecord };
  if (code === 'WRONGTYPE' && !atRecord) return { kind: 'config', code, message, atRecord };
  return { kind: 'refused', code, message, atRecord };
}

export class RedisRecordStream<T> implements RecordTarget<T> {
  private readonly seenPrefix: string;
  private readonly durability: Durability;

  constructor(private readonly redis: Redis, private readonly codec: RecordCodec<T>, private readonly opts: RedisRecordStreamOptions) {
    this.seenPrefix = `${opts.streamKey}:seen:`;
    this.durability = new Durability(redis, { replicas: opts.waitReplicas ?? 0, timeoutMs: opts.waitTimeoutMs ?? 100 });
  }

  /** The de-duplication key of a record. */
  seenKey(id: string): string {
    return `${this.seenPrefix}${id}`;
  }

  async write(records: readonly T[]): Promise<BatchResult> {
    const keys = [this.opts.streamKey];
    const args = [String(this.opts.maxLen), String(this.opts.retentionMs)];
    for (const record of records) {
      keys.push(this.seenKey(this.codec.id(record)));
      const fields = this.codec.toFields(record);
      const at = args.push('0') - 1;
      for (const k in fields) args.push(k, fields[k] as string);
      args[at] = String(args.length - at - 1);
    }
    let reply: unknown;
    const epoch = this.redis.socketEpoch;
    try {
      reply = await timed(this.opts.observe, this.opts.command ?? 'xadd', withDeadline(runScript(this.redis, WRITE_RECORDS_SCRIPT, keys, args), this.opts.timeoutMs));
    } catch (err) {
      return { done: 0, added: 0, failure: classify(err, false) };
    }
    if (!Array.isArray(reply) || reply.length !== 2) {
      return { done: 0, added: 0, failure: { kind: 'refused', code: 'REPLY', message: `unexpected script reply ${JSON.stringify(reply)}`, atRecord: false } };
    }
    const status = String(reply[0]);
    const error = String(reply[1]);
    if (this.durability.enabled && status.length > 0 && !(await this.durability.waitSince(epoch))) {
      const { replicas, timeoutMs } = this.durability.opts;
      return { done: 0, added: 0, failure: { kind: 'unavailable', code: 'NOREPLICAS', message: `written, but not on ${replicas} replica(s) within ${timeoutMs} ms (WAIT): resent until it is`, atRecord: false } };
    }
    let added = 0;
    for (let i = 0; i < status.length; i++) if (status.charCodeAt(i) === 0x31) added++;
    return { done: status.length, added, failure: error === '' ? null : classify(new ErrorReply(error), true) };
  }
}
