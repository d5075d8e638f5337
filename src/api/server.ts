/**
 * HTTP API: sessions (create, read, close), liveness and readiness, metrics, and the OpenAPI document.
 * Every error is problem+json (src/api/problem.ts): validation 400 naming the field, 401, 404
 * (unknown routes too), 409 on a conflicting session, 415, 500 (internal error, or a stored
 * record that breaks the contract), 503 when the store cannot answer.
 */
import { createHash } from 'node:crypto';
import swagger from '@fastify/swagger';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { maskNumbersInText, type Logger, type NumberFormatter } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { NumberFormatError, toE164 } from '../numbers/normalise.js';
import type { SessionRecord } from '../sessions/contract.js';
import { SessionInputError, type SessionStore } from '../sessions/store.js';
import { bearerCheck } from './auth.js';
import { registerHealthRoutes, type Health } from './health.js';
import { inputIn, invalid, notFound, problemFor, sendProblem, shuttingDown, unauthorized, type ErrorWithFastifyFields } from './problem.js';
import { problemResponses } from './responses.js';

export type { Health };

export interface ApiDeps {
  /** What the session routes use of SessionStore. */
  store: Pick<SessionStore, 'create' | 'get' | 'close'>;
  metrics: Metrics;
  /** Bearer token for /v1 routes; '' disables auth (config allows that on loopback only). */
  token: string;
  defaultRegion: string;
  health: () => Health;
  log: Logger;
  /** Renders error text for the log; default: phone numbers masked. */
  fmt?: NumberFormatter;
}

const Id = Type.String({ pattern: '^[A-Za-z0-9._:-]{1,128}$', description: 'Session id (e.g. the order id)' });
const CreateBody = Type.Object(
  {
    id: Id,
    virtualNumber: Type.String({ minLength: 3, maxLength: 32, description: 'Virtual number, E.164 preferred' }),
    a: Type.String({ minLength: 3, maxLength: 32, description: 'Participant A (e.g. the customer)' }),
    b: Type.String({ minLength: 3, maxLength: 32, description: 'Participant B (e.g. the driver)' }),
    expiresAt: Type.Optional(Type.String({ format: 'date-time', description: 'When calls stop connecting (ISO 8601)' })),
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 31 * 24 * 3600, description: 'Alternative to expiresAt' })),
    record: Type.Optional(Type.Boolean()),
    label: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);
const SessionOut = Type.Object({
  id: Type.String(),
  virtualNumber: Type.String(),
  a: Type.String(),
  b: Type.String(),
  status: Type.Union([Type.Literal('open'), Type.Literal('closed')]),
  expiresAt: Type.String(),
  record: Type.Union([Type.Boolean(), Type.Null()]),
  label: Type.Union([Type.String(), Type.Null()]),
});

function toOut(s: SessionRecord) {
  return {
    id: s.id,
    virtualNumber: s.virtualNumber,
    a: s.a,
    b: s.b,
    status: s.status,
    expiresAt: new Date(s.expiresAt).toISOString(),
    record: s.record ?? null,
    label: s.label ?? null,
  };
}

export type Api = ReturnType<typeof buildApi>;

