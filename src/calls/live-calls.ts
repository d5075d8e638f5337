/**
 * The live-call registry in Redis: which instance holds each connected call, so that the API
 * and the CLI of any instance can list calls across instances and hang one up, and so that the
 * calls of an instance that dies are ended by another (src/calls/takeover.ts).
 *
 *   {prefix}calls                HASH   call id (keyed hash) -> JSON LiveCallEntry
 *   {prefix}instance:{id}        STRING heartbeat, PX 3 x heartbeatMs: the instance is alive
 *   {prefix}instance-calls:{id}  SET    the call ids of that instance's entries
 *   {prefix}instances            HASH   instance id -> the drachtio-server its calls are on
 *   {prefix}hangup               CHANNEL a call id: the instance holding it hangs it up
 *
 * Writes happen when a call connects and when it ends, never on the way to the B-leg; they are
 * bounded and a failure is logged, never felt by the call. An entry whose instance stopped
 * beating (it crashed) is left out of listings, and stays until a survivor takes it over.
 *
 * An entry carries what a survivor needs to end the call (LostCallData): drachtio-server's ids
 * of the call's dialogs, which hold the raw Call-IDs (carriers put numbers in them). Like the
 * sessions, the registry is internal to Redis; the API and the CLI never show that part.
 */
import type { Cdr } from '../cdr/cdr.js';
import type { Logger } from '../log/logger.js';
import { runScript, type Redis } from '../sessions/redis.js';
import { withDeadline } from '../util/deadline.js';
import { timed, type RedisObserver } from '../util/timing.js';

export interface LiveCall {
  callId: string;
  instance: string;
  sessionId: string;
  virtualNumber: string;
  direction: string;
  startedAt: string;
  answeredAt: string;
}

/** What a survivor needs to end a call whose instance died (never listed by the API or the CLI). */
export interface LostCallData {
  /** The drachtio-server holding the call's dialogs (drachtio.host:port, as configured). */
  server: string;
  /** drachtio-server's ids of the call's dialogs: the caller's, the callee's, then the media server's channels. */
  dialogs: string[];
  /**
   * A call still being set up (answeredAt ''): drachtio-server's ids of the caller's INVITE
   * transaction (a survivor answers it 503) and of the callee's (a survivor CANCELs it). Absent
   * once connected, and in entries written before 0.5.
   */
  setup?: { caller: string; callee: string };
  media: Cdr['media'];
  /** The session's TTL slides from the end of its last answered call (the survivor refreshes it). */
  slidingTtl: boolean;
  /**
   * The id the call's own CDR will have: the survivor writes under it, so an instance that was
   * only cut off from Redis (taken for dead, its calls ended) cannot add a second CDR later.
   * Absent in entries written before 0.3.
   */
  cdrId?: string;
  /**
   * Where the call's webhook events go (the session's URL, '' for the default) and the numbers
   * they may carry, so a survivor's call.completed reaches the same receiver. Absent without
   * webhooks, and in entries written before 0.4.
   */
  events?: { url: string; parties: Record<string, string> };
  /**
   * The call is recorded, its file named from answeredAt (src/media/recording.ts): a survivor
   * renames what FreeSWITCH wrote into place once its BYEs have closed it.
   */
  recorded?: boolean;
}

/** A registry entry as stored. */
export interface LiveCallEntry extends LiveCall {
  lost?: LostCallData;
}

/** What a call tells the registry (CallDeps.liveCalls). */
export interface LiveCallSink {
  /** The call connected, or (answeredAt '') its B-leg INVITE went out; written again at answer. */
  connected(call: LiveCall, lost?: Omit<LostCallData, 'server'>): void;
  ended(callId: string): void;
}

export interface LiveCallKeys {
  calls: string;
  instance(id: string): string;
  instanceCalls(id: string): string;
  instances: string;
  hangupChannel: string;
}

export const liveCallKeys = (prefix: string): LiveCallKeys => ({
  calls: `${prefix}calls`,
  instance: (id) => `${prefix}instance:${id}`,
  instanceCalls: (id) => `${prefix}instance-calls:${id}`,
  instances: `${prefix}instances`,
  hangupChannel: `${prefix}hangup`,
});

/**
 * KEYS: calls, instance-calls:{me}, instances, instance:{me}. ARGV: call id, entry JSON, me,
 * server, heartbeat PX. The heartbeat is written with the entry: an instance is never listed
 * with a call and without a heartbeat (its first beat may not have reached Redis yet).
 */
