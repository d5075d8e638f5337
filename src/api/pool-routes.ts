/** /v1/pools: number pools and their numbers (src/sessions/pools.ts; contract v2). */
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { NumberFormatError, toE164 } from '../numbers/normalise.js';
import { SessionInputError } from '../sessions/errors.js';
import type { PoolInfo, PoolStore } from '../sessions/pools.js';
import { inputIn, notFound } from './problem.js';
import { problemResponses } from './responses.js';

export type PoolService = Pick<PoolStore, 'set' | 'get' | 'list' | 'add' | 'setState' | 'remove' | 'numbers'>;

const Name = Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'Pool name, e.g. a city or a brand' });
const State = Type.Union([Type.Literal('active'), Type.Literal('reserved'), Type.Literal('draining'), Type.Literal('quarantined')]);
const Settings = {
  select: Type.Optional(Type.Union([Type.Literal('prefer-sticky'), Type.Literal('avoid-sticky')], { description: 'prefer-sticky: the pair\'s earlier number first' })),
  coolOffSec: Type.Optional(Type.Integer({ minimum: 0, maximum: 90 * 86400, description: 'A number freed from a participant goes to them with another counterparty only after this' })),
  geo: Type.Optional(Type.Union([Type.Literal('none'), Type.Literal('country')], { description: 'country: match A\'s country calling code' })),
  geoFallback: Type.Optional(Type.Union([Type.Literal('any'), Type.Literal('none')], { description: 'any: the whole pool when no number of A\'s country is free' })),
};
const PoolOut = Type.Object({
  name: Type.String(),
  select: Type.String(),
  coolOffSec: Type.Integer(),
  geo: Type.String(),
  geoFallback: Type.String(),
  counts: Type.Object({ active: Type.Integer(), reserved: Type.Integer(), draining: Type.Integer(), quarantined: Type.Integer() }),
});
const Numbers = Type.Array(Type.String({ minLength: 3, maxLength: 32 }), { minItems: 1, maxItems: 10000 });

type Auth = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

export function registerPoolRoutes(instance: FastifyInstance, deps: { pools: PoolService; defaultRegion: string; auth: Auth }) {
  const r = instance.withTypeProvider<TypeBoxTypeProvider>();
  const { pools, auth } = deps;
  const security = [{ bearer: [] }];
  const e164 = (list: string[]): string[] => list.map((n, i) => {
    try {
      return toE164(n, deps.defaultRegion);
    } catch (err) {
      if (err instanceof NumberFormatError) throw new SessionInputError(`numbers/${i}`, `"${n}" is ${err.message}`);
      throw err;
    }
  });
  const out = (p: PoolInfo) => p;

  r.put('/v1/pools/:name', {
    onRequest: auth,
    schema: {
      summary: 'Create a pool, or change its settings',
      params: Type.Object({ name: Name }),
      body: Type.Object(Settings, { additionalProperties: false }),
      response: { 200: PoolOut, ...problemResponses(400, 401, 415, 500, 503) },
      security,
    },
  }, async (req) => inputIn('body', async () => out(await pools.set(req.params.name, req.body))));

  r.get('/v1/pools', {
    onRequest: auth,
    schema: { summary: 'List pools', response: { 200: Type.Object({ pools: Type.Array(PoolOut) }), ...problemResponses(401, 500, 503) }, security },
  }, async () => ({ pools: await pools.list() }));

  r.get('/v1/pools/:name', {
    onRequest: auth,
    schema: {
      summary: 'A pool, its settings and how many numbers it has in each state',
      params: Type.Object({ name: Name }),
      response: { 200: PoolOut, ...problemResponses(400, 401, 404, 500, 503) },
      security,
    },
  }, async (req) => inputIn('params', async () => {
    const p = await pools.get(req.params.name);
    if (!p) throw notFound(`no pool ${req.params.name}`);
    return p;
  }));

  r.get('/v1/pools/:name/numbers', {
    onRequest: auth,
    schema: {
      summary: 'A pool\'s numbers and their states',
      params: Type.Object({ name: Name }),
      response: { 200: Type.Object({ numbers: Type.Array(Type.Object({ number: Type.String(), state: State })) }), ...problemResponses(400, 401, 404, 500, 503) },
      security,
    },
  }, async (req) => inputIn('params', async () => ({ numbers: await pools.numbers(req.params.name) })));

  r.post('/v1/pools/:name/numbers', {
    onRequest: auth,
    schema: {
      summary: 'Add numbers (E.164; all or none: an invalid one is named and nothing is added)',
      params: Type.Object({ name: Name }),
      body: Type.Object({ numbers: Numbers, state: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('reserved')])) }, { additionalProperties: false }),
      response: { 200: Type.Object({ added: Type.Integer() }), ...problemResponses(400, 401, 404, 409, 415, 500, 503) },
      security,
    },
  }, async (req) => inputIn('body', async () => ({ added: await pools.add(req.params.name, e164(req.body.numbers), req.body.state ?? 'active') })));

  r.patch('/v1/pools/:name/numbers', {
    onRequest: auth,
    schema: {
      summary: 'Set numbers\' state: active, reserved (only when named), draining (no new sessions) or quarantined (out of rotation)',
      params: Type.Object({ name: Name }),
      body: Type.Object({ numbers: Numbers, state: State }, { additionalProperties: false }),
      response: { 204: Type.Null(), ...problemResponses(400, 401, 404, 415, 500, 503) },
      security,
    },
  }, async (req, reply) => inputIn('body', async () => {
    await pools.setState(req.params.name, e164(req.body.numbers), req.body.state);
    return reply.code(204).send(null);
  }));

  r.delete('/v1/pools/:name/numbers', {
    onRequest: auth,
    schema: {
      summary: 'Remove numbers from the pool (open sessions on them run to their end)',
      params: Type.Object({ name: Name }),
      body: Type.Object({ numbers: Numbers }, { additionalProperties: false }),
      response: { 204: Type.Null(), ...problemResponses(400, 401, 404, 415, 500, 503) },
      security,
    },
  }, async (req, reply) => inputIn('body', async () => {
    await pools.remove(req.params.name, e164(req.body.numbers));
    return reply.code(204).send(null);
  }));
}
