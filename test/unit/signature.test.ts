import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sign, verify } from '../../src/util/signature.js';

describe('request signature', () => {
  const body = '{"id":"evt-1","type":"call.answered"}';

  it('is HMAC-SHA256 over timestamp.body, as a receiver in another language computes it', () => {
    const expected = createHmac('sha256', 's3cret').update(`1700000000.${body}`).digest('hex');
    expect(sign('s3cret', body, 1700000000)).toBe(`t=1700000000,v1=${expected}`);
  });

  it('verifies its own signature within the tolerance', () => {
    expect(verify('s3cret', body, sign('s3cret', body, 1000), 1100)).toEqual({ ok: true });
  });

  it('refuses another secret, another body, a stale timestamp and a malformed header', () => {
    const h = sign('s3cret', body, 1000);
    expect(verify('other', body, h, 1000)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verify('s3cret', `${body} `, h, 1000)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verify('s3cret', body, h, 1000 + 301)).toEqual({ ok: false, reason: 'stale' });
    expect(verify('s3cret', body, 'v1=abc', 1000)).toEqual({ ok: false, reason: 'malformed' });
  });
});
