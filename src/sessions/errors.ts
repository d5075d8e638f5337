/**
 * What the session and pool operations refuse, as errors carrying what the API (problem+json)
 * and the CLI (exit codes) need; `fromReply` turns a library function's refusal into one.
 */

/** Bad input, naming the field (API 400, CLI exit 2). */
export class SessionInputError extends Error {
  override readonly name = 'SessionInputError';
  constructor(readonly field: string, problem: string) {
    super(`${field}: ${problem}`);
  }
}

/** No such session, pool or number (API 404, CLI exit 1). */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
}

/** The request contradicts what is stored (API 409, CLI exit 5). */
export class ConflictError extends Error {
  override readonly name: string = 'ConflictError';
}

export class SessionConflictError extends ConflictError {
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

/** The named number is draining or quarantined: no new sessions on it. */
export class NumberUnavailableError extends ConflictError {
  override readonly name = 'NumberUnavailableError';
  constructor(readonly number: string, readonly state: string) {
    super(`virtual number ${number} is ${state}: it takes no new sessions`);
  }
}

/** The number is in another pool already (a number belongs to one pool). */
export class NumberInOtherPoolError extends ConflictError {
  override readonly name = 'NumberInOtherPoolError';
  constructor(readonly number: string, readonly pool: string) {
    super(`${number} is in pool ${pool}: remove it there first`);
  }
}

/** The named number is dedicated to another open session's unknown callers (unknown_caller). */
export class UnknownCallerTakenError extends ConflictError {
  override readonly name = 'UnknownCallerTakenError';
  constructor(readonly otherSessionId: string, readonly number: string) {
    super(`virtual number ${number} is dedicated to the unknown callers of open session ${otherSessionId}: close it, or leave unknownCaller unset (reject)`);
  }
}

/** No number of the pool fits this pair (API 409 pool-exhausted, CLI exit 6). */
export class PoolExhaustedError extends ConflictError {
  override readonly name = 'PoolExhaustedError';
  constructor(readonly pool: string) {
    super(`pool ${pool} is exhausted: no active number is free for both participants (in use, in cool-off, dedicated to another session's unknown callers, or outside the geo match)`);
  }
}

/** Library field names as the API and CLI call them. */
const FIELD_NAMES: Record<string, string> = {
  v: 'virtualNumber', expires_at: 'expiresAt', whisper_a: 'whisperA', whisper_b: 'whisperB', ttl_sec: 'ttlSec',
  max_expires_at: 'maxExpiresAt', max_duration_sec: 'maxDurationSec', ring_timeout_sec: 'ringTimeoutSec', unknown_caller: 'unknownCaller', retain_ms: 'retainMs', cool_off_sec: 'coolOffSec', geo_fallback: 'geoFallback',
};

/**
 * A function's reply: `['ok', ...]`, `['closed', id]`, `['replayed', V]`, `['missing']` and
 * `['unchanged']` come back as they are; every refusal is thrown as its error.
 */
export function fromReply(reply: unknown[], id = ''): string[] {
  const r = reply.map(String);
  switch (r[0]) {
    case 'invalid':
      throw new SessionInputError(FIELD_NAMES[r[1] ?? ''] ?? r[1] ?? 'request', r[2] ?? 'is invalid');
    case 'exists':
      throw new SessionExistsError(id);
    case 'conflict':
      throw new SessionConflictError(r[1] ?? '');
    case 'unknown-taken':
      throw new UnknownCallerTakenError(r[1] ?? '', r[2] ?? '');
    case 'unavailable':
      throw new NumberUnavailableError(r[1] ?? '', r[2] ?? '');
    case 'in-other-pool':
      throw new NumberInOtherPoolError(r[1] ?? '', r[2] ?? '');
    case 'no-pool':
      throw new NotFoundError(`no pool ${r[1]}`);
    case 'not-in-pool':
      throw new NotFoundError(`${r[1]} is not in pool ${r[2]}`);
    case 'exhausted':
      throw new PoolExhaustedError(r[1] ?? '');
    case 'missing':
    case 'ok':
    case 'closed':
    case 'replayed':
    case 'unchanged':
      return r;
    default:
      throw new Error(`unexpected reply from the maskbridge library: ${JSON.stringify(r).slice(0, 200)}`);
  }
}
