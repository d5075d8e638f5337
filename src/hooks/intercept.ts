/**
 * The intercept hook (docs/hooks.md): asked before the other party is called; the backend allows
 * or denies the call. What happens when it cannot say (timeout, error, an answer that does not
 * validate) is the configured fail policy: "closed" refuses the call with failStatus, "open"
 * places it as if allowed.
 */
import { Type } from 'typebox';
import type { HookConfig } from '../config/types.js';
import { HookClient, type HookMetrics } from './client.js';

export interface InterceptRequest {
  /** The call's keyed Call-ID hash (the id CDRs and logs carry), never the raw Call-ID. */
  call_id: string;
  /** '' for a call the out-of-session hook routed (no session). */
  session_id: string;
  virtual_number: string;
  direction: 'a->b' | 'b->a';
  /** The participant calling; `unknown`: a caller with no session on V, connected by V's dedicated session (unknown_caller). */
  from: 'a' | 'b' | 'unknown';
  caller: string;
  callee: string;
  /** The session's meta, as the backend stored it. */
  meta?: unknown;
}

/**
 * `allow`, or `deny` with an optional status and reason. A deny denies whatever else is wrong in
 * it (a typo in its status never turns it into an allow): a status that is not a whole number
 * from 400 to 699 becomes 403, a reason that is not a plain phrase is left to the SIP stack.
 */
export const InterceptResponse = Type.Union([
  Type.Object({ action: Type.Literal('allow') }),
  Type.Object({ action: Type.Literal('deny'), status: Type.Optional(Type.Unknown()), reason: Type.Optional(Type.Unknown()) }),
]);

export type InterceptOutcome = 'allow' | 'deny' | 'timeout' | 'error';

export type InterceptVerdict =
  | { action: 'allow'; outcome: InterceptOutcome; problem?: string }
  | { action: 'deny'; status: number; reason: string; disposition: 'hook-denied' | 'hook-failed'; outcome: InterceptOutcome; problem?: string };

export const DENY_STATUS = 403;
const REASON = /^[\x20-\x7e]{1,100}$/;

export class InterceptHook {
  private readonly client: HookClient<typeof InterceptResponse>;

  constructor(private readonly settings: HookConfig, secret: string, private readonly metrics: HookMetrics) {
    this.client = new HookClient({ url: settings.url, secret, timeoutMs: settings.timeoutMs }, InterceptResponse);
  }

  /** Never rejects. */
  async ask(req: InterceptRequest): Promise<InterceptVerdict> {
    const t0 = process.hrtime.bigint();
    const reply = await this.client.post(req);
    this.metrics.seconds.observe({ hook: 'intercept' }, Number(process.hrtime.bigint() - t0) / 1e9);
    const verdict = this.verdict(reply);
    this.metrics.outcomes.inc({ hook: 'intercept', outcome: verdict.outcome });
    return verdict;
  }

  private verdict(reply: Awaited<ReturnType<HookClient<typeof InterceptResponse>['post']>>): InterceptVerdict {
    if (reply.kind !== 'ok') {
      const problem = reply.kind === 'timeout' ? `no answer within ${this.settings.timeoutMs} ms` : reply.problem;
      if (this.settings.failPolicy === 'open') return { action: 'allow', outcome: reply.kind, problem };
      return { action: 'deny', status: this.settings.failStatus, reason: '', disposition: 'hook-failed', outcome: reply.kind, problem };
    }
    const r = reply.value;
    if (r.action === 'allow') return { action: 'allow', outcome: 'allow' };
    const statusOk = Number.isInteger(r.status) && (r.status as number) >= 400 && (r.status as number) <= 699;
    const verdict: InterceptVerdict = {
      action: 'deny',
      status: statusOk ? (r.status as number) : DENY_STATUS,
      reason: typeof r.reason === 'string' && REASON.test(r.reason) ? r.reason : '',
      disposition: 'hook-denied',
      outcome: 'deny',
    };
    if (r.status !== undefined && !statusOk) verdict.problem = `deny status ${JSON.stringify(r.status).slice(0, 20)} is not a SIP failure status; denying with ${DENY_STATUS}`;
    return verdict;
  }
}
