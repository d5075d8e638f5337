/**
 * One CallSession per INVITE: route it (ACL, identify, lookup, decide), then bridge it (directly,
 * or anchored on a media server and recorded), or reject it (optionally after an announcement).
 * Every path ends in `finish()`, which runs exactly once: timers cleared, the callee cancelled,
 * legs hung up, media channels released, the recording finalised, one CDR written, `done` resolved.
 */
import { randomUUID } from 'node:crypto';
import type { BlockList } from 'node:net';
import type { Cdr, CdrSink } from '../cdr/cdr.js';
import { CallLog, type CallLogLevel } from '../log/call-log.js';
import type { Logger, NumberFormatter } from '../log/logger.js';
import type { MediaEndpoint, MediaPool, MediaServer } from '../media/port.js';
import { CallRecorder } from '../media/recorder.js';
import type { Metrics } from '../metrics/metrics.js';
import { decide, mapCalleeFailure, type DecisionPolicy } from '../policy/decide.js';
import { whenNoMediaServer } from '../policy/media.js';
import type { LookupResult, SessionRecord } from '../sessions/contract.js';
import { StoreUnavailableError } from '../sessions/redis.js';
import type { SessionLookup } from '../sessions/store.js';
import { canonicalGuess, checkSource, locateParties, normaliseParties, SipRejection, type CallParties, type IdentifyOptions } from '../sip/identify.js';
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

/** Media anchoring settings; absent when media.mode is "none". */
export interface MediaSettings {
  pool: MediaPool;
  onNoMediaServer: 'reject' | 'signalling-only';
  ringback: string;
  recordingDir: string;
  consentAnnouncement: string;
  pin: { enabled: boolean; prompt: string; maxDigits: number; timeoutMs: number; tries: number };
  /** How long a recording file must stop growing before it counts as closed. */
  recordingSettleMs: number;
  /** media.recording.writerThread */
  recordingWriterThread: boolean;
}

export interface CallDeps {
  sip: SipPort;
  sessions: SessionLookup;
  cdr: CdrSink;
  metrics: Metrics;
  log: Logger;
  fmt: NumberFormatter;
  policy: CallPolicy;
  media: MediaSettings | null;
  now: () => number;
  /** True while the app drains for shutdown: new calls get 503. */
  isDraining: () => boolean;
}

export type CallState = 'routing' | 'ivr' | 'dialing' | 'connected' | 'ended';
type EndedBy = Cdr['endedBy'];
type Disposition = Cdr['disposition'];

/** What a connected call does with re-INVITEs from each leg. */
type ReinviteRoute = { a: (offer: string) => Promise<string>; b: (offer: string) => Promise<string> };

export class CallSession {
  readonly callId: string;
  private state: CallState = 'routing';
  private readonly callLog: CallLog;
  private readonly startedAt: number;
  private answeredAt: number | null = null;
  private sessionId = '';
  private virtualNumber = '';
  private direction: Cdr['direction'] = '';
  private mediaMode: Cdr['media'] = 'none';
  private attempt: OutboundAttempt | null = null;
  private legA: CallLeg | null = null;
  private legB: CallLeg | null = null;
  private endpoints: MediaEndpoint[] = [];
  private recorder: CallRecorder | null = null;
  /** Disposition if the caller hangs up while in the PIN prompt. */
  private ivrDisposition: Disposition = 'unknown-caller';
  private timers: NodeJS.Timeout[] = [];
  private resolveDone!: () => void;
  /** Resolves once the call is over and its CDR has been handed to the sink. */
  readonly done: Promise<void> = new Promise((r) => (this.resolveDone = r));

  constructor(private readonly call: InboundCall, private readonly deps: CallDeps) {
    this.callId = call.info.callId;
    this.startedAt = deps.now();
    // Some carriers put the caller's number in the Call-ID: it is logged like any number.
    this.callLog = new CallLog(deps.log, this.callId, deps.fmt);
    deps.metrics.activeCalls.inc();
    call.onCancel(() => this.onCallerCancel());
  }

