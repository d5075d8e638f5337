/**
 * The API's one error format: problem details (RFC 9457), sent as application/problem+json.
 *
 *   { "type": "urn:maskbridge:problem:validation", "title": "invalid request", "status": 400,
 *     "detail": "body/a must NOT have fewer than 3 characters", "field": "body/a" }
 *
 * `type` is one of the PROBLEM_TYPES URNs (or "about:blank" for a plain HTTP error such as 413).
 * `field` (validation errors only) says where the offending value is: the request part, then the
 * JSON path inside it, "/"-separated: "body/virtualNumber", "body/expiresAt", "params/id",
 * "headers/content-type", or "body" for a body that is not JSON or not an object.
 */
import { STATUS_CODES } from 'node:http';
import { Type, type Static } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { MalformedRecordError } from '../sessions/contract.js';
import { ConflictError, NotFoundError, PoolExhaustedError, SessionInputError } from '../sessions/errors.js';
import { isStoreUnavailable } from '../sessions/unavailable.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export const PROBLEM_TYPES = {
  validation: 'urn:maskbridge:problem:validation',
  unsupportedMediaType: 'urn:maskbridge:problem:unsupported-media-type',
  unauthorized: 'urn:maskbridge:problem:unauthorized',
  notFound: 'urn:maskbridge:problem:not-found',
  conflict: 'urn:maskbridge:problem:conflict',
  poolExhausted: 'urn:maskbridge:problem:pool-exhausted',
  notReady: 'urn:maskbridge:problem:not-ready',
  shuttingDown: 'urn:maskbridge:problem:shutting-down',
  storeUnavailable: 'urn:maskbridge:problem:store-unavailable',
  malformedRecord: 'urn:maskbridge:problem:malformed-record',
  internal: 'urn:maskbridge:problem:internal',
} as const;

export const problemProperties = {
  type: Type.String({ description: 'A urn:maskbridge:problem:* URN naming the kind of problem, or about:blank' }),
  title: Type.String({ description: 'Short summary of the kind of problem' }),
  status: Type.Integer({ description: 'The HTTP status code' }),
  detail: Type.String({ description: 'What went wrong with this request' }),
  field: Type.Optional(Type.String({
    description: 'Validation errors: where the offending value is, e.g. body/virtualNumber, params/id, headers/content-type, or body',
  })),
};
export const Problem = Type.Object(problemProperties, { title: 'Problem', description: 'RFC 9457 problem details' });
export type ProblemBody = Static<typeof Problem>;

/** An error that carries the problem to send; thrown by routes and hooks, sent by the error handler. */
export class ApiProblem extends Error {
  override readonly name = 'ApiProblem';
  constructor(
    readonly status: number,
    readonly type: string,
    readonly title: string,
    detail: string,
    readonly field?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }

  body(): ProblemBody {
    const b: ProblemBody = { type: this.type, title: this.title, status: this.status, detail: this.message };
    if (this.field !== undefined) b.field = this.field;
    return b;
  }
}

export const invalid = (field: string, detail: string) => new ApiProblem(400, PROBLEM_TYPES.validation, 'invalid request', detail, field);
export const notFound = (detail: string) => new ApiProblem(404, PROBLEM_TYPES.notFound, 'not found', detail);
export const shuttingDown = () =>
  new ApiProblem(503, PROBLEM_TYPES.shuttingDown, 'shutting down', 'maskbridge is shutting down; send this to another instance', undefined, { connection: 'close' });
export const unauthorized = () =>
  new ApiProblem(401, PROBLEM_TYPES.unauthorized, 'unauthorized', 'missing or wrong bearer token', undefined, { 'www-authenticate': 'Bearer' });

export function sendProblem(reply: FastifyReply, p: ApiProblem) {
  for (const [k, v] of Object.entries(p.headers)) reply.header(k, v);
  return reply.code(p.status).type(PROBLEM_CONTENT_TYPE).send(p.body());
}

