import {
  CLOSE_SCRIPT,
  CREATE_SCRIPT,
  LOOKUP_SCRIPT,
  PIN_LOOKUP_SCRIPT,
  SESSION_ID_PATTERN,
  interpretLookup,
  interpretPinLookup,
  keys as contractKeys,
  parseSessionHash,
  type Keys,
  type LookupResult,
  type SessionRecord,
} from './contract.js';
import { isE164 } from '../numbers/normalise.js';
import { StoreHealth } from './health.js';
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
}

/** `gone`: the session hash is missing or breaks the contract; it never connects. */
export type RecheckResult = 'open' | 'closed' | 'expired' | 'gone';

export interface NewSession {
  id: string;
  virtualNumber: string;
  a: string;
  b: string;
  /** Epoch ms after which calls never connect. */
  expiresAt: number;
  record?: boolean;
  label?: string;
  /** How long keys stay after expiry so late calls get the "session ended" treatment. Default 24 h. */
  retainMs?: number;
}

export class SessionInputError extends Error {
  override readonly name = 'SessionInputError';
  constructor(readonly field: string, problem: string) {
    super(`${field}: ${problem}`);
  }
}

export class SessionConflictError extends Error {
  override readonly name: string = 'SessionConflictError';
  constructor(readonly otherSessionId: string) {
    super(`a participant already has an open session on this virtual number (session ${otherSessionId})`);
  }
}

/** A session with this id exists already: create never replaces one (close it, or use another id). */
export class SessionExistsError extends SessionConflictError {
  override readonly name = 'SessionExistsError';
  constructor(readonly id: string) {
    super(id);
    this.message = `session ${id} already exists (create never replaces a session; repeat the same request with the same Idempotency-Key to get it back)`;
  }
}

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
    const reply = await this.callPath(LOOKUP_SCRIPT, this.keys.route(virtualNumber, caller));
    return interpretLookup(this.keys, virtualNumber, caller, reply, this.now());
  }

  async lookupByPin(virtualNumber: string, pin: string): Promise<LookupResult> {
    if (!/^\d{1,16}$/.test(pin)) return { kind: 'unknown' };
    const reply = await this.callPath(PIN_LOOKUP_SCRIPT, this.keys.pin(virtualNumber, pin));
    return interpretPinLookup(this.keys, virtualNumber, pin, reply, this.now());
  }

  async recheck(id: string): Promise<RecheckResult> {
    const key = this.keys.session(id);
    const [status, expiresAt] = await this.onCallPath(this.redis.hmGet(key, ['status', 'expires_at']));
    if (status !== 'open' && status !== 'closed') return 'gone';
    if (status === 'closed') return 'closed';
    if (!expiresAt || !/^\d{1,16}$/.test(expiresAt)) return 'gone';
    return Number(expiresAt) <= this.now() ? 'expired' : 'open';
  }

  /** One lookup script round trip within the call-path deadline; any failure is StoreUnavailableError. */
  private callPath(script: string, key: string): Promise<unknown[]> {
    return this.onCallPath(runScript(this.redis, script, [key], [this.keys.sessionPrefix]) as Promise<unknown[]>);
  }

  private async onCallPath<T>(work: Promise<T>): Promise<T> {
    try {
      return await this.health.track(withDeadline(work, this.timeoutMs));
    } catch (err) {
      throw new StoreUnavailableError(err);
    }
  }

  /**
   * Creates a session; never replaces one (SessionExistsError). `idempotency`: the same request
   * repeated (same token: the caller's key and a digest of what it asked for) gets the session
   * it created, with `replayed` set, instead of the error.
   */
  async create(s: NewSession, idempotency?: string): Promise<SessionRecord & { replayed?: true }> {
    validateNewSession(s, this.now());
    const now = this.now();
    const fields: string[] = [
      'v', s.virtualNumber, 'a', s.a, 'b', s.b, 'status', 'open',
      'expires_at', String(s.expiresAt), 'created_at', String(now),
    ];
    if (s.record !== undefined) fields.push('record', s.record ? '1' : '0');
    if (s.label) fields.push('label', s.label);
    if (idempotency) fields.push('idem', idempotency);
    const pxat = s.expiresAt + (s.retainMs ?? DEFAULT_RETAIN_MS);
    const reply = (await this.bounded(runScript(
      this.redis,
      CREATE_SCRIPT,
      [this.keys.session(s.id), this.keys.route(s.virtualNumber, s.a), this.keys.route(s.virtualNumber, s.b), this.keys.schema],
      [s.id, String(now), String(pxat), this.prefix, idempotency ?? '', s.virtualNumber, ...fields],
    ))) as string[];
    if (reply[0] === 'exists') throw new SessionExistsError(s.id);
    if (reply[0] === 'conflict') throw new SessionConflictError(String(reply[1]));
    const created = await this.get(s.id);
    if (!created) throw new Error(`session ${s.id} vanished right after it was created`);
    return reply[0] === 'replayed' ? { ...created, replayed: true } : created;
  }

  /** Reads a session; throws MalformedRecordError if what is stored breaks the contract. */
  async get(id: string): Promise<SessionRecord | null> {
    if (!SESSION_ID_PATTERN.test(id)) throw new SessionInputError('id', 'must match [A-Za-z0-9._:-]{1,128}');
    const hash = await this.bounded(this.redis.hGetAll(this.keys.session(id)));
    if (Object.keys(hash).length === 0) return null;
    return parseSessionHash(this.keys.session(id), id, hash as Record<string, string>);
  }

  /** Closes a session: calls stop connecting at once. Returns false when there is no such session. */
  async close(id: string): Promise<boolean> {
    if (!SESSION_ID_PATTERN.test(id)) throw new SessionInputError('id', 'must match [A-Za-z0-9._:-]{1,128}');
    const reply = await this.bounded(runScript(this.redis, CLOSE_SCRIPT, [this.keys.session(id)], [String(this.now())]));
    return Number(reply) === 1;
  }

  /** Management calls (create, get, close) get a few lookup timeouts: they are not on the call path. */
  private bounded<T>(work: Promise<T>): Promise<T> {
    return this.health.track(withDeadline(work, this.timeoutMs * 4));
  }
}

export function validateNewSession(s: NewSession, now: number): void {
  if (!SESSION_ID_PATTERN.test(s.id)) throw new SessionInputError('id', 'must match [A-Za-z0-9._:-]{1,128}');
  for (const field of ['virtualNumber', 'a', 'b'] as const) {
    if (!isE164(s[field])) throw new SessionInputError(field, `"${s[field]}" is not an E.164 number`);
  }
  if (s.a === s.b) throw new SessionInputError('b', 'must differ from a');
  if (s.virtualNumber === s.a || s.virtualNumber === s.b) throw new SessionInputError('virtualNumber', 'must differ from both participants');
  if (!Number.isInteger(s.expiresAt) || s.expiresAt <= now) throw new SessionInputError('expiresAt', 'must be a future epoch-millisecond time');
  if (s.retainMs !== undefined && (!Number.isInteger(s.retainMs) || s.retainMs < 0)) {
    throw new SessionInputError('retainMs', 'must be a whole number of milliseconds >= 0');
  }
}
