import { describe, expect, it } from 'vitest';
import { kindOfWrite, WireTracer } from '../../bench/lib/wire-trace.js';

// What drachtio-server and drachtio-srf put on the wire (lib/wire-protocol.js, lib/drachtio-agent.js).
const networkInvite = (n: number) =>
  `612#m${n}|sip|network|590|udp|127.0.0.1|5060|12:00:00.000|t${n}|\r\nINVITE sip:+912240001000@127.0.0.1 SIP/2.0\r\nCall-ID: c${n}\r\n\r\n`;
const networkAck = '300#m9|sip|network|280|udp|127.0.0.1|5060|12:00:00.000|t9|d9\r\nACK sip:127.0.0.1 SIP/2.0\r\n\r\n';
const outboundInvite = '540#u1|sip||\r\nINVITE sip:+919820000001@127.0.0.1:5070 SIP/2.0\r\nFrom: <sip:+912240001000@localhost>\r\n\r\n';
const response180 = '200#u2|sip|t1|\r\nSIP/2.0 180 Ringing\r\nCSeq: 1 INVITE\r\n\r\n';
const evalsha = '*5\r\n$7\r\nEVALSHA\r\n';

describe('bench wire trace', () => {
  it('tells drachtio writes from Redis writes by their first bytes', () => {
    expect(kindOfWrite(outboundInvite)).toBe('drachtio');
    expect(kindOfWrite(evalsha)).toBe('redis');
    expect(kindOfWrite('hello')).toBeUndefined();
  });

  it('splits an INVITE that asked Redis into in -> command -> reply -> out', () => {
    const drachtio = {};
    const redis = {};
    const t = new WireTracer();
    t.onData(drachtio, 'drachtio', networkInvite(1), 1000);
    t.onWrite(redis, 'redis', evalsha, 1100);
    t.onData(redis, 'redis', '*2\r\n$5\r\nfound\r\n', 1250);
    t.onWrite(drachtio, 'drachtio', response180, 1260); // not the outbound INVITE
    t.onWrite(drachtio, 'drachtio', outboundInvite, 1400);
    expect(t.samples).toEqual([{ inToOut: 400, inToStore: 100, storeToReply: 150, replyToOut: 150 }]);
    expect(t.summary()).toMatchObject({ traceSamples: 1, inToOutP50: 400, storeToReplyP90: 150 });
  });

  it('times an INVITE without Redis (the bare B2BUA) from in to out only', () => {
    const drachtio = {};
    const t = new WireTracer();
    t.onData(drachtio, 'drachtio', networkAck, 900); // not an INVITE: starts nothing
    t.onData(drachtio, 'drachtio', networkInvite(1), 1000);
    t.onWrite(drachtio, 'drachtio', outboundInvite, 1150);
    expect(t.samples).toEqual([{ inToOut: 150 }]);
    expect(t.summary()).not.toHaveProperty('storeToReplyP50');
  });

  it('drops an INVITE overtaken by the next one, and counts only the reply on the command\'s own socket', () => {
    const drachtio = {};
    const redis = {};
    const other = {};
    const t = new WireTracer();
    t.onData(drachtio, 'drachtio', networkInvite(1), 1000);
    t.onData(drachtio, 'drachtio', networkInvite(2), 1050);
    t.onWrite(redis, 'redis', evalsha, 1100);
    t.onData(other, 'redis', '+OK\r\n', 1120); // another Redis connection (e.g. a CDR write)
    t.onData(redis, 'redis', '*1\r\n', 1200);
    t.onWrite(drachtio, 'drachtio', outboundInvite, 1300);
    expect(t.samples).toEqual([{ inToOut: 250, inToStore: 50, storeToReply: 100, replyToOut: 100 }]);
  });

  it('forgets everything on reset (the warm-up), including an INVITE in flight', () => {
    const drachtio = {};
    const t = new WireTracer();
    t.onData(drachtio, 'drachtio', networkInvite(1), 1000);
    t.onWrite(drachtio, 'drachtio', outboundInvite, 1100);
    t.onData(drachtio, 'drachtio', networkInvite(2), 1200);
    t.reset();
    t.onWrite(drachtio, 'drachtio', outboundInvite, 1300);
    expect(t.samples).toEqual([]);
    expect(t.summary()).toEqual({ traceSamples: 0 });
  });
});
