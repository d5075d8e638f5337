import { describe, expect, it } from 'vitest';
import { buildAcl, checkSource, SipRejection } from '../../src/sip/identify.js';
import type { InviteInfo } from '../../src/sip/port.js';

const from = (sourceAddress: string): InviteInfo => ({
  callId: 'c1', sourceAddress, sourcePort: 5060, requestUri: 'sip:+912240001000@127.0.0.1', header: () => undefined, sdp: '',
});

describe('checkSource', () => {
  it('answers each ACL for itself, also when asked again about the same address', () => {
    const trunk = buildAcl(['127.0.0.1/32']);
    const other = buildAcl(['127.0.0.2/32']);
    for (let i = 0; i < 2; i++) {
      expect(() => checkSource(trunk, from('127.0.0.1'))).not.toThrow();
      expect(() => checkSource(other, from('127.0.0.1'))).toThrow(SipRejection);
      expect(() => checkSource(trunk, from('::ffff:127.0.0.1'))).not.toThrow();
      expect(() => checkSource(trunk, from('127.0.0.2'))).toThrow('source 127.0.0.2 is not an allowed trunk');
      expect(() => checkSource(trunk, from('not-an-address'))).toThrow(SipRejection);
    }
  });
});
