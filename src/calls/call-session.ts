/**
 * One CallSession per INVITE: route it (ACL, body, identify, lookup, decide), then bridge it
 * (directly, or anchored on a media server and recorded), or reject it (optionally after an
 * announcement). Before the caller is answered the session is checked again, so a session that
 * closed or expired while the callee rang never connects. Every path ends in `finish()`, which
 * runs exactly once: timers cleared, the callee cancelled, legs hung up (a caller whose 200 was
 * under way included), media released within a deadline, one CDR written, `done` resolved.
 */
import type { CallDeps } from './deps.js';
import { randomUUID } from 'node:crypto';
import type { Cdr } from '../cdr/cdr.js';
import { CallLog, type CallLogLevel } from '../log/call-log.js';
import type { MediaEndpoint, MediaServer } from '../media/port.js';
import type { LookupResult } from '../sessions/contract.js';
import type { LostCallData } from './live-calls.js';
import { StoreUnavailableError } from '../sessions/redis.js';
import { withDeadline } from '../util/deadline.js';
import type { CallLeg, InboundCall, OutboundAttempt } from '../sip/port.js';
import { CallMedia, type MediaSettings } from './call-media.js';
import { routeCall } from './route.js';

export type { MediaSettings } from './call-media.js';

export type { CallDeps, CallPolicy } from './deps.js';

export type CallState = 'routing' | 'ivr' | 'dialing' | 'connected' | 'ended';
type EndedBy = Cdr['endedBy'];
type Disposition = Cdr['disposition'];

/** What a connected call does with re-INVITEs from each leg. */
type ReinviteRoute = { a: (offer: string) => Promise<string>; b: (offer: string) => Promise<string> };

/** Longest wait, in teardown, for a 200 to the caller that was under way when the call ended. */
const ANSWER_WAIT_MS = 5000;

export class CallSession {
  /** The keyed hash of the Call-ID (never the raw one: carriers put numbers in it). */
  readonly callId: string;
  /**
   * The id of this call's CDR, known from the start: a connected call's registry entry carries it,
   * so that a survivor that takes the call over (src/calls/takeover.ts) writes its CDR under the
   * same id, and whichever of the two CDRs reaches the stream second is dropped as a resend.
   */
  readonly cdrId = randomUUID();
  private state: CallState = 'routing';
  readonly callLog: CallLog;
  private readonly startedAt: number;
  private answeredAt: number | null = null;
  /** In the live-call registry (from the B-leg INVITE on, or from the answer). */
  private registered = false;
  sessionId = '';
  /** The session's TTL slides from the end of its last answered call (contract v2 ttl_sec). */
  private slidingTtl = false;
  private maxDurationMs: number;
  private ringTimeoutMs: number;
  virtualNumber = '';
  direction: Cdr['direction'] = '';
  mediaMode: Cdr['media'] = 'none';
  private attempt: OutboundAttempt | null = null;
  private legA: CallLeg | null = null;
  private legB: CallLeg | null = null;
  /** A 200 to the caller under way (or sent): the caller can no longer be rejected, only hung up. */
  private answering: Promise<CallLeg | null> | null = null;
  private callerAnswered = false;
  private media: CallMedia | null = null;
  /** Disposition if the caller hangs up while in the PIN prompt. */
  ivrDisposition: Disposition = 'unknown-caller';
  private timers: NodeJS.Timeout[] = [];
  private resolveDone!: () => void;
  /** Resolves once the call is over and its CDR has been handed to the sink. */
  readonly done: Promise<void> = new Promise((r) => (this.resolveDone = r));

  constructor(private readonly call: InboundCall, readonly deps: CallDeps) {
    this.maxDurationMs = deps.policy.maxDurationMs;
    this.ringTimeoutMs = deps.policy.ringTimeoutMs;
    this.callId = deps.callIdHash(call.info.callId);
    this.startedAt = deps.now();
    this.callLog = new CallLog(deps.log, this.callId);
    deps.metrics.activeCalls.inc();
    call.onCancel(() => this.onCallerCancel());
  }

