import { describe, expect, it } from 'vitest';
import { NumberFormatError, isE164, toE164 } from '../../src/numbers/normalise.js';
import { maskNumber, maskNumbersInText } from '../../src/log/logger.js';

describe('toE164', () => {
  it.each([
    ['+919812341234', 'IN', '+919812341234'],
    ['09812341234', 'IN', '+919812341234'],
    ['9812341234', 'IN', '+919812341234'],
    ['00919812341234', 'IN', '+919812341234'],
    ['%2B919812341234', 'US', '+919812341234'],
    ['+1 (202) 555-0143', 'IN', '+12025550143'],
    ['202-555-0143', 'US', '+12025550143'],
    ['(202) 555.0143', 'US', '+12025550143'],
    ['+442079460123', 'US', '+442079460123'],
  ])('reads %s (region %s) as %s', (input, region, expected) => {
    expect(toE164(input, region)).toBe(expected);
  });

  it.each([
    ['', 'empty'],
    ['anonymous', 'unexpected characters'],
    ['12ab34', 'unexpected characters'],
    ['+1234', 'wrong length'],
    ['+91981234123499999', ''],
    ['1;DROP', 'unexpected characters'],
    ['9'.repeat(40), 'unexpected characters'],
  ])('refuses %j', (input, problem) => {
    expect(() => toE164(input, 'IN')).toThrow(NumberFormatError);
    if (problem) expect(() => toE164(input, 'IN')).toThrow(problem);
  });

  it('gives the same answer the second time (results are remembered per region)', () => {
    expect(toE164('9812341234', 'IN')).toBe('+919812341234');
    expect(toE164('9812341234', 'IN')).toBe('+919812341234');
    expect(toE164('2025550143', 'US')).toBe('+12025550143');
    expect(() => toE164('2025550143', 'IN')).not.toThrow();
    expect(toE164('2025550143', 'IN')).toBe('+912025550143');
    for (let i = 0; i < 2; i++) {
      expect(() => toE164('+1234', 'IN')).toThrow(NumberFormatError);
      expect(() => toE164('+1234', 'IN')).toThrow('wrong length');
    }
  });

  it('isE164 accepts only canonical form', () => {
    expect(isE164('+919812341234')).toBe(true);
    expect(isE164('919812341234')).toBe(false);
    expect(isE164('+91 98123 41234')).toBe(false);
    expect(isE164('+0123456789')).toBe(false);
  });
});

describe('number masking', () => {
  it('keeps the country-code start and the last four digits', () => {
    expect(maskNumber('+919812341234')).toBe('+91******1234');
    expect(maskNumber('+12025550143')).toBe('+12*****0143');
  });
  it('masks numbers inside text such as SIP URIs', () => {
    expect(maskNumbersInText('sip:+919812341234@host and 12025550143')).toBe('sip:+91******1234@host and 12*****0143');
  });

  it('masks numbers written with separators, and leaves IP addresses and short digit runs alone', () => {
    expect(maskNumbersInText('from +1 (415) 555-0123 via 192.168.100.200:5060')).toBe('from +14*****0123 via 192.168.100.200:5060');
    expect(maskNumbersInText('X-orig:+91 98123 41234;cseq 42')).toBe('X-orig:+91******1234;cseq 42');
    expect(maskNumbersInText('(020) 7946-0018')).toBe('(02*****0018');
  });
});