  /** One line of this call's log; `fields` is only built when the level is on (src/log/call-log.ts). */
  private line(level: CallLogLevel, msg: string, fields?: () => Record<string, unknown>): void {
    this.callLog.line(level, msg, fields);
  }

  get currentState(): CallState {
    return this.state;
  }

  /** Runs the call to its end; never rejects. */
  async run(): Promise<void> {
    try {
      await this.route();
    } catch (err) {
      if (this.state !== 'ended') {
        this.line('error', 'unexpected error; failing the call', () => ({ err: (err as Error).message, stack: (err as Error).stack }));
        this.fail(500, 'Server Internal Error', 'failed', 'error');
      }
    }
    return this.done;
  }

  /** Ends the call from outside (shutdown past the drain time). */
  terminate(): void {
    if (this.state === 'connected') this.endConnected('shutdown');
    else this.fail(503, 'Service Unavailable', 'shutting-down', 'shutdown');
  }

  // ---- routing ---------------------------------------------------------------------------

  private async route(): Promise<void> {
    const { policy } = this.deps;
    let parties: CallParties;
    let early: { guess: CallParties; result: Promise<LookupResult>; startedAt: bigint } | null = null;
    try {
      checkSource(policy.acl, this.call.info);
      const raw = locateParties(this.call.info, policy.identify);
      if (this.deps.isDraining()) return this.fail(503, 'Service Unavailable', 'shutting-down', '');
      // Numbers that already look like E.164 (what trunks usually send) are looked up before they
      // are validated, so that validation and the Redis round trip overlap. The answer is used
      // only if validation returns exactly the numbers it was asked about.
      const guess = canonicalGuess(raw);
      if (guess) {
        early = { guess, result: this.deps.sessions.lookup(guess.virtualNumber, guess.caller), startedAt: process.hrtime.bigint() };
        early.result.catch(() => undefined); // handled below, or dropped with the guess
        await afterQueuedWrites();
      }
      parties = normaliseParties(raw, policy.identify);
    } catch (err) {
      if (!(err instanceof SipRejection)) throw err;
      this.line('info', 'INVITE rejected', () => ({ status: err.status, detail: this.deps.fmt(err.message), source: this.call.info.sourceAddress }));
      return this.fail(err.status, err.reason, err.disposition, '');
    }
    this.virtualNumber = parties.virtualNumber;
    if (this.state !== 'routing') return; // cancelled meanwhile

    const sameAsGuess = early?.guess.virtualNumber === parties.virtualNumber && early.guess.caller === parties.caller;
    const result = early && sameAsGuess
      ? await this.lookup(() => early.result, early.startedAt)
      : await this.lookup(() => this.deps.sessions.lookup(parties.virtualNumber, parties.caller));
    if (!result || this.state !== 'routing') return; // store down (already failed) or cancelled meanwhile
    const decision = decide(result, policy.decision);
    this.setSession(decision.sessionId);
    if (decision.action === 'bridge' && result.kind === 'found') {
      this.direction = decision.direction;
      return this.bridge(parties, result.session, decision.peer, decision.record);
    }
    if (decision.action === 'reject') {
      this.line('info', 'no open session for caller', () => ({ status: decision.status, disposition: decision.disposition, caller: this.deps.fmt(parties.caller) }));
      if (decision.disposition === 'unknown-caller' && this.deps.media?.pin.enabled) return this.pinPrompt(parties);
      return this.rejectWithTreatment(decision.status, decision.reason, decision.announcement, decision.disposition);
    }
  }

