/**
 * The drachtio-srf implementation of the SIP port. Thin on purpose: it translates between
 * drachtio's request/response/dialog objects and src/sip/port.ts, and decides nothing.
 */
import Srf from 'drachtio-srf';
import { maskNumbersInText, type Logger, type NumberFormatter } from '../log/logger.js';
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

type Req = Srf.SrfRequest;
type Res = Srf.SrfResponse;

const SDP = { 'Content-Type': 'application/sdp' };

/**
 * What the call path reads of an INVITE. Headers are looked up in one index by lower-case name:
 * drachtio-srf's req.get()/req.has() scan every header name (and read an environment variable)
 * on each call. The parser has already expanded compact forms and joined repeated headers, so
 * the index answers what req.get() would.
 */
export function inviteInfo(req: Pick<Req, 'headers' | 'source_address' | 'source_port' | 'uri' | 'body'>): InviteInfo {
  const byName = new Map<string, string>();
  for (const [key, value] of Object.entries(req.headers)) byName.set(key.toLowerCase(), value);
  const header = (name: string): string | undefined => byName.get(name.toLowerCase());
  return {
    callId: header('call-id') ?? '',
    sourceAddress: req.source_address,
    sourcePort: Number(req.source_port),
    requestUri: req.uri,
    header,
    sdp: req.body ?? '',
  };
}

class DrachtioLeg implements CallLeg {
  private ended = false;
  constructor(private readonly dialog: Srf.Dialog, private readonly log: Logger, private readonly fmt: NumberFormatter) {
    dialog.on('destroy', () => {
      this.ended = true;
    });
    // Without a listener drachtio-srf answers an in-dialog REFER with 200 and does nothing, so the
    // phone believes its transfer is under way. maskbridge does not transfer calls (that would
    // dial a number of the party's choosing through the trunk), so the REFER is refused.
    dialog.on('refer', (_req: Req, res: Res) => {
      this.log.info({ callId: this.fmt(dialog.sip.callId) }, 'REFER refused: maskbridge does not transfer calls');
      res.send(403, 'Transfer Not Allowed', {});
    });
  }

  get remoteSdp(): string {
    return this.dialog.remote.sdp ?? '';
  }

  onEnded(cb: () => void): void {
    if (this.ended) return void setImmediate(cb);
    this.dialog.on('destroy', () => cb());
  }

  onReinvite(cb: (offer: string) => Promise<string>): void {
    // A refused offer is logged by the call (with its ids), not here.
    const relay = (offer: string, res: Res): void => {
      cb(offer).then(
        (answer) => {
          this.dialog.local.sdp = answer; // what this leg last agreed, for a re-INVITE without SDP
          res.send(200, { body: answer, headers: SDP });
        },
        (err: Error & { status?: number }) => res.send(err.status && err.status >= 400 ? err.status : 488),
      );
    };
    this.dialog.on('modify', (req: Req, res: Res) => {
      // A re-INVITE without SDP asks for an offer; it is mostly a session-timer refresh. It gets
      // this leg's current SDP, unchanged (drachtio-srf would relay an empty offer, and ACK the
      // other party's offer without an answer). An answer in its ACK that changes the media is
      // not passed on.
      if (!req.body) return void res.send(200, { body: this.dialog.local.sdp, headers: SDP });
      relay(req.body, res);
    });
    // An UPDATE with an offer changes the media as a re-INVITE does. Left to drachtio-srf, it is
    // answered with the leg's old SDP and the other side never hears of it (one-way audio after,
    // say, a change of address). One without a body (a session-timer refresh) just gets its 200.
    this.dialog.on('update', (req: Req, res: Res) => {
      if (req.body) relay(req.body, res);
      else res.send(200);
    });
  }

  async reinvite(offer: string): Promise<string> {
    return (await this.dialog.modify(offer)) as string;
  }

  async hangup(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    try {
      await this.dialog.destroy();
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'BYE failed (dialog already gone)');
    }
  }
}

class DrachtioInboundCall implements InboundCall {
  readonly info: InviteInfo;
  private cancelled = false;

  constructor(
    private readonly srf: Srf,
    private readonly req: Req,
    private readonly res: Res,
    private readonly log: Logger,
    private readonly fmt: NumberFormatter,
  ) {
    this.info = inviteInfo(req);
  }

  get finalSent(): boolean {
    return this.cancelled || this.res.finalResponseSent;
  }

  progress(status: 180 | 183, sdp?: string): void {
    if (this.finalSent) return;
    this.res.send(status, sdp ? { body: sdp, headers: SDP } : {});
  }

  reject(status: number, reason?: string): void {
    if (this.finalSent) return;
    if (reason) this.res.send(status, reason, {});
    else this.res.send(status);
  }

  async answer(sdp: string): Promise<CallLeg> {
    const dialog = await this.srf.createUAS(this.req, this.res, { localSdp: sdp, headers: SDP });
    return new DrachtioLeg(dialog, this.log, this.fmt);
  }

  onCancel(cb: () => void): void {
    // drachtio-server (sofia) answers the CANCEL with 200 and the INVITE with 487 itself.
    this.req.on('cancel', () => {
      this.cancelled = true;
      cb();
    });
  }
}

export class DrachtioSipPort implements SipPort {
  /** `fmt` renders a Call-ID for the adapter's own log lines (some carriers put numbers in it). */
  constructor(private readonly srf: Srf, private readonly log: Logger, private readonly fmt: NumberFormatter = maskNumbersInText) {}

  onInvite(handler: InviteHandler): void {
    this.srf.invite((req, res) => handler(new DrachtioInboundCall(this.srf, req, res, this.log, this.fmt)));
  }

  onOptions(statusFor: (sourceAddress: string) => number): void {
    // srf.options() exists (one delegate per SIP method, lib/srf.js) but is missing from its typings.
    const srf = this.srf as unknown as { options(handler: (req: Req, res: Res) => void): void };
    srf.options((req, res) => res.send(statusFor(req.source_address)));
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
      },
      cbProvisional: (res) => events.onProgress(res.status, res.body || undefined),
    };
    const opts: Srf.CreateUACOptions = { headers: { ...request.headers, ...SDP }, localSdp: request.sdp };
    if (request.auth) opts.auth = request.auth;
    const answered = (this.srf.createUAC(request.uri, opts, callbacks as never) as Promise<Srf.Dialog>).then(
      (dialog) => {
        settled = true;
        return new DrachtioLeg(dialog, this.log, this.fmt) as CallLeg;
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
