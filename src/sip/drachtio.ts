/**
 * The drachtio-srf implementation of the SIP port. Thin on purpose: it translates between
 * drachtio's request/response/dialog objects and src/sip/port.ts, and decides nothing.
 *
 * Bodies: drachtio-srf hands over the raw body whatever its Content-Type (req.body, res.body,
 * dialog.remote.sdp), and labels what it sends application/sdp. Every body that arrives here is
 * read by its Content-Type (src/sip/body.ts) and only its SDP part goes to the call logic; a body
 * with none is refused on the leg it came in on (415 with Accept, 488, 400).
 *
 * Responses: drachtio-srf's Response#send throws for a status outside its table (607, 608, ...).
 * Every status relayed from the far end goes through sendableStatus(), and every send is made
 * through safely(), so a throw is logged and never becomes an unhandled rejection.
 */
import Srf from 'drachtio-srf';
import { maskNumbersInText, type Logger } from '../log/logger.js';
import { ACCEPTED_TYPES, NoUsableSdpError, readSdpBody } from './body.js';
import { DrachtioLeg, headerOf, maskOnly, safely, SDP, UnackedLeg, type LogRender, type Unacked } from './drachtio-leg.js';
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
} from './port.js';
import { sendableStatus } from './status.js';

type Req = Srf.SrfRequest;
type Res = Srf.SrfResponse;

/** How long a 200 carrying our offer waits for the caller's ACK: 64*T1, when RFC 3261 (13.3.1.4) gives up retransmitting it. */
export const ACK_TIMEOUT_MS = 32_000;

/**
 * What the call path reads of an INVITE. Headers are looked up in one index by lower-case name:
 * drachtio-srf's req.get()/req.has() scan every header name (and read an environment variable)
 * on each call. The parser has already expanded compact forms and joined repeated headers, so
 * the index answers what req.get() would. `sdp` is the SDP part of the body only; a body with
 * none sets `bodyRejection` (no body at all is a delayed offer: sdp '').
 */
export function inviteInfo(req: Pick<Req, 'headers' | 'source_address' | 'source_port' | 'uri' | 'body'>): InviteInfo {
  const byName = new Map<string, string>();
  for (const [key, value] of Object.entries(req.headers)) byName.set(key.toLowerCase(), value);
  const header = (name: string): string | undefined => byName.get(name.toLowerCase());
  const body = readSdpBody(req.body, header('content-type'));
  const info: InviteInfo = {
    callId: header('call-id') ?? '',
    sourceAddress: req.source_address,
    sourcePort: Number(req.source_port),
    requestUri: req.uri,
    header,
    sdp: body.kind === 'sdp' ? body.sdp : '',
  };
  if (body.kind === 'refused') info.bodyRejection = { status: body.status, reason: body.reason };
  return info;
}

class DrachtioInboundCall implements InboundCall {
  readonly info: InviteInfo;
  readonly transactionId: string;
  private cancelled = false;

  constructor(
    private readonly srf: Srf,
    private readonly req: Req,
    private readonly res: Res,
    private readonly log: Logger,
    private readonly fmt: LogRender,
    private readonly ackTimeoutMs: number,
  ) {
    this.info = inviteInfo(req);
    this.transactionId = req.stackTxnId ?? '';
  }

  get finalSent(): boolean {
    return this.cancelled || this.res.finalResponseSent;
  }

  private send(status: number, send: () => void): void {
    safely(this.log, this.fmt, this.info.callId, status, send);
  }

  progress(status: 180 | 183, sdp?: string): void {
    if (this.finalSent) return;
    this.send(status, () => this.res.send(status, sdp ? { body: sdp, headers: SDP } : {}));
  }

