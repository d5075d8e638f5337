/** Reading the SDP out of a SIP body by its Content-Type (src/sip/body.ts). */
import { describe, expect, it } from 'vitest';
import { parseMediaType, readSdpBody } from '../../src/sip/body.js';
import { scrubSdp } from '../../src/sip/scrub.js';

const A = '+919812341234';
const V = '+912240001000';
const SDP = 'v=0\r\no=- 7 7 IN IP4 127.0.0.5\r\ns=-\r\nc=IN IP4 127.0.0.5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';

/** ITU-T Q.763 BCD: two digits an octet, the first in the low nibble. */
function bcd(number: string): number[] {
  const d = number.replace(/\D/g, '');
  const out: number[] = [];
  for (let i = 0; i < d.length; i += 2) out.push(Number(d[i]) | ((i + 1 < d.length ? Number(d[i + 1]) : 0) << 4));
  return out;
}

/** An ISUP IAM with A as the calling party number, as the octets a SIP-I trunk sends. */
function isupIam(): number[] {
  const called = [0x04, 0x90, ...bcd(V)];
  const calling = [0x04, 0x13, ...bcd(A)];
  return [0x01, 0x00, 0x60, 0x01, 0x0a, 0x00, 0x02, 0x02 + called.length, called.length + 1, ...called, 0x0a, calling.length, ...calling, 0x00];
}

/** The ISUP octets as the body string drachtio-srf hands over: decoded as UTF-8, or one char per octet. */
const asText = (octets: number[], how: 'utf8' | 'latin1') => Buffer.from(octets).toString(how);

function sipIBody(boundary: string, isup: string, eol = '\r\n'): string {
  return [
    `--${boundary}`, 'Content-Type: application/sdp', '', SDP.replace(/\r\n/g, eol),
    `--${boundary}`, 'Content-Type: application/isup; version=itu-t92+; base=itu-t92+', 'Content-Disposition: signal; handling=optional', '', isup,
    `--${boundary}--`, '',
  ].join(eol);
}

describe('readSdpBody: application/sdp', () => {
  it('reads the body as SDP whatever the case and parameters of its Content-Type', () => {
    for (const type of ['application/sdp', 'Application/SDP', 'application/sdp; charset=UTF-8', ' application/sdp ;version=1']) {
      expect(readSdpBody(SDP, type), type).toEqual({ kind: 'sdp', sdp: SDP });
    }
  });

  it('answers "none" for no body at all (a delayed offer), whatever the Content-Type', () => {
    expect(readSdpBody('', 'application/sdp')).toEqual({ kind: 'none' });
    expect(readSdpBody(undefined, undefined)).toEqual({ kind: 'none' });
    expect(readSdpBody('\r\n', 'multipart/mixed;boundary=x')).toEqual({ kind: 'none' });
  });

  it('refuses SDP-ish bodies that are not a usable session description with 488', () => {
    for (const body of ['v=0 new address', 'v=0\r\no=- 1 1 IN IP4 127.0.0.5\r\ns=-\r\n', `garbage ${A}`]) {
      expect(readSdpBody(body, 'application/sdp'), body).toMatchObject({ kind: 'refused', status: 488, reason: 'Not Acceptable Here' });
    }
  });
});

