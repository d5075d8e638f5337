/** The SDP the other party gets is rebuilt from an allowlist (src/sip/sdp.ts). */
import { describe, expect, it } from 'vitest';
import { isUsableSdp, rebuildSdp } from '../../src/sip/sdp.js';

const A = '+919812341234';
const digits = A.slice(1);
const lines = (...l: string[]) => l.join('\r\n') + '\r\n';
const base = (media: string[] = [], session: string[] = []) => lines(
  'v=0', 'o=- 1 1 IN IP4 127.0.0.5', 's=-', 'c=IN IP4 127.0.0.5', 't=0 0', ...session,
  'm=audio 4000 RTP/AVP 0 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', ...media,
);
const rebuilt = (sdp: string) => rebuildSdp(sdp, [A]) ?? '';
/** The number's digits with every separator removed, as a leak check that separators cannot fool. */
const leaks = (out: string) => out.replace(/\D/g, '').includes(digits.slice(-9));

describe('rebuildSdp: what is dropped', () => {
  it.each([
    ['a=X- attribute', ['a=X-orig:+91 98123 41234']],
    ['a=ssrc with a cname holding the number', [`a=ssrc:1234 cname:${digits}`]],
    ['a=msid', ['a=msid:stream track']],
    ['a=label', ['a=label:caller']],
    ['a=tool (session level)', [], ['a=tool:Carrier SBC 9.1']],
    ['i=, u=, e=, p=, k=', ['i=Alice mic', 'k=prompt'], ['i=x', 'u=http://x.example', 'e=a@x.example', 'p=+91 98123 41234']],
    ['a=extmap', ['a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level']],
  ])('drops %s', (_what, media, session = []) => {
    const out = rebuilt(base(media as string[], session as string[]));
    for (const line of [...(media as string[]), ...(session as string[])]) expect(out).not.toContain(line);
    expect(out).toContain('m=audio 4000 RTP/AVP 0 101');
  });

  it.each([
    ['spaces', '+91 98123 41234'],
    ['dots', '+91.98123.41234'],
    ['dashes', '091-98123-41234'],
    ['parentheses', '(0)98123 41234'],
    ['no separators', digits],
  ])('drops an allowed value holding the number written with %s', (_how, written) => {
    const out = rebuilt(base([`a=fmtp:101 0-15;x=${written}`, `a=mid:${written.replace(/\D/g, '')}`, 'a=ptime:20']));
    expect(leaks(out)).toBe(false);
    expect(out).not.toContain('a=fmtp:101');
    expect(out).not.toContain('a=mid:');
    expect(out).toContain('a=ptime:20');
  });

  it('drops a codec that is not among the media line\'s formats, and a value of the wrong syntax', () => {
    const out = rebuilt(base(['a=rtpmap:97 secret/8000', 'a=rtcp:not-a-port', 'a=ptime:abc', 'a=setup:whatever', 'a=sendrecv']));
    expect(out).not.toContain('97');
    expect(out).not.toMatch(/a=rtcp:|a=ptime|a=setup/);
    expect(out).toContain('a=sendrecv');
  });

  it('writes o= and s= fresh: username "-", session name "-", whatever they were', () => {
    const out = rebuilt(lines('v=0', `o=alice-${digits} 99 3 IN IP4 127.0.0.5`, 's=Call from Alice', 'c=IN IP4 127.0.0.5', 't=0 0', 'm=audio 4000 RTP/AVP 0'));
    expect(out.split('\r\n').slice(0, 3)).toEqual(['v=0', 'o=- 99 3 IN IP4 127.0.0.5', 's=-']);
  });

  it('takes the origin address from the connection when the origin names a host', () => {
    const out = rebuilt(lines('v=0', 'o=- 5 5 IN IP4 alice.carrier.example', 's=-', 'c=IN IP4 127.0.0.9', 't=0 0', 'm=audio 4000 RTP/AVP 0'));
    expect(out).toMatch(/^o=- 5 5 IN IP4 127\.0\.0\.9$/m);
    expect(out).not.toContain('alice');
  });

  it('replaces a session id holding the number by the same digest every time, and keeps the version counting', () => {
    const offer = (version: number) => rebuilt(lines('v=0', `o=- ${digits} ${version} IN IP4 127.0.0.5`, 's=-', 'c=IN IP4 127.0.0.5', 't=0 0', 'm=audio 4000 RTP/AVP 0'));
    const [first, second] = [offer(1), offer(2)];
    const origin = (out: string) => /^o=- (\d+) (\d+) /m.exec(out)!.slice(1);
    expect(leaks(first)).toBe(false);
    expect(origin(first)[0]).toBe(origin(second)[0]);
    expect(origin(first)[1]).toBe('1');
    expect(origin(second)[1]).toBe('2');
  });
});

