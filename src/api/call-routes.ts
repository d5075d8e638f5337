/** /v1/calls: live calls across instances (src/calls/live-calls.ts): list, and hang one up. */
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { LiveCalls } from '../calls/live-calls.js';
import { inputIn, notFound } from './problem.js';
import { problemResponses } from './responses.js';

export type CallService = Pick<LiveCalls, 'list' | 'hangup'>;

const LiveCallOut = Type.Object({
  callId: Type.String({ description: 'The keyed hash of the SIP Call-ID, as in CDRs' }),
  instance: Type.String({ description: 'The maskbridge instance holding the call' }),
  sessionId: Type.String(),
  virtualNumber: Type.String(),
  direction: Type.String(),
  startedAt: Type.String(),
  answeredAt: Type.String(),
});

type Auth = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

export function registerCallRoutes(instance: FastifyInstance, deps: { calls: CallService; auth: Auth }) {
  const r = instance.withTypeProvider<TypeBoxTypeProvider>();
  const security = [{ bearer: [] }];
  r.get('/v1/calls', {
    onRequest: deps.auth,
    schema: {
      summary: 'Connected calls on every live instance',
      querystring: Type.Object({ sessionId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._:-]{1,128}$' })) }, { additionalProperties: false }),
      response: { 200: Type.Object({ calls: Type.Array(LiveCallOut) }), ...problemResponses(400, 401, 500, 503) },
      security,
    },
  }, async (req) => ({ calls: await deps.calls.list(req.query.sessionId ? { sessionId: req.query.sessionId } : {}) }));

  r.delete('/v1/calls/:callId', {
    onRequest: deps.auth,
    schema: {
      summary: 'Hang up a connected call (BYE to both parties; CDR ended_by operator), on whichever instance holds it',
      params: Type.Object({ callId: Type.String({ pattern: '^[0-9a-f]{32}$' }) }),
      response: { 202: Type.Null(), ...problemResponses(400, 401, 404, 500, 503) },
      security,
    },
  }, async (req, reply) => inputIn('params', async () => {
    if (!(await deps.calls.hangup(req.params.callId))) throw notFound(`no live call ${req.params.callId}`);
    return reply.code(202).send(null);
  }));
}
