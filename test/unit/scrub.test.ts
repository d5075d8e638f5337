/** What crosses between the parties: a table case for every field that could carry a real number. */
import { describe, expect, it } from 'vitest';
import type { InviteInfo } from '../../src/sip/port.js';
import { buildOutboundRequest, containsNumber, LEAK_HEADERS, scrubSdp, type OutboundTarget } from '../../src/sip/scrub.js';

const V = '+912240001000';
const A = '+919812341234';
const B = '+919876549876';
const target: OutboundTarget = {
  virtualNumber: V, peer: B, gateway: '127.0.0.1:5070', transport: 'udp', fromHost: 'localhost', numberFormat: 'e164',
};
const cleanSdp = 'v=0\r\no=- 1 1 IN IP4 127.0.0.5\r\ns=-\r\nc=IN IP4 127.0.0.5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';

/** A caller INVITE carrying A's identity in the given headers. */
function inviteWith(headers: Record<string, string>, sdp = cleanSdp): InviteInfo {
  const all = new Map(Object.entries({ From: `"Alice" <sip:${A}@carrier.example>;tag=1`, ...headers }).map(([k, v]) => [k.toLowerCase(), v]));
  return { callId: 'c1', sourceAddress: '127.0.0.1', sourcePort: 5060, requestUri: `sip:${V}@127.0.0.1`, header: (n) => all.get(n.toLowerCase()), sdp };
}

/** The value each identity header would carry from a carrier, with A's number in it. */
const LEAK_VALUES: Record<string, string> = {
  'P-Asserted-Identity': `"Alice" <sip:${A}@carrier.example>`,
  'P-Preferred-Identity': `<sip:${A}@carrier.example>`,
  'Remote-Party-ID': `"Alice" <sip:${A}@carrier.example>;party=calling;privacy=off;screen=yes`,
  Privacy: 'none',
  Diversion: `<sip:${A}@carrier.example>;reason=unconditional;counter=1`,
  'History-Info': `<sip:${A}@carrier.example>;index=1`,
  'Referred-By': `<sip:${A}@carrier.example>`,
  'Call-Info': `<http://carrier.example/photo/${A.slice(1)}.jpg>;purpose=icon`,
  'X-Original-Caller': A,
  'X-Anything': `caller=${A.slice(1)}`,
  'Contact': `"Alice" <sip:${A}@127.0.0.5:5060>`,
};

describe('outbound INVITE identity', () => {
  it('sets From and P-Asserted-Identity to the virtual number and nothing else of the caller', () => {
    const req = buildOutboundRequest(target, inviteWith({}), [A]);
    expect(req.headers).toEqual({
      From: `<sip:${V}@localhost>`,
      To: `<sip:${B}@127.0.0.1:5070>`,
      'P-Asserted-Identity': `<sip:${V}@localhost>`,
    });
    expect(req.uri).toBe(`sip:${B}@127.0.0.1:5070`);
  });

  it('writes numbers without "+" and adds the transport when configured', () => {
    const req = buildOutboundRequest({ ...target, transport: 'tcp', numberFormat: 'e164-no-plus' }, inviteWith({}), [A]);
    expect(req.uri).toBe('sip:919876549876@127.0.0.1:5070;transport=tcp');
    expect(req.headers.From).toBe('<sip:912240001000@localhost>');
  });

  it('passes digest credentials for the gateway', () => {
    expect(buildOutboundRequest({ ...target, auth: { username: 'u', password: 'p' } }, inviteWith({}), [A]).auth).toEqual({ username: 'u', password: 'p' });
  });

  it.each([...LEAK_HEADERS, 'X-Original-Caller', 'X-Anything', 'Contact'])('does not carry the caller\'s %s to the callee', (header) => {
    const value = LEAK_VALUES[header] as string;
    const req = buildOutboundRequest(target, inviteWith({ [header]: value }), [A]);
    const sent = JSON.stringify(req);
    expect(sent).not.toContain(A.slice(1));
    expect(sent).not.toContain(value.slice(0, 20));
    if (header === 'P-Asserted-Identity') expect(req.headers[header]).toBe(`<sip:${V}@localhost>`);
    else expect(Object.keys(req.headers).map((h) => h.toLowerCase())).not.toContain(header.toLowerCase());
  });

  it('does not carry the caller\'s display name', () => {
    const req = buildOutboundRequest(target, inviteWith({ From: `"Alice Customer" <sip:${A}@carrier.example>;tag=9` }), [A]);
    expect(JSON.stringify(req)).not.toContain('Alice');
  });

  it('scrubs the caller\'s SDP on the way', () => {
    const req = buildOutboundRequest(target, inviteWith({}, `v=0\r\no=${A} 1 1 IN IP4 127.0.0.5\r\ns=${A}\r\nc=IN IP4 127.0.0.5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n`), [A]);
    expect(req.sdp).toContain('m=audio 4000');
    expect(req.sdp).not.toContain(A.slice(1));
  });
});

