/**
 * The SIP port: what the call logic needs from a SIP stack, and nothing more.
 * src/sip/drachtio.ts implements it over drachtio-srf; test/helpers/fake-sip.ts fakes it.
 * Nothing here exposes drachtio types, so the call logic stays testable without a server.
 */

/** The parts of an incoming INVITE the app reads. Header lookup is case-insensitive. */
export interface InviteInfo {
  callId: string;
  sourceAddress: string;
  sourcePort: number;
  requestUri: string;
  /** Raw header value, or undefined when absent. */
  header(name: string): string | undefined;
  /** The SDP part of the body (read by Content-Type, multipart included); '' when there is none (a delayed offer). */
  sdp: string;
  /** Set when the body cannot be used (no SDP part, an unknown Content-Type): the call is refused with this status. */
  bodyRejection?: { status: number; reason: string };
}

/** An established leg (one side of a bridged call). */
export interface CallLeg {
  readonly remoteSdp: string;
  /**
   * The SIP server's id of this leg's dialog (drachtio-server's), once the dialog exists: what
   * another instance needs to end the leg if this one dies (SipPort#endDialog). It holds the raw
   * Call-ID, so it is kept only in Redis (the live-call registry), never logged.
   */
  readonly dialogId?: string;
  /** Called once when the far end hangs up (BYE received). */
  onEnded(cb: () => void): void;
  /** Handles an SDP offer from the far end mid-call (a re-INVITE, or an UPDATE with a body); resolve with the answer to send back. */
  onReinvite(cb: (offer: string) => Promise<string>): void;
  /** Sends a re-INVITE with `offer`; resolves with the far end's answer. */
  reinvite(offer: string): Promise<string>;
  /** Sends BYE. Idempotent; never rejects. */
  hangup(): Promise<void>;
  /**
   * A leg dialled without SDP (a delayed offer) is answered with the far end's offer in its 200
   * (remoteSdp) and is not ACKed yet: this sends the ACK carrying our answer. A no-op for any
   * other leg.
   */
  ack(answerSdp: string): Promise<void>;
}

/** The caller's side before answer: an INVITE server transaction. */
export interface InboundCall {
  readonly info: InviteInfo;
  /**
   * The SIP server's id of this INVITE's transaction: another instance can answer it
   * (SipPort#failInvite) if this one dies before it has (src/calls/takeover.ts).
   */
  readonly transactionId?: string;
  /** True once a final response (2xx or failure) has gone out. */
  readonly finalSent: boolean;
  /** 180/183 towards the caller, optionally with early-media SDP. */
  progress(status: 180 | 183, sdp?: string): void;
  /** A final failure response. Ignored once a final response went out. */
  reject(status: number, reason?: string): void;
  /**
   * 200 OK with `sdp`; resolves with the caller's leg. `awaitAck` (a delayed offer: `sdp` is our
   * offer): resolves once the caller's ACK came, with its answer as the leg's remoteSdp ('' when
   * the ACK had none); rejects when no ACK comes within the port's deadline.
   */
  answer(sdp: string, opts?: { awaitAck?: boolean }): Promise<CallLeg>;
  /** Called once if the caller CANCELs before a final response. The port has already answered 487. */
  onCancel(cb: () => void): void;
}

export interface OutboundRequest {
  /** Request-URI, e.g. sip:+919812341234@gw.example:5060;transport=udp */
  uri: string;
  /** Complete header values: From, To, P-Asserted-Identity and anything else to send. Nothing else is copied. */
  headers: Record<string, string>;
  sdp: string;
  auth?: { username: string; password: string };
}

/** A final failure of an outbound INVITE (a SIP status, or 503 when the stack itself failed). */
export class OutboundFailure extends Error {
  override readonly name = 'OutboundFailure';
  constructor(readonly status: number, readonly reason: string = '') {
    super(`outbound call failed with ${status}${reason ? ` ${reason}` : ''}`);
  }
}

export interface OutboundAttempt {
  /** Resolves with the callee's leg on 200; rejects with OutboundFailure otherwise (487 after cancel()). */
  readonly answered: Promise<CallLeg>;
  /** CANCELs the INVITE if it is still pending. Idempotent. */
  cancel(): void;
}

export interface OutboundEvents {
  onProgress(status: number, sdp: string | undefined): void;
  /**
   * The INVITE went out: the id the SIP server will give the dialog a 200 makes (for
   * drachtio-server `{Call-ID};from-tag={our tag}`), so another instance can BYE it if this one
   * dies before the call is connected (src/calls/takeover.ts).
   */
  onSent?(dialogId: string, transactionId: string): void;
}

export type InviteHandler = (call: InboundCall) => void;

export interface SipPort {
  /** Registers the one handler that receives every new INVITE. */
  onInvite(handler: InviteHandler): void;
  /** Answers out-of-dialog OPTIONS (carrier keep-alives) with the status the handler returns for the source. */
  onOptions(statusFor: (sourceAddress: string) => number): void;
  dial(req: OutboundRequest, events: OutboundEvents): OutboundAttempt;
  /**
   * Sends BYE in a dialog the SIP server holds, by its id (CallLeg#dialogId), whichever
   * application created it: how a survivor ends the calls of an instance that died
   * (src/calls/takeover.ts). Resolves with the status of the answer; 'gone' when the server no
   * longer has the dialog (the party hung up already); null when no answer came within
   * `timeoutMs` or the server is not connected. Never rejects.
   */
  endDialog?(dialogId: string, timeoutMs: number): Promise<number | 'gone' | null>;
  /**
   * CANCEL for an INVITE another instance sent and that has no final response yet, by its
   * transaction id (OutboundEvents#onSent). False when the SIP server no longer has it (it was
   * answered, or failed) or did not say within `timeoutMs`.
   */
  cancelInvite?(transactionId: string, timeoutMs: number): Promise<boolean>;
  /** A final failure response to an INVITE another instance received and never answered (InboundCall#transactionId). */
  failInvite?(transactionId: string, status: number, reason: string): Promise<boolean>;
  /** An out-of-dialog OPTIONS to `uri`: the status of the answer, or null without one within `timeoutMs`. Never rejects. */
  ping?(uri: string, timeoutMs: number): Promise<number | null>;
}
