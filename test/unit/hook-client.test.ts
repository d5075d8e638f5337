/** The hooks' HTTP client against a local server: answers, failures, limits, the signature. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Type } from 'typebox';
import { HookClient, MAX_RESPONSE_BYTES } from '../../src/hooks/client.js';
import { InterceptHook, InterceptResponse } from '../../src/hooks/intercept.js';
import { OutOfSessionHook } from '../../src/hooks/out-of-session.js';
import { NO_OPTIONS, type SessionRecord } from '../../src/sessions/contract.js';
import { SessionExistsError, type NewSession } from '../../src/sessions/store.js';
import { verify } from '../../src/util/signature.js';
import { freePort } from '../helpers/net.js';
import { HookServer, json } from '../helpers/hook-server.js';

const server = new HookServer();
beforeAll(() => server.start());
afterAll(() => server.stop());
beforeEach(() => {
  server.requests.length = 0;
});

const SECRET = 'hook-secret';
const client = (timeoutMs = 300, url = server.url()) => new HookClient({ url, secret: SECRET, timeoutMs }, InterceptResponse);

describe('HookClient', () => {
  it('POSTs the JSON body, signed, and returns the validated answer', async () => {
    server.answer({ action: 'allow' });
    expect(await client().post({ call_id: 'c1', caller: '+919812341234' })).toEqual({ kind: 'ok', value: { action: 'allow' } });
    const req = server.requests[0]!;
    expect(req.json).toEqual({ call_id: 'c1', caller: '+919812341234' });
    expect(req.headers['content-type']).toBe('application/json');
    expect(verify(SECRET, req.body, String(req.headers['maskbridge-signature']), Math.floor(Date.now() / 1000))).toEqual({ ok: true });
    expect(verify('other-secret', req.body, String(req.headers['maskbridge-signature']), Math.floor(Date.now() / 1000))).toMatchObject({ ok: false });
  });

  it('returns a deny as the hook gave it', async () => {
    server.answer({ action: 'deny', status: 486, reason: 'Fraud Check' });
    expect(await client().post({})).toEqual({ kind: 'ok', value: { action: 'deny', status: 486, reason: 'Fraud Check' } });
  });

  it('gives up at the timeout', async () => {
    server.answer({ action: 'allow' }, 2000);
    const t0 = Date.now();
    expect(await client(150).post({})).toEqual({ kind: 'timeout' });
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('times out a body that trickles in past the deadline', async () => {
    server.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"action":');
      const t = setTimeout(() => res.end('"allow"}'), 2000);
      res.on('close', () => clearTimeout(t));
    };
    expect(await client(150).post({})).toEqual({ kind: 'timeout' });
  });

  it.each([
    ['an HTTP 500', (res: Parameters<typeof json>[0]) => json(res, { action: 'allow' }, 500), 'HTTP 500'],
    ['a redirect (never followed)', (res: Parameters<typeof json>[0]) => {
      res.writeHead(302, { location: 'http://127.0.0.1:1/elsewhere' });
      res.end();
    }, 'fetch failed'],
    ['malformed JSON', (res: Parameters<typeof json>[0]) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"action":"allow"');
    }, 'not JSON'],
    ['an answer that does not validate', (res: Parameters<typeof json>[0]) => json(res, { action: 'maybe' }), 'does not validate'],
    ['a JSON string', (res: Parameters<typeof json>[0]) => json(res, 'allow'), 'does not validate'],
    ['an oversize body (announced)', (res: Parameters<typeof json>[0]) => json(res, { action: 'allow', pad: 'x'.repeat(MAX_RESPONSE_BYTES) }), `over ${MAX_RESPONSE_BYTES} bytes`],
    ['an oversize body (chunked)', (res: Parameters<typeof json>[0]) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`{"action":"allow","pad":"${'x'.repeat(MAX_RESPONSE_BYTES)}`);
      res.end('"}');
    }, `over ${MAX_RESPONSE_BYTES} bytes`],
  ])('returns an error for %s', async (_what, handler, problem) => {
    server.handler = (_req, res) => handler(res);
    const reply = await client().post({});
    expect(reply.kind).toBe('error');
    expect(reply.kind === 'error' && reply.problem).toContain(problem);
  });

  it('returns an error when nothing listens', async () => {
    const reply = await client(300, `http://127.0.0.1:${await freePort()}/hook`).post({});
    expect(reply).toMatchObject({ kind: 'error', problem: expect.stringContaining('ECONNREFUSED') });
  });

  it('keeps the connection alive between requests', async () => {
    server.answer({ action: 'allow' });
    const c = client();
    for (let i = 0; i < 6; i++) await c.post({});
    expect(server.requests).toHaveLength(6);
    // undici's pool may open a second connection while the first is being released; never one per request.
    expect(new Set(server.requests.map((r) => r.remotePort)).size).toBeLessThanOrEqual(2);
  });

  it('validates against the schema it is given', async () => {
    server.answer({ n: 3 });
    const c = new HookClient({ url: server.url(), secret: SECRET, timeoutMs: 300 }, Type.Object({ n: Type.Integer() }));
    expect(await c.post({})).toEqual({ kind: 'ok', value: { n: 3 } });
  });
});

describe('InterceptHook', () => {
  const observed: Array<[string, number]> = [];
  const outcomes: string[] = [];
  const metrics = {
    seconds: { observe: (l: { hook: string }, v: number) => void observed.push([l.hook, v]) },
    outcomes: { inc: (l: { hook: string; outcome: string }) => void outcomes.push(`${l.hook}:${l.outcome}`) },
  };
  const hook = (failPolicy: 'open' | 'closed', timeoutMs = 150) => new InterceptHook({ url: server.url(), timeoutMs, failPolicy, failStatus: 503 }, SECRET, metrics);
  beforeEach(() => {
    observed.length = 0;
    outcomes.length = 0;
  });

  it('allows and denies as answered, under either policy', async () => {
    for (const policy of ['open', 'closed'] as const) {
      server.answer({ action: 'allow' });
      expect(await hook(policy).ask(REQ)).toEqual({ action: 'allow', outcome: 'allow' });
      server.answer({ action: 'deny', status: 603, reason: 'Blocked' });
      expect(await hook(policy).ask(REQ)).toEqual({ action: 'deny', status: 603, reason: 'Blocked', disposition: 'hook-denied', outcome: 'deny' });
    }
    expect(outcomes).toEqual(['intercept:allow', 'intercept:deny', 'intercept:allow', 'intercept:deny']);
    expect(observed.map(([h]) => h)).toEqual(['intercept', 'intercept', 'intercept', 'intercept']);
  });

  it('denies a deny whose status or reason is unusable: 403, and no reason of its own', async () => {
    server.answer({ action: 'deny', status: 200, reason: 'x\r\nVia: evil' });
    expect(await hook('open').ask(REQ)).toMatchObject({ action: 'deny', status: 403, reason: '', disposition: 'hook-denied', problem: expect.stringContaining('200') });
    server.answer({ action: 'deny' });
    expect(await hook('open').ask(REQ)).toMatchObject({ action: 'deny', status: 403, reason: '' });
  });

  it('on timeout or a bad answer: allows when open, denies with failStatus when closed', async () => {
    server.answer({ action: 'allow' }, 1000);
    expect(await hook('open').ask(REQ)).toMatchObject({ action: 'allow', outcome: 'timeout' });
    expect(await hook('closed').ask(REQ)).toMatchObject({ action: 'deny', status: 503, disposition: 'hook-failed', outcome: 'timeout' });
    server.answer({ verdict: 'yes' });
    expect(await hook('open').ask(REQ)).toMatchObject({ action: 'allow', outcome: 'error' });
    expect(await hook('closed').ask(REQ)).toMatchObject({ action: 'deny', status: 503, disposition: 'hook-failed', outcome: 'error' });
    expect(observed.filter(([, s]) => s >= 0.14)).toHaveLength(2);
  });
});

const REQ = { call_id: 'c', session_id: 's', virtual_number: '+912240001000', direction: 'a->b', from: 'a', caller: '+919812341234', callee: '+919876549876' } as const;

describe('OutOfSessionHook', () => {
  const metrics = { seconds: { observe: () => undefined }, outcomes: { inc: () => undefined } };
  const created: NewSession[] = [];
  let refuse: Error | null = null;
  const create = async (s: NewSession): Promise<SessionRecord> => {
    if (refuse) throw refuse;
    created.push(s);
    return { ...NO_OPTIONS, id: s.id, virtualNumber: s.virtualNumber, a: s.a, b: s.b, status: 'open', expiresAt: s.expiresAt, createdAt: 0, closedAt: undefined };
  };
  const hook = (failPolicy: 'open' | 'closed') => new OutOfSessionHook({ url: server.url(), timeoutMs: 300, failPolicy, failStatus: 480 }, SECRET, { create, metrics, now: () => 1_000_000 });
  const ASK = { call_id: 'c', virtual_number: '+912240001000', caller: '+919812341234' };
  beforeEach(() => {
    created.length = 0;
    refuse = null;
  });

  it('creates the session with the caller as A, V, and the expiry asked for', async () => {
    server.answer({ action: 'create', session: { id: 'oos-1', b: '+919876549876', ttl_seconds: 600, record: false, meta: { order: 7 } } });
    expect(await hook('closed').ask(ASK)).toMatchObject({ action: 'session', outcome: 'create', session: { id: 'oos-1', a: ASK.caller, b: '+919876549876' } });
    expect(created).toEqual([{ id: 'oos-1', virtualNumber: ASK.virtual_number, a: ASK.caller, b: '+919876549876', expiresAt: 1_000_000 + 600_000, record: false, meta: '{"order":7}' }]);
    server.answer({ action: 'create', session: { b: '+919876549876', expires_at: '2030-01-01T00:00:00Z' } });
    expect(await hook('closed').ask(ASK)).toMatchObject({ action: 'session' });
    expect(created[1]).toMatchObject({ id: expect.stringMatching(/^oos-[0-9a-f-]{36}$/), expiresAt: Date.parse('2030-01-01T00:00:00Z') });
  });

  it.each([
    ['no expiry', { action: 'create', session: { b: '+919876549876' } }, 'exactly one of expires_at and ttl_seconds'],
    ['two expiries', { action: 'create', session: { b: '+919876549876', ttl_seconds: 5, expires_at: '2030-01-01T00:00:00Z' } }, 'exactly one'],
    ['a B that is not E.164', { action: 'create', session: { b: '09876549876', ttl_seconds: 5 } }, 'does not validate'],
    ['a route to a number that is not E.164', { action: 'route', to: '9876549876' }, 'not an E.164 number'],
    ['a route back to the caller', { action: 'route', to: '+919812341234' }, 'the caller or the virtual number'],
    ['an unknown action', { action: 'connect', to: '+919876549876' }, 'does not validate'],
  ])('treats %s as an error: static treatment when open, failStatus when closed', async (_what, answer, problem) => {
    server.answer(answer);
    expect(await hook('open').ask(ASK)).toMatchObject({ action: 'static', outcome: 'error', problem: expect.stringContaining(problem) });
    expect(await hook('closed').ask(ASK)).toMatchObject({ action: 'reject', status: 480, outcome: 'error', problem: expect.stringContaining(problem) });
    expect(created).toEqual([]);
  });

  it('treats a session the store refuses (mb_create never replaces one) as an error', async () => {
    refuse = new SessionExistsError('oos-1');
    server.answer({ action: 'create', session: { id: 'oos-1', b: '+919876549876', ttl_seconds: 60 } });
    expect(await hook('closed').ask(ASK)).toMatchObject({ action: 'reject', outcome: 'error', problem: expect.stringContaining('already exists') });
  });

  it('routes, or gives the static treatment for none', async () => {
    server.answer({ action: 'route', to: '+919876549876', record: true });
    expect(await hook('closed').ask(ASK)).toEqual({ action: 'route', to: '+919876549876', record: true, outcome: 'route' });
    server.answer({ action: 'none' });
    expect(await hook('closed').ask(ASK)).toEqual({ action: 'static', outcome: 'none' });
  });
});

describe('docs/hooks.md', () => {
  it('shows only answers the hooks accept', async () => {
    const { readFileSync } = await import('node:fs');
    const { Compile } = await import('typebox/compile');
    const { OutOfSessionResponse } = await import('../../src/hooks/out-of-session.js');
    const doc = readFileSync('docs/hooks.md', 'utf8');
    const answers = [...doc.matchAll(/^\{ "action".*\}$/gm)].map((m) => JSON.parse(m[0]) as { action: string });
    expect(answers.map((a) => a.action)).toEqual(['allow', 'deny', 'create', 'route', 'none']);
    const intercept = Compile(InterceptResponse);
    const oos = Compile(OutOfSessionResponse);
    for (const a of answers) expect(['allow', 'deny'].includes(a.action) ? intercept.Check(a) : oos.Check(a)).toBe(true);
  });
});
