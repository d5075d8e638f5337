/**
 * One CallSession per INVITE: route it (ACL, identify, lookup, decide), then bridge it or reject it.
 * Every path ends in `finish()`, which runs exactly once: timers cleared, legs hung up,
 * one CDR written, metrics updated, `done` resolved.
 */
import { randomUUID } from 'node:crypto';
import type { BlockList } from 'node:net';
import type { Cdr, CdrSink } from '../cdr/cdr.js';
import type { Logger, NumberFormatter } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { decide, mapCalleeFailure, type Decision, type DecisionPolicy } from '../policy/decide.js';
import type { SessionLookup } from '../sessions/store.js';
import { StoreUnavailableError } from '../sessions/redis.js';
import { checkSource, identifyParties, SipRejection, type CallParties, type IdentifyOptions } from '../sip/identify.js';
import { OutboundFailure, type CallLeg, type InboundCall, type OutboundAttempt, type SipPort } from '../sip/port.js';
import { buildOutboundRequest, scrubSdp, type OutboundTarget } from '../sip/scrub.js';

export interface CallPolicy {
  acl: BlockList;
  identify: IdentifyOptions;
  decision: DecisionPolicy;
  outbound: Omit<OutboundTarget, 'virtualNumber' | 'peer'>;
  ringTimeoutMs: number;
  /** 0 = unlimited. */
  maxDurationMs: number;
}

export interface CallDeps {
  sip: SipPort;
  sessions: SessionLookup;
  cdr: CdrSink;
  metrics: Metrics;
  log: Logger;
  fmt: NumberFormatter;
  policy: CallPolicy;
  now: () => number;
  /** True while the app drains for shutdown: new calls get 503. */
  isDraining: () => boolean;
}

export type CallState = 'routing' | 'dialing' | 'connected' | 'ended';
type EndedBy = Cdr['endedBy'];

export class CallSession {
  readonly callId: string;
  private state: CallState = 'routing';
  private log: Logger;
  private readonly startedAt: number;
  private answeredAt: number | null = null;
  private sessionId = '';
  private virtualNumber = '';
  private direction: Cdr['direction'] = '';
  private attempt: OutboundAttempt | null = null;
  private legA: CallLeg | null = null;
  private legB: CallLeg | null = null;
  private timers: NodeJS.Timeout[] = [];
  private resolveDone!: () => void;
  /** Resolves once the call is over and its CDR has been handed to the sink. */
  readonly done: Promise<void> = new Promise((r) => (this.resolveDone = r));

  constructor(private readonly call: InboundCall, private readonly deps: CallDeps) {
    this.callId = call.info.callId;
    this.startedAt = deps.now();
    this.log = deps.log.child({ callId: this.callId });
    deps.metrics.activeCalls.inc();
    call.onCancel(() => this.onCallerCancel());
  }

  get currentState(): CallState {
    return this.state;
  }

  /** Runs the call to its end; never rejects. */
  async run(): Promise<void> {
    try {
      await this.route();
    } catch (err) {
      this.log.error({ err: (err as Error).message, stack: (err as Error).stack }, 'unexpected error; failing the call');
      this.fail(500, 'Server Internal Error', 'failed', 'error');
    }
    return this.done;
  }

  /** Ends the call from outside (shutdown past the drain time). */
  terminate(): void {
    if (this.state === 'connected') this.endConnected('shutdown');
    else this.fail(503, 'Service Unavailable', 'shutting-down', 'shutdown');
  }

