/** Delayed offers in the drachtio adapter: an INVITE without SDP each way, answered in the ACK. */
import { EventEmitter } from 'node:events';
import pino from 'pino';
import type Srf from 'drachtio-srf';
import { describe, expect, it } from 'vitest';
import { NoUsableSdpError } from '../../src/sip/body.js';
import { DrachtioSipPort } from '../../src/sip/drachtio.js';
import type { CallLeg, InboundCall, OutboundRequest } from '../../src/sip/port.js';

const SDP = 'v=0\r\no=- 7 7 IN IP4 127.0.0.5\r\ns=-\r\nc=IN IP4 127.0.0.5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';
const ANSWER = SDP.replace('127.0.0.5', '127.0.0.8');
const MIXED = 'multipart/mixed;boundary=b1';
const SIP_I = ['--b1', 'Content-Type: application/sdp', '', SDP, '--b1', 'Content-Type: application/isup', '', '\u0001\u0019\u0089', '--b1--', ''].join('\r\n');
const silent = pino({ level: 'silent' });
const tick = () => new Promise((r) => setImmediate(r));

function fakeDialog() {
  const dialog = Object.assign(new EventEmitter(), {
    remote: { sdp: '' }, local: { sdp: '' }, sip: { callId: 'c@x' }, res: { headers: {} }, destroys: 0,
    destroy: () => {
      dialog.destroys++;
      dialog.emit('destroy');
      return Promise.resolve();
    },
  });
  return dialog;
}

/** A dial whose createUAC resolves as drachtio-srf does for a 200 with an offer when asked not to ACK it. */
function dialDelayed(sdp = '', body = SIP_I, type = MIXED) {
  const dialog = fakeDialog();
  const pending = {
    sdp: body, res: { headers: { 'content-type': type } }, acks: [] as string[], destroys: 0,
    ack(localSdp: string) {
      this.acks.push(localSdp);
      return Promise.resolve(dialog);
    },
    destroy() {
      this.destroys++;
      return Promise.resolve();
    },
  };
  const seen: Array<Record<string, unknown>> = [];
  const srf = {
    createUAC: (_uri: string, opts: Record<string, unknown>) => {
      seen.push(opts);
      return Promise.resolve(pending);
    },
  } as unknown as Srf;
  const request: OutboundRequest = { uri: 'sip:+919876549876@127.0.0.1', headers: {}, sdp };
  const attempt = new DrachtioSipPort(srf, silent).dial(request, { onProgress: () => undefined });
  return { attempt, pending, dialog, opts: seen };
}

/** A port answering the INVITE it is given with a fake dialog; resolves with the call. */
function inbound(ackTimeoutMs = 1_000) {
  const dialog = fakeDialog();
  let onInvite!: (req: unknown, res: unknown) => void;
  const srf = { invite: (h: typeof onInvite) => void (onInvite = h), createUAS: () => Promise.resolve(dialog) } as unknown as Srf;
  const port = new DrachtioSipPort(srf, silent, undefined, { ackTimeoutMs });
  const call = new Promise<InboundCall>((resolve) => port.onInvite(resolve));
  onInvite({ headers: { 'call-id': 'c@x' }, source_address: '127.0.0.1', source_port: 5060, uri: 'sip:+912240001000@127.0.0.1', body: '', on: () => undefined }, {});
  return { dialog, call };
}

describe('dialling without SDP', () => {
  it('asks drachtio-srf not to ACK the 200, and gives the SDP part of the callee\'s offer', async () => {
    const d = dialDelayed();
    const leg = await d.attempt.answered;
    expect(d.opts[0]).toMatchObject({ noAck: true, headers: {} }); // no Content-Type on an INVITE without a body
    expect(leg.remoteSdp).toBe(SDP);
    expect(d.pending.acks).toEqual([]);
  });

  it('ACKs with our answer when told, then behaves as any leg (handlers set before included)', async () => {
    const d = dialDelayed();
    const leg = await d.attempt.answered;
    let ended = 0;
    leg.onEnded(() => void ended++);
    await leg.ack(ANSWER);
    expect(d.pending.acks).toEqual([ANSWER]);
    const sent: unknown[][] = [];
    d.dialog.emit('refer', {}, { send: (...args: unknown[]) => void sent.push(args) });
    expect(sent).toEqual([[403, 'Transfer Not Allowed', {}]]);
    d.dialog.emit('destroy');
    expect(ended).toBe(1);
  });

  it('ends the dialog without our answer when hung up before the ACK, and BYEs the ACKed one after', async () => {
    const before = dialDelayed();
    await (await before.attempt.answered).hangup();
    expect(before.pending.destroys).toBe(1);
    const after = dialDelayed();
    const leg = await after.attempt.answered;
    await leg.ack(ANSWER);
    await leg.hangup();
    expect([after.pending.destroys, after.dialog.destroys]).toEqual([0, 1]);
  });

  it('fails the attempt with a typed error, and ends it, when the callee\'s offer is not usable', async () => {
    const d = dialDelayed('', '\u0001\u0019\u0089', 'application/isup');
    await expect(d.attempt.answered).rejects.toBeInstanceOf(NoUsableSdpError);
    await tick();
    expect(d.pending.destroys).toBe(1);
  });

  it('lets drachtio-srf ACK as usual when the INVITE carries an offer', async () => {
    const d = dialDelayed(SDP);
    d.attempt.answered.catch(() => undefined);
    await tick();
    expect(d.opts[0]?.noAck).toBeUndefined();
    expect(d.opts[0]).toMatchObject({ localSdp: SDP, headers: { 'Content-Type': 'application/sdp' } });
  });
});

describe('answering a caller who sent no SDP', () => {
  it('resolves only once the ACK came, with the SDP part of the answer in it', async () => {
    const a = inbound();
    let leg: CallLeg | null = null;
    void (await a.call).answer(SDP, { awaitAck: true }).then((l) => (leg = l));
    await tick();
    expect(leg).toBeNull();
    a.dialog.emit('ack', { body: SIP_I, headers: { 'content-type': MIXED } });
    await tick();
    expect(leg!.remoteSdp).toBe(SDP);
  });

  it('rejects, and hangs up, when no ACK comes in time or the caller ends the call first', async () => {
    const late = inbound(20);
    await expect((await late.call).answer(SDP, { awaitAck: true })).rejects.toThrow(/no ACK from the caller within 20 ms/);
    expect(late.dialog.destroys).toBe(1);
    const gone = inbound();
    const answering = (await gone.call).answer(SDP, { awaitAck: true });
    await tick();
    gone.dialog.emit('destroy');
    await expect(answering).rejects.toThrow(/before its ACK/);
  });

  it('gives an empty remote SDP when the ACK carries no usable answer', async () => {
    const a = inbound();
    let settled = false;
    const answering = (await a.call).answer(SDP, { awaitAck: true }).finally(() => (settled = true));
    await tick();
    expect(settled).toBe(false);
    a.dialog.emit('ack', { body: '', headers: {} });
    expect((await answering).remoteSdp).toBe('');
  });
});
