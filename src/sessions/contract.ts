/**
 * Redis session contract v2 (docs/redis-contract.md is the reference for backends). The keys
 * maskbridge reads on a call are v1's; v2 adds the participant index, pools and the functions
 * that write them all (src/sessions/library.lua).
 *
 *   {prefix}schema                      STRING "1"    (the key layout; v2 only adds keys and fields)
 *   {prefix}session:{id}                HASH   v a b status expires_at [created_at closed_at record label
 *                                               whisper_a whisper_b pool direction ttl_sec max_expires_at meta idem]
 *   {prefix}route:{V}:{caller}          STRING {id}       (one per direction: caller = a, caller = b)
 *   {prefix}party:{number}              HASH   V -> {id} of the participant's latest session on V
 *   {prefix}unknown:{V}                 STRING {id}       (the open session V's unknown callers get: unknown_caller)
 *   {prefix}pool:{name}                 HASH   pool settings; :numbers HASH V -> state; :active SET (+ :active:{cc})
 *   {prefix}numbers                     HASH   V -> pool
 *   {prefix}cdr                         STREAM one entry per call attempt (written by maskbridge)
 *
 * Everything here is pure: key names, validation of what is read, and the record types.
 */
import { checkTimeZone, parseWindows, type CallWindow } from './windows.js';

/**
 * E.164 shape. Stored records are checked against this on every lookup (cheap); numbers are
 * fully validated (libphonenumber-js) where they enter: the API, the CLI, SessionStore.create.
 */
const E164_SHAPE = /^\+[1-9]\d{6,14}$/;
const isE164Shape = (v: string | undefined): v is string => v !== undefined && E164_SHAPE.test(v);

export const SCHEMA_VERSION = '1';
export const SESSION_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export interface Keys {
  schema: string;
  cdr: string;
  session(id: string): string;
  route(virtualNumber: string, caller: string): string;
  pin(virtualNumber: string, pin: string): string;
  party(number: string): string;
  /** The session whose unknown_caller treatment callers with no session on V get. */
  unknown(virtualNumber: string): string;
  pool(name: string): string;
  /** SET of pool names. */
  pools: string;
  /** Pub/sub channel: mb_close publishes the session id here (src/calls/close-watch.ts). */
  closedChannel: string;
  /** ZSETs of the calls in progress of a session and on a virtual number (mb_call_admit). */
  sessionCalls(id: string): string;
  numberCalls(virtualNumber: string): string;
  sessionPrefix: string;
}

export function keys(prefix: string): Keys {
  return {
    schema: `${prefix}schema`,
    cdr: `${prefix}cdr`,
    sessionPrefix: `${prefix}session:`,
    session: (id) => `${prefix}session:${id}`,
    route: (v, caller) => `${prefix}route:${v}:${caller}`,
    pin: (v, pin) => `${prefix}pin:${v}:${pin}`,
    party: (n) => `${prefix}party:${n}`,
    unknown: (v) => `${prefix}unknown:${v}`,
    pool: (name) => `${prefix}pool:${name}`,
    pools: `${prefix}pools`,
    closedChannel: `${prefix}session-closed`,
    sessionCalls: (id) => `${prefix}calls:session:${id}`,
    numberCalls: (v) => `${prefix}calls:number:${v}`,
  };
}

export type SessionStatus = 'open' | 'closed';

export interface SessionRecord {
  id: string;
  virtualNumber: string;
  a: string;
  b: string;
  status: SessionStatus;
  /** Epoch milliseconds after which the session never connects. */
  expiresAt: number;
  /** Record calls; undefined means "use the configured default". */
  record: boolean | undefined;
  createdAt: number | undefined;
  closedAt: number | undefined;
  label: string | undefined;
  /** Audio played to A (when A is the one called) before connecting. */
  whisperA: string | undefined;
  /** Audio played to B (when B is the one called) before connecting. */
  whisperB: string | undefined;
  /** The consent prompt for this session's calls instead of media.recording.consentAnnouncement; 'none': no prompt. */
  consent: string | undefined;
  /** The pool V was allocated from (contract v2), if any. */
  pool: string | undefined;
  /** `a-to-b`: only A may call (B's calls get the unknown-caller treatment). Default both ways. */
  direction: SessionDirection;
  /** Sliding TTL (contract v2): the session lives this long past the end of its last answered call. */
  ttlSec: number | undefined;
  /** Cap on expiresAt however often it is extended or slid. */
  maxExpiresAt: number | undefined;
  /** The backend's own JSON, stored as given. */
  meta: string | undefined;
  /** When calls may connect (src/sessions/windows.ts), in `tz` (IANA; default UTC). */
  windows: CallWindow[] | undefined;
  /** The windows as stored. */
  windowsText: string | undefined;
  tz: string;
  /** This session's limits, instead of calls.maxDurationSec / calls.ringTimeoutSec. */
  maxDurationSec: number | undefined;
  ringTimeoutSec: number | undefined;
  /** Where this session's events go, instead of webhooks.defaultUrl. */
  webhookUrl: string | undefined;
  /** What unknown callers on V (and B on a one-way session) get, as stored (unknownCallerOf reads it); undefined: `reject`. */
  unknownCaller: string | undefined;
}