  /** One lookup with the fail-closed handling; null when the store did not answer (the call is failed). */
  private async lookup(fn: () => Promise<LookupResult>, t0 = process.hrtime.bigint()): Promise<LookupResult | null> {
    try {
      const result = await fn();
      if (result.kind === 'malformed') {
        this.line('warn', 'malformed session record treated as no session', () => ({ key: this.deps.fmt(result.key), problem: result.problem }));
      }
      return result;
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      this.deps.metrics.storeErrors.inc();
      this.line('error', 'session store unavailable; failing closed', () => ({ err: err.message }));
      this.fail(503, 'Service Unavailable', 'store-unavailable', '');
      return null;
    } finally {
      this.deps.metrics.lookupSeconds.observe(Number(process.hrtime.bigint() - t0) / 1e9);
    }
  }

  private setSession(id: string): void {
    this.sessionId = id;
    if (id) this.callLog.bind({ sessionId: id });
  }

  // ---- bridging --------------------------------------------------------------------------

  private async bridge(parties: CallParties, session: SessionRecord, peer: string, record: boolean): Promise<void> {
    const media = this.deps.media;
    if (!media) return this.dialDirect(parties, peer);
    const server = media.pool.pick();
    if (!server) {
      const outcome = whenNoMediaServer(media.onNoMediaServer, session.record);
      if (outcome.action === 'reject') {
        this.line('error', 'no healthy media server; rejecting');
        return this.fail(outcome.status, outcome.reason, 'media-unavailable', '');
      }
      this.line('warn', 'no healthy media server; connecting signalling-only, unrecorded');
      this.mediaMode = 'signalling-only-fallback';
      return this.dialDirect(parties, peer);
    }
    this.mediaMode = 'anchored';
    const whisper = this.direction === 'a->b' ? session.whisperB : session.whisperA;
    return this.dialAnchored(server, parties, peer, { record, whisper }, null);
  }

  /** Signalling-only B2BUA: the callee gets the caller's (scrubbed) SDP and vice versa. */
  private dialDirect(parties: CallParties, peer: string): void {
    this.placeCall(parties, peer, this.call.info.sdp, (status, sdp) => {
      if (status === 180 || status === 183) this.call.progress(status, sdp ? scrubSdp(sdp, [peer]) : undefined);
    }, async (legB) => {
      const legA = await this.call.answer(scrubSdp(legB.remoteSdp, [peer]));
      this.connected(legA, legB, {
        a: (offer) => legB.reinvite(scrubSdp(offer, [parties.caller])).then((ans) => scrubSdp(ans, [peer])),
        b: (offer) => legA.reinvite(scrubSdp(offer, [peer])).then((ans) => scrubSdp(ans, [parties.caller])),
      });
    });
  }

  /**
   * Media-anchored: the caller's channel answers the caller, a second channel calls the callee,
   * so each party only ever sees the media server. Then record, consent, whisper, bridge.
   * `answered`: the caller was already answered by `epA` (after a PIN prompt).
   */
  private async dialAnchored(
    server: MediaServer,
    parties: CallParties,
    peer: string,
    opts: { record: boolean; whisper: string | undefined },
    answered: { ep: MediaEndpoint } | null,
  ): Promise<void> {
    const media = this.deps.media as MediaSettings;
    // Both channels are created at once (endpoint() never rejects, and releases a channel that
    // arrives after the call ended, whichever of the two failed).
    const pendingA = answered ? Promise.resolve(answered.ep) : this.endpoint(server, this.call.info.sdp);
    const pendingB = this.endpoint(server);
    const epA = await pendingA;
    if (!epA || this.isOver()) return;
    // The media server's own SDP; scrubbed all the same, so no path sends the caller unscrubbed SDP.
    if (!answered) this.call.progress(183, scrubSdp(epA.localSdp, [peer]));
    epA.startLoop(media.ringback);
    const epB = await pendingB;
    if (!epB || this.isOver()) return;

    this.placeCall(parties, peer, epB.localSdp, () => undefined, async (legB) => {
      await Promise.all([epB.modify(legB.remoteSdp), epA.stopPlayback().catch(() => undefined)]);
      const legA = this.legA ?? (await this.call.answer(scrubSdp(epA.localSdp, [peer])));
      const reinvites = {
        a: (offer: string) => epA.modify(offer).then((ans) => scrubSdp(ans, [peer])),
        b: (offer: string) => epB.modify(offer).then((ans) => scrubSdp(ans, [parties.caller])),
      };
      if (!this.connected(legA, legB, reinvites)) return;
      await this.startMedia(epA, epB, opts);
    });
  }

