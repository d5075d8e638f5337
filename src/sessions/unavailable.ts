/**
 * Which errors mean "the session store could not answer" (Redis down, slow, restarting) as
 * opposed to a bug or bad data. The API maps these to 503 and the CLI to exit 3; anything else
 * is reported as what it is, never disguised as an outage.
 */
import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  DisconnectsClientError,
  ErrorReply,
  ReconnectStrategyError,
  RootNodesUnavailableError,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
  TimeoutError,
} from 'redis';
import { DeadlineError, StoreUnavailableError } from './redis.js';

const CONNECTION_ERRORS = [
  StoreUnavailableError,
  DeadlineError,
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  DisconnectsClientError,
  ReconnectStrategyError,
  RootNodesUnavailableError,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
  TimeoutError,
];

/** Error replies Redis sends while it cannot serve (loading, busy script, failover, out of memory). */
const UNAVAILABLE_REPLY = /^(LOADING|BUSY|MASTERDOWN|READONLY|CLUSTERDOWN|TRYAGAIN|NOREPLICAS|OOM)\b/;

/** Socket-level failures Node reports with a `code`. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

export function isStoreUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (CONNECTION_ERRORS.some((cls) => err instanceof cls)) return true;
  if (err instanceof ErrorReply) return UNAVAILABLE_REPLY.test(err.message);
  const code = (err as Error & { code?: unknown }).code;
  return typeof code === 'string' && NETWORK_CODES.has(code);
}
