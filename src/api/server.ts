/**
 * HTTP API: sessions (create or allocate, read, update/extend, close), participants, pools, liveness and readiness, metrics, and the OpenAPI document.
 * Every error is problem+json (src/api/problem.ts): validation 400 naming the field, 401, 404
 * (unknown routes too), 409 on a conflicting session, 415, 500 (internal error, or a stored
 * record that breaks the contract), 503 when the store cannot answer.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { maskNumbersInText, type Logger, type NumberFormatter } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { DataLifecycle } from '../lifecycle/data.js';
import type { Durability } from '../sessions/durability.js';
import type { CdrReader } from '../cdr/query.js';
import { registerCallRoutes, type CallService } from './call-routes.js';
import { registerCdrRoutes } from './cdr-routes.js';
import { registerRecordingRoutes } from './recording-routes.js';
import { registerPoolRoutes, type PoolService } from './pool-routes.js';
import { registerSessionRoutes, type SessionService } from './session-routes.js';
import { bearerCheck } from './auth.js';
import { registerHealthRoutes, type Health } from './health.js';
import { notFound, problemFor, sendProblem, shuttingDown, unauthorized, type ErrorWithFastifyFields } from './problem.js';
import { problemResponses } from './responses.js';

export type { Health };

export interface ApiDeps {
  /** What the session routes use of SessionStore. */
  store: SessionService;
  pools: PoolService;
  calls: CallService;
  cdrs: Pick<CdrReader, 'query'>;
  /** Where recordings are read from (media.recording.dir). */
  recordingsDir: string;
  /** Participant erasure (src/lifecycle/data.ts). */
  lifecycle: Pick<DataLifecycle, 'erase'>;
  /** WAIT after session writes (redis.waitReplicas), on the connection `store` and `lifecycle` use; absent: none. */
  durability?: Pick<Durability, 'run'>;
  metrics: Metrics;
  /** Bearer token for /v1 routes; '' disables auth (config allows that on loopback only). */
  token: string;
  defaultRegion: string;
  health: () => Health;
  log: Logger;
  /** Renders error text for the log; default: phone numbers masked. */
  fmt?: NumberFormatter;
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
    openapi: { info: { title: 'maskbridge', version: '2' }, components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } } },
  });
  // The OpenAPI document, browsable (Swagger UI; no data behind it: every /v1 route still needs the token).
  void app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { tryItOutEnabled: false } });

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

  // Routes go in a plugin registered after swagger, so swagger's onRoute hook sees them all.
  void app.register(async (instance) => {
    const r = instance.withTypeProvider<TypeBoxTypeProvider>();
    registerSessionRoutes(instance, {
      store: deps.store, lifecycle: deps.lifecycle, defaultRegion: deps.defaultRegion, auth, ...(deps.durability ? { durability: deps.durability } : {}),
    });
    registerPoolRoutes(instance, { pools: deps.pools, defaultRegion: deps.defaultRegion, auth });
    registerCallRoutes(instance, { calls: deps.calls, auth });
    registerCdrRoutes(instance, { cdrs: deps.cdrs, auth });
    registerRecordingRoutes(instance, { dir: deps.recordingsDir, auth });

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
