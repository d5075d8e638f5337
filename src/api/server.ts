/**
 * HTTP API: sessions (create, read, close), health, metrics, and the OpenAPI document.
 * Validation errors answer 400 naming the field; store conflicts 409; Redis trouble 503.
 */
import swagger from '@fastify/swagger';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { NumberFormatError, toE164 } from '../numbers/normalise.js';
import { MalformedRecordError, type SessionRecord } from '../sessions/contract.js';
import { SessionConflictError, SessionInputError, type SessionStore } from '../sessions/store.js';

export interface Health {
  redis: boolean;
  drachtio: boolean;
  liveCalls: number;
  draining: boolean;
  cdrBacklog: number;
  /** One entry per configured media server (empty when media.mode is "none"). */
  media: Array<{ server: string; healthy: boolean; active: number }>;
}

export interface ApiDeps {
  store: SessionStore;
  metrics: Metrics;
  /** Bearer token for /v1 routes; '' disables auth. */
  token: string;
  defaultRegion: string;
  health: () => Health;
  log: Logger;
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
const ErrorOut = Type.Object({ error: Type.String(), field: Type.Optional(Type.String()) });

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
  const app = Fastify({ loggerInstance: deps.log.child({ component: 'api' }, { level: 'warn' }), ajv: { customOptions: { allErrors: false, removeAdditional: false } } })
    .withTypeProvider<TypeBoxTypeProvider>();

  void app.register(swagger, {
    openapi: { info: { title: 'maskbridge', version: '1' }, components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } } },
  });

  app.setErrorHandler((err: Error & { validation?: unknown; statusCode?: number; validationContext?: string }, _req, reply) => {
    if (err.validation) {
      const first = (err.validation as Array<{ instancePath?: string; params?: { missingProperty?: string; additionalProperty?: string } }>)[0];
      const field = first?.params?.missingProperty ?? first?.params?.additionalProperty ?? first?.instancePath?.replace(/^\//, '') ?? '';
      return reply.code(400).send({ error: err.message, field });
    }
    if (err instanceof SessionInputError) return reply.code(400).send({ error: err.message, field: err.field });
    if (err instanceof SessionConflictError) return reply.code(409).send({ error: err.message });
    if (err instanceof MalformedRecordError) return reply.code(500).send({ error: err.message });
    if ((err.statusCode ?? 500) < 500) return reply.code(err.statusCode as number).send({ error: err.message });
    deps.log.error({ err: err.message }, 'API error');
    return reply.code(503).send({ error: 'session store unavailable' });
  });

  const auth = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!deps.token) return;
    if (req.headers.authorization !== `Bearer ${deps.token}`) return reply.code(401).send({ error: 'missing or wrong bearer token' });
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
      schema: { body: CreateBody, response: { 201: SessionOut, 400: ErrorOut, 409: ErrorOut }, security: [{ bearer: [] }] },
    }, async (req, reply) => {
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
      });
      return reply.code(201).send(toOut(created));
    });

    r.get('/v1/sessions/:id', {
      onRequest: auth,
      schema: { params: Type.Object({ id: Id }), response: { 200: SessionOut, 404: ErrorOut }, security: [{ bearer: [] }] },
    }, async (req, reply) => {
      const s = await deps.store.get(req.params.id);
      if (!s) return reply.code(404).send({ error: 'no such session' });
      return toOut(s);
    });

    r.delete('/v1/sessions/:id', {
      onRequest: auth,
      schema: { params: Type.Object({ id: Id }), response: { 204: Type.Null(), 404: ErrorOut }, security: [{ bearer: [] }] },
    }, async (req, reply) => {
      const closed = await deps.store.close(req.params.id);
      if (!closed) return reply.code(404).send({ error: 'no such session' });
      return reply.code(204).send(null);
    });

    r.get('/healthz', async (_req, reply) => {
      const h = deps.health();
      const mediaOk = h.media.length === 0 || h.media.some((m) => m.healthy);
      return reply.code(h.redis && h.drachtio && mediaOk && !h.draining ? 200 : 503).send(h);
    });

    r.get('/metrics', async (_req, reply) => {
      reply.header('content-type', deps.metrics.registry.contentType);
      return deps.metrics.registry.metrics();
    });

    r.get('/openapi.json', async () => app.swagger());
  });

  return app;
}