describe('scrubSdp', () => {
  const withA = (line: string, media = '') =>
    `v=0\r\no=- 1 1 IN IP4 127.0.0.5\r\ns=-\r\n${line}c=IN IP4 127.0.0.5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n${media}a=rtpmap:0 PCMU/8000\r\n`;

  it.each([
    ['o= username', `v=0\r\no=${A} 1 1 IN IP4 127.0.0.5\r\ns=-\r\nc=IN IP4 127.0.0.5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n`],
    ['o= username without +', `v=0\r\no=${A.slice(1)} 1 1 IN IP4 127.0.0.5\r\ns=-\r\nc=IN IP4 127.0.0.5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n`],
    ['s= session name', `v=0\r\no=- 1 1 IN IP4 127.0.0.5\r\ns=Call from ${A}\r\nc=IN IP4 127.0.0.5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n`],
    ['i= session information', withA(`i=${A}\r\n`)],
    ['u= URI', withA(`u=sip:${A}@carrier.example\r\n`)],
    ['e= email', withA(`e=${A.slice(1)}@carrier.example\r\n`)],
    ['p= phone', withA(`p=${A}\r\n`)],
    ['media i= title', withA('', `i=caller ${A}\r\n`)],
    ['a=label', withA('', `a=label:${A.slice(1)}\r\n`)],
    ['any other attribute with the number', withA('', `a=x-caller:${A}\r\n`)],
    ['national form in an attribute', withA('', `a=x-caller:0${A.slice(-10)}\r\n`)],
    ['X- attribute, written with separators', withA('', 'a=X-orig:+91 98123 41234\r\n')],
    ['a=ssrc cname', withA('', `a=ssrc:1234 cname:${A.slice(1)}\r\n`)],
    ['fmtp, written with dots', withA('', 'a=fmtp:0 x=+91.98123.41234\r\n')],
  ])('removes the caller from the %s', (_field, sdp) => {
    const out = scrubSdp(sdp, [A]);
    expect(containsNumber(out, [A])).toBe(false);
    expect(out.replace(/[\s.\-()+]/g, '')).not.toContain(A.slice(-9));
    expect(out).toContain('m=audio 4000 RTP/AVP 0');
    expect(out).toContain('c=IN IP4 127.0.0.5');
  });

  it('keeps the media description intact', () => {
    const out = scrubSdp(`v=0\r\no=alice 99 3 IN IP4 127.0.0.5\r\ns=Alice\r\nc=IN IP4 127.0.0.5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n`, [A]);
    expect(out).toMatch(/^o=- 99 3 IN IP4 127\.0\.0\.5$/m);
    expect(out).toMatch(/^s=-$/m);
    expect(out).toContain('a=rtpmap:101 telephone-event/8000');
    expect(out).toContain('a=sendonly');
  });

  it('drops identity fields that hold no number at all (names, addresses, keys)', () => {
    const out = scrubSdp('v=0\r\no=alice.smith 7 7 IN IP4 127.0.0.5\r\ns=Alice Smith\r\ni=Alice\'s phone\r\nu=https://alice.example\r\ne=alice@example.com\r\np=(see directory)\r\nk=clear:secret\r\nc=IN IP4 127.0.0.5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\ni=Alice mic\r\nk=prompt\r\na=label:alice\r\na=rtpmap:0 PCMU/8000\r\n', [A]);
    expect(out).toBe('v=0\r\no=- 7 7 IN IP4 127.0.0.5\r\ns=-\r\nc=IN IP4 127.0.0.5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n');
  });

  it('keeps what the media needs, written fresh in one order with CRLF, and drops attributes it does not know', () => {
    const body = 'v=0\no=- 1 2 IN IP4 127.0.0.5\ns=-\nc=IN IP4 127.0.0.5\nb=AS:64\nt=0 0\na=x-unknown:foo bar\nm=audio 4000 RTP/AVP 8 0 101\na=fmtp:101 0-15\na=rtpmap:101 telephone-event/8000\na=ptime:20\na=rtcp:4001\na=sendonly\n';
    expect(scrubSdp(body, [A])).toBe('v=0\r\no=- 1 2 IN IP4 127.0.0.5\r\ns=-\r\nc=IN IP4 127.0.0.5\r\nb=AS:64\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=rtcp:4001\r\na=ptime:20\r\na=sendonly\r\n');
  });

  it('returns an empty body for no SDP and never throws on garbage', () => {
    expect(scrubSdp('', [A])).toBe('');
    expect(() => scrubSdp('\u0000not sdp at all', [A])).not.toThrow();
    expect(scrubSdp(`garbage ${A}`, [A])).toBe('');
    expect(scrubSdp('v=0\r\no=- 1 1 IN IP4 127.0.0.5\r\ns=-\r\nc=IN IP4 127.0.0.5\r\nt=0 0\r\n', [A])).toBe(''); // no m= line
  });
});