describe('readSdpBody: multipart', () => {
  it.each(['utf8', 'latin1'] as const)('takes only the SDP part of SDP + binary ISUP (the ISUP %s-decoded), and nothing of the ISUP in any form', (how) => {
    const isup = asText(isupIam(), how);
    const result = readSdpBody(sipIBody('unique-boundary-1', isup), 'multipart/mixed;boundary=unique-boundary-1');
    expect(result).toEqual({ kind: 'sdp', sdp: SDP });
    const out = scrubSdp(result.kind === 'sdp' ? result.sdp : '', [A]);
    const bcdOfA = Buffer.from(bcd(A));
    for (const form of [A.slice(1), A.slice(-9), bcdOfA.toString('latin1'), bcdOfA.toString('utf8'), bcdOfA.toString('hex'), 'isup', 'unique-boundary', 'Content-']) {
      expect(out, form).not.toContain(form);
    }
    expect(out).toContain('m=audio 4000 RTP/AVP 0');
  });

  it('finds the SDP part wherever it is, with a quoted boundary of any allowed characters', () => {
    const boundary = "=_Part 1'(x)+_,-./:=?";
    const isupFirst = [`--${boundary}`, 'Content-Type: application/isup', '', asText(isupIam(), 'latin1'), `--${boundary}`, 'Content-Type: application/sdp', '', SDP, `--${boundary}--`].join('\r\n');
    expect(readSdpBody(isupFirst, `multipart/mixed; boundary="${boundary}"`)).toEqual({ kind: 'sdp', sdp: SDP });
  });

  it('reads bare-LF line ends, part Content-Types in any case with parameters, and ignores preamble and epilogue', () => {
    const lf = SDP.replace(/\r\n/g, '\n');
    const body = `This is a preamble\n--b1\ncontent-TYPE: Application/SDP;charset=utf-8\n\n${lf}--b1\nContent-Type: application/isup\n\n\u0001\u0019\u0089\n--b1--\nepilogue --b1 not a delimiter\n`;
    expect(readSdpBody(body, 'Multipart/Mixed; Boundary=b1')).toEqual({ kind: 'sdp', sdp: lf.replace(/\n$/, '') });
  });

  it('reads a nested multipart (mixed holding alternative holding the SDP)', () => {
    const inner = ['--in', 'Content-Type: text/plain', '', 'hello', '--in', 'Content-Type: application/sdp', '', SDP, '--in--'].join('\r\n');
    const outer = ['--out', 'Content-Type: multipart/alternative; boundary="in"', '', inner, '--out', 'Content-Type: application/isup', '', '\u0001', '--out--'].join('\r\n');
    expect(readSdpBody(outer, 'multipart/mixed;boundary=out')).toEqual({ kind: 'sdp', sdp: SDP });
  });

  it('prefers the last SDP of a multipart/alternative and the first of a multipart/mixed', () => {
    const other = SDP.replace('m=audio 4000', 'm=audio 5000');
    const body = ['--b', 'Content-Type: application/sdp', '', SDP, '--b', 'Content-Type: application/sdp', '', other, '--b--'].join('\r\n');
    expect(readSdpBody(body, 'multipart/alternative;boundary=b')).toEqual({ kind: 'sdp', sdp: other });
    expect(readSdpBody(body, 'multipart/mixed;boundary=b')).toEqual({ kind: 'sdp', sdp: SDP });
  });

  it('uses only a part for the session: not early-session, and not one in base64', () => {
    const part = (headers: string[]) => ['--b', 'Content-Type: application/sdp', ...headers, '', SDP, '--b--'].join('\r\n');
    expect(readSdpBody(part(['Content-Disposition: session; handling=required']), 'multipart/mixed;boundary=b')).toEqual({ kind: 'sdp', sdp: SDP });
    expect(readSdpBody(part(['Content-Disposition: early-session']), 'multipart/mixed;boundary=b')).toMatchObject({ kind: 'refused', status: 415 });
    expect(readSdpBody(part(['Content-Transfer-Encoding: base64']), 'multipart/mixed;boundary=b')).toMatchObject({ kind: 'refused', status: 415 });
  });

  it('refuses a multipart without an SDP part with 415, and one whose SDP part is unusable with 488', () => {
    const isupOnly = ['--b', 'Content-Type: application/isup', '', asText(isupIam(), 'latin1'), '--b--'].join('\r\n');
    expect(readSdpBody(isupOnly, 'multipart/mixed;boundary=b')).toMatchObject({ kind: 'refused', status: 415, reason: 'Unsupported Media Type' });
    const badSdp = ['--b', 'Content-Type: application/sdp', '', 'v=0 nothing', '--b', 'Content-Type: application/isup', '', '\u0001', '--b--'].join('\r\n');
    expect(readSdpBody(badSdp, 'multipart/mixed;boundary=b')).toMatchObject({ kind: 'refused', status: 488 });
  });

  it('refuses a malformed multipart with 400: no boundary, or no part delimited by it', () => {
    const body = sipIBody('b', '\u0001');
    expect(readSdpBody(body, 'multipart/mixed')).toMatchObject({ kind: 'refused', status: 400 });
    expect(readSdpBody(body, 'multipart/mixed;boundary=other')).toMatchObject({ kind: 'refused', status: 400 });
  });

  it('refuses multipart nested deeper than three levels', () => {
    let body = SDP;
    let type = 'application/sdp';
    for (let i = 0; i < 4; i++) {
      body = [`--l${i}`, `Content-Type: ${type}`, '', body, `--l${i}--`].join('\r\n');
      type = `multipart/mixed; boundary=l${i}`;
    }
    expect(readSdpBody(body, type)).toMatchObject({ kind: 'refused', status: 415 });
  });
});

describe('readSdpBody: other and missing Content-Types', () => {
  it.each(['application/isup', 'text/plain', 'multipart/related; boundary=b', 'application/sdp-garbage', 'not a type'])('refuses %s with 415', (type) => {
    expect(readSdpBody(SDP, type)).toMatchObject({ kind: 'refused', status: 415, reason: 'Unsupported Media Type' });
  });

  it('reads a body without a Content-Type as SDP when it starts with v=0, and as multipart when it starts with a delimiter', () => {
    expect(readSdpBody(SDP, undefined)).toEqual({ kind: 'sdp', sdp: SDP });
    expect(readSdpBody(SDP, '')).toEqual({ kind: 'sdp', sdp: SDP });
    expect(readSdpBody(sipIBody('x1', '\u0001'), undefined)).toEqual({ kind: 'sdp', sdp: SDP });
  });

  it('refuses a body without a Content-Type that is neither with 415', () => {
    expect(readSdpBody(asText(isupIam(), 'latin1'), undefined)).toMatchObject({ kind: 'refused', status: 415 });
    expect(readSdpBody('--x1\r\nContent-Type: application/sdp\r\n\r\n' + SDP, undefined)).toMatchObject({ kind: 'refused', status: 415 }); // never closed
  });
});

describe('readSdpBody: size', () => {
  it('refuses a body larger than any SIP message with 413, unread', () => {
    expect(readSdpBody(SDP + 'a=x\r\n'.repeat(60_000), 'application/sdp')).toMatchObject({ kind: 'refused', status: 413 });
  });
});

describe('parseMediaType', () => {
  it('lower-cases the type and parameter names, unquotes values, keeps their case', () => {
    const mt = parseMediaType('Multipart/Mixed ; Boundary="a \\"q\\" B" ;x=Y; flag');
    expect(mt?.type).toBe('multipart/mixed');
    expect(Object.fromEntries(mt!.params)).toEqual({ boundary: 'a "q" B', x: 'Y', flag: '' });
  });
});
