/**
 * /v1/sessions and /v1/participants: create (on a named number, or allocated from a pool),
 * read, update/extend, close, and a participant's open sessions. One service layer
 * (SessionStore, contract v2 functions) under the API and the CLI.
 */
import { createHash } from 'node:crypto';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { NumberFormatError, toE164 } from '../numbers/normalise.js';
import type { SessionRecord } from '../sessions/contract.js';
import { SessionInputError, type SessionOptions, type SessionStore } from '../sessions/store.js';
import type { DataLifecycle } from '../lifecycle/data.js';
import type { Durability } from '../sessions/durability.js';
import { inputIn, invalid, notFound } from './problem.js';
import { problemResponses } from './responses.js';

export type SessionService = Pick<SessionStore, 'create' | 'allocate' | 'get' | 'close' | 'extend' | 'update' | 'sessionsOf' | 'list'>;

const Id = Type.String({ pattern: '^[A-Za-z0-9._:-]{1,128}$', description: 'Session id (e.g. the order id)' });
const Number_ = (description: string) => Type.String({ minLength: 3, maxLength: 32, description });
const Options = {
  record: Type.Optional(Type.Boolean()),
  label: Type.Optional(Type.String({ maxLength: 200, description: 'Free text for people (never a phone number)' })),
  whisperA: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_./:-]{1,200}$', description: 'Audio file played to A when A is the one called' })),
  whisperB: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_./:-]{1,200}$', description: 'Audio file played to B when B is the one called' })),
  consent: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_./:-]{1,200}$', description: 'Consent prompt for this session\'s recorded calls instead of the configured one; none: no prompt' })),
  direction: Type.Optional(Type.Union([Type.Literal('both'), Type.Literal('a-to-b')], { description: 'a-to-b: only A may call (one-way)' })),
  meta: Type.Optional(Type.Unknown({ description: 'Any JSON for the backend, kept as given (at most 4096 characters serialised)' })),
  windows: Type.Optional(Type.String({ maxLength: 200, description: 'When calls may connect, e.g. "mon-fri 08:00-20:00; sat 09:00-13:00" (in tz)' })),
  tz: Type.Optional(Type.String({ maxLength: 64, description: 'IANA time zone of the windows, e.g. Asia/Kolkata (default UTC)' })),
  maxDurationSec: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400, description: 'Longest call of this session (never above calls.maxDurationSec)' })),
  ringTimeoutSec: Type.Optional(Type.Integer({ minimum: 1, maximum: 600, description: 'How long the other party rings' })),
  webhookUrl: Type.Optional(Type.String({ maxLength: 2048, pattern: '^https?://', description: 'Where this session\'s events go (instead of webhooks.defaultUrl); receives the participants\' numbers (docs/webhooks.md)' })),
  unknownCaller: Type.Optional(Type.String({
    pattern: '^(reject|connect-a|connect-b|announce:[A-Za-z0-9_./:-]{1,200})$',
    description: 'What callers with no session on the virtual number (and B on a one-way session) get: reject (calls.unknownCaller, the default), announce:{file}, connect-a or connect-b. Any but reject dedicates the number to this session (409 if another open session holds it)',
  })),
};
const CreateBody = Type.Object(
  {
    id: Id,
    virtualNumber: Type.Optional(Number_('Virtual number, E.164 preferred; or give pool')),
    pool: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'Allocate the virtual number from this pool' })),
    geo: Type.Optional(Type.String({ pattern: '^(none|country|\\+[0-9]{1,3})$', description: 'Allocation geo match: none, country (A\'s country calling code) or +{code}; default the pool\'s' })),
    a: Number_('Participant A (e.g. the customer)'),
    b: Number_('Participant B (e.g. the driver)'),
    expiresAt: Type.Optional(Type.String({ format: 'date-time', description: 'When calls stop connecting (ISO 8601)' })),
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 31 * 24 * 3600, description: 'Alternative to expiresAt: counted from now' })),
    slidingTtlSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 31 * 24 * 3600, description: 'Sliding TTL: after each answered call the session lives this long past its end' })),
    maxExpiresAt: Type.Optional(Type.String({ format: 'date-time', description: 'Absolute expiry on top of either TTL' })),
    ...Options,
  },
  { additionalProperties: false },
);
const UpdateBody = Type.Object(
  {
    expiresAt: Type.Optional(Type.String({ format: 'date-time', description: 'Extend (or shorten) to this time' })),
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 31 * 24 * 3600, description: 'Extend to now plus this' })),
    ...Options,
  },
  { additionalProperties: false, minProperties: 1 },
);
export const SessionOut = Type.Object({
  id: Type.String(),
  virtualNumber: Type.String(),
  a: Type.String(),
  b: Type.String(),
  status: Type.Union([Type.Literal('open'), Type.Literal('closed')]),
  expiresAt: Type.String(),
  record: Type.Union([Type.Boolean(), Type.Null()]),
  label: Type.Union([Type.String(), Type.Null()]),
  pool: Type.Union([Type.String(), Type.Null()]),
  direction: Type.Union([Type.Literal('both'), Type.Literal('a-to-b')]),
  slidingTtlSeconds: Type.Union([Type.Integer(), Type.Null()]),
  maxExpiresAt: Type.Union([Type.String(), Type.Null()]),
  meta: Type.Unknown(),
  windows: Type.Union([Type.String(), Type.Null()]),
  tz: Type.String(),
  consent: Type.Union([Type.String(), Type.Null()]),
  maxDurationSec: Type.Union([Type.Integer(), Type.Null()]),
  ringTimeoutSec: Type.Union([Type.Integer(), Type.Null()]),
  webhookUrl: Type.Union([Type.String(), Type.Null()]),
  unknownCaller: Type.Union([Type.String(), Type.Null()]),
});