  /** One line of this call's log; `fields` is only built when the level is on (src/log/call-log.ts). */
  line(level: CallLogLevel, msg: string, fields?: () => Record<string, unknown>): void {
    this.callLog.line(level, msg, fields);
  }

  get currentState(): CallState {
    return this.state;
  }

  /** The caller's INVITE, as the call path reads it. */
  get info(): InboundCall['info'] {
    return this.call.info;
  }

  /** The caller's leg once answered. */
  get callerLeg(): CallLeg | null {
    return this.legA;
  }

  /** 180/183 to the caller while it can still be sent. */
  progress(status: 180 | 183, sdp?: string): void {
    this.call.progress(status, sdp);
  }

  /** The SDP of the caller's INVITE (the SDP part of its body; '' for a delayed offer). */
  get inviteSdp(): string {
    return this.call.info.sdp;
  }

  /** The INVITE came without SDP: the offer goes to the caller in our 200, its answer comes in the ACK. */
  get delayedOffer(): boolean {
    return this.call.info.sdp === '';
  }

  /** Runs the call to its end; never rejects. */
  async run(): Promise<void> {
    try {
      await routeCall(this);
    } catch (err) {
      if (this.state !== 'ended') {
        this.line('error', 'unexpected error; failing the call', () => ({ err: this.deps.fmt((err as Error).message), stack: (err as Error).stack }));
        this.fail(500, 'Server Internal Error', 'failed', 'error');
      }
    }
    return this.done;
  }

  /**
   * The session closed (pub/sub from mb_close, or the registry's sweep): a connected call is hung
   * up on both legs, one still ringing is refused with the closed-session treatment.
   */
  sessionClosed(): void {
    if (this.state === 'connected') {
      this.line('info', 'session closed during the call; hanging up both legs');
      this.finish(200, 'answered', 'session-closed');
    } else if (this.state === 'dialing') {
      const closed = this.deps.policy.decision.closedSession;
      this.line('info', 'session closed while the other party rang; not connecting');
      this.fail(closed.status, closed.reason, 'session-closed', 'session-closed');
    }
  }

  /** Hung up through the API or the CLI (the live-call registry): BYE to both legs. */
  operatorHangup(): void {
    this.line('info', 'hung up by the operator');
    this.endConnected('operator');
  }

  /** Ends the call from outside (shutdown past the drain time). */
  terminate(): void {
    if (this.state === 'connected') this.endConnected('shutdown');
    else this.fail(503, 'Service Unavailable', 'shutting-down', 'shutdown');
  }

  // ---- routing (src/calls/route.ts) and bridging (src/calls/bridge.ts) ----------------

  /** One lookup with the fail-closed handling; null when the store did not answer (the call is failed). */
  async lookup(fn: () => Promise<LookupResult>, t0 = process.hrtime.bigint()): Promise<LookupResult | null> {
    try {
      const result = await fn();
      if (result.kind === 'malformed') {
        this.line('warn', 'malformed session record treated as no session', () => ({ key: this.deps.fmt(result.key), problem: result.problem }));
      }
      return result;
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      this.storeFailed(err);
      return null;
    } finally {
      this.deps.metrics.lookupSeconds.observe(Number(process.hrtime.bigint() - t0) / 1e9);
    }
  }

  storeFailed(err: Error): void {
    if (this.isOver()) return;
    this.deps.metrics.storeErrors.inc();
    this.line('error', 'session store unavailable; failing closed', () => ({ err: err.message }));
    this.fail(503, 'Service Unavailable', 'store-unavailable', this.legB ? 'error' : '');
  }

  /** The call's session; `opts`: what of the session's own settings the call obeys. */
  setSession(id: string, direction?: Cdr['direction'], opts: { sliding?: boolean; maxDurationSec?: number | undefined; ringTimeoutSec?: number | undefined } = {}): void {
    this.sessionId = id;
    this.slidingTtl = opts.sliding === true;
    // A session may shorten the configured limits, never lengthen the maximum duration (an operator bound).
    const maxMs = this.deps.policy.maxDurationMs;
    if (opts.maxDurationSec !== undefined) this.maxDurationMs = maxMs > 0 ? Math.min(maxMs, opts.maxDurationSec * 1000) : opts.maxDurationSec * 1000;
    if (opts.ringTimeoutSec !== undefined) this.ringTimeoutMs = opts.ringTimeoutSec * 1000;
    if (direction) this.direction = direction;
    if (id) this.callLog.bind({ sessionId: id });
  }

