/**
 * Liveness and readiness.
 *
 *   GET /livez   200 whenever the process answers (the event loop runs); restart it when this fails.
 *   GET /readyz  200 when it can take calls: Redis answering, drachtio connected, a media server
 *                healthy (when any are configured), not draining; else 503 (problem+json).
 *   GET /healthz the same as /readyz, for health checks written before the split.
 *
 * No token is needed. Without a valid token the body holds only booleans and counters; with it
 * (or with auth off) it also lists the media servers by address.
 */
import { Type, type Static, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiProblem, PROBLEM_CONTENT_TYPE, PROBLEM_TYPES, problemProperties } from './problem.js';
import { problemResponses } from './responses.js';

export interface Health {
  redis: boolean;
  drachtio: boolean;
  liveCalls: number;
  draining: boolean;
  cdrBacklog: number;
  /** One entry per configured media server (empty when media.mode is "none"). */
  media: Array<{ server: string; healthy: boolean; active: number }>;
}

const readinessProperties = {
  ready: Type.Boolean({ description: 'Can take calls' }),
  redis: Type.Boolean({ description: 'Redis answers' }),
  drachtio: Type.Boolean({ description: 'Connected to drachtio-server' }),
  draining: Type.Boolean({ description: 'Shutting down: refusing new calls' }),
  liveCalls: Type.Integer(),
  cdrBacklog: Type.Integer({ description: 'CDRs waiting in the spool for Redis' }),
  media: Type.Object(
    { configured: Type.Integer(), healthy: Type.Integer() },
    { description: 'Media servers configured and healthy (both 0 when media.mode is "none")' },
  ),
  mediaServers: Type.Optional(Type.Array(
    Type.Object({ server: Type.String({ description: 'host:port' }), healthy: Type.Boolean(), active: Type.Integer() }),
    { description: 'Only with a valid token (or with auth off)' },
  )),
};
const Readiness = Type.Object(readinessProperties, { title: 'Readiness' });
type ReadinessBody = Static<typeof Readiness>;
/** The readiness fields are absent when the check did not run (maskbridge shutting down). */
const NotReady = Type.Object(
  { ...problemProperties, ...Type.Partial(Readiness).properties },
  { title: 'NotReady', description: 'Problem details with the readiness fields' },
);

export function readinessOf(h: Health, detail: boolean): ReadinessBody {
  const healthy = h.media.filter((m) => m.healthy).length;
  const ready = h.redis && h.drachtio && (h.media.length === 0 || healthy > 0) && !h.draining;
  const body: ReadinessBody = {
    ready,
    redis: h.redis,
    drachtio: h.drachtio,
    draining: h.draining,
    liveCalls: h.liveCalls,
    cdrBacklog: h.cdrBacklog,
    media: { configured: h.media.length, healthy },
  };
  if (detail) body.mediaServers = h.media.map((m) => ({ server: m.server, healthy: m.healthy, active: m.active }));
  return body;
}

function notReadyDetail(r: ReadinessBody): string {
  const why = [
    r.redis ? null : 'redis not answering',
    r.drachtio ? null : 'drachtio not connected',
    r.media.configured > 0 && r.media.healthy === 0 ? 'no healthy media server' : null,
    r.draining ? 'draining' : null,
  ].filter((w): w is string => w !== null);
  return `not ready: ${why.join(', ')}`;
}

export function registerHealthRoutes(
  app: FastifyInstance,
  deps: { health: () => Health; authorized: (authorization: string | undefined) => boolean },
): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const started = Date.now();

  r.get('/livez', {
    schema: {
      summary: 'Liveness: 200 while the process answers',
      response: { 200: Type.Object({ status: Type.Literal('live'), uptimeSeconds: Type.Integer() }), ...problemResponses(500, 503) },
    },
  }, async () => ({ status: 'live' as const, uptimeSeconds: Math.floor((Date.now() - started) / 1000) }));

  const readiness = {
    response: {
      200: Readiness,
      503: { description: 'Not ready (the fields say why), or shutting down', content: { [PROBLEM_CONTENT_TYPE]: { schema: NotReady } } },
      ...problemResponses(500),
    },
  };
  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    const body = readinessOf(deps.health(), deps.authorized(req.headers.authorization));
    if (body.ready) return reply.code(200).send(body);
    const p = new ApiProblem(503, PROBLEM_TYPES.notReady, 'not ready', notReadyDetail(body));
    return reply.code(503).type(PROBLEM_CONTENT_TYPE).send({ ...p.body(), ...body });
  };
  r.get('/readyz', { schema: { summary: 'Readiness: 200 when maskbridge can take calls, else 503', ...readiness } }, handler);
  r.get('/healthz', { schema: { summary: 'Same as /readyz (kept for older health checks)', deprecated: true, ...readiness } }, handler);
}
