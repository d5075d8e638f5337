/**
 * The outbox's Redis keys and the scripts that move an entry between its states
 * (docs/webhooks.md, "Redis keys"):
 *
 *   {p}events           the outbox stream; consumer group `webhooks`. An entry is new, or pending
 *                       (read by a dispatcher, in the group's PEL), or scheduled (acknowledged in
 *                       the group, its id in {p}events:retry). A delivered entry is deleted.
 *   {p}events:retry     ZSET of scheduled entry ids; score = when it is due, or, once a
 *                       dispatcher has claimed it, when that claim's lease runs out
 *   {p}events:attempts  HASH entry id -> failed attempts so far
 *   {p}events:dead      HASH dead-letter key (the event id) -> JSON {fields, attempts, error, ...}
 *   {p}events:seen:{id} the producer's de-duplication marks (src/spool/redis-stream.ts)
 *
 * Every move is one script, so a crash between two steps cannot happen: an entry is always in
 * exactly one of pending, scheduled, dead (or deleted once delivered).
 */
import type { Redis } from '../sessions/redis.js';
import { runScript, withDeadline } from '../sessions/redis.js';

export const WEBHOOK_GROUP = 'webhooks';

export interface OutboxKeys {
  stream: string;
  retry: string;
  attempts: string;
  dead: string;
}

export function outboxKeys(prefix: string): OutboxKeys {
  return { stream: `${prefix}events`, retry: `${prefix}events:retry`, attempts: `${prefix}events:attempts`, dead: `${prefix}events:dead` };
}

/** A dead letter as stored in {p}events:dead (JSON). `fields` hold the entry as it was (numbers included: never print them). */
export interface DeadLetter {
  key: string;
  entryId: string;
  fields: Record<string, string>;
  attempts: number;
  error: string;
  /** 'failed' (maxAttempts reached) or 'malformed' (the entry cannot be delivered). */
  reason: 'failed' | 'malformed';
  deadAt: number;
}

/**
 * KEYS stream, retry, attempts. ARGV group, entry id, ... (up to DONE_BATCH). Delivered (or
 * dropped): acknowledged and deleted, several entries in one round trip.
 */
export const DONE_SCRIPT = `
local ids = {unpack(ARGV, 2)}
redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
redis.call('XDEL', KEYS[1], unpack(ids))
redis.call('ZREM', KEYS[2], unpack(ids))
redis.call('HDEL', KEYS[3], unpack(ids))
return #ids
`;

/** Entries acknowledged by one DONE_SCRIPT call at most. */
export const DONE_BATCH = 256;

/** KEYS stream, retry, attempts. ARGV group, entry id, due (ms), attempts. Pending or claimed -> scheduled. */
export const RETRY_SCRIPT = `
if #redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2]) == 0 then
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('HDEL', KEYS[3], ARGV[2])
  return 0
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[4])
return 1
`;

/** KEYS stream, retry, attempts, dead. ARGV group, entry id, dead key, dead-letter JSON. -> dead. */
export const DEAD_SCRIPT = `
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
redis.call('HSET', KEYS[4], ARGV[3], ARGV[4])
return 1
`;

/**
 * KEYS retry, stream, attempts. ARGV now, lease until, count. Claims up to `count` due entries
 * by moving their score to the end of a lease (a dispatcher that dies with them lets the lease
 * run out, and they are due again). Returns {{entry id, attempts, {field, value, ...}}, ...};
 * ids whose entry is gone are dropped.
 */
