import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import pino from 'pino';
import type Srf from 'drachtio-srf';
import { describe, expect, it } from 'vitest';
import { numberFormatter } from '../../src/log/logger.js';
import { DrachtioSipPort, inviteInfo } from '../../src/sip/drachtio.js';
import { maskOnly } from '../../src/sip/drachtio-leg.js';
import { callIdHasher } from '../../src/calls/call-id.js';
import { captureLogs } from '../helpers/harness.js';
import { identifyParties } from '../../src/sip/identify.js';
import type { Logger } from '../../src/log/logger.js';
import type { CallLeg, InboundCall, OutboundRequest } from '../../src/sip/port.js';

/** Just enough of Srf#createUAC: reports the sent request, then settles when the test says. */
function stubSrf() {
  const sent = { cancels: 0, cancel: () => void sent.cancels++ };
  let settle!: { resolve: (d: unknown) => void; reject: (e: unknown) => void };
  const srf = {
    createUAC(_uri: string, _opts: unknown, cbs: { cbRequest: (err: null, req: unknown) => void }) {
      cbs.cbRequest(null, sent);
      return new Promise((resolve, reject) => (settle = { resolve, reject }));
    },
  };
  const dialog = Object.assign(new EventEmitter(), {
    remote: { sdp: CALLEE_SDP }, local: { sdp: 'v=0 offered at dial' }, sip: { callId: 'b-leg-919876549876@127.0.0.1' },
    res: { headers: { 'content-type': 'application/sdp' } }, destroys: 0, modify: (_sdp: string): Promise<string> => Promise.resolve(CALLEE_SDP),
    destroy() {
      this.destroys++;
      return Promise.resolve();
    },
  });
  return { srf: srf as unknown as Srf, sent, dialog, answer: () => settle.resolve(dialog), fail: (status: number) => settle.reject(Object.assign(new Error('Busy Here'), { status })) };
}

const request: OutboundRequest = { uri: 'sip:+919876543210@127.0.0.1', headers: {}, sdp: '' };
const sdp = (address: string, direction = 'sendrecv') =>
  `v=0\r\no=- 1 1 IN IP4 ${address}\r\ns=-\r\nc=IN IP4 ${address}\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=${direction}\r\n`;
const CALLEE_SDP = sdp('127.0.0.9');
const NEW_ADDRESS = sdp('127.0.0.7');
const HOLD = sdp('127.0.0.5', 'sendonly');
const tick = () => new Promise((r) => setImmediate(r));

describe('DrachtioSipPort outbound attempts', () => {
  it('sends CANCEL while the INVITE is unanswered', () => {
    const s = stubSrf();
    const attempt = new DrachtioSipPort(s.srf, pino({ level: 'silent' })).dial(request, { onProgress: () => undefined });
    attempt.answered.catch(() => undefined);
    attempt.cancel();
    expect(s.sent.cancels).toBe(1);
  });

  it('sends no CANCEL once the callee answered or failed', async () => {
    for (const end of ['answer', 'fail'] as const) {
      const s = stubSrf();
      const attempt = new DrachtioSipPort(s.srf, pino({ level: 'silent' })).dial(request, { onProgress: () => undefined });
      attempt.answered.catch(() => undefined);
      if (end === 'answer') s.answer();
      else s.fail(486);
      await tick();
      attempt.cancel();
      expect(s.sent.cancels, end).toBe(0);
    }
  });
});

/** What a test's fake response object was sent, as drachtio-srf's Response#send arguments. */
function recordingRes() {
  const sent: unknown[][] = [];
  return { sent, res: { send: (...args: unknown[]) => void sent.push(args) } };
}

/** A dialled leg the callee answered, with its fake dialog. */
async function answeredLeg() {
  const s = stubSrf();
  const attempt = new DrachtioSipPort(s.srf, pino({ level: 'silent' })).dial(request, { onProgress: () => undefined });
  s.answer();
  return { dialog: s.dialog, leg: await attempt.answered };
}