const REGISTER_SCRIPT = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
redis.call('SET', KEYS[4], ARGV[6], 'PX', ARGV[5])
return 1`;

/** KEYS: calls, instance-calls:{me}. ARGV: call id. */
const UNREGISTER_SCRIPT = `
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[1])
return 1`;

/**
 * The claim: KEYS heartbeat of the instance, its instance-calls set, calls, instances. ARGV the
 * instance id, the most to take. While the instance beats, nothing. Otherwise SPOP takes up to
 * that many of its call ids, and their entries are removed and returned: one script, so of two
 * survivors racing each call goes to exactly one. The instance leaves the instances table once
 * it has no entries left.
 */
const CLAIM_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return {} end
local ids = redis.call('SPOP', KEYS[2], tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  local e = redis.call('HGET', KEYS[3], id)
  if e then
    redis.call('HDEL', KEYS[3], id)
    out[#out + 1] = e
  end
end
if redis.call('SCARD', KEYS[2]) == 0 then redis.call('HDEL', KEYS[4], ARGV[1]) end
return out`;

/**
 * Takes up to `max` of a dead instance's registry entries (none while it beats). Resolves with
 * the entries now owned by the caller (removed from Redis); unreadable ones are dropped.
 */
export async function claimCalls(redis: Redis, keys: LiveCallKeys, instance: string, opts: { max: number; timeoutMs: number }): Promise<LiveCallEntry[]> {
  const reply = await withDeadline(runScript(redis, CLAIM_SCRIPT, [keys.instance(instance), keys.instanceCalls(instance), keys.calls, keys.instances], [instance, String(opts.max)]), opts.timeoutMs);
  const entries: LiveCallEntry[] = [];
  for (const text of reply as string[]) {
    const entry = parseEntry(text);
    if (entry) entries.push(entry);
  }
  return entries;
}

function parseEntry(text: string): LiveCallEntry | null {
  try {
    const v = JSON.parse(text) as LiveCallEntry;
    return typeof v === 'object' && v !== null && typeof v.callId === 'string' && typeof v.instance === 'string' ? v : null;
  } catch {
    return null;
  }
}

/** Every this many beats an instance checks its registry entries against the calls it holds. */
export const RECONCILE_BEATS = 3;

