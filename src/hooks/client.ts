/**
 * The HTTP side of the real-time hooks (docs/hooks.md): one signed JSON POST per question,
 * bounded in time and in size, whose answer is validated (typebox) before anything reads it.
 * Node's built-in fetch keeps connections alive in its global pool (undici's), so once warm a
 * hook costs one round trip. Redirects are refused: the request carries a phone number, and goes
 * only where the configuration says.
 */
import type { Static, TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { withDeadline } from '../util/deadline.js';
import { sign, SIGNATURE_HEADER } from '../util/signature.js';
import { VERSION } from '../version.js';

export type HookName = 'intercept' | 'out_of_session';

/** What every hook reports to: maskbridge_hook_seconds{hook} and maskbridge_hook_outcomes_total{hook,outcome}. */
export interface HookMetrics {
  seconds: { observe(labels: { hook: HookName }, value: number): void };
  outcomes: { inc(labels: { hook: HookName; outcome: string }): void };
}

/** One hook's answer: the validated body, or why there is none. */
export type HookReply<T> = { kind: 'ok'; value: T } | { kind: 'timeout' } | { kind: 'error'; problem: string };

/** Largest response body read; a hook's answer is a few hundred bytes. */
export const MAX_RESPONSE_BYTES = 16 * 1024;

/** Past the abort signal, how much longer the outer deadline waits (it should never be the one to fire). */
const DEADLINE_GRACE_MS = 100;

export interface HookClientOptions {
  url: string;
  /** Key of the signature (src/util/signature.ts). */
  secret: string;
  /** Bounds the whole exchange: connect, request, response and its body. */
  timeoutMs: number;
  maxBytes?: number;
  /** Unix seconds, for the signature's timestamp. */
  nowSec?: () => number;
}

/** A response the hook cannot use, with the reason (a line of the call's log). */
class HookProblem extends Error {}

export class HookClient<S extends TSchema> {
  private readonly validator;

  constructor(private readonly opts: HookClientOptions, schema: S) {
    this.validator = Compile(schema);
  }

  /** POSTs `body` and validates the answer. Never rejects. */
  async post(body: unknown): Promise<HookReply<Static<S>>> {
    const signal = AbortSignal.timeout(this.opts.timeoutMs);
    try {
      const value = await withDeadline(this.exchange(JSON.stringify(body), signal), this.opts.timeoutMs + DEADLINE_GRACE_MS);
      if (!this.validator.Check(value)) {
        const first = [...this.validator.Errors(value)][0];
        return { kind: 'error', problem: `response does not validate${first ? `: ${first.instancePath || '/'} ${first.message}` : ''}` };
      }
      return { kind: 'ok', value: value as Static<S> };
    } catch (err) {
      if (signal.aborted || (err as Error).name === 'DeadlineError') return { kind: 'timeout' };
      return { kind: 'error', problem: describe(err) };
    }
  }

  private async exchange(text: string, signal: AbortSignal): Promise<unknown> {
    const nowSec = this.opts.nowSec ?? (() => Math.floor(Date.now() / 1000));
    const res = await fetch(this.opts.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        'user-agent': `maskbridge/${VERSION}`,
        [SIGNATURE_HEADER]: sign(this.opts.secret, text, nowSec()),
      },
      body: text,
      signal,
      redirect: 'error',
    });
    if (res.status < 200 || res.status > 299) {
      await res.body?.cancel().catch(() => undefined);
      throw new HookProblem(`HTTP ${res.status}`);
    }
    const raw = await readCapped(res, this.opts.maxBytes ?? MAX_RESPONSE_BYTES);
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      throw new HookProblem('response is not JSON');
    }
  }
}

/** The body as text, refusing more than `max` bytes (announced or actual) without reading the rest. */
async function readCapped(res: Response, max: number): Promise<string> {
  const announced = Number(res.headers.get('content-length') ?? '');
  if (announced > max) {
    await res.body?.cancel().catch(() => undefined);
    throw new HookProblem(`response body over ${max} bytes`);
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      throw new HookProblem(`response body over ${max} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** fetch's errors say "fetch failed" and keep the reason in `cause`. */
function describe(err: unknown): string {
  if (err instanceof HookProblem) return err.message;
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return cause ? `${e.message}: ${cause}` : String(e.message);
}