export function buildApi(deps: ApiDeps) {
  // At most warn (fastify would log every request at info), never chattier than the app's logger.
  const log = deps.log.child({ component: 'api' }, { level: deps.log.levelVal > 40 ? deps.log.level : 'warn' });
  const fmt = deps.fmt ?? maskNumbersInText;
  const app = Fastify({
    loggerInstance: log,
    ajv: { customOptions: { allErrors: false, removeAdditional: false } },
    // Fastify's own 503 for requests that arrive while it closes is not problem+json: ours is (below).
    return503OnClosing: false,
  }).withTypeProvider<TypeBoxTypeProvider>();

  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async () => {
    if (closing) throw shuttingDown();
  });

  void app.register(swagger, {
    openapi: { info: { title: 'maskbridge', version: '1' }, components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } } },
  });

  app.setErrorHandler((err: ErrorWithFastifyFields, req, reply) => {
    const { problem, log: entry } = problemFor(err, fmt);
    if (entry) log[entry.level]({ ...entry.fields, method: req.method, route: req.routeOptions.url, status: problem.status }, entry.msg);
    return sendProblem(reply, problem);
  });
  app.setNotFoundHandler((req, reply) => sendProblem(reply, notFound(`no route for ${req.method} ${req.url.split('?')[0]?.slice(0, 200)}`)));

  const authorized = bearerCheck(deps.token);
  const auth = async (req: FastifyRequest, _reply: FastifyReply) => {
    if (!authorized(req.headers.authorization)) throw unauthorized();
  };

  const e164 = (field: string, value: string): string => {
    try {
      return toE164(value, deps.defaultRegion);
    } catch (err) {
      if (err instanceof NumberFormatError) throw new SessionInputError(field, `"${value}" is ${err.message}`);
      throw err;
    }
  };

  // Routes go in a plugin registered after swagger, so swagger's onRoute hook sees them all.
  void app.register(async (instance) => {
    const r = instance.withTypeProvider<TypeBoxTypeProvider>();
    r.post('/v1/sessions', {
      onRequest: auth,
      schema: {
        summary: 'Create a session',
        body: CreateBody,
        response: { 201: SessionOut, ...problemResponses(400, 401, 409, 415, 500, 503) },
        security: [{ bearer: [] }],
      },
    }, async (req, reply) => inputIn('body', async () => {
      const body = req.body;
      if ((body.expiresAt === undefined) === (body.ttlSeconds === undefined)) {
        throw new SessionInputError('expiresAt', 'give exactly one of expiresAt and ttlSeconds');
      }
      const expiresAt = body.expiresAt !== undefined ? Date.parse(body.expiresAt) : Date.now() + (body.ttlSeconds as number) * 1000;
      const created = await deps.store.create({
        id: body.id,
        virtualNumber: e164('virtualNumber', body.virtualNumber),
        a: e164('a', body.a),
        b: e164('b', body.b),
        expiresAt,
        ...(body.record !== undefined ? { record: body.record } : {}),
        ...(body.label !== undefined ? { label: body.label } : {}),
      }, idempotencyToken(req.headers['idempotency-key'], body));
      if (created.replayed) reply.header('idempotent-replayed', 'true');
      return reply.code(201).send(toOut(created));
    }));

    r.get('/v1/sessions/:id', {
      onRequest: auth,
      schema: {
        summary: 'Read a session',
        params: Type.Object({ id: Id }),
        response: { 200: SessionOut, ...problemResponses(400, 401, 404, 500, 503) },
        security: [{ bearer: [] }],
      },
    }, async (req) => inputIn('params', async () => {
      const s = await deps.store.get(req.params.id);
      if (!s) throw notFound(`no session ${req.params.id}`);
      return toOut(s);
    }));

    r.delete('/v1/sessions/:id', {
      onRequest: auth,
      schema: {
        summary: 'Close a session: calls stop connecting at once',
        params: Type.Object({ id: Id }),
        response: { 204: Type.Null(), ...problemResponses(400, 401, 404, 500, 503) },
        security: [{ bearer: [] }],
      },
    }, async (req, reply) => inputIn('params', async () => {
      if (!(await deps.store.close(req.params.id))) throw notFound(`no session ${req.params.id}`);
      return reply.code(204).send(null);
    }));

    registerHealthRoutes(instance, { health: deps.health, authorized });

    const metricsOk = { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: Type.String() } } };
    r.get('/metrics', { schema: { summary: 'Prometheus metrics', response: { 200: metricsOk, ...problemResponses(500, 503) } } }, async (_req, reply) => {
      reply.header('content-type', deps.metrics.registry.contentType);
      return deps.metrics.registry.metrics();
    });

    r.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  });

  return app;
}

/**
 * What a create stores to recognise its own repetition: the client's Idempotency-Key and a digest
 * of the request body, so the same key with another body is a conflict, not a replay.
 */
function idempotencyToken(header: string | string[] | undefined, body: unknown): string | undefined {
  const key = Array.isArray(header) ? header[0] : header;
  if (!key) return undefined;
  if (!/^[\x21-\x7e]{1,200}$/.test(key)) throw invalid('headers/idempotency-key', 'Idempotency-Key must be 1 to 200 visible ASCII characters');
  return `${key}:${createHash('sha256').update(JSON.stringify(body)).digest('base64url')}`;
}