describe('rebuildSdp: what is kept', () => {
  it('keeps codecs, ports, connection, bandwidth, direction, ptime and RTCP', () => {
    const out = rebuilt(base(
      ['c=IN IP4 127.0.0.6', 'b=TIAS:64000', 'a=fmtp:101 0-15', 'a=ptime:20', 'a=maxptime:40', 'a=rtcp:4001 IN IP4 127.0.0.6', 'a=rtcp-mux', 'a=inactive'],
      ['b=AS:64'],
    ));
    expect(out).toBe(lines(
      'v=0', 'o=- 1 1 IN IP4 127.0.0.5', 's=-', 'c=IN IP4 127.0.0.5', 'b=AS:64', 't=0 0',
      'm=audio 4000 RTP/AVP 0 101', 'c=IN IP4 127.0.0.6', 'b=TIAS:64000', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000',
      'a=fmtp:101 0-15', 'a=rtcp:4001 IN IP4 127.0.0.6', 'a=rtcp-mux', 'a=ptime:20', 'a=maxptime:40', 'a=inactive',
    ));
  });

  it('keeps ICE, DTLS-SRTP, SDES-SRTP, mid and BUNDLE', () => {
    const kept = [
      'a=mid:0', 'a=rtcp-fb:0 nack', 'a=ice-ufrag:F7gI', 'a=ice-pwd:x9cml/YzichV2+XlhiMu8g', 'a=ice-options:trickle',
      'a=fingerprint:sha-256 ' + Array.from({ length: 32 }, (_, i) => (i * 7 % 256).toString(16).padStart(2, '0').toUpperCase()).join(':'),
      'a=setup:actpass',
      'a=candidate:1 1 UDP 2113937151 192.168.34.75 60017 typ host',
      'a=candidate:2 1 udp 1845501695 193.84.77.194 60017 typ srflx raddr 192.168.34.75 rport 60017',
      'a=end-of-candidates',
      'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32',
    ];
    const out = rebuilt(base(kept, ['a=group:BUNDLE 0']));
    for (const line of [...kept, 'a=group:BUNDLE 0']) expect(out).toContain(line + '\r\n');
  });

  it('keeps the fax parameters of a T.38 stream', () => {
    const out = rebuilt(lines('v=0', 'o=- 1 2 IN IP4 127.0.0.5', 's=-', 'c=IN IP4 127.0.0.5', 't=0 0',
      'm=image 5000 udptl t38', 'a=T38FaxVersion:0', 'a=T38MaxBitRate:14400', 'a=T38FaxRateManagement:transferredTCF'));
    expect(out).toContain('m=image 5000 udptl t38\r\na=T38FaxVersion:0\r\na=T38MaxBitRate:14400\r\na=T38FaxRateManagement:transferredTCF\r\n');
  });

  it('keeps a re-offer\'s session id and version exactly, 64-bit ones included, and increments nothing', () => {
    const offer = (version: string) => lines('v=0', `o=- 12345678901234567890 ${version} IN IP4 127.0.0.5`, 's=-', 'c=IN IP4 127.0.0.5', 't=0 0', 'm=audio 4000 RTP/AVP 0', 'a=sendonly');
    expect(rebuilt(offer('18446744073709551614'))).toMatch(/^o=- 12345678901234567890 18446744073709551614 IN IP4 127\.0\.0\.5$/m);
    expect(rebuilt(offer('18446744073709551615'))).toMatch(/^o=- 12345678901234567890 18446744073709551615 IN IP4 127\.0\.0\.5$/m);
    const once = rebuilt(offer('7'));
    expect(rebuilt(once)).toBe(once);
  });

  it('keeps a rejected stream (port 0) so the answer still lines up with the offer', () => {
    const out = rebuilt(base() + 'm=video 0 RTP/AVP 96\r\n');
    expect(out).toContain('m=video 0 RTP/AVP 96\r\n');
    expect(out.match(/^m=/gm)).toHaveLength(2);
  });
});

describe('rebuildSdp: no usable SDP', () => {
  it.each([
    ['empty', ''],
    ['garbage', `garbage ${A}`],
    ['binary', '\u0000\u0019\u0089\u0021\u0043'],
    ['no v= line', 'o=- 1 1 IN IP4 127.0.0.5\r\ns=-\r\nc=IN IP4 127.0.0.5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n'],
    ['v= that is not 0', 'v=0 new address\r\nm=audio 4000 RTP/AVP 0\r\n'],
    ['no o= line', 'v=0\r\ns=-\r\nc=IN IP4 127.0.0.5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n'],
    ['no m= line', 'v=0\r\no=- 1 1 IN IP4 127.0.0.5\r\ns=-\r\nc=IN IP4 127.0.0.5\r\nt=0 0\r\n'],
    ['an m= line that does not parse', 'v=0\r\no=- 1 1 IN IP4 127.0.0.5\r\ns=-\r\nc=IN IP4 127.0.0.5\r\nt=0 0\r\nm=audio 49170/2 RTP/AVP 0\r\n'],
    ['an active stream without a connection address', 'v=0\r\no=- 1 1 IN IP4 127.0.0.5\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n'],
    ['a connection that is a host name', 'v=0\r\no=- 1 1 IN IP4 127.0.0.5\r\ns=-\r\nc=IN IP4 media.example\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n'],
    ['a multipart body', '--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b--\r\n'],
  ])('%s', (_what, sdp) => {
    expect(rebuildSdp(sdp, [A])).toBeNull();
    expect(isUsableSdp(sdp)).toBe(false);
  });

  it('never throws, whatever it is given', () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const pieces = ['v=0', 'o=- 1 1 IN IP4 1.2.3.4', 'c=IN IP6 ::1', 'm=audio 1 RTP/AVP 0', 'a=rtpmap:', 'a=candidate:x', 'a=rtcp:', '\u0000', '=', 'b=AS:', 't=', 'a=fmtp:0 \u00ff'];
    for (let i = 0; i < 300; i++) {
      const sdp = Array.from({ length: 1 + Math.floor(rnd() * 12) }, () => pieces[Math.floor(rnd() * pieces.length)]).join(rnd() < 0.5 ? '\r\n' : '\n');
      expect(() => rebuildSdp(sdp, [A])).not.toThrow();
    }
    expect(rebuildSdp(undefined as unknown as string, [A])).toBeNull();
  });
});