/** Runs a route body; a SessionInputError in it names its field inside `part` ("body" or "params"). */
export async function inputIn<T>(part: 'body' | 'params' | 'query', work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof SessionInputError) throw invalid(`${part}/${err.field}`, err.message);
    throw err;
  }
}

interface AjvError {
  instancePath?: string;
  params?: { missingProperty?: string; additionalProperty?: string };
}

/** Where the first schema error points: "body/a", "params/id", "body" (the body as a whole). */
function validationField(context: string, errors: AjvError[]): string {
  const first = errors[0];
  const path = (first?.instancePath ?? '').split('/').filter(Boolean);
  const member = first?.params?.missingProperty ?? first?.params?.additionalProperty;
  if (member !== undefined) path.push(member);
  return [context, ...path].join('/');
}

/** Fastify's 400s about the body as a whole (not JSON, empty, shorter than Content-Length). */
const BODY_ERRORS = new Set(['FST_ERR_CTP_INVALID_JSON_BODY', 'FST_ERR_CTP_EMPTY_JSON_BODY', 'FST_ERR_CTP_INVALID_CONTENT_LENGTH']);

export type ErrorWithFastifyFields = Error & { validation?: AjvError[]; validationContext?: string; statusCode?: number; code?: string };

/** What the log should say about a problem: nothing for the caller's mistakes. */
export type ProblemLog = { level: 'warn' | 'error'; msg: string; fields: Record<string, unknown> } | null;

/**
 * Maps anything a route or hook threw to the problem the caller gets and what to log; `fmt`
 * renders free text for the log (it masks phone numbers an error message may carry).
 */
export function problemFor(err: ErrorWithFastifyFields, fmt: (text: string) => string): { problem: ApiProblem; log: ProblemLog } {
  if (err instanceof ApiProblem) return { problem: err, log: null };
  if (err.validation) {
    return { problem: invalid(validationField(err.validationContext ?? 'body', err.validation), err.message), log: null };
  }
  // Routes wrap their work in inputIn, which names the request part; this is the fallback.
  if (err instanceof SessionInputError) return { problem: invalid(err.field, err.message), log: null };
  if (err instanceof PoolExhaustedError) {
    return { problem: new ApiProblem(409, PROBLEM_TYPES.poolExhausted, 'pool exhausted', err.message, 'body/pool'), log: null };
  }
  if (err instanceof ConflictError) {
    return { problem: new ApiProblem(409, PROBLEM_TYPES.conflict, 'conflict', err.message), log: null };
  }
  if (err instanceof NotFoundError) return { problem: notFound(err.message), log: null };
  if (err instanceof MalformedRecordError) {
    return {
      problem: new ApiProblem(500, PROBLEM_TYPES.malformedRecord, 'malformed stored record', err.message),
      log: { level: 'error', msg: 'API read a session record that breaks the contract', fields: { key: err.key, problem: err.problem } },
    };
  }
  if (isStoreUnavailable(err)) {
    return {
      problem: new ApiProblem(503, PROBLEM_TYPES.storeUnavailable, 'store unavailable', 'the session store did not answer in time; try again', undefined, { 'retry-after': '1' }),
      log: { level: 'warn', msg: 'API call failed: session store unavailable', fields: { err: fmt(err.message) } },
    };
  }
  const status = err.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    if (status === 415) return { problem: new ApiProblem(415, PROBLEM_TYPES.unsupportedMediaType, 'unsupported media type', `${err.message}: send application/json`, 'headers/content-type'), log: null };
    if (err.code !== undefined && BODY_ERRORS.has(err.code)) {
      return { problem: new ApiProblem(status, PROBLEM_TYPES.validation, 'invalid request', err.message, 'body'), log: null };
    }
    return { problem: new ApiProblem(status, 'about:blank', STATUS_CODES[status] ?? 'client error', err.message), log: null };
  }
  return {
    problem: new ApiProblem(500, PROBLEM_TYPES.internal, 'internal error', 'maskbridge failed to handle this request; the error is in its log'),
    log: { level: 'error', msg: 'API internal error', fields: { err: { type: err.name, message: fmt(err.message), stack: fmt(err.stack ?? '') } } },
  };
}