  /** Record, consent, whisper, bridge (src/calls/call-media.ts); a failure ends the call. */
  async startMedia(epA: MediaEndpoint, epB: MediaEndpoint, opts: { record: boolean; whisper: string | undefined; consent?: string | undefined }): Promise<void> {
    try {
      // The recording is named from the answer time, which the live-call registry has too (a survivor finds the file by it).
      await this.media?.start(epA, epB, { ...opts, at: new Date(this.answeredAt ?? this.deps.now()), sessionId: this.sessionId, callId: this.callId });
    } catch (err) {
      this.line('error', 'media bridge failed; ending the call', () => ({ err: this.deps.fmt((err as Error).message) }));
      this.endConnected('error');
    }
  }

  /**
   * Tracked media channels, one per entry of `sdps`, on `server` or (when it fails them) on
   * another healthy one (CallMedia.channels; `onlyThis`: not on another); fails the call (503) when no server can.
   */
  async channels(server: MediaServer, sdps: ReadonlyArray<string | undefined>, onlyThis = false): Promise<{ server: MediaServer; eps: MediaEndpoint[] } | null> {
    this.media ??= new CallMedia({
      media: this.deps.media as MediaSettings, callLog: this.callLog, fmt: this.deps.fmt, isOver: () => this.isOver(), onLost: (cause) => this.onMediaLost(cause),
    });
    try {
      return await this.media.channels(server, sdps, onlyThis);
    } catch (err) {
      this.line('error', 'media channel failed', () => ({ err: this.deps.fmt((err as Error).message), server: server.name }));
      this.fail(503, 'Service Unavailable', 'media-unavailable', 'error');
      return null;
    }
  }

  /** A channel of the call was dropped by its media server (it died, stalled, or hung the channel up): the call has no media. */
  private onMediaLost(cause: string): void {
    if (this.state === 'ended') return;
    this.line('error', 'media server dropped a channel; ending the call', () => ({ cause }));
    if (this.state === 'connected') this.endConnected('media-lost');
    else this.fail(503, 'Service Unavailable', 'media-unavailable', 'media-lost');
  }

  /** The INVITE towards the other party is out (src/calls/dial.ts): CANCEL possible; ring timeout armed, once (`retry`: the next gateway). */
  dialing(attempt: OutboundAttempt, retry = false): void {
    this.state = 'dialing';
    this.attempt = attempt;
    if (retry) return;
    this.timers.push(setTimeout(() => {
      if (this.state !== 'dialing') return;
      this.line('info', 'ring timeout; cancelling the other party');
      this.fail(480, 'Temporarily Unavailable', 'no-answer', '');
    }, this.ringTimeoutMs));
  }

  /**
   * The other party's INVITE went out (`dialogId`: the dialog its 200 would make; `transactionId`:
   * the INVITE's): the live-call registry hears of the call now, so that if this instance dies
   * before the call connects, a survivor CANCELs the callee's INVITE (or BYEs a callee who has
   * answered), ends the media channels, answers the caller 503 and writes the call's CDR.
   * connected() writes the entry again once both legs are up.
   */
  calleeDialing(dialogId: string, transactionId = ''): void {
    if (this.state !== 'dialing') return;
    this.register([dialogId], { setup: { caller: this.call.transactionId ?? '', callee: transactionId } });
  }