  /** Record (before anything is played, so the consent prompt is in it), consent, whisper, then bridge. */
  private async startMedia(epA: MediaEndpoint, epB: MediaEndpoint, opts: { record: boolean; whisper: string | undefined }): Promise<void> {
    const media = this.deps.media as MediaSettings;
    if (opts.record) {
      this.recorder = new CallRecorder(epA, {
        dir: media.recordingDir, at: new Date(this.deps.now()), sessionId: this.sessionId, callId: this.callId, settleMs: media.recordingSettleMs,
        writerThread: media.recordingWriterThread, fmt: this.deps.fmt,
      }, this.callLog.logger);
      await this.recorder.start();
    }
    if (this.isOver()) return;
    if (media.consentAnnouncement) {
      await Promise.all([epA.play(media.consentAnnouncement), epB.play(media.consentAnnouncement)])
        .catch((err: Error) => this.line('warn', 'consent announcement failed', () => ({ err: err.message })));
    }
    if (opts.whisper && !this.isOver()) {
      await epB.play(opts.whisper).catch((err: Error) => this.line('warn', 'whisper failed', () => ({ err: err.message })));
    }
    if (this.isOver()) return;
    try {
      await epA.bridge(epB);
      this.line('debug', 'media bridged', () => ({ a: epA.id, b: epB.id }));
    } catch (err) {
      this.line('error', 'media bridge failed; ending the call', () => ({ err: (err as Error).message }));
      this.endConnected('error');
    }
  }

  /** Creates a tracked media channel; fails the call (503) if the server cannot. */
  private async endpoint(server: MediaServer, remoteSdp?: string): Promise<MediaEndpoint | null> {
    try {
      const ep = await server.createEndpoint(remoteSdp);
      if (this.state === 'ended') {
        // Arrived after the teardown: release it here, not in release() as well.
        void ep.release();
        return null;
      }
      this.endpoints.push(ep);
      ep.onEnded(() => this.onMediaLost());
      return ep;
    } catch (err) {
      this.line('error', 'media channel failed', () => ({ err: (err as Error).message, server: server.name }));
      this.fail(503, 'Service Unavailable', 'media-unavailable', 'error');
      return null;
    }
  }

  private onMediaLost(): void {
    if (this.state === 'ended') return;
    this.line('error', 'media server dropped a channel; ending the call');
    if (this.state === 'connected') this.endConnected('error');
    else this.fail(503, 'Service Unavailable', 'media-unavailable', 'error');
  }

  /** Sends the INVITE to the other party and drives ringing, ring timeout and failure. */
  private placeCall(
    parties: CallParties,
    peer: string,
    sdp: string,
    onProgress: (status: number, sdp: string | undefined) => void,
    onAnswer: (legB: CallLeg) => Promise<void>,
  ): void {
    const { policy, sip } = this.deps;
    const req = buildOutboundRequest({ ...policy.outbound, virtualNumber: parties.virtualNumber, peer }, { sdp }, [parties.caller]);
    this.state = 'dialing';
    const attempt = sip.dial(req, { onProgress: (status, body) => this.state === 'dialing' && onProgress(status, body) });
    this.line('debug', 'calling the other party', () => ({ direction: this.direction, callee: this.deps.fmt(peer), media: this.mediaMode }));
    this.attempt = attempt;
    this.timers.push(setTimeout(() => this.onRingTimeout(), policy.ringTimeoutMs));
    attempt.answered.then(
      async (legB) => {
        this.attempt = null; // answered: nothing left to cancel
        if (this.state !== 'dialing') {
          void legB.hangup(); // answered after cancel or timeout: release it
          return;
        }
        this.legB = legB;
        try {
          await onAnswer(legB);
        } catch (err) {
          if (this.isOver()) return;
          this.line('warn', 'could not connect the answered call', () => ({ err: (err as Error).message }));
          if (this.currentState === 'connected') this.endConnected('error');
          else this.fail(500, 'Server Internal Error', 'failed', 'error');
        }
      },
      (err: unknown) => {
        this.attempt = null;
        this.onCalleeFailed(err);
      },
    );
  }