/** Installs a relay on `leg` that answers every offer with "answer to <offer>"; returns the offers it saw. */
function relayOffers(leg: CallLeg): string[] {
  const offers: string[] = [];
  leg.onReinvite((offer) => {
    offers.push(offer);
    return Promise.resolve(`answer to ${offer}`);
  });
  return offers;
}

/** Delivers an in-dialog request to the fake dialog as drachtio-srf would; returns what was answered. */
function deliver(dialog: EventEmitter, event: string, req: object): unknown[][] {
  const { sent, res } = recordingRes();
  dialog.emit(event, req, res);
  return sent;
}

const withSdp = (body: string) => [[200, { body, headers: { 'Content-Type': 'application/sdp' } }]];

describe('DrachtioSipPort in-dialog requests', () => {
  it('refuses a REFER from the callee with 403, so no transfer is started, and logs it with the keyed hash of the Call-ID', async () => {
    const { log, logs } = captureLogs();
    const s = stubSrf();
    const hash = callIdHasher('k');
    const attempt = new DrachtioSipPort(s.srf, log, { text: numberFormatter(true), callId: hash }).dial(request, { onProgress: () => undefined });
    s.answer();
    await attempt.answered;
    expect(deliver(s.dialog, 'refer', {})).toEqual([[403, 'Transfer Not Allowed', {}]]);
    expect(logs.find((l) => l.msg === 'REFER refused: maskbridge does not transfer calls')).toMatchObject({ callId: hash('b-leg-919876549876@127.0.0.1') });
  });

  it('relays an UPDATE that carries an SDP offer like a re-INVITE, and answers a bodiless UPDATE itself', async () => {
    const s = await answeredLeg();
    const offers = relayOffers(s.leg);
    const update = deliver(s.dialog, 'update', { body: NEW_ADDRESS });
    const refresh = deliver(s.dialog, 'update', { body: '' });
    const reinvite = deliver(s.dialog, 'modify', { body: HOLD });
    await tick();
    expect(offers).toEqual([NEW_ADDRESS, HOLD]);
    expect(update).toEqual(withSdp(`answer to ${NEW_ADDRESS}`));
    expect(refresh).toEqual([[200]]);
    expect(reinvite).toEqual(withSdp(`answer to ${HOLD}`));
  });

  it('answers a re-INVITE without SDP with the SDP the leg last agreed, and relays nothing', async () => {
    const s = await answeredLeg();
    const offers = relayOffers(s.leg);
    const first = deliver(s.dialog, 'modify', { body: '' });
    deliver(s.dialog, 'modify', { body: HOLD });
    await tick();
    const second = deliver(s.dialog, 'modify', {});
    expect(offers).toEqual([HOLD]);
    expect(first).toEqual(withSdp('v=0 offered at dial'));
    expect(second).toEqual(withSdp(`answer to ${HOLD}`));
  });

  it('answers an UPDATE offer the other side refused with that status', async () => {
    const s = await answeredLeg();
    s.leg.onReinvite(() => Promise.reject(Object.assign(new Error('Not Acceptable Here'), { status: 488 })));
    const sent = deliver(s.dialog, 'update', { body: HOLD });
    await tick();
    expect(sent).toEqual([[488]]);
  });

  it('refuses a REFER from the caller with 403 once the caller is answered', async () => {
    const dialog = Object.assign(new EventEmitter(), { remote: { sdp: '' }, sip: { callId: 'a-leg@carrier' } });
    let onInvite!: (req: unknown, res: unknown) => void;
    const srf = {
      invite: (handler: typeof onInvite) => void (onInvite = handler),
      createUAS: () => Promise.resolve(dialog),
    } as unknown as Srf;
    const port = new DrachtioSipPort(srf, pino({ level: 'silent' }));
    const answered = new Promise<unknown>((resolve) => port.onInvite((call) => resolve(call.answer('v=0\r\n'))));
    onInvite({ headers: {}, source_address: '127.0.0.1', source_port: 5060, uri: 'sip:+912240001000@127.0.0.1', body: '', on: () => undefined }, {});
    await answered;
    expect(deliver(dialog, 'refer', {})).toEqual([[403, 'Transfer Not Allowed', {}]]);
  });
});