  /**
   * Writes this call's live-call registry entry (src/calls/live-calls.ts): `dialogs` are its SIP
   * dialogs, the media server's channels are added; answeredAt is empty until it connects.
   */
  private register(dialogs: Array<string | undefined>, extra: Pick<LostCallData, 'setup' | 'recorded'>): void {
    if (!this.deps.liveCalls) return;
    this.registered = true;
    const events = this.deps.callEvents?.context(this.callId);
    this.deps.liveCalls.connected({
      callId: this.callId, instance: '', sessionId: this.sessionId, virtualNumber: this.virtualNumber, direction: this.direction,
      startedAt: new Date(this.startedAt).toISOString(), answeredAt: this.answeredAt === null ? '' : new Date(this.answeredAt).toISOString(),
    }, {
      dialogs: [...dialogs, ...(this.media?.dialogIds() ?? [])].filter((d): d is string => typeof d === 'string'),
      media: this.mediaMode, cdrId: this.cdrId, ...(events ? { events } : {}), ...extra,
      // A survivor refreshes a sliding TTL from the end of an answered call only.
      slidingTtl: this.slidingTtl && this.answeredAt !== null,
    });
  }

  /** The INVITE got its final response: nothing left to cancel; `legB` when it was answered. */
  dialSettled(legB: CallLeg | null): void {
    this.attempt = null;
    if (legB) this.legB = legB;
  }

  /** Sends the 200 to the caller; the caller's leg, or null when the call ended meanwhile (the leg is then hung up). */
  answerCaller(sdp: string, opts: { awaitAck?: boolean } = {}): Promise<CallLeg | null> {
    const answering = this.call.answer(sdp, opts).then((legA) => {
      this.callerAnswered = true;
      if (this.isOver()) {
        void legA.hangup();
        return null;
      }
      this.watchCaller(legA);
      return legA;
    });
    this.answering = answering.catch(() => null);
    return answering;
  }

  /** Both legs up: start the clock and the max-duration timer. False if the call ended meanwhile. */
  connected(legA: CallLeg, legB: CallLeg, reinvites: ReinviteRoute, recorded = false): boolean {
    if (this.state !== 'dialing') return false;
    this.state = 'connected';
    this.answeredAt = this.deps.now();
    this.clearTimers();
    this.line('debug', 'call connected');
    legB.onEnded(() => this.endConnected('callee'));
    legA.onReinvite((offer) => this.relayOffer('caller', reinvites.a, offer));
    legB.onReinvite((offer) => this.relayOffer('callee', reinvites.b, offer));
    if (this.maxDurationMs > 0) {
      this.timers.push(setTimeout(() => {
        this.line('info', 'max call duration reached');
        this.endConnected('max-duration');
      }, this.maxDurationMs));
    }
    // With what another instance needs to end the call if this one dies (src/calls/takeover.ts).
    this.register([legA.dialogId, legB.dialogId], recorded ? { recorded } : {});
    return true;
  }

  /** A mid-call SDP offer from one party, answered through `route`; a failure is logged with the call's ids, then answered with it. */
  private async relayOffer(from: 'caller' | 'callee', route: (offer: string) => Promise<string>, offer: string): Promise<string> {
    try {
      return await route(offer);
    } catch (err) {
      const e = err as Error & { status?: number };
      this.line('warn', 'mid-call SDP offer failed; the call stays up', () => ({ from, status: e.status, err: this.deps.fmt(e.message) }));
      throw err;
    }
  }

  /** The caller's leg, once answered: its BYE ends the call whatever the state. */
  private watchCaller(legA: CallLeg): void {
    this.legA = legA;
    legA.onEnded(() => {
      if (this.state === 'connected') this.endConnected('caller');
      else this.finish(200, this.state === 'ivr' ? this.ivrDisposition : 'cancelled', 'caller');
    });
  }

  /** The caller is in the PIN prompt (answered by the media server). */
  enterIvr(): void {
    this.state = 'ivr';
  }

  // ---- rejections and announcements --------------------------------------------------------

  /** Plays the treatment's announcement as early media when there is one, then rejects. */
  async rejectWithTreatment(status: number, reason: string, announcement: string, disposition: Disposition): Promise<void> {
    const server = announcement ? this.deps.media?.pool.pick() : null;
    if (server) {
      const ep = (await this.channels(server, [this.inviteSdp]))?.eps[0];
      if (!ep || this.isOver()) return;
      this.call.progress(183, ep.localSdp);
      await ep.play(announcement).catch((err: Error) => this.line('warn', 'announcement failed', () => ({ err: err.message })));
    }
    this.fail(status, reason, disposition, '');
  }

  // ---- endings ------------------------------------------------------------------------------

