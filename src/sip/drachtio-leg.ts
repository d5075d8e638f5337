/**
 * An established leg over a drachtio-srf Dialog (src/sip/drachtio.ts creates them), and the
 * helpers every part of the adapter uses to read headers and to send responses safely.
 */
import type Srf from 'drachtio-srf';
import type { Logger, NumberFormatter } from '../log/logger.js';
import { ACCEPTED_TYPES, NoUsableSdpError, readSdpBody, type SdpBody } from './body.js';
import { OutboundFailure, type CallLeg } from './port.js';
import { sendableStatus } from './status.js';

type Req = Srf.SrfRequest;
type Res = Srf.SrfResponse;

export const SDP = { 'Content-Type': 'application/sdp' };

/**
 * How the adapter renders what it logs: `text` masks numbers in free text (error messages,
 * details); `callId` turns a SIP Call-ID into the keyed hash CDRs and the call's own log lines
 * carry (src/calls/call-id.ts), so every line of one call matches.
 */
export interface LogRender {
  text: NumberFormatter;
  callId(raw: string): string;
}

export const maskOnly = (fmt: NumberFormatter): LogRender => ({ text: fmt, callId: fmt });

/** A header of a drachtio-parsed message (its keys are lower case, compact forms expanded). */
export function headerOf(msg: { headers?: Record<string, string> } | undefined, name: string): string | undefined {
  const headers = msg?.headers;
  if (!headers) return undefined;
  const lower = name.toLowerCase();
  if (lower in headers) return headers[lower];
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === lower) return value;
  return undefined;
}

/**
 * Runs `send`; a throw is logged (Call-ID masked) instead of raised. drachtio-srf's Response#send
 * throws for a status outside its table, and its agent for a connection that has gone.
 */
export function safely(log: Logger, fmt: LogRender, callId: string | undefined, status: number, send: () => void): void {
  try {
    send();
  } catch (err) {
    log.warn({ callId: fmt.callId(callId ?? ''), status, err: fmt.text(String((err as Error)?.message ?? err)) }, 'SIP response not sent');
  }
}

/** Sends the refusal of a body without usable SDP (with Accept on a 415). */
export function refuseBody(res: Res, body: Extract<SdpBody, { kind: 'refused' }>): void {
  if (body.status === 415) res.send(415, body.reason, { headers: { Accept: ACCEPTED_TYPES } });
  else res.send(body.status, body.reason, {});
}

