/** A fake of the project's own SIP port (src/sip/port.ts), scriptable from tests. */
import {
  OutboundFailure,
  type CallLeg,
  type InboundCall,
  type InviteHandler,
  type InviteInfo,
  type OutboundAttempt,
  type OutboundEvents,
  type OutboundRequest,
  type SipPort,
} from '../../src/sip/port.js';

export interface SentResponse {
  status: number;
  reason?: string;
  sdp?: string;
}

export class FakeLeg implements CallLeg {
  hangups = 0;
  ended = false;
  readonly reinvitesSent: string[] = [];
  reinviteAnswer = 'v=0\r\n';
  /** Set to make the far end refuse our re-INVITEs with this status. */
  reinviteRefusal: number | null = null;
  private endedCbs: Array<() => void> = [];
  private reinviteCb: ((offer: string) => Promise<string>) | null = null;

  /** The SIP server's dialog id a survivor would BYE (CallLeg#dialogId). */
  readonly dialogId: string;

  constructor(readonly name: string, readonly remoteSdp: string) {
    this.dialogId = `${name}-${Math.random().toString(36).slice(2)};dialog`;
  }

  onEnded(cb: () => void): void {
    this.endedCbs.push(cb);
  }
  onReinvite(cb: (offer: string) => Promise<string>): void {
    this.reinviteCb = cb;
  }
  async reinvite(offer: string): Promise<string> {
    this.reinvitesSent.push(offer);
    if (this.reinviteRefusal) throw new OutboundFailure(this.reinviteRefusal, 'Not Acceptable Here');
    return this.reinviteAnswer;
  }
  async hangup(): Promise<void> {
    this.hangups++;
    this.ended = true;
  }
  /** The answer we sent in the ACK of a delayed offer (null: no ACK with SDP sent). */
  ackedWith: string | null = null;
  async ack(answerSdp: string): Promise<void> {
    this.ackedWith = answerSdp;
  }
  /** The far end sends BYE. */
  remoteHangup(): void {
    this.ended = true;
    for (const cb of this.endedCbs) cb();
  }
  /** The far end sends a re-INVITE; resolves with what we answered. */
  remoteReinvite(offer: string): Promise<string> {
    if (!this.reinviteCb) throw new Error(`${this.name}: no re-INVITE handler`);
    return this.reinviteCb(offer);
  }
}

export interface InviteSpec {
  callId?: string;
  source?: string;
  requestUri?: string;
  headers?: Record<string, string>;
  sdp?: string;
  /** The SIP server's id of the INVITE's transaction (InboundCall#transactionId). */
  transactionId?: string;
}

export class FakeInboundCall implements InboundCall {
  readonly info: InviteInfo;
  readonly transactionId: string;
  readonly responses: SentResponse[] = [];
  leg: FakeLeg | null = null;
  answerFails = false;
  private cancelCbs: Array<() => void> = [];
  private final = false;

  constructor(spec: InviteSpec) {
    this.transactionId = spec.transactionId ?? 'txn-a-1';
    const headers = new Map(Object.entries(spec.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    this.info = {
      callId: spec.callId ?? `call-${Math.random().toString(36).slice(2)}`,
      sourceAddress: spec.source ?? '127.0.0.1',
      sourcePort: 5060,
      requestUri: spec.requestUri ?? '',
      header: (name) => headers.get(name.toLowerCase()),
      sdp: spec.sdp ?? '',
    };
  }

  get finalSent(): boolean {
    return this.final;
  }
  get finalStatus(): number | undefined {
    return this.responses.find((r) => r.status >= 200)?.status;
  }
  progress(status: 180 | 183, sdp?: string): void {
    if (this.final) throw new Error('progress after final response');
    this.responses.push({ status, ...(sdp ? { sdp } : {}) });
  }
  reject(status: number, reason?: string): void {
    if (this.final) return;
    this.final = true;
    this.responses.push({ status, ...(reason ? { reason } : {}) });
  }
  /** When set, the 200 goes out but answer() settles only when the test calls completeAnswer() (the ACK is slow). */
  holdAnswer = false;
  private answerHeld: (() => void) | null = null;
  /** The SDP the caller's ACK carries (a delayed offer: its answer). */
  ackSdp = '';
  async answer(sdp: string, opts: { awaitAck?: boolean } = {}): Promise<CallLeg> {
    if (this.final) throw new Error('answer after final response');
    if (this.answerFails) throw new Error('caller transaction gone');
    this.final = true;
    this.responses.push({ status: 200, sdp });
    if (this.holdAnswer) await new Promise<void>((r) => (this.answerHeld = r));
    this.leg = new FakeLeg('A', opts.awaitAck ? this.ackSdp : this.info.sdp);
    return this.leg;
  }
  /** The caller's ACK arrives: a held answer() resolves. */
  completeAnswer(): void {
    this.answerHeld?.();
  }
  onCancel(cb: () => void): void {
    this.cancelCbs.push(cb);
  }
  /** The caller sends CANCEL: like drachtio, the port answers 487 itself. */
  cancel(): void {
    if (this.final) return;
    this.final = true;
    this.responses.push({ status: 487 });
    for (const cb of this.cancelCbs) cb();
  }
}

export class FakeDial {
  cancelled = false;
  /** Every cancel() the app asked for, including ones the port ignores (after the answer). */
  cancelRequests = 0;
  leg: FakeLeg | null = null;
  private settle!: { resolve: (leg: CallLeg) => void; reject: (err: unknown) => void };
  readonly answered: Promise<CallLeg>;

  constructor(readonly req: OutboundRequest, private readonly events: OutboundEvents) {
    this.answered = new Promise<CallLeg>((resolve, reject) => (this.settle = { resolve, reject }));
    this.answered.catch(() => undefined);
  }
  progress(status: number, sdp?: string): void {
    this.events.onProgress(status, sdp);
  }
  /** The SIP server echoed the INVITE it sent: the id of the dialog a 200 would make. */
  sent(dialogId = 'b-call-id@127.0.0.1;from-tag=b-tag', transactionId = 'txn-b'): void {
    this.events.onSent?.(dialogId, transactionId);
  }
  answer(sdp = 'v=0\r\no=callee 1 1 IN IP4 127.0.0.9\r\ns=callee\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n'): FakeLeg {
    this.leg = new FakeLeg('B', sdp);
    this.settle.resolve(this.leg);
    return this.leg;
  }
  fail(status: number, reason?: string): void {
    this.settle.reject(new OutboundFailure(status, reason));
  }
}

export class FakeSipPort implements SipPort {
  readonly dials: FakeDial[] = [];
  /** When set, a CANCEL does not settle the dial: the test decides (e.g. a 200 crossing the CANCEL). */
  holdCancels = false;
  private handler: InviteHandler | null = null;

  onInvite(handler: InviteHandler): void {
    this.handler = handler;
  }
  optionsStatus: ((source: string) => number) | null = null;
  onOptions(statusFor: (source: string) => number): void {
    this.optionsStatus = statusFor;
  }
  dial(req: OutboundRequest, events: OutboundEvents): OutboundAttempt {
    const d = new FakeDial(req, events);
    this.dials.push(d);
    return {
      answered: d.answered,
      cancel: () => {
        d.cancelRequests++;
        if (d.cancelled || d.leg) return;
        d.cancelled = true;
        if (!this.holdCancels) d.fail(487);
      },
    };
  }
  /** Delivers an INVITE to the app. */
  invite(spec: InviteSpec): FakeInboundCall {
    if (!this.handler) throw new Error('no INVITE handler registered');
    const call = new FakeInboundCall(spec);
    this.handler(call);
    return call;
  }
}
