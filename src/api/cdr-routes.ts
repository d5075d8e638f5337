/** /v1/cdrs: CDRs from the stream, by time and by session, a page at a time (src/cdr/query.ts). */
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CdrReader } from '../cdr/query.js';
import { SessionInputError } from '../sessions/errors.js';
import { inputIn } from './problem.js';
import { problemResponses } from './responses.js';

type Auth = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

export function registerCdrRoutes(instance: FastifyInstance, deps: { cdrs: Pick<CdrReader, 'query'>; auth: Auth }) {
  const r = instance.withTypeProvider<TypeBoxTypeProvider>();
  r.get('/v1/cdrs', {
    onRequest: deps.auth,
    schema: {
      summary: 'CDRs from the stream, oldest first: by time range and/or session, with a cursor',
      querystring: Type.Object({
        sessionId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._:-]{1,128}$' })),
        from: Type.Optional(Type.String({ format: 'date-time', description: 'Written at or after (ISO 8601)' })),
        to: Type.Optional(Type.String({ format: 'date-time', description: 'Written at or before (ISO 8601)' })),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
        cursor: Type.Optional(Type.String({ pattern: '^\\d{1,16}-\\d{1,20}$', description: 'The next of the previous page' })),
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          cdrs: Type.Array(Type.Record(Type.String(), Type.String()), { description: 'Fields as in docs/redis-contract.md, plus stream_id' }),
          next: Type.Union([Type.String(), Type.Null()], { description: 'Cursor of the next page; null when the range is done' }),
        }),
        ...problemResponses(400, 401, 500, 503),
      },
      security: [{ bearer: [] }],
    },
  }, async (req) => inputIn('query', async () => {
    const q = req.query;
    const from = q.from !== undefined ? Date.parse(q.from) : undefined;
    const to = q.to !== undefined ? Date.parse(q.to) : undefined;
    if (from !== undefined && to !== undefined && to < from) throw new SessionInputError('to', 'is before from');
    return deps.cdrs.query({
      limit: q.limit ?? 100,
      ...(q.sessionId ? { sessionId: q.sessionId } : {}), ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}),
      ...(q.cursor ? { cursor: q.cursor } : {}),
    });
  }));
}