interface Sent { status: number; reason: string; headers?: Record<string, string>; body?: string }

/** drachtio-srf's own Response (which throws for a status outside its table), sending through an agent that records what went out. */
function drachtioRes(sendResponse?: () => void) {
  const require = createRequire(import.meta.url);
  const Response = require('drachtio-srf/lib/response') as new (agent: object) => Srf.SrfResponse;
  const sent: Sent[] = [];
  const agent = {
    sendResponse: (r: { msg: { status: number; reason: string } }, opts: Omit<Sent, 'status' | 'reason'>) => {
      sendResponse?.();
      sent.push({ status: r.msg.status, reason: r.msg.reason, ...opts });
    },
  };
  return { res: new Response(agent), sent };
}

/** A port whose srf answers every INVITE with a fake dialog; `invite()` delivers one and resolves with the call. */
function callerSide(log = pino({ level: 'silent' }) as Logger) {
  const dialog = Object.assign(new EventEmitter(), { remote: { sdp: '' }, local: { sdp: '' }, sip: { callId: 'a-leg-919812341234@carrier' } });
  let onInvite!: (req: unknown, res: unknown) => void;
  const srf = { invite: (h: typeof onInvite) => void (onInvite = h), createUAS: () => Promise.resolve(dialog) } as unknown as Srf;
  const port = new DrachtioSipPort(srf, log, maskOnly(numberFormatter(true)));
  const invite = (res: unknown = {}) => new Promise<InboundCall>((resolve) => {
    port.onInvite(resolve);
    onInvite({ headers: { 'call-id': 'a-leg-919812341234@carrier' }, source_address: '127.0.0.1', source_port: 5060, uri: 'sip:+912240001000@127.0.0.1', body: HOLD, on: () => undefined }, res);
  });
  return { dialog, invite };
}

/** Collects unhandled rejections while `fn` runs (vitest would only report them after the run). */
async function unhandledDuring(fn: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const onRejection = (reason: unknown) => void seen.push(reason);
  process.on('unhandledRejection', onRejection);
  try {
    await fn();
    await new Promise((r) => setTimeout(r, 20));
  } finally {
    process.off('unhandledRejection', onRejection);
  }
  return seen;
}

describe('DrachtioSipPort: statuses drachtio-srf cannot send', () => {
  it('answers the caller\'s re-INVITE with 603 when the callee refused the relayed one with 607, and rejects nothing unhandled', async () => {
    const b = await answeredLeg();
    b.dialog.modify = () => Promise.reject(Object.assign(new Error('Unwanted'), { status: 607, reason: 'Unwanted' }));
    const a = callerSide();
    const legA = await (await a.invite()).answer(CALLEE_SDP);
    legA.onReinvite((offer) => b.leg.reinvite(offer)); // as the call logic relays it
    const { res, sent } = drachtioRes();
    const unhandled = await unhandledDuring(async () => {
      a.dialog.emit('modify', { body: HOLD, headers: { 'content-type': 'application/sdp' } }, res);
      await tick();
    });
    expect(unhandled).toEqual([]);
    expect(sent).toEqual([{ status: 603, reason: 'Decline' }]);
  });

  it('passes the far end\'s status on as the refusal of a re-INVITE it refused', async () => {
    const b = await answeredLeg();
    b.dialog.modify = () => Promise.reject(Object.assign(new Error('Busy Here'), { status: 486, reason: 'Busy Here' }));
    await expect(b.leg.reinvite(HOLD)).rejects.toMatchObject({ name: 'OutboundFailure', status: 486, reason: 'Busy Here' });
  });

  it('rejects the caller with the class fallback of a status it cannot send, and a 415 with Accept', async () => {
    const first = drachtioRes();
    (await callerSide().invite(first.res)).reject(607, 'Unwanted');
    expect(first.sent).toEqual([{ status: 603, reason: 'Decline' }]);
    const second = drachtioRes();
    (await callerSide().invite(second.res)).reject(415, 'Unsupported Media Type');
    expect(second.sent).toEqual([{ status: 415, reason: 'Unsupported Media Type', headers: { Accept: 'application/sdp, multipart/mixed, multipart/alternative' } }]);
  });

  it('logs a response that could not be sent, with the Call-ID masked, instead of throwing', async () => {
    const { log, logs } = captureLogs();
    const { res } = drachtioRes(() => {
      throw new Error('drachtio-agent: socket connection closed');
    });
    const call = await callerSide(log).invite(res);
    expect(() => call.reject(486, 'Busy Here')).not.toThrow();
    expect(logs.find((l) => l.msg === 'SIP response not sent')).toMatchObject({ level: 40, status: 486, callId: 'a-leg-91******1234@carrier' });
  });

  it('answers OPTIONS with the class fallback of a status it cannot send', () => {
    let handler!: (req: unknown, res: unknown) => void;
    const srf = { options: (h: typeof handler) => void (handler = h) } as unknown as Srf;
    new DrachtioSipPort(srf, pino({ level: 'silent' })).onOptions(() => 499);
    const { res, sent } = drachtioRes();
    handler({ source_address: '127.0.0.1', headers: {} }, res);
    expect(sent).toEqual([{ status: 400, reason: 'Bad Request' }]);
  });
});