  reject(status: number, reason?: string): void {
    if (this.finalSent) return;
    const sendable = sendableStatus(status);
    // A reason phrase chosen for another status would be wrong for the one sent.
    const phrase = sendable === status ? reason : undefined;
    const headers = sendable === 415 ? { Accept: ACCEPTED_TYPES } : undefined;
    this.send(sendable, () => {
      if (phrase) this.res.send(sendable, phrase, headers ? { headers } : {});
      else if (headers) this.res.send(sendable, { headers });
      else this.res.send(sendable);
    });
  }

  async answer(sdp: string, opts: { awaitAck?: boolean } = {}): Promise<CallLeg> {
    const dialog = await this.srf.createUAS(this.req, this.res, { localSdp: sdp, headers: SDP });
    if (!opts.awaitAck) return new DrachtioLeg(dialog, this.log, this.fmt, this.info.sdp);
    // A delayed offer: `sdp` was our offer, and the caller's answer comes in its ACK.
    let ack: Req;
    try {
      ack = await ackOf(dialog, this.ackTimeoutMs);
    } catch (err) {
      await new DrachtioLeg(dialog, this.log, this.fmt, '').hangup();
      throw err;
    }
    const body = readSdpBody(ack.body, headerOf(ack, 'content-type'));
    return new DrachtioLeg(dialog, this.log, this.fmt, body.kind === 'sdp' ? body.sdp : '');
  }

  onCancel(cb: () => void): void {
    // drachtio-server (sofia) answers the CANCEL with 200 and the INVITE with 487 itself.
    this.req.on('cancel', () => {
      this.cancelled = true;
      cb();
    });
  }
}