export type SessionDirection = 'both' | 'a-to-b';

/** A record's optional parts as a session without them has them (for code that builds records: fakes, benches). */
export const NO_OPTIONS = {
  record: undefined, createdAt: undefined, closedAt: undefined, label: undefined, whisperA: undefined, whisperB: undefined, consent: undefined,
  pool: undefined, direction: 'both', ttlSec: undefined, maxExpiresAt: undefined, meta: undefined, windows: undefined, windowsText: undefined, tz: 'UTC',
  maxDurationSec: undefined, ringTimeoutSec: undefined, webhookUrl: undefined, unknownCaller: undefined,
} as const satisfies Partial<SessionRecord>;

/** Audio file names the backend may put in a session: no spaces, no "..", nothing FreeSWITCH would parse. */
export const AUDIO_FILE_PATTERN = /^(?!.*\.\.)[A-Za-z0-9_./:-]{1,200}$/;

export type Role = 'a' | 'b';

/**
 * A session's unknown-caller treatment (field unknown_caller): `reject` (calls.unknownCaller, the
 * default), `announce:{file}` (this session's prompt, then the calls.unknownCaller rejection), or
 * `connect-a` / `connect-b` (call that participant, V as the caller ID). Any value but `reject`
 * dedicates V to the session for callers with no session on V ({prefix}unknown:{V}).
 */
export type UnknownCaller = { kind: 'reject' } | { kind: 'announce'; file: string } | { kind: 'connect'; to: Role };

export const UNKNOWN_CALLER_PATTERN = /^(?:reject|connect-a|connect-b|announce:(?!.*\.\.)[A-Za-z0-9_./:-]{1,200})$/;

/** The session's treatment; `reject` when the field is absent (or unreadable: parseSessionHash refuses that). */
export function unknownCallerOf(s: Pick<SessionRecord, 'unknownCaller'>): UnknownCaller {
  const v = s.unknownCaller;
  if (v === 'connect-a' || v === 'connect-b') return { kind: 'connect', to: v === 'connect-a' ? 'a' : 'b' };
  if (v !== undefined && v.startsWith('announce:') && UNKNOWN_CALLER_PATTERN.test(v)) return { kind: 'announce', file: v.slice('announce:'.length) };
  return { kind: 'reject' };
}

export type LookupResult =
  | { kind: 'found'; session: SessionRecord; callerRole: Role; peer: string }
  /** `dedicated`: V's open session whose unknown_caller treatment this caller gets (found on the same round trip). */
  | { kind: 'unknown'; dedicated?: SessionRecord }
  | { kind: 'closed'; session: SessionRecord; why: 'closed' | 'expired' }
  | { kind: 'malformed'; key: string; problem: string };

export class MalformedRecordError extends Error {
  override readonly name = 'MalformedRecordError';
  constructor(readonly key: string, readonly problem: string) {
    super(`malformed session record at ${key}: ${problem}`);
  }
}

function parseEpochMs(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d{1,16}$/.test(value)) return Number.NaN;
  return Number(value);
}