export const CLAIM_DUE_SCRIPT = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, m in ipairs(due) do
  local e = redis.call('XRANGE', KEYS[2], m, m)
  if #e == 0 then
    redis.call('ZREM', KEYS[1], m)
    redis.call('HDEL', KEYS[3], m)
  else
    redis.call('ZADD', KEYS[1], ARGV[2], m)
    out[#out + 1] = {m, redis.call('HGET', KEYS[3], m) or '0', e[1][2]}
  end
end
return out
`;

/** KEYS dead, stream. ARGV dead key. Dead letter -> a new outbox entry with the same fields (same event id, attempts from 0). */
export const REPLAY_SCRIPT = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local ok, d = pcall(cjson.decode, v)
if not ok or type(d) ~= 'table' or type(d.fields) ~= 'table' then return redis.error_reply('ERR dead letter ' .. ARGV[1] .. ' is not readable') end
local args = {}
for k, val in pairs(d.fields) do
  args[#args + 1] = tostring(k)
  args[#args + 1] = tostring(val)
end
if #args == 0 then args = {'id', ''} end
redis.call('XADD', KEYS[2], '*', unpack(args))
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
`;

/** Field/value pairs of a raw stream entry reply into an object. */
export function fieldsOf(raw: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(raw)) return out;
  for (let i = 0; i + 1 < raw.length; i += 2) out[String(raw[i])] = String(raw[i + 1]);
  return out;
}

export interface OutboxStats {
  /** Entries in the outbox stream (new, pending or scheduled: every event not yet delivered or dead). */
  depth: number;
  /** Read by a dispatcher and not yet delivered, scheduled or dead. */
  pending: number;
  /** Waiting for a retry. */
  retries: number;
  dead: number;
}

/** Inspection and replay of the outbox, for the CLI (src/cli/event-commands.ts). Every call has a deadline. */
export class OutboxAdmin {
  readonly keys: OutboxKeys;

  constructor(private readonly redis: Redis, prefix: string, private readonly timeoutMs: number) {
    this.keys = outboxKeys(prefix);
  }

  async stats(): Promise<OutboxStats> {
    const [depth, pending, retries, dead] = await withDeadline(Promise.all([
      this.redis.sendCommand(['XLEN', this.keys.stream]),
      this.redis.sendCommand(['XPENDING', this.keys.stream, WEBHOOK_GROUP]).catch((err: Error) => {
        if (String(err.message).startsWith('NOGROUP')) return [0];
        throw err;
      }),
      this.redis.sendCommand(['ZCARD', this.keys.retry]),
      this.redis.sendCommand(['HLEN', this.keys.dead]),
    ]), this.timeoutMs);
    return { depth: Number(depth), pending: Number((pending as unknown[])[0] ?? 0), retries: Number(retries), dead: Number(dead) };
  }

  /** Dead letters, a page of `count` from `cursor` (HSCAN); unreadable ones are listed with what can be read. */
  async dead(cursor = '0', count = 500): Promise<{ letters: DeadLetter[]; next: string }> {
    const reply = await withDeadline(this.redis.sendCommand(['HSCAN', this.keys.dead, cursor, 'COUNT', String(count)]), this.timeoutMs) as [unknown, unknown[]];
    const flat = reply[1];
    const letters: DeadLetter[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) letters.push(readDead(String(flat[i]), String(flat[i + 1])));
    return { letters, next: String(reply[0]) };
  }

  /** Moves one dead letter back to delivery (a new entry, attempts from 0); false when there is none by that key. */
  async replay(key: string): Promise<boolean> {
    const r = await withDeadline(runScript(this.redis, REPLAY_SCRIPT, [this.keys.dead, this.keys.stream], [key]), this.timeoutMs);
    return Number(r) === 1;
  }
}

export function readDead(key: string, json: string): DeadLetter {
  try {
    const d = JSON.parse(json) as Partial<DeadLetter>;
    return {
      key,
      entryId: String(d.entryId ?? ''),
      fields: typeof d.fields === 'object' && d.fields !== null ? d.fields : {},
      attempts: Number(d.attempts ?? 0),
      error: String(d.error ?? ''),
      reason: d.reason === 'malformed' ? 'malformed' : 'failed',
      deadAt: Number(d.deadAt ?? 0),
    };
  } catch {
    return { key, entryId: '', fields: {}, attempts: 0, error: 'unreadable dead letter', reason: 'malformed', deadAt: 0 };
  }
}
