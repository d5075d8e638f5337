import {
  LOOKUP_SCRIPT,
  PIN_LOOKUP_SCRIPT,
  SESSION_ID_PATTERN,
  UNKNOWN_CALLER_PATTERN,
  interpretLookup,
  interpretPinLookup,
  keys as contractKeys,
  parseSessionHash,
  type Keys,
  type LookupResult,
  type SessionRecord,
} from './contract.js';
import { isE164 } from '../numbers/normalise.js';
import type { SessionDirection } from './contract.js';
import { checkTimeZone, parseWindows } from './windows.js';
import { StoreHealth } from './health.js';
import { fromReply, NotFoundError, SessionInputError } from './errors.js';
import { checkWebhookUrl } from '../events/events.js';
import { fcall } from './library.js';
import { runScript, StoreUnavailableError, withDeadline, type Redis } from './redis.js';

/** What the call path needs: one round trip from (V, caller) to a decision input. */
export interface SessionLookup {
  /** Resolves the pair; throws StoreUnavailableError when Redis cannot answer in time. */
  lookup(virtualNumber: string, caller: string): Promise<LookupResult>;
  /** Resolves a PIN entered on V to a session and the participant the caller speaks for. */
  lookupByPin(virtualNumber: string, pin: string): Promise<LookupResult>;
  /**
   * Whether session `id` may still connect a call now (asked again once the callee answered:
   * it may have closed or expired while the callee rang). One round trip; throws
   * StoreUnavailableError when Redis cannot answer in time.
   */
  recheck(id: string): Promise<RecheckResult>;
  /** A sliding session's answered call ended at `endedAt` (after the call: never on the way to the B-leg). */
  touch?(id: string, endedAt: number): Promise<void>;
  /** Counts a call against the fleet-wide limits (one round trip, call-path deadline); 'session' or 'number' when over one. */
  admit?(req: AdmitRequest): Promise<AdmitVerdict>;
  /** The call ended: it no longer counts. */
  release?(req: Omit<AdmitRequest, 'leaseMs' | 'maxPerSession' | 'maxPerNumber'>): Promise<void>;
}

export interface AdmitRequest {
  sessionId: string;
  virtualNumber: string;
  callId: string;
  /** The call stops counting after this long even if never released (an instance that died). */
  leaseMs: number;
  /** 0 = no limit. */
  maxPerSession: number;
  maxPerNumber: number;
}

export type AdmitVerdict = 'ok' | 'session' | 'number';

/** `gone`: the session hash is missing or breaks the contract; it never connects. */
export type RecheckResult = 'open' | 'closed' | 'expired' | 'gone';

export interface NewSessionBase {
  id: string;
  a: string;
  b: string;
  /** Epoch ms after which calls never connect. */
  expiresAt: number;
  /** How long keys stay after expiry so late calls get the "session ended" treatment. Default 24 h. */
  retainMs?: number;
}

/** What a backend may set on a session besides its participants and expiry (contract v2 fields). */
export interface SessionOptions {
  record?: boolean;
  label?: string;
  whisperA?: string;
  whisperB?: string;
  /** Consent prompt for this session's calls ('none': no prompt), instead of media.recording.consentAnnouncement. */
  consent?: string;
  direction?: SessionDirection;
  /** Sliding TTL: the session lives this long past the end of its last answered call. */
  ttlSec?: number;
  maxExpiresAt?: number;
  /** JSON text, kept for the backend. */
  meta?: string;
  /** Time-of-day windows (src/sessions/windows.ts), e.g. "mon-fri 08:00-20:00", in `tz` (IANA; default UTC). */
  windows?: string;
  tz?: string;
  /** Limits of this session's calls, instead of calls.maxDurationSec (never longer) and calls.ringTimeoutSec. */
  maxDurationSec?: number;
  ringTimeoutSec?: number;
  /** Where this session's events go (webhooks), instead of webhooks.defaultUrl; receives participant numbers. */
  webhookUrl?: string;
  /**
   * What callers with no session on V (and B on a one-way session) get: `reject` (calls.unknownCaller),
   * `announce:{file}`, `connect-a` or `connect-b`. Any but `reject` dedicates V to this session ('' on update: removed).
   */
  unknownCaller?: string;
}