/** The caller's ACK of our 200, or a rejection when the dialog ends or `ms` pass first. */
function ackOf(dialog: Srf.Dialog, ms: number): Promise<Req> {
  return new Promise<Req>((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      dialog.removeListener('ack', onAck);
      dialog.removeListener('destroy', onDestroy);
    };
    const onAck = (req: Req): void => {
      done();
      resolve(req);
    };
    const onDestroy = (): void => {
      done();
      reject(new Error('the caller ended the call before its ACK'));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no ACK from the caller within ${ms} ms`));
    }, ms);
    dialog.on('ack', onAck);
    dialog.on('destroy', onDestroy);
  });
}

/** What drachtio-srf's createUAC resolves with: a Dialog, or (asked not to ACK a 200 with an offer) the pieces to ACK it. */
const isUnacked = (r: Srf.Dialog | Unacked): r is Unacked => typeof (r as Partial<Srf.Dialog>).sip !== 'object' && typeof (r as Partial<Unacked>).ack === 'function';

export interface DrachtioPortOptions {
  /** How long answer({ awaitAck }) waits for the caller's ACK. */
  ackTimeoutMs?: number;
}

export class DrachtioSipPort implements SipPort {
  private readonly ackTimeoutMs: number;

  /** `fmt` renders numbers and Call-IDs in the adapter's own log lines (carriers put numbers in Call-IDs). */
  constructor(
    private readonly srf: Srf,
    private readonly log: Logger,
    private readonly fmt: LogRender = maskOnly(maskNumbersInText),
    opts: DrachtioPortOptions = {},
  ) {
    this.ackTimeoutMs = opts.ackTimeoutMs ?? ACK_TIMEOUT_MS;
  }

  onInvite(handler: InviteHandler): void {
    this.srf.invite((req, res) => handler(new DrachtioInboundCall(this.srf, req, res, this.log, this.fmt, this.ackTimeoutMs)));
  }

  onOptions(statusFor: (sourceAddress: string) => number): void {
    // srf.options() exists (one delegate per SIP method, lib/srf.js) but is missing from its typings.
    const srf = this.srf as unknown as { options(handler: (req: Req, res: Res) => void): void };
    srf.options((req, res) => {
      const status = sendableStatus(statusFor(req.source_address));
      safely(this.log, this.fmt, headerOf(req, 'call-id'), status, () => res.send(status));
    });
  }

  ping(uri: string, timeoutMs: number): Promise<number | null> {
    // Srf#request(uri, opts, cb) (lib/srf.js): cb gets the request sent, which emits 'response'.
    const srf = this.srf as unknown as {
      request(uri: string, opts: { method: string; headers: Record<string, string> }, cb: (err: Error | null, req: { on(ev: 'response', cb: (res: Res) => void): void }) => void): void;
    };
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      const done = (status: number | null) => {
        clearTimeout(timer);
        resolve(status);
      };
      try {
        srf.request(uri, { method: 'OPTIONS', headers: { 'Max-Forwards': '70' } }, (err, req) => {
          if (err) return done(null);
          req.on('response', (res) => done(res.status));
        });
      } catch {
        done(null); // not connected to drachtio-server
      }
    });
  }

  endDialog(dialogId: string, timeoutMs: number): Promise<number | 'gone' | null> {
    // drachtio-server sends a request that names a dialog id inside that dialog, with the
    // dialog's own Call-ID, tags, next CSeq, route set and remote target (a request-URI with
    // "placeholder" is replaced by the target), whichever connected application asks: it does not
    // check that the asker created the dialog (drachtio-server src/client.cpp processMessage,
    // sip-dialog-controller.cpp doSendRequestInsideDialog). The dialogs of an application whose
    // connection dropped stay in the server until a BYE ends them. Srf#request needs a URI even
    // with stackDialogId (drachtio-agent _normalizeParams).
    const srf = this.srf as unknown as {
      request(uri: string, opts: { method: string; stackDialogId: string; headers: Record<string, string> },
        cb: (err: (Error & { code?: string }) | null, req: { on(ev: 'response', cb: (res: Res) => void): void }) => void): void;
    };
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), timeoutMs);
      const done = (result: number | 'gone' | null) => {
        clearTimeout(timer);
        resolve(result);
      };
      try {
        srf.request('sip:placeholder', { method: 'BYE', stackDialogId: dialogId, headers: {} }, (err, req) => {
          if (err) return done(err.code === 'ENODIALOG' ? 'gone' : null);
          req.on('response', (res) => done(res.status));
        });
      } catch {
        done(null); // not connected to drachtio-server
      }
    });
  }

  cancelInvite(transactionId: string, timeoutMs: number): Promise<boolean> {
    // drachtio-server CANCELs an INVITE it sent by the transaction's id, whichever application
    // asks (src/client.cpp processMessage, sip-dialog-controller.cpp doSendCancelRequest): no
    // check that the asker sent it. It says OK once the CANCEL is out, an error when it no longer
    // has the INVITE (answered, or failed). The request-URI is not used (the INVITE's is).
    const srf = this.srf as unknown as {
      request(uri: string, opts: { method: string; stackTxnId: string; headers: Record<string, string> }, cb: (err: Error | null) => void): void;
    };
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      try {
        srf.request('sip:placeholder', { method: 'CANCEL', stackTxnId: transactionId, headers: {} }, (err) => {
          clearTimeout(timer);
          resolve(!err);
        });
      } catch {
        clearTimeout(timer);
        resolve(false); // not connected to drachtio-server
      }
    });
  }

  failInvite(transactionId: string, status: number, reason: string): Promise<boolean> {
    // A response names its request's transaction only; drachtio-server sends it for whichever
    // application asks (src/client.cpp processMessage, ClientController::respondToSipRequest),
    // filling Via, From, To (with a tag), Call-ID and CSeq from the INVITE, as it does itself for
    // an INVITE it cannot route (ClientController::outboundFailed). It does not tell the asker
    // whether it still had the transaction: true means handed to drachtio-server.
    const agent = (this.srf as unknown as { _app?: { client?: { sendMessage(msg: string, opts: { stackTxnId: string }): unknown } } })._app?.client;
    if (!agent) return Promise.resolve(false);
    try {
      agent.sendMessage(`SIP/2.0 ${status} ${reason}\r\n\r\n`, { stackTxnId: transactionId });
      return Promise.resolve(true);
    } catch {
      return Promise.resolve(false); // not connected to drachtio-server
    }
  }

  dial(request: OutboundRequest, events: OutboundEvents): OutboundAttempt {
    let sent: Req | null = null;
    let cancelRequested = false;
    // A CANCEL only means something before the final response; after it, it is a stray request.
    let settled = false;
    const cancelSent = (): void => {
      if (settled) return;
      try {
        sent?.cancel();
      } catch (err) {
        this.log.debug({ err: (err as Error).message }, 'CANCEL not sent (transaction already completed)');
      }
    };
    const callbacks: Srf.UacProgressCallbacks = {
      cbRequest: (err, req) => {
        if (err) return;
        sent = req;
        if (cancelRequested) cancelSent();
        // drachtio-server names a UAC dialog {Call-ID};from-tag={the From tag it sent}.
        const callId = headerOf(req, 'call-id');
        const tag = /;\s*tag=([^;>\s]+)/i.exec(headerOf(req, 'from') ?? '')?.[1];
        if (callId && tag && events.onSent) {
          try {
            events.onSent(`${callId};from-tag=${tag}`, req.stackTxnId ?? '');
          } catch (e) {
            this.log.error({ err: this.fmt.text(String((e as Error)?.message ?? e)) }, 'sent handler failed');
          }
        }
      },
      // Early media only from an SDP part; a 18x with none (SIP-I's ISUP-only 183) is plain progress.
      cbProvisional: (res) => {
        const body = readSdpBody(res.body, headerOf(res, 'content-type'));
        try {
          events.onProgress(res.status, body.kind === 'sdp' ? body.sdp : undefined);
        } catch (err) {
          this.log.error({ err: this.fmt.text(String((err as Error)?.message ?? err)) }, 'progress handler failed');
        }
      },
    };
    const opts: Srf.CreateUACOptions = { headers: request.sdp ? { ...request.headers, ...SDP } : { ...request.headers }, localSdp: request.sdp };
    // An INVITE without SDP (a delayed offer): the 200 carries the callee's offer, and is ACKed
    // with our answer (UnackedLeg#ack). Left to itself drachtio-srf would ACK it at once, with
    // the callee's own offer turned recvonly as the answer.
    if (!request.sdp) opts.noAck = true;
    if (request.auth) opts.auth = request.auth;
    const answered = (this.srf.createUAC(request.uri, opts, callbacks as never) as Promise<Srf.Dialog | Unacked>).then(
      (result) => {
        settled = true;
        const unacked = isUnacked(result) ? result : null;
        const body = unacked
          ? readSdpBody(unacked.sdp, headerOf(unacked.res, 'content-type'))
          : readSdpBody((result as Srf.Dialog).remote?.sdp, headerOf((result as Srf.Dialog).res, 'content-type'));
        if (body.kind === 'sdp') {
          return unacked ? new UnackedLeg(unacked, body.sdp, this.log, this.fmt) : new DrachtioLeg(result as Srf.Dialog, this.log, this.fmt, body.sdp);
        }
        // Answered without an SDP the other party could use: this attempt ends here (the call
        // logs the failure, whose message carries `detail`).
        const detail = body.kind === 'none' ? '200 without a body' : body.detail;
        this.log.debug({ detail: this.fmt.text(detail) }, 'callee answered without usable SDP; hanging up');
        Promise.resolve().then(() => (unacked ?? (result as Srf.Dialog)).destroy())
          .catch((err: Error) => this.log.debug({ err: err?.message }, 'BYE failed (dialog already gone)'));
        throw new NoUsableSdpError(detail);
      },
      (err: Error & { status?: number; reason?: string }) => {
        settled = true;
        throw new OutboundFailure(typeof err.status === 'number' ? err.status : 503, err.reason ?? err.message);
      },
    );
    return {
      answered,
      cancel: () => {
        if (cancelRequested) return;
        cancelRequested = true;
        if (sent) cancelSent();
      },
    };
  }
}