/** A real drachtio-srf Request, parsed by drachtio-srf's own SIP parser from the text given. */
function parsedInvite(lines: string[]): Srf.SrfRequest {
  const require = createRequire(import.meta.url);
  const SipMessage = require('drachtio-srf/lib/sip-parser/message') as new (raw: string) => unknown;
  const Request = require('drachtio-srf/lib/request') as new (msg: unknown, meta: object) => Srf.SrfRequest;
  const raw = [...lines, 'Content-Length: 0', '', ''].join('\r\n');
  return new Request(new SipMessage(raw), { source: 'network', address: '127.0.0.2', port: '5062', protocol: 'udp' });
}

describe('inviteInfo (what the call path reads of an INVITE)', () => {
  const invite = parsedInvite([
    'INVITE sip:+912240001000@127.0.0.1 SIP/2.0',
    'Via: SIP/2.0/UDP 127.0.0.2:5062;branch=z9hG4bK1',
    'f: "Alice" <sip:+919810000001@carrier>;tag=1',
    'To: <sip:+912240001000@127.0.0.1>',
    'i: abc-123@carrier',
    'CSeq: 1 INVITE',
    'p-asserted-identity: <sip:+919810000002@carrier>',
    'Diversion: <sip:+911111111111@x>',
    'Diversion: <sip:+912222222222@y>',
    'X-Order: 77',
  ]);

  it('answers every header name the way req.get() does, in any case, compact forms included', () => {
    const info = inviteInfo(invite);
    for (const name of ['From', 'from', 'Call-ID', 'call-id', 'To', 'P-Asserted-Identity', 'Diversion', 'x-order', 'X-Order', 'CSeq']) {
      expect(info.header(name), name).toBe(invite.get(name));
    }
    expect(info.header('From')).toBe('"Alice" <sip:+919810000001@carrier>;tag=1');
    expect(info.header('Diversion')).toBe('<sip:+911111111111@x>,<sip:+912222222222@y>');
    expect(info.header('Remote-Party-ID')).toBeUndefined();
  });

  it('carries the Call-ID, the source, the Request-URI and an empty body', () => {
    const info = inviteInfo(invite);
    expect(info).toMatchObject({ callId: 'abc-123@carrier', sourceAddress: '127.0.0.2', sourcePort: 5062, requestUri: 'sip:+912240001000@127.0.0.1', sdp: '' });
  });

  it('lets the call path find V and the caller (P-Asserted-Identity before From)', () => {
    expect(identifyParties(inviteInfo(invite), { defaultRegion: 'IN', virtualNumberFrom: 'request-uri' })).toEqual({
      virtualNumber: '+912240001000',
      caller: '+919810000002',
    });
  });
});