/** Validates a session hash as read from Redis. Throws MalformedRecordError naming the problem. */
export function parseSessionHash(key: string, id: string, hash: Record<string, string>): SessionRecord {
  const fail = (problem: string): never => {
    throw new MalformedRecordError(key, problem);
  };
  if (Object.keys(hash).length === 0) fail('session hash is missing (half-written or already expired)');
  const { v, a, b, status, expires_at: expiresAtText, record } = hash;
  if (!isE164Shape(v)) fail('field v is not an E.164 number');
  if (!isE164Shape(a)) fail('field a is not an E.164 number');
  if (!isE164Shape(b)) fail('field b is not an E.164 number');
  if (a === b) fail('fields a and b are the same number');
  if (a === v || b === v) fail('a participant equals the virtual number');
  if (status !== 'open' && status !== 'closed') fail('field status is neither "open" nor "closed"');
  const expiresAt = parseEpochMs(expiresAtText);
  if (expiresAt === undefined || Number.isNaN(expiresAt)) fail('field expires_at is not epoch milliseconds');
  if (record !== undefined && record !== '0' && record !== '1') fail('field record is neither "0" nor "1"');
  const createdAt = parseEpochMs(hash.created_at);
  const closedAt = parseEpochMs(hash.closed_at);
  if (Number.isNaN(createdAt) || Number.isNaN(closedAt)) fail('created_at/closed_at is not epoch milliseconds');
  for (const f of ['whisper_a', 'whisper_b', 'consent'] as const) {
    if (hash[f] !== undefined && !AUDIO_FILE_PATTERN.test(hash[f] as string)) fail(`field ${f} is not a plain audio file name`);
  }
  const direction = hash.direction ?? 'both';
  if (direction !== 'both' && direction !== 'a-to-b') fail('field direction is neither "both" nor "a-to-b"');
  const ttlSec = parseEpochMs(hash.ttl_sec);
  const maxExpiresAt = parseEpochMs(hash.max_expires_at);
  if (Number.isNaN(ttlSec) || ttlSec === 0) fail('field ttl_sec is not a whole number of seconds >= 1');
  if (Number.isNaN(maxExpiresAt)) fail('field max_expires_at is not epoch milliseconds');
  let windows: CallWindow[] | undefined;
  const tz = hash.tz ?? 'UTC';
  try {
    if (hash.windows !== undefined) windows = parseWindows(hash.windows);
    if (hash.tz !== undefined) checkTimeZone(tz);
  } catch (err) {
    fail(`field windows/tz: ${(err as Error).message}`);
  }
  const maxDurationSec = parseEpochMs(hash.max_duration_sec);
  const ringTimeoutSec = parseEpochMs(hash.ring_timeout_sec);
  if (Number.isNaN(maxDurationSec) || Number.isNaN(ringTimeoutSec) || maxDurationSec === 0 || ringTimeoutSec === 0) {
    fail('field max_duration_sec/ring_timeout_sec is not a whole number of seconds >= 1');
  }
  if (hash.unknown_caller !== undefined && !UNKNOWN_CALLER_PATTERN.test(hash.unknown_caller)) {
    fail('field unknown_caller is not reject, connect-a, connect-b or announce:{file}');
  }
  return {
    id,
    virtualNumber: v as string,
    a: a as string,
    b: b as string,
    status: status as SessionStatus,
    expiresAt: expiresAt as number,
    record: record === undefined ? undefined : record === '1',
    createdAt,
    closedAt,
    label: hash.label,
    whisperA: hash.whisper_a,
    whisperB: hash.whisper_b,
    consent: hash.consent,
    pool: hash.pool,
    direction: direction as SessionDirection,
    ttlSec,
    maxExpiresAt,
    meta: hash.meta,
    windows,
    windowsText: hash.windows,
    tz,
    maxDurationSec,
    ringTimeoutSec,
    webhookUrl: hash.webhook_url,
    unknownCaller: hash.unknown_caller,
  };
}

/**
 * What the lookup script returns: [] (no route), ["!wrongtype"], [id, [field, value, ...]], or on
 * a miss with V dedicated to a session's unknown callers ["!unknown", id, [field, value, ...]].
 */
export type RawLookupReply = unknown[];

/**
 * Interprets one lookup round trip for (virtualNumber, caller) at time `now`.
 * Anything inconsistent is `malformed` and never connects anyone.
 */
export function interpretLookup(
  k: Keys,
  virtualNumber: string,
  caller: string,
  reply: RawLookupReply,
  now: number,
): LookupResult {
  const routeKey = k.route(virtualNumber, caller);
  if (!Array.isArray(reply) || reply.length === 0) return { kind: 'unknown' };
  if (reply[0] === '!unknown') return dedicatedSession(k, virtualNumber, caller, reply[1], reply[2], now);
  const [id, flat] = reply;
  if (id === '!wrongtype') return { kind: 'malformed', key: routeKey, problem: 'route key is not a string' };
  if (typeof id !== 'string' || !SESSION_ID_PATTERN.test(id)) {
    return { kind: 'malformed', key: routeKey, problem: 'route value is not a session id' };
  }
  return resolveSession(k, routeKey, virtualNumber, id, flat, now, (s) => (s.a === caller ? 'a' : s.b === caller ? 'b' : null));
}

/**
 * A miss on V whose unknown-caller slot names a session: it counts only if it is open, unexpired,
 * on V and sets a treatment other than reject; anything else is the global treatment (a stale or
 * broken slot never connects anyone, and is no reason to warn on the call path).
 */