export class LiveCallRegistry implements LiveCallSink {
  private timer: NodeJS.Timeout | null = null;
  readonly keys: LiveCallKeys;
  /** The calls this instance holds: call id -> its entry's register arguments. */
  private readonly live = new Map<string, string[]>();
  private beats = 0;
  private reconciling = false;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    readonly instanceId: string,
    private readonly log: Logger,
    /**
     * server: the drachtio-server this instance's calls are on (entries name it; survivors take
     * over only calls on their own server). observe: told each write's round trip
     * (maskbridge_redis_command_seconds{command="live_register"|"live_unregister"|"live_heartbeat"}).
     */
    private readonly opts: { heartbeatMs: number; timeoutMs: number; server?: string; observe?: RedisObserver },
  ) {
    this.keys = liveCallKeys(prefix);
  }

  /** Starts the heartbeat. */
  start(): void {
    const beat = () => {
      this.bounded(this.redis.set(this.keys.instance(this.instanceId), String(Date.now()), { PX: this.opts.heartbeatMs * 3 }), 'heartbeat');
      if (++this.beats % RECONCILE_BEATS === 0) void this.reconcile();
    };
    beat();
    this.timer = setInterval(beat, this.opts.heartbeatMs);
    this.timer.unref();
  }

  /** Stops the heartbeat and says this instance is gone (its calls have ended by then). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await withDeadline(this.redis.del(this.keys.instance(this.instanceId)), this.opts.timeoutMs).catch(() => undefined);
  }

  connected(call: LiveCall, lost?: Omit<LostCallData, 'server'>): void {
    const entry: LiveCallEntry = { ...call, instance: this.instanceId, ...(lost ? { lost: { ...lost, server: this.opts.server ?? '' } } : {}) };
    const args = [call.callId, JSON.stringify(entry), this.instanceId, this.opts.server ?? '', String(this.opts.heartbeatMs * 3)];
    this.live.set(call.callId, args);
    this.register(args);
  }

  ended(callId: string): void {
    this.live.delete(callId);
    this.bounded(runScript(this.redis, UNREGISTER_SCRIPT, [this.keys.calls, this.keys.instanceCalls(this.instanceId)], [callId]), 'unregister');
  }

  private register(args: string[]): void {
    const keys = [this.keys.calls, this.keys.instanceCalls(this.instanceId), this.keys.instances, this.keys.instance(this.instanceId)];
    this.bounded(runScript(this.redis, REGISTER_SCRIPT, keys, [...args, String(Date.now())]), 'register');
  }

  /**
   * The entries in Redis follow the calls held here: a register or unregister that failed (Redis
   * away, a command past its deadline) or that a failover lost (replication is asynchronous) is
   * made good within RECONCILE_BEATS beats. Both scripts are idempotent, so one racing a call's
   * own write does no harm. One SMEMBERS of this instance's own set when nothing is amiss.
   */
  async reconcile(): Promise<{ added: number; removed: number }> {
    if (this.reconciling) return { added: 0, removed: 0 };
    this.reconciling = true;
    try {
      const inRedis = new Set(await withDeadline(this.redis.sMembers(this.keys.instanceCalls(this.instanceId)), this.opts.timeoutMs));
      let added = 0;
      let removed = 0;
      for (const [callId, args] of this.live) {
        if (inRedis.has(callId)) continue;
        this.register(args);
        added++;
      }
      for (const callId of inRedis) {
        if (this.live.has(callId)) continue;
        this.bounded(runScript(this.redis, UNREGISTER_SCRIPT, [this.keys.calls, this.keys.instanceCalls(this.instanceId)], [callId]), 'unregister');
        removed++;
      }
      if (added + removed > 0) this.log.warn({ added, removed }, 'live-call registry repaired: entries written again or removed (a write failed or a Redis failover lost it)');
      return { added, removed };
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'live-call registry not checked; trying again in a few beats');
      return { added: 0, removed: 0 };
    } finally {
      this.reconciling = false;
    }
  }

  private bounded(work: Promise<unknown>, what: string): void {
    timed(this.opts.observe, `live_${what}`, withDeadline(work, this.opts.timeoutMs)).catch((err: Error) => this.log.warn({ err: err.message, what }, 'live-call registry write failed'));
  }
}

/** Listing and hanging up, for the API and the CLI (any instance, or none: the CLI). */
export class LiveCalls {
  readonly keys: LiveCallKeys;

  constructor(private readonly redis: Redis, prefix: string, private readonly timeoutMs: number) {
    this.keys = liveCallKeys(prefix);
  }

  /**
   * Every live call on a live instance. Entries of instances that stopped beating are left out,
   * and left in Redis: a survivor takes them over (src/calls/takeover.ts). Unreadable ones are dropped.
   */
  async list(filter: { sessionId?: string } = {}): Promise<LiveCall[]> {
    const all = await withDeadline(this.redis.hGetAll(this.keys.calls), this.timeoutMs);
    const calls: LiveCall[] = [];
    const stale: string[] = [];
    const alive = new Map<string, boolean>();
    for (const [id, text] of Object.entries(all)) {
      const entry = parseEntry(text);
      if (!entry) {
        stale.push(id);
        continue;
      }
      if (!alive.has(entry.instance)) alive.set(entry.instance, (await withDeadline(this.redis.exists(this.keys.instance(entry.instance)), this.timeoutMs)) === 1);
      // Calls still being set up are in the registry too (answeredAt ''): not listed as live.
      if (alive.get(entry.instance) && entry.answeredAt !== '' && (!filter.sessionId || entry.sessionId === filter.sessionId)) {
        const { lost: _lost, ...call } = entry; // the dialog ids hold raw Call-IDs: never shown
        calls.push(call);
      }
    }
    if (stale.length > 0) await withDeadline(this.redis.hDel(this.keys.calls, stale), this.timeoutMs).catch(() => undefined);
    return calls.sort((x, y) => x.startedAt.localeCompare(y.startedAt));
  }

  /** Asks the instance holding the call to hang it up; false when no live instance holds it. */
  async hangup(callId: string): Promise<boolean> {
    const text = await withDeadline(this.redis.hGet(this.keys.calls, callId), this.timeoutMs);
    if (!text) return false;
    const receivers = await withDeadline(this.redis.publish(this.keys.hangupChannel, callId), this.timeoutMs);
    return receivers > 0;
  }
}