/** drachtio-server's id of a dialog (drachtio-srf's Dialog#id: its response's stackDialogId). */
export function dialogIdOf(dialog: object | undefined): string | undefined {
  const id = (dialog as { id?: unknown } | undefined)?.id;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

export class DrachtioLeg implements CallLeg {
  private ended = false;
  /** The SDP part of what the far end last described (its INVITE, 200 or ACK, then its offers and answers). */
  private remote: string;

  constructor(private readonly dialog: Srf.Dialog, private readonly log: Logger, private readonly fmt: LogRender, remoteSdp: string) {
    this.remote = remoteSdp;
    dialog.on('destroy', () => {
      this.ended = true;
    });
    // Without a listener drachtio-srf answers an in-dialog REFER with 200 and does nothing, so the
    // phone believes its transfer is under way. maskbridge does not transfer calls (that would
    // dial a number of the party's choosing through the trunk), so the REFER is refused.
    dialog.on('refer', (_req: Req, res: Res) => {
      this.log.info({ callId: this.fmt.callId(dialog.sip.callId) }, 'REFER refused: maskbridge does not transfer calls');
      this.send(403, () => res.send(403, 'Transfer Not Allowed', {}));
    });
  }

  get remoteSdp(): string {
    return this.remote;
  }

  /** drachtio-server's dialog id (Dialog#id, the stackDialogId it sends BYE and re-INVITE with; missing from drachtio-srf's typings). */
  get dialogId(): string | undefined {
    return dialogIdOf(this.dialog);
  }

  private send(status: number, send: () => void): void {
    safely(this.log, this.fmt, this.dialog.sip?.callId, status, send);
  }

  onEnded(cb: () => void): void {
    if (this.ended) return void setImmediate(cb);
    this.dialog.on('destroy', () => cb());
  }

  onReinvite(cb: (offer: string) => Promise<string>): void {
    // A refused offer is logged by the call (with its ids), not here.
    const relay = (offer: string, res: Res): void => {
      Promise.resolve().then(() => cb(offer)).then(
        (answer) => {
          if (!answer) return this.send(488, () => res.send(488)); // the other side's answer held no usable SDP
          this.remote = offer;
          this.dialog.local.sdp = answer; // what this leg last agreed, for a re-INVITE without SDP
          this.send(200, () => res.send(200, { body: answer, headers: SDP }));
        },
        (err: { status?: unknown } | undefined) => {
          const status = typeof err?.status === 'number' && err.status >= 400 ? err.status : 488;
          const sendable = sendableStatus(status, 'offer');
          this.send(sendable, () => res.send(sendable));
        },
      ).catch((err: unknown) => this.log.error({ err: this.fmt.text(String((err as Error)?.message ?? err)) }, 'mid-call offer not answered'));
    };
    /** The SDP offer of an in-dialog request; '' for none; null when its body was refused here. */
    const offerOf = (req: Req, res: Res): string | null => {
      const body = readSdpBody(req.body, headerOf(req, 'content-type'));
      if (body.kind === 'sdp') return body.sdp;
      if (body.kind === 'none') return '';
      // The call logic never sees this offer, so it is logged here (no party's number in it).
      this.log.info({ callId: this.fmt.callId(this.dialog.sip?.callId ?? ''), status: body.status, detail: this.fmt.text(body.detail) },
        'mid-call offer refused: no usable SDP in its body');
      this.send(body.status, () => refuseBody(res, body));
      return null;
    };
    this.dialog.on('modify', (req: Req, res: Res) => {
      // A re-INVITE without SDP asks for an offer; it is mostly a session-timer refresh. It gets
      // this leg's current SDP, unchanged (drachtio-srf would relay an empty offer, and ACK the
      // other party's offer without an answer). An answer in its ACK that changes the media is
      // not passed on.
      const offer = offerOf(req, res);
      if (offer === '') this.send(200, () => res.send(200, { body: this.dialog.local.sdp, headers: SDP }));
      else if (offer !== null) relay(offer, res);
    });
    // An UPDATE with an offer changes the media as a re-INVITE does. Left to drachtio-srf, it is
    // answered with the leg's old SDP and the other side never hears of it (one-way audio after,
    // say, a change of address). One without a body (a session-timer refresh) just gets its 200.
    this.dialog.on('update', (req: Req, res: Res) => {
      const offer = offerOf(req, res);
      if (offer === '') this.send(200, () => res.send(200));
      else if (offer !== null) relay(offer, res);
    });
  }

  async reinvite(offer: string): Promise<string> {
    let body: string;
    try {
      body = (await this.dialog.modify(offer)) as string;
    } catch (err) {
      const e = err as Error & { status?: unknown; reason?: unknown };
      throw new OutboundFailure(typeof e.status === 'number' ? e.status : 500, typeof e.reason === 'string' ? e.reason : String(e?.message ?? e));
    }
    // Dialog#modify resolves with the 200's body only: it is read without its Content-Type.
    const answer = readSdpBody(body, undefined);
    if (answer.kind !== 'sdp') throw new NoUsableSdpError(answer.kind === 'none' ? 'answer without a body' : answer.detail);
    this.remote = answer.sdp;
    return answer.sdp;
  }

  /** Only a leg answered with a delayed offer (UnackedLeg) has an ACK left to send. */
  async ack(): Promise<void> {}

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

/** What drachtio-srf's createUAC resolves with for a 200 to an INVITE without SDP when asked not to ACK it. */
export interface Unacked {
  sdp: string;
  res: Res;
  ack(localSdp: string): Promise<Srf.Dialog>;
  destroy(): Promise<void>;
}

/**
 * The callee's leg of a delayed offer: its 200 carried the offer (remoteSdp) and is not ACKed
 * until ack() sends our answer; then it is a DrachtioLeg. Handlers set before that are kept for it.
 */
export class UnackedLeg implements CallLeg {
  private leg: DrachtioLeg | null = null;
  private ended = false;
  private endedCbs: Array<() => void> = [];
  private reinviteCb: ((offer: string) => Promise<string>) | null = null;
  private acking: Promise<void> | null = null;

  constructor(private readonly pending: Unacked, private readonly offer: string, private readonly log: Logger, private readonly fmt: LogRender) {}

  get remoteSdp(): string {
    return this.leg ? this.leg.remoteSdp : this.offer;
  }

  /** None until the ACK made the dialog. */
  get dialogId(): string | undefined {
    return this.leg?.dialogId;
  }

  onEnded(cb: () => void): void {
    if (this.leg) this.leg.onEnded(cb);
    else this.endedCbs.push(cb);
  }

  onReinvite(cb: (offer: string) => Promise<string>): void {
    if (this.leg) this.leg.onReinvite(cb);
    else this.reinviteCb = cb;
  }

  async reinvite(offer: string): Promise<string> {
    if (!this.leg) throw new OutboundFailure(491, 'Request Pending'); // not ACKed yet: no dialog to re-INVITE in
    return this.leg.reinvite(offer);
  }

  async ack(answerSdp: string): Promise<void> {
    if (this.leg || this.ended) return;
    this.acking ??= this.pending.ack(answerSdp).then((dialog) => {
      const leg = new DrachtioLeg(dialog, this.log, this.fmt, this.offer);
      this.leg = leg;
      for (const cb of this.endedCbs.splice(0)) leg.onEnded(cb);
      if (this.reinviteCb) leg.onReinvite(this.reinviteCb);
    });
    return this.acking;
  }

  async hangup(): Promise<void> {
    if (this.acking) await this.acking.catch(() => undefined); // then BYE in the dialog the ACK made
    if (this.leg) return this.leg.hangup();
    if (this.ended) return;
    this.ended = true;
    // drachtio-srf ACKs the 200 (with its own offer echoed: nothing is listening any more) and sends BYE.
    await this.pending.destroy().catch((err: Error) => this.log.debug({ err: err?.message }, 'BYE failed (dialog already gone)'));
  }
}
