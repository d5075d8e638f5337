/**
 * The out-of-session hook (docs/hooks.md): asked when a caller has no session on the virtual
 * number (the lookup found none). The backend sees the caller's number, which is what lets it
 * handle "the customer calls from another phone", and answers with a session to create (the
 * caller as A), a number to route the caller to, or none (the static treatment).
 *
 * When it cannot say (timeout, error, an answer that does not validate, a session the store
 * refuses), the fail policy applies: "open" is the static treatment (as if no hook were
 * configured), "closed" refuses the call with failStatus. "Open" cannot mean connecting: without
 * an answer there is nobody to connect the caller to.
 */
import { randomUUID } from 'node:crypto';
import { Type, type Static } from 'typebox';
import type { HookConfig } from '../config/types.js';
import { isE164 } from '../numbers/normalise.js';
import type { SessionRecord } from '../sessions/contract.js';
import type { NewSession } from '../sessions/store.js';
import { HookClient, type HookMetrics, type HookReply } from './client.js';

export interface OutOfSessionRequest {
  call_id: string;
  virtual_number: string;
  /** The caller's real number: the reason this hook exists. */
  caller: string;
}

const MAX_TTL_SEC = 31 * 24 * 3600;

const NewSessionOut = Type.Object({
  id: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._:-]{1,128}$' })),
  /** The participant to reach (E.164); the caller is A. */
  b: Type.String({ pattern: '^\\+[1-9][0-9]{6,14}$' }),
  expires_at: Type.Optional(Type.String({ format: 'date-time' })),
  ttl_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TTL_SEC })),
  record: Type.Optional(Type.Boolean()),
  label: Type.Optional(Type.String({ maxLength: 200 })),
  direction: Type.Optional(Type.Union([Type.Literal('both'), Type.Literal('a-to-b')])),
  meta: Type.Optional(Type.Unknown()),
  max_duration_sec: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400 })),
  ring_timeout_sec: Type.Optional(Type.Integer({ minimum: 1, maximum: 600 })),
});

export const OutOfSessionResponse = Type.Union([
  Type.Object({ action: Type.Literal('create'), session: NewSessionOut }),
  Type.Object({ action: Type.Literal('route'), to: Type.String(), record: Type.Optional(Type.Boolean()) }),
  Type.Object({ action: Type.Literal('none') }),
]);

export type OutOfSessionOutcome = 'create' | 'route' | 'none' | 'timeout' | 'error';

export type OutOfSessionVerdict =
  /** The session was created (the caller is A): bridge it as a found session. */
  | { action: 'session'; session: SessionRecord; outcome: 'create' }
  /** Call `to` with V as the identity; no session. */
  | { action: 'route'; to: string; record: boolean | undefined; outcome: 'route' }
  /** The treatment the caller gets without the hook (PIN prompt or calls.unknownCaller). */
  | { action: 'static'; outcome: 'none' | 'timeout' | 'error'; problem?: string }
  | { action: 'reject'; status: number; outcome: 'timeout' | 'error'; problem: string };

export interface OutOfSessionDeps {
  /** The store's create (SessionStore.create: mb_create, never replaces a session). */
  create: (s: NewSession) => Promise<SessionRecord>;
  metrics: HookMetrics;
  now?: () => number;
}

export class OutOfSessionHook {
  private readonly client: HookClient<typeof OutOfSessionResponse>;
  private readonly now: () => number;

  constructor(private readonly settings: HookConfig, secret: string, private readonly deps: OutOfSessionDeps) {
    this.client = new HookClient({ url: settings.url, secret, timeoutMs: settings.timeoutMs }, OutOfSessionResponse);
    this.now = deps.now ?? Date.now;
  }

  /** Never rejects. `caller` and `virtual_number` are E.164 (the call path validated them). */
  async ask(req: OutOfSessionRequest): Promise<OutOfSessionVerdict> {
    const t0 = process.hrtime.bigint();
    const reply = await this.client.post(req);
    this.deps.metrics.seconds.observe({ hook: 'out_of_session' }, Number(process.hrtime.bigint() - t0) / 1e9);
    const verdict = await this.verdict(req, reply);
    this.deps.metrics.outcomes.inc({ hook: 'out_of_session', outcome: verdict.outcome });
    return verdict;
  }

  private async verdict(req: OutOfSessionRequest, reply: HookReply<Static<typeof OutOfSessionResponse>>): Promise<OutOfSessionVerdict> {
    if (reply.kind === 'timeout') return this.failed('timeout', `no answer within ${this.settings.timeoutMs} ms`);
    if (reply.kind === 'error') return this.failed('error', reply.problem);
    const r = reply.value;
    switch (r.action) {
      case 'none':
        return { action: 'static', outcome: 'none' };
      case 'route':
        if (!isE164(r.to)) return this.failed('error', 'route: "to" is not an E.164 number');
        if (r.to === req.caller || r.to === req.virtual_number) return this.failed('error', 'route: "to" is the caller or the virtual number');
        return { action: 'route', to: r.to, record: r.record, outcome: 'route' };
      case 'create':
        return this.create(req, r.session);
    }
  }

  private async create(req: OutOfSessionRequest, s: Static<typeof NewSessionOut>): Promise<OutOfSessionVerdict> {
    if ((s.expires_at === undefined) === (s.ttl_seconds === undefined)) return this.failed('error', 'create: give exactly one of expires_at and ttl_seconds');
    const expiresAt = s.expires_at !== undefined ? Date.parse(s.expires_at) : this.now() + (s.ttl_seconds as number) * 1000;
    const input: NewSession = {
      id: s.id ?? `oos-${randomUUID()}`, virtualNumber: req.virtual_number, a: req.caller, b: s.b, expiresAt,
      ...(s.record !== undefined ? { record: s.record } : {}),
      ...(s.label !== undefined ? { label: s.label } : {}),
      ...(s.direction !== undefined ? { direction: s.direction } : {}),
      ...(s.meta !== undefined ? { meta: JSON.stringify(s.meta) } : {}),
      ...(s.max_duration_sec !== undefined ? { maxDurationSec: s.max_duration_sec } : {}),
      ...(s.ring_timeout_sec !== undefined ? { ringTimeoutSec: s.ring_timeout_sec } : {}),
    };
    try {
      const session = await this.deps.create(input);
      return { action: 'session', session, outcome: 'create' };
    } catch (err) {
      // A refusal (bad input, a session that exists, a participant with an open session on V) or the store not answering.
      return this.failed('error', `create: ${(err as Error).message}`);
    }
  }

  private failed(outcome: 'timeout' | 'error', problem: string): OutOfSessionVerdict {
    if (this.settings.failPolicy === 'open') return { action: 'static', outcome, problem };
    return { action: 'reject', status: this.settings.failStatus, outcome, problem };
  }
}