export interface NewSession extends NewSessionBase, SessionOptions {
  virtualNumber: string;
}

/** A session whose virtual number the pool picks (contract v2 `mb_allocate`). */
export interface NewAllocation extends NewSessionBase, SessionOptions {
  pool: string;
  /** '' = the pool's setting; 'none'; 'country' (A's country calling code); or '+{code}'. */
  geo?: string;
}

const OPTION_FIELDS: Array<[keyof SessionOptions, string]> = [
  ['record', 'record'], ['label', 'label'], ['whisperA', 'whisper_a'], ['whisperB', 'whisper_b'], ['consent', 'consent'], ['direction', 'direction'],
  ['ttlSec', 'ttl_sec'], ['maxExpiresAt', 'max_expires_at'], ['meta', 'meta'], ['windows', 'windows'], ['tz', 'tz'],
  ['maxDurationSec', 'max_duration_sec'], ['ringTimeoutSec', 'ring_timeout_sec'], ['webhookUrl', 'webhook_url'], ['unknownCaller', 'unknown_caller'],
];

/** The hash fields for `o` ('' for an option explicitly cleared on update). */
export function optionFields(o: SessionOptions): string[] {
  const out: string[] = [];
  for (const [name, field] of OPTION_FIELDS) {
    const v = o[name];
    if (v === undefined) continue;
    out.push(field, typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
  }
  return out;
}

export { ConflictError, NotFoundError, NumberUnavailableError, PoolExhaustedError, SessionConflictError, SessionExistsError, SessionInputError, UnknownCallerTakenError } from './errors.js';

export const DEFAULT_RETAIN_MS = 24 * 3600 * 1000;

/** The TypeScript implementation of the Redis session contract (docs/redis-contract.md). */
export class SessionStore implements SessionLookup {
  readonly keys: Keys;

  constructor(
    private readonly redis: Redis,
    readonly prefix: string,
    /** Bound on one round trip; past it a lookup fails closed (and the API answers 503). */
    private readonly timeoutMs: number,
    private readonly now: () => number = Date.now,
    /** Told the outcome of every command (src/sessions/health.ts). */
    readonly health: StoreHealth = new StoreHealth(now),
  ) {
    this.keys = contractKeys(prefix);
  }

  async lookup(virtualNumber: string, caller: string): Promise<LookupResult> {
    const reply = await this.callPath('lookup', LOOKUP_SCRIPT, [this.keys.route(virtualNumber, caller), this.keys.unknown(virtualNumber)]);
    return interpretLookup(this.keys, virtualNumber, caller, reply, this.now());
  }

  async lookupByPin(virtualNumber: string, pin: string): Promise<LookupResult> {
    if (!/^\d{1,16}$/.test(pin)) return { kind: 'unknown' };
    const reply = await this.callPath('lookup_pin', PIN_LOOKUP_SCRIPT, [this.keys.pin(virtualNumber, pin)]);
    return interpretPinLookup(this.keys, virtualNumber, pin, reply, this.now());
  }

  async recheck(id: string): Promise<RecheckResult> {
    const key = this.keys.session(id);
    const [status, expiresAt] = await this.onCallPath('recheck', this.redis.hmGet(key, ['status', 'expires_at']));
    if (status !== 'open' && status !== 'closed') return 'gone';
    if (status === 'closed') return 'closed';
    if (!expiresAt || !/^\d{1,16}$/.test(expiresAt)) return 'gone';
    return Number(expiresAt) <= this.now() ? 'expired' : 'open';
  }

  async admit(req: AdmitRequest): Promise<AdmitVerdict> {
    const keys = [this.keys.sessionCalls(req.sessionId), this.keys.numberCalls(req.virtualNumber)];
    const args = [req.callId, String(req.leaseMs), String(req.maxPerSession), String(req.maxPerNumber)];
    const reply = (await this.onCallPath('mb_call_admit', fcall(this.redis, 'mb_call_admit', keys, args))) as string[];
    if (reply[0] === 'ok') return 'ok';
    if (reply[0] === 'over' && (reply[1] === 'session' || reply[1] === 'number')) return reply[1];
    throw new StoreUnavailableError(new Error(`mb_call_admit answered ${JSON.stringify(reply)}`));
  }

  async release(req: Pick<AdmitRequest, 'sessionId' | 'virtualNumber' | 'callId'>): Promise<void> {
    await this.bounded('mb_call_release', fcall(this.redis, 'mb_call_release', [this.keys.sessionCalls(req.sessionId), this.keys.numberCalls(req.virtualNumber)], [req.callId]));
  }

  /** One lookup script round trip within the call-path deadline; any failure is StoreUnavailableError. */
  private callPath(command: string, script: string, keys: string[]): Promise<unknown[]> {
    return this.onCallPath(command, runScript(this.redis, script, keys, [this.keys.sessionPrefix]) as Promise<unknown[]>);
  }

  private async onCallPath<T>(command: string, work: Promise<T>): Promise<T> {
    try {
      return await this.health.track(withDeadline(work, this.timeoutMs), command);
    } catch (err) {
      throw new StoreUnavailableError(err);
    }
  }

  /**
   * Creates a session on a virtual number the caller names (`mb_create`); never replaces one
   * (SessionExistsError). `idempotency`: the same request repeated (same token: the caller's key
   * and a digest of what it asked for) gets the session it created, with `replayed` set.
   */
  async create(s: NewSession, idempotency?: string): Promise<SessionRecord & { replayed?: true }> {
    validateNewSession(s, this.now());
    const k = this.keys;
    const reply = await this.op('mb_create',
      [k.session(s.id), k.route(s.virtualNumber, s.a), k.route(s.virtualNumber, s.b), k.party(s.a), k.party(s.b)],
      [String(s.retainMs ?? ''), idempotency ?? '', 'v', s.virtualNumber, ...this.baseFields(s)]);
    return this.created(s.id, reply);
  }

  /** Creates a session on a number the pool picks (`mb_allocate`): PoolExhaustedError when none fits. */
  async allocate(s: NewAllocation, idempotency?: string): Promise<SessionRecord & { replayed?: true }> {
    validateNewSession({ ...s, virtualNumber: '+10000000000' }, this.now());
    const k = this.keys;
    const reply = await this.op('mb_allocate', [k.session(s.id), k.party(s.a), k.party(s.b)],
      [s.pool, String(s.retainMs ?? ''), idempotency ?? '', s.geo ?? '', ...this.baseFields(s)]);
    return this.created(s.id, reply);
  }

  /** Reads a session; throws MalformedRecordError if what is stored breaks the contract. */
  async get(id: string): Promise<SessionRecord | null> {
    checkId(id);
    const hash = await this.bounded('hgetall', this.redis.hGetAll(this.keys.session(id)));
    if (Object.keys(hash).length === 0) return null;
    return parseSessionHash(this.keys.session(id), id, hash as Record<string, string>);
  }

  /**
   * Closes a session (`mb_close`): calls stop connecting at once, and every maskbridge instance
   * hangs up the session's live calls (pub/sub). Returns false when there is no such session.
   */
  async close(id: string): Promise<boolean> {
    checkId(id);
    const reply = await this.op('mb_close', [this.keys.session(id)], []);
    return reply[0] === 'closed';
  }

  /** Moves expiresAt (`mb_extend`); NotFoundError for no session, SessionInputError for a closed one. */
  async extend(id: string, expiresAt: number, retainMs?: number): Promise<SessionRecord> {
    checkId(id);
    const reply = await this.op('mb_extend', [this.keys.session(id)], [String(expiresAt), String(retainMs ?? '')]);
    if (reply[0] === 'closed') throw new SessionInputError('expiresAt', 'the session is closed');
    return this.mustGet(id);
  }

  /** Changes options (`mb_update`); a field given as '' is removed. */
  async update(id: string, options: SessionOptions): Promise<SessionRecord> {
    checkId(id);
    validateOptions(options);
    const fields = optionFields(options);
    if (fields.length > 0) await this.op('mb_update', [this.keys.session(id)], fields);
    return this.mustGet(id);
  }

  /** A sliding session lives its ttl_sec past `endedAt` (called when an answered call ends; `mb_touch`). */
  async touch(id: string, endedAt: number): Promise<void> {
    await this.op('mb_touch', [this.keys.session(id)], [String(endedAt)]);
  }

  /**
   * Erases a participant (`mb_erase`): every session in their index, open or not, its routes and
   * the other participant's index entry; their live calls are hung up. Returns the session ids
   * (whose recordings the caller then removes). Sessions written with v1 plain commands are not
   * in the index and are not found.
   */
  async erase(number: string): Promise<string[]> {
    if (!isE164(number)) throw new SessionInputError('number', `"${number}" is not an E.164 number`);
    const r = await this.op('mb_erase', [this.keys.party(number)], []);
    return r.slice(1);
  }

  /**
   * Sessions a page at a time (SCAN over the session keys), filtered by status, pool or virtual
   * number. Each call examines about `scan` keys; `next` (a SCAN cursor) goes on, null at the end.
   * As SCAN does, a session may show twice across pages when Redis rehashes meanwhile.
   */
  async list(filter: { status?: 'open' | 'closed'; pool?: string; virtualNumber?: string; limit: number; cursor?: string; scan?: number }): Promise<{ sessions: SessionRecord[]; next: string | null }> {
    let cursor = filter.cursor ?? '0';
    if (!/^\d{1,20}$/.test(cursor)) throw new SessionInputError('cursor', 'is not a cursor from a previous page');
    const sessions: SessionRecord[] = [];
    let examined = 0;
    const budget = filter.scan ?? 5000;
    do {
      const reply = (await this.bounded('scan', this.redis.sendCommand(['SCAN', cursor, 'MATCH', `${this.keys.sessionPrefix}*`, 'COUNT', '500']))) as [string, string[]];
      cursor = String(reply[0]);
      for (const key of reply[1]) {
        examined++;
        const id = key.slice(this.keys.sessionPrefix.length);
        if (!SESSION_ID_PATTERN.test(id)) continue;
        const s = await this.get(id).catch(() => null); // a malformed record is left out of listings
        if (!s) continue;
        if (filter.status && s.status !== filter.status) continue;
        if (filter.pool && s.pool !== filter.pool) continue;
        if (filter.virtualNumber && s.virtualNumber !== filter.virtualNumber) continue;
        sessions.push(s);
      }
    } while (cursor !== '0' && sessions.length < filter.limit && examined < budget);
    return { sessions, next: cursor === '0' ? null : cursor };
  }

  /** The participant's open sessions (`mb_sessions`, read-only). */
  async sessionsOf(number: string): Promise<SessionRecord[]> {
    if (!isE164(number)) throw new SessionInputError('number', `"${number}" is not an E.164 number`);
    const flat = (await this.bounded('mb_sessions', fcall(this.redis, 'mb_sessions', [this.keys.party(number)], []))) as string[];
    const out: SessionRecord[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const s = await this.get(String(flat[i]));
      if (s) out.push(s);
    }
    return out;
  }

  private baseFields(s: NewSessionBase & SessionOptions): string[] {
    return ['a', s.a, 'b', s.b, 'expires_at', String(s.expiresAt), ...optionFields(s)];
  }

  private async created(id: string, reply: string[]): Promise<SessionRecord & { replayed?: true }> {
    const created = await this.mustGet(id);
    return reply[0] === 'replayed' ? { ...created, replayed: true } : created;
  }

  private async mustGet(id: string): Promise<SessionRecord> {
    const s = await this.get(id);
    if (!s) throw new NotFoundError(`no session ${id}`);
    return s;
  }

  /** One library function within the management deadline; its refusals become typed errors. */
  private async op(fn: string, keys: string[], args: string[]): Promise<string[]> {
    const reply = (await this.bounded(fn, fcall(this.redis, fn, keys, args))) as unknown[];
    const id = keys[0]?.slice(this.keys.sessionPrefix.length) ?? '';
    const r = fromReply(reply, id);
    if (r[0] === 'missing' && fn !== 'mb_close') throw new NotFoundError(`no session ${id}`);
    return r;
  }

  /** Management calls (create, get, close) get a few lookup timeouts: they are not on the call path. */
  private bounded<T>(command: string, work: Promise<T>): Promise<T> {
    return this.health.track(withDeadline(work, this.timeoutMs * 4), command);
  }
}

function checkId(id: string): void {
  if (!SESSION_ID_PATTERN.test(id)) throw new SessionInputError('id', 'must match [A-Za-z0-9._:-]{1,128}');
}

export function validateNewSession(s: NewSession, now: number): void {
  checkId(s.id);
  for (const field of ['virtualNumber', 'a', 'b'] as const) {
    if (!isE164(s[field])) throw new SessionInputError(field, `"${s[field]}" is not an E.164 number`);
  }
  if (s.a === s.b) throw new SessionInputError('b', 'must differ from a');
  if (s.virtualNumber === s.a || s.virtualNumber === s.b) throw new SessionInputError('virtualNumber', 'must differ from both participants');
  if (!Number.isInteger(s.expiresAt) || s.expiresAt <= now) throw new SessionInputError('expiresAt', 'must be a future epoch-millisecond time');
  if (s.retainMs !== undefined && (!Number.isInteger(s.retainMs) || s.retainMs < 0)) {
    throw new SessionInputError('retainMs', 'must be a whole number of milliseconds >= 0');
  }
  if (s.ttlSec !== undefined && (!Number.isInteger(s.ttlSec) || s.ttlSec < 1)) throw new SessionInputError('ttlSec', 'must be a whole number of seconds >= 1');
  if (s.maxExpiresAt !== undefined && (!Number.isInteger(s.maxExpiresAt) || s.maxExpiresAt < s.expiresAt)) {
    throw new SessionInputError('maxExpiresAt', 'must be epoch milliseconds no earlier than expiresAt');
  }
  if (s.meta !== undefined) {
    try {
      JSON.parse(s.meta);
    } catch {
      throw new SessionInputError('meta', 'must be JSON text');
    }
    if (s.meta.length > 4096) throw new SessionInputError('meta', 'must be at most 4096 characters');
  }
  validateOptions(s);
}

/** The checks the Redis functions cannot make (time zones, window syntax); also for updates. */
export function validateOptions(o: SessionOptions): void {
  try {
    if (o.windows) parseWindows(o.windows);
  } catch (err) {
    throw new SessionInputError('windows', (err as Error).message);
  }
  try {
    if (o.tz) checkTimeZone(o.tz);
  } catch (err) {
    throw new SessionInputError('tz', (err as Error).message);
  }
  if (o.webhookUrl) {
    const problem = checkWebhookUrl(o.webhookUrl);
    if (problem) throw new SessionInputError('webhookUrl', problem);
  }
  if (o.unknownCaller && !UNKNOWN_CALLER_PATTERN.test(o.unknownCaller)) {
    throw new SessionInputError('unknownCaller', 'must be reject, connect-a, connect-b or announce:{file} (letters, digits, _./:- and no "..")');
  }
  for (const [field, max] of [['maxDurationSec', 86400], ['ringTimeoutSec', 600]] as const) {
    const v = o[field];
    if (v !== undefined && (!Number.isInteger(v) || v < 1 || v > max)) throw new SessionInputError(field, `must be whole seconds from 1 to ${max}`);
  }
}
