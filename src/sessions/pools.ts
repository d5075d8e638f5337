/**
 * Number pools (contract v2): named sets of virtual numbers that `mb_allocate` picks from.
 * Each number has a state: active (allocated), reserved (only when named explicitly),
 * draining (no new sessions; open ones run to their end) or quarantined (out of rotation,
 * e.g. flagged as spam by carriers). The rules run in Redis (src/sessions/library.lua).
 */
import { isE164 } from '../numbers/normalise.js';
import { fromReply, NotFoundError, SessionInputError } from './errors.js';
import { keys as contractKeys, type Keys } from './contract.js';
import { StoreHealth } from './health.js';
import { fcall } from './library.js';
import { runScript, withDeadline, type Redis } from './redis.js';

export const POOL_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
export type NumberState = 'active' | 'reserved' | 'draining' | 'quarantined';
export const NUMBER_STATES: readonly NumberState[] = ['active', 'reserved', 'draining', 'quarantined'];

export interface PoolSettings {
  /** prefer-sticky: the pair's earlier number first; avoid-sticky: another one when there is one. */
  select: 'prefer-sticky' | 'avoid-sticky';
  /** A number freed from a participant's session goes to them with another counterparty only after this. */
  coolOffSec: number;
  /** country: match A's E.164 country calling code. */
  geo: 'none' | 'country';
  /** With geo: any = fall back to the whole pool; none = exhausted instead. */
  geoFallback: 'any' | 'none';
}

export interface PoolInfo extends PoolSettings {
  name: string;
  counts: Record<NumberState, number>;
}

/** At most this many pools are counted for the metrics (label cardinality); the first by name. */
export const MAX_POOLS_COUNTED = 200;

/**
 * Every pool's numbers by state, in one round trip: Redis walks each pool's numbers hash (HVALS,
 * O(numbers)) and returns only the four counts, so nothing per number crosses the wire.
 */
const STATE_COUNTS_SCRIPT = `
local names = redis.call('SMEMBERS', KEYS[1])
table.sort(names)
local out = {}
for i = 1, math.min(#names, tonumber(ARGV[2])) do
  local c = { active = 0, reserved = 0, draining = 0, quarantined = 0 }
  for _, s in ipairs(redis.call('HVALS', ARGV[1] .. 'pool:' .. names[i] .. ':numbers')) do
    if c[s] then c[s] = c[s] + 1 end
  end
  table.insert(out, { names[i], c.active, c.reserved, c.draining, c.quarantined })
end
return out
`;

const SETTING_FIELDS: Array<[keyof PoolSettings, string]> = [['select', 'select'], ['coolOffSec', 'cool_off_sec'], ['geo', 'geo'], ['geoFallback', 'geo_fallback']];

export class PoolStore {
  readonly keys: Keys;

  constructor(private readonly redis: Redis, private readonly prefix: string, private readonly timeoutMs: number, readonly health: StoreHealth = new StoreHealth()) {
    this.keys = contractKeys(prefix);
  }

  /** Creates the pool, or changes the settings given. */
  async set(name: string, settings: Partial<PoolSettings>): Promise<PoolInfo> {
    checkName(name);
    const args: string[] = [];
    for (const [k, field] of SETTING_FIELDS) if (settings[k] !== undefined) args.push(field, String(settings[k]));
    await this.op('mb_pool_set', name, args);
    return this.mustGet(name);
  }

  /** Adds numbers (all or none: an invalid one is named, and nothing is written). */
  async add(name: string, numbers: string[], state: 'active' | 'reserved' = 'active'): Promise<number> {
    checkName(name);
    checkNumbers(numbers);
    const r = await this.op('mb_pool_add', name, [state, ...numbers]);
    return Number(r[1]);
  }

  async setState(name: string, numbers: string[], state: NumberState): Promise<void> {
    checkName(name);
    checkNumbers(numbers);
    await this.op('mb_pool_state', name, [state, ...numbers]);
  }

  async remove(name: string, numbers: string[]): Promise<void> {
    checkName(name);
    checkNumbers(numbers);
    await this.op('mb_pool_remove', name, numbers);
  }

  async get(name: string): Promise<PoolInfo | null> {
    checkName(name);
    const settings = await this.bounded('hgetall', this.redis.hGetAll(this.keys.pool(name)));
    if (Object.keys(settings).length === 0) return null;
    const states = await this.bounded('hvals', this.redis.hVals(`${this.keys.pool(name)}:numbers`));
    const counts = { active: 0, reserved: 0, draining: 0, quarantined: 0 } as Record<NumberState, number>;
    for (const s of states) if (s in counts) counts[s as NumberState]++;
    return {
      name,
      select: settings.select === 'avoid-sticky' ? 'avoid-sticky' : 'prefer-sticky',
      coolOffSec: Number(settings.cool_off_sec ?? 0),
      geo: settings.geo === 'country' ? 'country' : 'none',
      geoFallback: settings.geo_fallback === 'none' ? 'none' : 'any',
      counts,
    };
  }

  async list(): Promise<PoolInfo[]> {
    const names = (await this.bounded('smembers', this.redis.sMembers(this.keys.pools))).sort();
    const out: PoolInfo[] = [];
    for (const n of names) {
      const p = await this.get(n);
      if (p) out.push(p);
    }
    return out;
  }

  /** The pool's numbers and their states, sorted by number. */
  async numbers(name: string): Promise<Array<{ number: string; state: NumberState }>> {
    await this.mustGet(name);
    const all = await this.bounded('hgetall', this.redis.hGetAll(`${this.keys.pool(name)}:numbers`));
    return Object.entries(all).map(([number, state]) => ({ number, state: state as NumberState })).sort((x, y) => x.number.localeCompare(y.number));
  }

  /**
   * Numbers by state in every pool (at most MAX_POOLS_COUNTED), for the pool metrics. Unbounded
   * here: the caller (src/metrics/cached-poll.ts) puts its deadline on it, and times it.
   */
  async stateCounts(): Promise<Array<{ pool: string; counts: Record<NumberState, number> }>> {
    const reply = (await runScript(this.redis, STATE_COUNTS_SCRIPT, [this.keys.pools], [this.prefix, String(MAX_POOLS_COUNTED)])) as unknown[][];
    return reply.map((r) => ({
      pool: String(r[0]),
      counts: { active: Number(r[1]), reserved: Number(r[2]), draining: Number(r[3]), quarantined: Number(r[4]) },
    }));
  }

  private async mustGet(name: string): Promise<PoolInfo> {
    const p = await this.get(name);
    if (!p) throw new NotFoundError(`no pool ${name}`);
    return p;
  }

  private async op(fn: string, name: string, args: string[]): Promise<string[]> {
    return fromReply((await this.bounded(fn, fcall(this.redis, fn, [this.keys.pool(name)], args))) as unknown[]);
  }

  private bounded<T>(command: string, work: Promise<T>): Promise<T> {
    return this.health.track(withDeadline(work, this.timeoutMs * 4), command);
  }
}

function checkName(name: string): void {
  if (!POOL_NAME_PATTERN.test(name)) throw new SessionInputError('pool', 'must match [A-Za-z0-9._-]{1,64}');
}

function checkNumbers(numbers: string[]): void {
  if (numbers.length === 0) throw new SessionInputError('numbers', 'give at least one number');
  if (numbers.length > 10_000) throw new SessionInputError('numbers', 'at most 10000 numbers per request');
  for (const n of numbers) if (!isE164(n)) throw new SessionInputError('numbers', `"${n}" is not an E.164 number`);
}
