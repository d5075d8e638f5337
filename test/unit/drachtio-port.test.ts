import { EventEmitter } from 'node:events';
import pino from 'pino';
import type Srf from 'drachtio-srf';
import { describe, expect, it } from 'vitest';
import { DrachtioSipPort } from '../../src/sip/drachtio.js';
import type { OutboundRequest } from '../../src/sip/port.js';

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
  const dialog = Object.assign(new EventEmitter(), { remote: { sdp: '' } });
  return { srf: srf as unknown as Srf, sent, answer: () => settle.resolve(dialog), fail: (status: number) => settle.reject(Object.assign(new Error('Busy Here'), { status })) };
}

const request: OutboundRequest = { uri: 'sip:+919876543210@127.0.0.1', headers: {}, sdp: '' };
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