export function sessionOut(s: SessionRecord) {
  return {
    id: s.id, virtualNumber: s.virtualNumber, a: s.a, b: s.b, status: s.status,
    expiresAt: new Date(s.expiresAt).toISOString(), record: s.record ?? null, label: s.label ?? null,
    pool: s.pool ?? null, direction: s.direction, slidingTtlSeconds: s.ttlSec ?? null,
    maxExpiresAt: s.maxExpiresAt === undefined ? null : new Date(s.maxExpiresAt).toISOString(),
    meta: s.meta === undefined ? null : (JSON.parse(s.meta) as unknown),
    windows: s.windowsText ?? null, tz: s.tz, consent: s.consent ?? null, maxDurationSec: s.maxDurationSec ?? null, ringTimeoutSec: s.ringTimeoutSec ?? null,
    webhookUrl: s.webhookUrl ?? null, unknownCaller: s.unknownCaller ?? null,
  };
}

type Auth = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

/** The header that says whether a session write reached redis.waitReplicas replicas (docs/redis-contract.md, "Durability"). */
export const REPLICATED_HEADER = 'maskbridge-replicated';

export function registerSessionRoutes(instance: FastifyInstance, deps: {
  store: SessionService; lifecycle: Pick<DataLifecycle, 'erase'>; defaultRegion: string; auth: Auth;
  /** WAIT after each write, on the connection `store` and `lifecycle` write on; absent: no WAIT, no header. */
  durability?: Pick<Durability, 'run'>;
}) {
  const r = instance.withTypeProvider<TypeBoxTypeProvider>();
  const { store, auth } = deps;
  /** A write, then WAIT: MaskBridge-Replicated 1 (on the replicas) or 0 (on the primary only, so far). */
  const durable = async <T>(reply: FastifyReply, write: () => Promise<T>): Promise<T> => {
    if (!deps.durability) return write();
    const { value, replicated } = await deps.durability.run(write);
    if (replicated !== null) {
      void reply.header(REPLICATED_HEADER, replicated ? '1' : '0');
      if (!replicated) reply.log.warn({ route: reply.request.routeOptions.url }, 'session write not on the replicas within redis.waitTimeoutMs: a failover now could lose it');
    }
    return value;
  };
  const e164 = (field: string, value: string): string => {
    try {
      return toE164(value, deps.defaultRegion);
    } catch (err) {
      if (err instanceof NumberFormatError) throw new SessionInputError(field, `"${value}" is ${err.message}`);
      throw err;
    }
  };
  const security = [{ bearer: [] }];

  r.post('/v1/sessions', {
    onRequest: auth,
    schema: {
      summary: 'Create a session on a named virtual number, or on one allocated from a pool',
      body: CreateBody,
      response: { 201: SessionOut, ...problemResponses(400, 401, 404, 409, 415, 500, 503) },
      security,
    },
  }, async (req, reply) => inputIn('body', async () => {
    const body = req.body;
    if ((body.virtualNumber === undefined) === (body.pool === undefined)) throw new SessionInputError('virtualNumber', 'give exactly one of virtualNumber and pool');
    if (body.geo !== undefined && body.pool === undefined) throw new SessionInputError('geo', 'only applies with pool');
    const ttls = [body.expiresAt, body.ttlSeconds, body.slidingTtlSeconds].filter((v) => v !== undefined).length;
    if (ttls !== 1) throw new SessionInputError('expiresAt', 'give exactly one of expiresAt, ttlSeconds and slidingTtlSeconds');
    const now = Date.now();
    const expiresAt = body.expiresAt !== undefined ? Date.parse(body.expiresAt) : now + ((body.ttlSeconds ?? body.slidingTtlSeconds) as number) * 1000;
    const base = {
      id: body.id, a: e164('a', body.a), b: e164('b', body.b), expiresAt,
      ...options(body),
      ...(body.slidingTtlSeconds !== undefined ? { ttlSec: body.slidingTtlSeconds } : {}),
      ...(body.maxExpiresAt !== undefined ? { maxExpiresAt: Date.parse(body.maxExpiresAt) } : {}),
    };
    const token = idempotencyToken(req.headers['idempotency-key'], body);
    const virtualNumber = body.pool === undefined ? e164('virtualNumber', body.virtualNumber as string) : '';
    const created = await durable(reply, () => (body.pool !== undefined
      ? store.allocate({ ...base, pool: body.pool, ...(body.geo !== undefined ? { geo: body.geo } : {}) }, token)
      : store.create({ ...base, virtualNumber }, token)));
    if (created.replayed) reply.header('idempotent-replayed', 'true');
    return reply.code(201).send(sessionOut(created));
  }));

  r.get('/v1/sessions', {
    onRequest: auth,
    schema: {
      summary: 'List sessions, filtered, a page at a time (a page may hold more than limit; next is the cursor, null at the end)',
      querystring: Type.Object({
        status: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('closed')])),
        pool: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' })),
        virtualNumber: Type.Optional(Number_('Only sessions on this virtual number')),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
        cursor: Type.Optional(Type.String({ pattern: '^\\d{1,20}$' })),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ sessions: Type.Array(SessionOut), next: Type.Union([Type.String(), Type.Null()]) }), ...problemResponses(400, 401, 500, 503) },
      security,
    },
  }, async (req) => inputIn('query', async () => {
    const q = req.query;
    const page = await store.list({
      limit: q.limit ?? 100, ...(q.status ? { status: q.status } : {}), ...(q.pool ? { pool: q.pool } : {}),
      ...(q.virtualNumber ? { virtualNumber: e164('virtualNumber', q.virtualNumber) } : {}), ...(q.cursor ? { cursor: q.cursor } : {}),
    });
    return { sessions: page.sessions.map(sessionOut), next: page.next };
  }));

  r.get('/v1/sessions/:id', {
    onRequest: auth,
    schema: { summary: 'Read a session', params: Type.Object({ id: Id }), response: { 200: SessionOut, ...problemResponses(400, 401, 404, 500, 503) }, security },
  }, async (req) => inputIn('params', async () => {
    const s = await store.get(req.params.id);
    if (!s) throw notFound(`no session ${req.params.id}`);
    return sessionOut(s);
  }));

  r.patch('/v1/sessions/:id', {
    onRequest: auth,
    schema: {
      summary: 'Extend a session or change its options',
      params: Type.Object({ id: Id }),
      body: UpdateBody,
      response: { 200: SessionOut, ...problemResponses(400, 401, 404, 415, 500, 503) },
      security,
    },
  }, async (req, reply) => inputIn('body', async () => {
    const body = req.body;
    if (body.expiresAt !== undefined && body.ttlSeconds !== undefined) throw new SessionInputError('expiresAt', 'give at most one of expiresAt and ttlSeconds');
    const opts = options(body);
    const s = await durable(reply, async () => {
      let out: SessionRecord | null = null;
      if (Object.keys(opts).length > 0) out = await store.update(req.params.id, opts);
      if (body.expiresAt !== undefined || body.ttlSeconds !== undefined) {
        out = await store.extend(req.params.id, body.expiresAt !== undefined ? Date.parse(body.expiresAt) : Date.now() + (body.ttlSeconds as number) * 1000);
      }
      return out;
    });
    return sessionOut(s as SessionRecord);
  }));

  r.delete('/v1/sessions/:id', {
    onRequest: auth,
    schema: {
      summary: 'Close a session: calls stop connecting at once, and its live calls are hung up on every instance',
      params: Type.Object({ id: Id }),
      response: { 204: Type.Null(), ...problemResponses(400, 401, 404, 500, 503) },
      security,
    },
  }, async (req, reply) => inputIn('params', async () => {
    if (!(await durable(reply, () => store.close(req.params.id)))) throw notFound(`no session ${req.params.id}`);
    return reply.code(204).send(null);
  }));

  r.get('/v1/participants/:number/sessions', {
    onRequest: auth,
    schema: {
      summary: 'A participant\'s open sessions',
      params: Type.Object({ number: Number_('The participant, E.164 (URL-encode the +)') }),
      response: { 200: Type.Object({ sessions: Type.Array(SessionOut) }), ...problemResponses(400, 401, 500, 503) },
      security,
    },
  }, async (req) => inputIn('params', async () => ({ sessions: (await store.sessionsOf(e164('number', req.params.number))).map(sessionOut) })));

  r.delete('/v1/participants/:number', {
    onRequest: auth,
    schema: {
      summary: 'Erase a participant: every session of theirs (open or not), its routes and recordings; live calls are hung up',
      params: Type.Object({ number: Number_('The participant, E.164 (URL-encode the +)') }),
      response: { 200: Type.Object({ sessions: Type.Array(Type.String()), recordingFolders: Type.Integer() }), ...problemResponses(400, 401, 500, 503) },
      security,
    },
  }, async (req, reply) => inputIn('params', async () => {
    const number = e164('number', req.params.number);
    const erased = await durable(reply, () => deps.lifecycle.erase(number));
    return { sessions: erased.sessions, recordingFolders: erased.recordingFolders };
  }));
}

