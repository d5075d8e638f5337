/**
 * Recordings over HTTP: a session's recordings (metadata), and an authenticated download that
 * honours a single Range (RFC 9110 §14), for players that seek. Files are read where this
 * process sees media.recording.dir.
 */
import { createReadStream } from 'node:fs';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { listRecordings } from '../media/retention.js';
import { ApiProblem, inputIn, notFound } from './problem.js';
import { problemResponses } from './responses.js';

type Auth = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;
const Id = Type.String({ pattern: '^[A-Za-z0-9._:-]{1,128}$' });

/** Parses `bytes=a-b`, `bytes=a-`, `bytes=-n` against `size`; null when unsatisfiable, undefined when absent. */
export function byteRange(header: string | undefined, size: number): { start: number; end: number } | null | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  return start > end || start >= size ? null : { start, end };
}

export function registerRecordingRoutes(instance: FastifyInstance, deps: { dir: string; auth: Auth }) {
  const r = instance.withTypeProvider<TypeBoxTypeProvider>();
  const security = [{ bearer: [] }];
  r.get('/v1/sessions/:id/recordings', {
    onRequest: deps.auth,
    schema: {
      summary: 'A session\'s finished recordings',
      params: Type.Object({ id: Id }),
      response: {
        200: Type.Object({ recordings: Type.Array(Type.Object({ name: Type.String(), day: Type.String(), bytes: Type.Integer(), url: Type.String() })) }),
        ...problemResponses(400, 401, 500, 503),
      },
      security,
    },
  }, async (req) => inputIn('params', async () => ({
    recordings: (await listRecordings(deps.dir, req.params.id)).map((f) => ({
      name: f.name, day: f.day, bytes: f.bytes, url: `/v1/sessions/${encodeURIComponent(req.params.id)}/recordings/${f.day}/${f.name}`,
    })),
  })));

  r.get('/v1/sessions/:id/recordings/:day/:name', {
    onRequest: deps.auth,
    schema: {
      summary: 'Download a recording (audio/wav); a Range header gets 206 with that part',
      params: Type.Object({ id: Id, day: Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' }), name: Type.String({ pattern: '^[A-Za-z0-9._-]{1,140}\\.wav$' }) }),
      response: {
        200: { description: 'The file', content: { 'audio/wav': { schema: Type.Unknown({ format: 'binary' }) } } },
        206: { description: 'The part the Range asked for', content: { 'audio/wav': { schema: Type.Unknown({ format: 'binary' }) } } },
        ...problemResponses(400, 401, 404, 416, 500, 503),
      },
      security,
    },
  }, async (req, reply) => inputIn('params', async () => {
    const file = (await listRecordings(deps.dir, req.params.id)).find((f) => f.day === req.params.day && f.name === req.params.name);
    if (!file) throw notFound(`no recording ${req.params.day}/${req.params.name} of session ${req.params.id}`);
    const range = byteRange(req.headers.range, file.bytes);
    reply.header('accept-ranges', 'bytes').type('audio/wav');
    if (range === null) {
      throw new ApiProblem(416, 'about:blank', 'range not satisfiable', `the file has ${file.bytes} bytes`, 'headers/range', { 'content-range': `bytes */${file.bytes}` });
    }
    if (range === undefined) return reply.header('content-length', file.bytes).send(createReadStream(file.path));
    return reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${file.bytes}`).header('content-length', range.end - range.start + 1)
      .send(createReadStream(file.path, { start: range.start, end: range.end }));
  }));
}
