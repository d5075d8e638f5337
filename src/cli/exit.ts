/**
 * The CLI's exit codes and what each failure prints. Scripts branch on these, so they are
 * part of the interface (also in `maskbridge --help` and docs/operations.md).
 */
import { CommanderError } from 'commander';
import { ConfigError } from '../config/load.js';
import { MalformedRecordError } from '../sessions/contract.js';
import { StoreUnavailableError } from '../sessions/redis.js';
import { ConflictError, NotFoundError, PoolExhaustedError, SessionInputError } from '../sessions/errors.js';
import { isStoreUnavailable } from '../sessions/unavailable.js';

export const EXIT = {
  ok: 0,
  noSuchSession: 1,
  badInput: 2,
  storeUnavailable: 3,
  malformedData: 4,
  conflict: 5,
  poolExhausted: 6,
  /** EX_SOFTWARE (sysexits.h): a bug, not the caller's input nor Redis being away. */
  internal: 70,
} as const;

export const EXIT_CODES_HELP = [
  'Exit codes:',
  '  0   ok',
  '  1   not found (no such session, pool or number)',
  '  2   bad input or configuration (the message names the field or key)',
  '  3   Redis unavailable (cannot connect, or no answer in time)',
  '  4   malformed stored data (a session record that breaks the Redis contract; the message names the key and the problem)',
  '  5   conflict (the id exists; a participant already has an open session on the number; the number is draining, quarantined or in another pool)',
  '  6   pool exhausted (no number of the pool is free for both participants)',
  '  70  internal error (a bug: please report it with the message)',
].join('\n');

/** A failure that already knows its exit code and message. */
export class CliExit extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

/** Maps what a command threw to its exit code and the line(s) for stderr ('' prints nothing). */
export function exitFor(err: unknown): { code: number; message: string } {
  if (err instanceof CommanderError) return { code: err.exitCode === 0 ? EXIT.ok : EXIT.badInput, message: '' };
  if (err instanceof CliExit) return { code: err.code, message: err.message };
  if (err instanceof ConfigError || err instanceof SessionInputError) return { code: EXIT.badInput, message: err.message };
  if (err instanceof PoolExhaustedError) return { code: EXIT.poolExhausted, message: err.message };
  if (err instanceof ConflictError) return { code: EXIT.conflict, message: `conflict: ${err.message}` };
  if (err instanceof NotFoundError) return { code: EXIT.noSuchSession, message: err.message };
  if (err instanceof MalformedRecordError) {
    return { code: EXIT.malformedData, message: `malformed stored data at ${err.key}: ${err.problem}` };
  }
  if (isStoreUnavailable(err)) {
    const why = err instanceof StoreUnavailableError && err.cause instanceof Error ? err.cause : (err as Error);
    return { code: EXIT.storeUnavailable, message: `redis unavailable: ${why.message}` };
  }
  const e = err instanceof Error ? err : new Error(String(err));
  return { code: EXIT.internal, message: `internal error: ${e.stack ?? e.message}` };
}