  private async route(): Promise<void> {
    const { policy } = this.deps;
    let parties: CallParties;
    try {
      checkSource(policy.acl, this.call.info);
      parties = identifyParties(this.call.info, policy.identify);
    } catch (err) {
      if (!(err instanceof SipRejection)) throw err;
      this.log.info({ status: err.status, detail: this.deps.fmt(err.message), source: this.call.info.sourceAddress }, 'INVITE rejected');
      return this.fail(err.status, err.reason, err.disposition, '');
    }
    this.virtualNumber = parties.virtualNumber;
    if (this.deps.isDraining()) return this.fail(503, 'Service Unavailable', 'shutting-down', '');

    const t0 = process.hrtime.bigint();
    let decision: Decision;
    try {
      const result = await this.deps.sessions.lookup(parties.virtualNumber, parties.caller);
      if (result.kind === 'malformed') {
        this.log.warn({ key: this.deps.fmt(result.key), problem: result.problem }, 'malformed session record treated as no session');
      }
      decision = decide(result, policy.decision);
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      this.deps.metrics.storeErrors.inc();
      this.log.error({ err: err.message }, 'session store unavailable; failing closed');
      return this.fail(503, 'Service Unavailable', 'store-unavailable', '');
    } finally {
      this.deps.metrics.lookupSeconds.observe(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    if (this.state !== 'routing') return; // cancelled during the lookup

    this.sessionId = decision.sessionId;
    this.log = this.log.child({ sessionId: decision.sessionId });
    if (decision.action === 'reject') {
      this.log.info({ status: decision.status, disposition: decision.disposition, caller: this.deps.fmt(parties.caller) }, 'no open session for caller');
      return this.fail(decision.status, decision.reason, decision.disposition, '');
    }
    this.direction = decision.direction;
    this.dial(parties, decision.peer);
  }

  private dial(parties: CallParties, peer: string): void {
    const { policy, sip } = this.deps;
    const req = buildOutboundRequest(
      { ...policy.outbound, virtualNumber: parties.virtualNumber, peer },
      this.call.info,
      [parties.caller],
    );
    const protectCallee = [peer];
    this.state = 'dialing';
    this.log.info({ direction: this.direction, callee: this.deps.fmt(peer) }, 'calling the other party');
    const attempt = sip.dial(req, {
      onProgress: (status, sdp) => {
        if (this.state !== 'dialing') return;
        if (status === 180 || status === 183) this.call.progress(status, sdp ? scrubSdp(sdp, protectCallee) : undefined);
      },
    });
    this.attempt = attempt;
    this.timers.push(setTimeout(() => this.onRingTimeout(), policy.ringTimeoutMs));
    attempt.answered.then(
      (leg) => this.onCalleeAnswered(leg, parties, peer),
      (err: unknown) => this.onCalleeFailed(err),
    );
  }

  private async onCalleeAnswered(legB: CallLeg, parties: CallParties, peer: string): Promise<void> {
    if (this.state !== 'dialing') {
      void legB.hangup(); // answered after cancel or timeout: release it
      return;
    }
    this.legB = legB;
    let legA: CallLeg;
    try {
      legA = await this.call.answer(scrubSdp(legB.remoteSdp, [peer]));
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not answer the caller; releasing the callee');
      return this.fail(500, 'Server Internal Error', 'failed', 'error');
    }
    if (this.state !== 'dialing') {
      void legA.hangup();
      return;
    }
    this.legA = legA;
    this.state = 'connected';
    this.answeredAt = this.deps.now();
    this.clearTimers();
    this.log.info('call connected');
    legA.onEnded(() => this.endConnected('caller'));
    legB.onEnded(() => this.endConnected('callee'));
    legA.onReinvite((offer) => legB.reinvite(scrubSdp(offer, [parties.caller])).then((ans) => scrubSdp(ans, [peer])));
    legB.onReinvite((offer) => legA.reinvite(scrubSdp(offer, [peer])).then((ans) => scrubSdp(ans, [parties.caller])));
    if (this.deps.policy.maxDurationMs > 0) {
      this.timers.push(setTimeout(() => {
        this.log.info('max call duration reached');
        this.endConnected('max-duration');
      }, this.deps.policy.maxDurationMs));
    }
  }

  private onCalleeFailed(err: unknown): void {
    if (this.state !== 'dialing') return; // we cancelled it
    const status = err instanceof OutboundFailure ? err.status : 503;
    if (!(err instanceof OutboundFailure)) this.log.error({ err: (err as Error)?.message }, 'outbound INVITE failed in the SIP stack');
    const mapped = mapCalleeFailure(status);
    this.log.info({ calleeStatus: status, calleeReason: (err as Error)?.message, status: mapped.status }, 'other party did not answer');
    this.fail(mapped.status, mapped.reason, mapped.disposition, '');
  }

  private onRingTimeout(): void {
    if (this.state !== 'dialing') return;
    this.log.info('ring timeout; cancelling the other party');
    this.fail(480, 'Temporarily Unavailable', 'no-answer', '');
  }

  private onCallerCancel(): void {
    if (this.state === 'routing' || this.state === 'dialing') {
      this.log.info('caller cancelled');
      this.finish(487, 'cancelled', '');
    }
  }

  /** A call that ends before it is connected: reject the caller (if still possible), cancel the callee. */
  private fail(status: number, reason: string, disposition: Cdr['disposition'], endedBy: EndedBy): void {
    if (this.state === 'ended') return;
    this.call.reject(status, reason);
    this.finish(status, disposition, endedBy);
  }

  private endConnected(endedBy: EndedBy): void {
    if (this.state !== 'connected') return;
    this.log.info({ endedBy }, 'call ended');
    this.finish(200, 'answered', endedBy);
  }

  /** The one teardown. Idempotent. */
  private finish(finalStatus: number, disposition: Cdr['disposition'], endedBy: EndedBy): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.clearTimers();
    this.attempt?.cancel();
    void this.legA?.hangup();
    void this.legB?.hangup();
    const endedAt = this.deps.now();
    const cdr: Cdr = {
      id: randomUUID(),
      callId: this.callId,
      sessionId: this.sessionId,
      virtualNumber: this.virtualNumber,
      direction: this.direction,
      startedAt: this.startedAt,
      answeredAt: this.answeredAt,
      endedAt,
      durationSec: this.answeredAt === null ? 0 : Math.round((endedAt - this.answeredAt) / 1000),
      finalStatus,
      disposition,
      endedBy,
      media: 'none',
      recording: null,
    };
    this.deps.cdr.write(cdr);
    this.deps.metrics.calls.inc({ disposition });
    this.deps.metrics.activeCalls.dec();
    this.resolveDone();
  }

  private clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }
}