function dedicatedSession(k: Keys, virtualNumber: string, caller: string, id: unknown, flat: unknown, now: number): LookupResult {
  if (typeof id !== 'string' || !SESSION_ID_PATTERN.test(id) || !Array.isArray(flat)) return { kind: 'unknown' };
  const hash: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) hash[String(flat[i])] = String(flat[i + 1]);
  let s: SessionRecord;
  try {
    s = parseSessionHash(k.session(id), id, hash);
  } catch {
    return { kind: 'unknown' };
  }
  const t = unknownCallerOf(s);
  if (s.virtualNumber !== virtualNumber || s.status !== 'open' || s.expiresAt <= now || t.kind === 'reject') return { kind: 'unknown' };
  // Never the caller to themselves (a participant has a route; this is for a route gone missing).
  if (t.kind === 'connect' && s[t.to] === caller) return { kind: 'unknown' };
  return { kind: 'unknown', dedicated: s };
}

/**
 * Interprets a PIN lookup: the PIN key holds "{sessionId}:{a|b}", the participant the caller
 * speaks for (e.g. a customer calling from another phone); the call goes to the other one.
 */
export function interpretPinLookup(k: Keys, virtualNumber: string, pin: string, reply: RawLookupReply, now: number): LookupResult {
  const pinKey = k.pin(virtualNumber, pin);
  if (!Array.isArray(reply) || reply.length === 0) return { kind: 'unknown' };
  const [value, flat] = reply;
  if (value === '!wrongtype') return { kind: 'malformed', key: pinKey, problem: 'PIN key is not a string' };
  const m = typeof value === 'string' ? /^([A-Za-z0-9._:-]{1,128}):([ab])$/.exec(value) : null;
  if (!m) return { kind: 'malformed', key: pinKey, problem: 'PIN value is not "{sessionId}:a" or "{sessionId}:b"' };
  const role = m[2] as Role;
  return resolveSession(k, pinKey, virtualNumber, m[1] as string, flat, now, () => role);
}

function resolveSession(
  k: Keys,
  refKey: string,
  virtualNumber: string,
  id: string,
  flat: unknown,
  now: number,
  roleOf: (s: SessionRecord) => Role | null,
): LookupResult {
  const routeKey = refKey;
  const sessionKey = k.session(id);
  if (!Array.isArray(flat)) return { kind: 'malformed', key: sessionKey, problem: 'session key is not a hash' };
  const hash: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) hash[String(flat[i])] = String(flat[i + 1]);
  let session: SessionRecord;
  try {
    session = parseSessionHash(sessionKey, id, hash);
  } catch (err) {
    if (err instanceof MalformedRecordError) return { kind: 'malformed', key: err.key, problem: err.problem };
    throw err;
  }
  if (session.virtualNumber !== virtualNumber) {
    return { kind: 'malformed', key: routeKey, problem: 'route points to a session on another virtual number' };
  }
  const callerRole = roleOf(session);
  if (!callerRole) return { kind: 'malformed', key: routeKey, problem: 'route points to a session the caller is not part of' };
  if (session.status === 'closed') return { kind: 'closed', session, why: 'closed' };
  if (session.expiresAt <= now) return { kind: 'closed', session, why: 'expired' };
  return { kind: 'found', session, callerRole, peer: callerRole === 'a' ? session.b : session.a };
}

/**
 * The lookup: one round trip. KEYS[1] = route key, KEYS[2] = V's unknown-caller slot (read only
 * on a miss), ARGV[1] = session key prefix.
 */
export const LOOKUP_SCRIPT = `
local ok, id = pcall(redis.call, 'GET', KEYS[1])
if not ok then return {'!wrongtype'} end
if not id then
  -- A miss: the session V is dedicated to for unknown callers, if any (same round trip).
  if not KEYS[2] then return {} end
  local okU, u = pcall(redis.call, 'GET', KEYS[2])
  if not okU or not u then return {} end
  local okH, hu = pcall(redis.call, 'HGETALL', ARGV[1] .. u)
  if not okH then return {} end
  return {'!unknown', u, hu}
end
local ok2, h = pcall(redis.call, 'HGETALL', ARGV[1] .. id)
if not ok2 then return {id, 0} end
return {id, h}
`;

/** The PIN lookup: one round trip. KEYS[1] = PIN key, ARGV[1] = session key prefix. */
export const PIN_LOOKUP_SCRIPT = `
local ok, v = pcall(redis.call, 'GET', KEYS[1])
if not ok then return {'!wrongtype'} end
if not v then return {} end
local id = string.match(v, '^(.*):[ab]$')
if not id then return {v, 0} end
local ok2, h = pcall(redis.call, 'HGETALL', ARGV[1] .. id)
if not ok2 then return {v, 0} end
return {v, h}
`;

/* Create, allocate, close, extend and the pool operations are Redis functions: src/sessions/library.lua. */
