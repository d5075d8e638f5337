/** The drachtio adapter hands the call logic only the SDP part of every body, and refuses bodies without one. */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import pino from 'pino';
import type Srf from 'drachtio-srf';
import { describe, expect, it } from 'vitest';
import { NoUsableSdpError } from '../../src/sip/body.js';
import { DrachtioSipPort, inviteInfo } from '../../src/sip/drachtio.js';
import type { CallLeg, OutboundRequest } from '../../src/sip/port.js';

const A = '+919812341234';
const SDP = 'v=0\r\no=- 7 7 IN IP4 127.0.0.5\r\ns=-\r\nc=IN IP4 127.0.0.5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';
/** An ISUP IAM fragment with A's number in BCD, one char per octet. */
const ISUP = '\u0001\u0000\u0060\u0001\u000a\u0000\u0002\u000a\u0008\u0004\u0013\u0019\u0089\u0021\u0043\u0021\u0043\u0000';
const MIXED = 'multipart/mixed;boundary=unique-boundary-1';
const SIP_I = ['--unique-boundary-1', 'Content-Type: application/sdp', '', SDP, '--unique-boundary-1',
  'Content-Type: application/isup; version=itu-t92+; base=itu-t92+', 'Content-Disposition: signal; handling=optional', '', ISUP,
  '--unique-boundary-1--', ''].join('\r\n');
const ACCEPT = 'application/sdp, multipart/mixed, multipart/alternative';
const tick = () => new Promise((r) => setImmediate(r));