  /** Both legs up: start the clock and the max-duration timer. False if the call ended meanwhile. */
  private connected(legA: CallLeg, legB: CallLeg, reinvites: ReinviteRoute): boolean {
    if (this.state !== 'dialing') {
      void legA.hangup();
      return false;
    }
    if (!this.legA) this.watchCaller(legA);
    this.state = 'connected';
    this.answeredAt = this.deps.now();
    this.clearTimers();
    this.line('debug', 'call connected');
    legB.onEnded(() => this.endConnected('callee'));
    legA.onReinvite((offer) => this.relayOffer('caller', reinvites.a, offer));
    legB.onReinvite((offer) => this.relayOffer('callee', reinvites.b, offer));
    if (this.deps.policy.maxDurationMs > 0) {
      this.timers.push(setTimeout(() => {
        this.line('info', 'max call duration reached');
        this.endConnected('max-duration');
      }, this.deps.policy.maxDurationMs));
    }
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

  // ---- rejections, announcements and the PIN prompt ---------------------------------------

  /** Plays the treatment's announcement as early media when there is one, then rejects. */
  private async rejectWithTreatment(status: number, reason: string, announcement: string, disposition: Disposition): Promise<void> {
    const server = announcement ? this.deps.media?.pool.pick() : null;
    if (server) {
      const ep = await this.endpoint(server, this.call.info.sdp);
      if (!ep || this.isOver()) return;
      this.call.progress(183, ep.localSdp);
      await ep.play(announcement).catch((err: Error) => this.line('warn', 'announcement failed', () => ({ err: err.message })));
    }
    this.fail(status, reason, disposition, '');
  }

  /** Answers the caller and asks for a PIN that names a session and the participant they speak for. */
  private async pinPrompt(parties: CallParties): Promise<void> {
    const media = this.deps.media as MediaSettings;
    const { unknownCaller, closedSession } = this.deps.policy.decision;
    const server = media.pool.pick();
    if (!server) return this.rejectWithTreatment(unknownCaller.status, unknownCaller.reason, '', 'unknown-caller');
    const ep = await this.endpoint(server, this.call.info.sdp);
    if (!ep || this.isOver()) return;
    this.state = 'ivr';
    this.watchCaller(await this.call.answer(ep.localSdp));
    this.line('info', 'asking the caller for a PIN');
    for (let i = 0; i < media.pin.tries && this.state === 'ivr'; i++) {
      const digits = await ep.collectDigits({ prompt: media.pin.prompt, maxDigits: media.pin.maxDigits, timeoutMs: media.pin.timeoutMs })
        .catch(() => '');
      if (this.state !== 'ivr') return;
      if (!digits) continue;
      const result = await this.lookup(() => this.deps.sessions.lookupByPin(parties.virtualNumber, digits));
      if (!result || this.state !== 'ivr') return;
      if (result.kind === 'found') {
        this.setSession(result.session.id);
        this.direction = result.callerRole === 'a' ? 'a->b' : 'b->a';
        this.mediaMode = 'anchored';
        this.line('info', 'PIN accepted', () => ({ try: i + 1 }));
        const caller = result.callerRole === 'a' ? result.session.a : result.session.b;
        const whisper = result.callerRole === 'a' ? result.session.whisperB : result.session.whisperA;
        return this.dialAnchored(server, { ...parties, caller }, result.peer, { record: result.session.record ?? this.deps.policy.decision.recordByDefault, whisper }, { ep });
      }
      if (result.kind === 'closed') {
        this.setSession(result.session.id);
        return this.endIvr(closedSession.announcement, 'session-closed', ep);
      }
      this.line('info', 'PIN not recognised', () => ({ try: i + 1 }));
    }
    if (this.state === 'ivr') return this.endIvr(unknownCaller.announcement, 'unknown-caller', ep);
  }

  private async endIvr(announcement: string, disposition: Disposition, ep: MediaEndpoint): Promise<void> {
    this.ivrDisposition = disposition;
    if (announcement) await ep.play(announcement).catch((err: Error) => this.line('warn', 'announcement failed', () => ({ err: err.message })));
    this.finish(200, disposition, '');
  }

  // ---- endings ------------------------------------------------------------------------------

  private onCalleeFailed(err: unknown): void {
    if (this.state !== 'dialing') return; // we cancelled it
    const status = err instanceof OutboundFailure ? err.status : 503;
    const mapped = mapCalleeFailure(status);
    this.line('info', 'other party did not answer', () => ({ calleeStatus: status, calleeReason: this.deps.fmt(String((err as Error)?.message)), status: mapped.status }));
    this.fail(mapped.status, mapped.reason, mapped.disposition, '');
  }

  private onRingTimeout(): void {
    if (this.state !== 'dialing') return;
    this.line('info', 'ring timeout; cancelling the other party');
    this.fail(480, 'Temporarily Unavailable', 'no-answer', '');
  }

  private onCallerCancel(): void {
    if (this.state === 'routing' || this.state === 'dialing') {
      this.line('info', 'caller cancelled');
      this.finish(487, 'cancelled', '');
    }
  }

  private isOver(): boolean {
    return this.state === 'ended';
  }

  /** A call that ends before it is connected: reject the caller (if still possible), cancel the callee. */
  private fail(status: number, reason: string, disposition: Disposition, endedBy: EndedBy): void {
    if (this.state === 'ended') return;
    this.call.reject(status, reason);
    this.finish(status, disposition, endedBy);
  }

  private endConnected(endedBy: EndedBy): void {
    if (this.state !== 'connected') return;
    this.finish(200, 'answered', endedBy);
  }

  /** The one teardown. Idempotent. */
  private finish(finalStatus: number, disposition: Disposition, endedBy: EndedBy): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    const endedAt = this.deps.now();
    this.clearTimers();
    this.attempt?.cancel();
    void this.legA?.hangup();
    void this.legB?.hangup();
    void this.release().then((recording) => {
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
        media: this.mediaMode,
        recording,
      };
      this.deps.cdr.write(cdr);
      // The call's one info line (the steps before it are at debug): what the CDR says, numbers aside.
      this.line('info', 'call finished', () => ({
        disposition, status: finalStatus, endedBy, direction: this.direction, media: this.mediaMode, durationSec: cdr.durationSec,
        ...(recording ? { recording: recording.failed ? 'failed' : this.deps.fmt(recording.path) } : {}),
      }));
      this.deps.metrics.calls.inc({ disposition });
      this.deps.metrics.activeCalls.dec();
      this.resolveDone();
    });
  }

  /** Stops the recording, releases every media channel, and finalises the recording file. Never rejects. */
  private async release(): Promise<Cdr['recording']> {
    await this.recorder?.stop();
    await Promise.all(this.endpoints.map((ep) => ep.release()));
    return this.recorder ? this.recorder.finish() : null;
  }

  private clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }
}

/**
 * Resolves after the commands already queued on the Redis client have been written: node-redis
 * writes its queue in a setImmediate, and immediates run in the order they were set.
 */
function afterQueuedWrites(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