  private onCallerCancel(): void {
    if (this.state === 'routing' || this.state === 'dialing' || (this.state === 'ivr' && !this.callerAnswered)) {
      this.line('info', 'caller cancelled');
      this.finish(487, 'cancelled', '');
    }
  }

  isOver(): boolean {
    return this.state === 'ended';
  }

  /**
   * A call that ends before it is connected: reject the caller (while that is still possible:
   * once a 200 is under way the caller is hung up instead), cancel or hang up the callee.
   */
  fail(status: number, reason: string, disposition: Disposition, endedBy: EndedBy): void {
    if (this.state === 'ended') return;
    if (!this.answering) this.call.reject(status, reason);
    this.finish(status, disposition, endedBy);
  }

  endConnected(endedBy: EndedBy): void {
    if (this.state !== 'connected') return;
    this.finish(200, 'answered', endedBy);
  }

  /** The one teardown. Idempotent. */
  finish(finalStatus: number, disposition: Disposition, endedBy: EndedBy): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    const endedAt = this.deps.now();
    this.clearTimers();
    this.attempt?.cancel();
    void this.legB?.hangup();
    void this.teardown(finalStatus, disposition, endedBy, endedAt);
  }

  private async teardown(finalStatus: number, disposition: Disposition, endedBy: EndedBy, endedAt: number): Promise<void> {
    let media: Pick<Cdr, 'recording' | 'quality'> = { recording: null, quality: null };
    try {
      // A 200 that was under way: wait (bounded) to know whether the caller got it; answerCaller hangs it up.
      if (this.answering && !this.legA) await withDeadline(this.answering, ANSWER_WAIT_MS).catch(() => null);
      void this.legA?.hangup();
      if (this.media) media = await this.media.release();
    } catch (err) {
      this.line('error', 'teardown failed; writing the CDR all the same', () => ({ err: this.deps.fmt((err as Error).message) }));
    }
    const status = this.callerAnswered ? 200 : finalStatus;
    // A caller with no session on V, connected by V's dedicated session: the CDR says so.
    if (disposition === 'answered' && this.direction.startsWith('unknown->')) disposition = 'unknown-caller-connected';
    const cdr = buildCdr(this, { finalStatus: status, disposition, endedBy, endedAt, ...media });
    this.deps.cdr.write(cdr);
    if (this.registered) this.deps.liveCalls?.ended(this.callId);
    // A sliding session lives ttl_sec past its last answered call: one write after the call, never before the B-leg.
    if (this.slidingTtl && cdr.answeredAt !== null && this.deps.sessions.touch) {
      this.deps.sessions.touch(this.sessionId, endedAt).catch((err: Error) => this.line('warn', 'sliding TTL not refreshed', () => ({ err: err.message })));
    }
    // The call's one info line (the steps before it are at debug): what the CDR says, numbers aside.
    this.line('info', 'call finished', () => ({
      disposition, status, endedBy, direction: this.direction, media: this.mediaMode, durationSec: cdr.durationSec,
      ...(media.recording ? { recording: media.recording.failed ? 'failed' : media.recording.path } : {}),
    }));
    this.deps.metrics.calls.inc({ disposition });
    this.deps.metrics.activeCalls.dec();
    this.resolveDone();
  }

  /** What the CDR needs of this call. */
  get record(): Pick<Cdr, 'callId' | 'sessionId' | 'virtualNumber' | 'direction' | 'startedAt' | 'answeredAt' | 'media'> {
    return {
      callId: this.callId, sessionId: this.sessionId, virtualNumber: this.virtualNumber, direction: this.direction,
      startedAt: this.startedAt, answeredAt: this.answeredAt, media: this.mediaMode,
    };
  }

  private clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }
}

function buildCdr(call: CallSession, end: Pick<Cdr, 'finalStatus' | 'disposition' | 'endedBy' | 'endedAt' | 'recording' | 'quality'>): Cdr {
  const r = call.record;
  return {
    id: call.cdrId,
    ...r,
    ...end,
    durationSec: r.answeredAt === null ? 0 : Math.round((end.endedAt - r.answeredAt) / 1000),
  };
}
