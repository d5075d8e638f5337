/** The error responses a route declares (for the OpenAPI document and the serializer): all problem+json. */
import { PROBLEM_CONTENT_TYPE, Problem } from './problem.js';

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request: `field` names the offending value (body/<name>, params/<name> or body)',
  401: 'Missing or wrong bearer token',
  404: 'No such session, pool or number',
  409: 'Conflict: the id exists, a participant already has an open session on this virtual number, the number is draining, quarantined or in another pool, or the pool is exhausted (urn:maskbridge:problem:pool-exhausted)',
  415: 'Content-Type is not application/json',
  416: 'The Range asks for bytes the file does not have (Content-Range says its size)',
  500: 'Internal error, or a stored session record that breaks the Redis contract (urn:maskbridge:problem:malformed-record)',
  503: 'The session store (Redis) did not answer in time (store-unavailable), or maskbridge is shutting down (shutting-down)',
};

export type ErrorStatus = 400 | 401 | 404 | 409 | 415 | 416 | 500 | 503;

export function problemResponses(...statuses: ErrorStatus[]) {
  const out: Record<number, { description: string; content: Record<string, { schema: typeof Problem }> }> = {};
  for (const s of statuses) out[s] = { description: DESCRIPTIONS[s] as string, content: { [PROBLEM_CONTENT_TYPE]: { schema: Problem } } };
  return out;
}