function options(body: {
  record?: boolean; label?: string; whisperA?: string; whisperB?: string; direction?: 'both' | 'a-to-b'; meta?: unknown;
  windows?: string; tz?: string; maxDurationSec?: number; ringTimeoutSec?: number; consent?: string; webhookUrl?: string; unknownCaller?: string;
}): SessionOptions {
  const o: SessionOptions = {};
  if (body.unknownCaller !== undefined) o.unknownCaller = body.unknownCaller;
  if (body.webhookUrl !== undefined) o.webhookUrl = body.webhookUrl;
  if (body.windows !== undefined) o.windows = body.windows;
  if (body.consent !== undefined) o.consent = body.consent;
  if (body.tz !== undefined) o.tz = body.tz;
  if (body.maxDurationSec !== undefined) o.maxDurationSec = body.maxDurationSec;
  if (body.ringTimeoutSec !== undefined) o.ringTimeoutSec = body.ringTimeoutSec;
  if (body.record !== undefined) o.record = body.record;
  if (body.label !== undefined) o.label = body.label;
  if (body.whisperA !== undefined) o.whisperA = body.whisperA;
  if (body.whisperB !== undefined) o.whisperB = body.whisperB;
  if (body.direction !== undefined) o.direction = body.direction;
  if (body.meta !== undefined) o.meta = JSON.stringify(body.meta);
  return o;
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
