import { describe, expect, it } from 'vitest';
import { firstHeaderEntry, parseUri, uriOf } from '../../src/sip/uri.js';

describe('SIP URI reading', () => {
  it.each([
    ['"Alice, Customer" <sip:+919812341234@carrier.example;user=phone>;tag=1', 'sip:+919812341234@carrier.example;user=phone'],
    ['sip:+919812341234@carrier.example;tag=1', 'sip:+919812341234@carrier.example'],
    ['<tel:+919812341234>', 'tel:+919812341234'],
    ['"broken <sip:x@y', ''],
  ])('finds the URI in %s', (value, uri) => {
    expect(uriOf(value)).toBe(uri);
  });

  it.each([
    ['sip:+919812341234@Carrier.Example:5060;user=phone', { scheme: 'sip', user: '+919812341234', host: 'carrier.example' }],
    ['sips:9812341234;npdi@h', { scheme: 'sips', user: '9812341234', host: 'h' }],
    ['tel:+919812341234;phone-context=x', { scheme: 'tel', user: '+919812341234', host: '' }],
    ['sip:user:secret@h', { scheme: 'sip', user: 'user', host: 'h' }],
  ])('parses %s', (uri, parts) => {
    expect(parseUri(uri)).toEqual(parts);
  });

  it.each(['http://x', 'sip:carrier.example', 'sip:@h', 'tel:', ''])('refuses %j', (uri) => {
    expect(parseUri(uri)).toBeNull();
  });

  it('takes the first of several PAI entries, respecting quotes and brackets', () => {
    expect(firstHeaderEntry('"Doe, J" <sip:+1@h>, <tel:+2>')).toBe('"Doe, J" <sip:+1@h>');
  });
});
