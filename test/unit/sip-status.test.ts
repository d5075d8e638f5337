/** The statuses drachtio-srf can send (src/sip/status.ts), checked against drachtio-srf itself. */
import { createRequire } from 'node:module';
import type Srf from 'drachtio-srf';
import { describe, expect, it } from 'vitest';
import { isSendableStatus, sendableStatus, SENDABLE_STATUSES } from '../../src/sip/status.js';

const require = createRequire(import.meta.url);

/** The table drachtio-srf's Response#send checks, resolved the way lib/response.js resolves it. */
function libraryTable(): number[] {
  const fromSrf = createRequire(require.resolve('drachtio-srf/lib/response'));
  return Object.keys(fromSrf('sip-status') as Record<string, string>).map(Number).sort((a, b) => a - b);
}

/** Whether drachtio-srf's own Response#send accepts `status`. */
function srfSends(status: number): boolean {
  const Response = require('drachtio-srf/lib/response') as new (agent: object) => Srf.SrfResponse;
  try {
    new Response({ sendResponse: () => undefined }).send(status);
    return true;
  } catch {
    return false;
  }
}

describe('sendable statuses', () => {
  it('are exactly the statuses of drachtio-srf\'s own table', () => {
    expect(SENDABLE_STATUSES).toEqual(libraryTable());
  });

  it('agree with what drachtio-srf\'s Response#send accepts, for every code from 100 to 699', () => {
    for (let status = 100; status < 700; status++) expect(isSendableStatus(status), String(status)).toBe(srfSends(status));
  });

  it('are only numbers', () => {
    expect(isSendableStatus('486')).toBe(false);
    expect(isSendableStatus(486.5)).toBe(false);
    expect(isSendableStatus(undefined)).toBe(false);
  });
});

describe('sendableStatus', () => {
  it('keeps a status drachtio-srf can send', () => {
    for (const status of [180, 183, 200, 403, 415, 486, 488, 503, 603]) expect(sendableStatus(status)).toBe(status);
  });

  it.each([
    [607, 'final', 603], [608, 'offer', 603], [699, 'final', 603],
    [499, 'final', 400], [499, 'offer', 488], [425, 'offer', 488], [470, 'offer', 470],
    [555, 'final', 500], [599, 'offer', 500],
    [399, 'final', 300], [299, 'final', 200], [189, 'final', 183],
    [99, 'final', 500], [700, 'final', 500], [Number.NaN, 'final', 500], [486.5, 'offer', 500],
  ] as const)('maps %d (%s) to %d', (status, context, expected) => {
    expect(sendableStatus(status, context)).toBe(expected);
    expect(srfSends(sendableStatus(status, context))).toBe(true);
  });
});