/** A real drachtio-srf Request, parsed by drachtio-srf's own SIP parser, with `body`. */
function parsedRequest(method: string, headers: string[], body = ''): Srf.SrfRequest {
  const require = createRequire(import.meta.url);
  const SipMessage = require('drachtio-srf/lib/sip-parser/message') as new (raw: string) => unknown;
  const Request = require('drachtio-srf/lib/request') as new (msg: unknown, meta: object) => Srf.SrfRequest;
  const raw = [`${method} sip:+912240001000@127.0.0.1 SIP/2.0`, 'Via: SIP/2.0/UDP 127.0.0.2:5062;branch=z9hG4bK1', `From: <sip:${A}@carrier>;tag=1`,
    'To: <sip:+912240001000@127.0.0.1>', 'Call-ID: abc-123@carrier', `CSeq: 1 ${method}`, ...headers, `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n');
  return new Request(new SipMessage(raw), { source: 'network', address: '127.0.0.2', port: '5062', protocol: 'udp' });
}

/** What a fake response was sent, as drachtio-srf's Response#send arguments. */
function recordingRes() {
  const sent: unknown[][] = [];
  return { sent, res: { send: (...args: unknown[]) => void sent.push(args) } };
}

/** A dialled attempt whose callee answers with `body` (labelled `contentType`), and its fake dialog. */
function dialled(body: string, contentType: string | undefined, events: { onProgress: (s: number, sdp: string | undefined) => void } = { onProgress: () => undefined }) {
  let provisional!: (res: unknown) => void;
  let answer!: (dialog: unknown) => void;
  const dialog = Object.assign(new EventEmitter(), {
    remote: { sdp: body }, local: { sdp: SDP }, sip: { callId: 'b@127.0.0.1' }, destroys: 0,
    res: { headers: contentType ? { 'content-type': contentType } : {} },
    modify: (_offer: string): Promise<string> => Promise.resolve(SDP),
    destroy() {
      this.destroys++;
      return Promise.resolve();
    },
  });
  const srf = {
    createUAC(_uri: string, _opts: unknown, cbs: { cbProvisional: (res: unknown) => void }) {
      provisional = cbs.cbProvisional;
      return new Promise((resolve) => (answer = resolve));
    },
  } as unknown as Srf;
  const request: OutboundRequest = { uri: 'sip:+919876549876@127.0.0.1', headers: {}, sdp: SDP };
  const attempt = new DrachtioSipPort(srf, pino({ level: 'silent' })).dial(request, events);
  return { attempt, dialog, provisional: (status: number, b: string, type: string) => provisional({ status, body: b, headers: { 'content-type': type } }), answer: () => answer(dialog) };
}

async function answeredLeg(): Promise<{ leg: CallLeg; dialog: ReturnType<typeof dialled>['dialog'] }> {
  const d = dialled(SDP, 'application/sdp');
  d.answer();
  return { leg: await d.attempt.answered, dialog: d.dialog };
}

describe('the INVITE', () => {
  it('gives the call logic only the SDP part of a multipart body', () => {
    const info = inviteInfo(parsedRequest('INVITE', [`Content-Type: ${MIXED}`], SIP_I));
    expect(info.sdp).toBe(SDP);
    expect(info.bodyRejection).toBeUndefined();
  });

  it('sets a refusal for a body with no usable SDP: 415 for a type it does not read, 488 for unusable SDP', () => {
    expect(inviteInfo(parsedRequest('INVITE', ['Content-Type: application/isup'], ISUP))).toMatchObject({ sdp: '', bodyRejection: { status: 415, reason: 'Unsupported Media Type' } });
    expect(inviteInfo(parsedRequest('INVITE', ['Content-Type: application/sdp'], 'v=0 not sdp\r\n'))).toMatchObject({ sdp: '', bodyRejection: { status: 488, reason: 'Not Acceptable Here' } });
  });

  it('leaves sdp empty and sets no refusal for an INVITE without a body (a delayed offer)', () => {
    const info = inviteInfo(parsedRequest('INVITE', []));
    expect(info.sdp).toBe('');
    expect(info.bodyRejection).toBeUndefined();
  });

  it('gives the caller\'s leg the SDP part of its INVITE as its remote SDP', async () => {
    let onInvite!: (req: unknown, res: unknown) => void;
    const srf = { invite: (h: typeof onInvite) => void (onInvite = h), createUAS: () => Promise.resolve(new EventEmitter()) } as unknown as Srf;
    const port = new DrachtioSipPort(srf, pino({ level: 'silent' }));
    const leg = new Promise<CallLeg>((resolve) => port.onInvite((call) => resolve(call.answer(SDP))));
    onInvite(parsedRequest('INVITE', [`Content-Type: ${MIXED}`], SIP_I), {});
    expect((await leg).remoteSdp).toBe(SDP);
  });
});

describe('the callee\'s responses', () => {
  it('gives the call logic only the SDP part of a multipart 200', async () => {
    const d = dialled(SIP_I, MIXED);
    d.answer();
    expect((await d.attempt.answered).remoteSdp).toBe(SDP);
  });

  it('ends the attempt with a typed error, and hangs up, when the 200 has no usable SDP', async () => {
    for (const [body, type] of [[ISUP, 'application/isup'], ['', 'application/sdp'], ['v=0 broken', 'application/sdp']] as const) {
      const d = dialled(body, type);
      d.answer();
      await expect(d.attempt.answered, type).rejects.toBeInstanceOf(NoUsableSdpError);
      await expect(d.attempt.answered).rejects.toMatchObject({ status: 488 });
      await tick();
      expect(d.dialog.destroys, type).toBe(1);
    }
  });

  it('passes on only the SDP part of an 18x as early media, and an 18x without one as plain progress', () => {
    const progress: Array<[number, string | undefined]> = [];
    const d = dialled(SDP, 'application/sdp', { onProgress: (status, sdp) => void progress.push([status, sdp]) });
    d.attempt.answered.catch(() => undefined);
    d.provisional(183, SIP_I, MIXED);
    d.provisional(183, ISUP, 'application/isup');
    d.provisional(180, '', 'application/sdp');
    expect(progress).toEqual([[183, SDP], [183, undefined], [180, undefined]]);
  });
});

describe('mid-call offers', () => {
  it('relays only the SDP part of a multipart re-INVITE or UPDATE', async () => {
    const { leg, dialog } = await answeredLeg();
    const offers: string[] = [];
    leg.onReinvite((offer) => Promise.resolve(void offers.push(offer)).then(() => SDP));
    for (const event of ['modify', 'update']) {
      const { res, sent } = recordingRes();
      dialog.emit(event, parsedRequest(event === 'modify' ? 'INVITE' : 'UPDATE', [`Content-Type: ${MIXED}`], SIP_I), res);
      await tick();
      expect(sent, event).toEqual([[200, { body: SDP, headers: { 'Content-Type': 'application/sdp' } }]]);
    }
    expect(offers).toEqual([SDP, SDP]);
  });

  it('refuses on that leg, relaying nothing, an offer in a type it does not read (415 with Accept) or unusable SDP (488)', async () => {
    const { leg, dialog } = await answeredLeg();
    const offers: string[] = [];
    leg.onReinvite((offer) => Promise.resolve(void offers.push(offer)).then(() => SDP));
    const cases = [
      ['modify', 'INVITE', 'application/isup', ISUP, [[415, 'Unsupported Media Type', { headers: { Accept: ACCEPT } }]]],
      ['update', 'UPDATE', 'application/isup', ISUP, [[415, 'Unsupported Media Type', { headers: { Accept: ACCEPT } }]]],
      ['modify', 'INVITE', 'application/sdp', 'v=0 nothing usable', [[488, 'Not Acceptable Here', {}]]],
      ['update', 'UPDATE', MIXED, SIP_I.replace('application/sdp', 'text/plain'), [[415, 'Unsupported Media Type', { headers: { Accept: ACCEPT } }]]],
    ] as const;
    for (const [event, method, type, body, expected] of cases) {
      const { res, sent } = recordingRes();
      dialog.emit(event, parsedRequest(method, [`Content-Type: ${type}`], body), res);
      await tick();
      expect(sent, `${method} ${type}`).toEqual(expected);
    }
    expect(offers).toEqual([]);
  });

  it('refuses an offer with 488 when the other side\'s answer held no usable SDP', async () => {
    const { leg, dialog } = await answeredLeg();
    leg.onReinvite(() => Promise.resolve(''));
    const { res, sent } = recordingRes();
    dialog.emit('modify', parsedRequest('INVITE', ['Content-Type: application/sdp'], SDP), res);
    await tick();
    expect(sent).toEqual([[488]]);
  });

  it('returns only the SDP part of the answer to its own re-INVITE, and fails with a typed error when there is none', async () => {
    const { leg, dialog } = await answeredLeg();
    dialog.modify = () => Promise.resolve(SIP_I);
    await expect(leg.reinvite(SDP)).resolves.toBe(SDP);
    expect(leg.remoteSdp).toBe(SDP);
    dialog.modify = () => Promise.resolve(ISUP);
    await expect(leg.reinvite(SDP)).rejects.toBeInstanceOf(NoUsableSdpError);
  });
});
