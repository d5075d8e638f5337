/** The per-session unknown-caller treatment: reading it, the lookup's miss path, and the decision. */
import { describe, expect, it } from 'vitest';
import { decide, type DecisionPolicy } from '../../src/policy/decide.js';
import { interpretLookup, keys, MalformedRecordError, NO_OPTIONS, parseSessionHash, unknownCallerOf, type SessionRecord } from '../../src/sessions/contract.js';
import { parseWindows } from '../../src/sessions/windows.js';
import { SessionInputError, validateOptions } from '../../src/sessions/store.js';
import { parseCdr } from '../../src/cdr/cdr.js';

const k = keys('mb:');
const V = '+912240001000';
const A = '+919812341234';
const B = '+919876549876';
const C = '+919811112222';
const NOW = 1_800_000_000_000;
const good = { v: V, a: A, b: B, status: 'open', expires_at: String(NOW + 60_000), unknown_caller: 'connect-b' };
const flat = (h: Record<string, string>) => Object.entries(h).flat();

const policy: DecisionPolicy = {
  unknownCaller: { status: 404, reason: 'No Active Session', announcement: 'global.wav' },
  closedSession: { status: 410, reason: 'Session Ended', announcement: '' },
  outsideWindow: { status: 480, reason: 'Outside Calling Hours', announcement: '' },
  recordByDefault: false,
};
const session: SessionRecord = { ...NO_OPTIONS, id: 's1', virtualNumber: V, a: A, b: B, status: 'open', expiresAt: 2e12 };

describe('unknown_caller values', () => {
  it.each([
    [undefined, { kind: 'reject' }],
    ['reject', { kind: 'reject' }],
    ['connect-a', { kind: 'connect', to: 'a' }],
    ['connect-b', { kind: 'connect', to: 'b' }],
    ['announce:delivered.wav', { kind: 'announce', file: 'delivered.wav' }],
    ['announce:/srv/prompts/order_12.wav', { kind: 'announce', file: '/srv/prompts/order_12.wav' }],
  ] as const)('%s reads as %j', (value, want) => {
    expect(unknownCallerOf({ unknownCaller: value })).toEqual(want);
  });

  it.each(['connect', 'connect-c', 'announce:', 'announce:../etc/passwd', 'announce:a b.wav', 'announce:x;y', 'Reject'])('refuses %j at the API/CLI and in a stored record', (value) => {
    expect(() => validateOptions({ unknownCaller: value })).toThrow(SessionInputError);
    expect(() => parseSessionHash('mb:session:s1', 's1', { ...good, unknown_caller: value })).toThrow(MalformedRecordError);
  });

  it('a CDR of a connected unknown caller reads back (direction unknown->a / unknown->b)', () => {
    const cdr = { id: 'c1', callId: 'x', sessionId: 's1', virtualNumber: V, direction: 'unknown->b', startedAt: NOW, answeredAt: NOW, endedAt: NOW, durationSec: 0, finalStatus: 200, disposition: 'unknown-caller-connected', endedBy: 'caller', media: 'none', recording: null };
    expect(parseCdr(JSON.stringify(cdr)).direction).toBe('unknown->b');
    expect(parseCdr(JSON.stringify({ ...cdr, direction: 'unknown->a' })).direction).toBe('unknown->a');
  });
});

describe('the lookup reply on a miss (["!unknown", id, hash])', () => {
  it('a dedicated open session: unknown, with the session', () => {
    const r = interpretLookup(k, V, C, ['!unknown', 's1', flat(good)], NOW);
    expect(r).toMatchObject({ kind: 'unknown', dedicated: { id: 's1', unknownCaller: 'connect-b', b: B } });
  });

  it.each([
    ['closed', { ...good, status: 'closed' }],
    ['expired', { ...good, expires_at: String(NOW) }],
    ['on another virtual number', { ...good, v: '+912240009999' }],
    ['without a treatment', { v: V, a: A, b: B, status: 'open', expires_at: good.expires_at }],
    ['set to reject', { ...good, unknown_caller: 'reject' }],
    ['with an unreadable treatment', { ...good, unknown_caller: 'connect-x' }],
    ['gone (half-written or erased)', {}],
  ])('a slot whose session is %s: the global treatment (plain unknown)', (_what, hash) => {
    expect(interpretLookup(k, V, C, ['!unknown', 's1', flat(hash as Record<string, string>)], NOW)).toEqual({ kind: 'unknown' });
  });

  it('a slot that is not a session id, or a session key that is not a hash: plain unknown', () => {
    expect(interpretLookup(k, V, C, ['!unknown', 'bad id', flat(good)], NOW)).toEqual({ kind: 'unknown' });
    expect(interpretLookup(k, V, C, ['!unknown', 's1', 0], NOW)).toEqual({ kind: 'unknown' });
  });

  it('never connects the caller to themselves', () => {
    expect(interpretLookup(k, V, B, ['!unknown', 's1', flat(good)], NOW)).toEqual({ kind: 'unknown' });
    expect(interpretLookup(k, V, A, ['!unknown', 's1', flat(good)], NOW)).toMatchObject({ kind: 'unknown', dedicated: { id: 's1' } });
  });
});

describe('decide with a dedicated session', () => {
  it('connect-b / connect-a bridge to that participant, marked as an unknown caller, with the session\'s record flag', () => {
    expect(decide({ kind: 'unknown', dedicated: { ...session, unknownCaller: 'connect-b', record: true } }, policy)).toEqual({
      action: 'bridge', sessionId: 's1', direction: 'unknown->b', peer: B, record: true,
    });
    expect(decide({ kind: 'unknown', dedicated: { ...session, unknownCaller: 'connect-a' } }, policy)).toMatchObject({ direction: 'unknown->a', peer: A, record: false });
  });

  it('announce: the session\'s own prompt, then the unknown-caller rejection, on the session', () => {
    expect(decide({ kind: 'unknown', dedicated: { ...session, unknownCaller: 'announce:delivered.wav' } }, policy)).toEqual({
      action: 'reject', sessionId: 's1', status: 404, reason: 'No Active Session', announcement: 'delivered.wav', disposition: 'unknown-caller',
    });
  });

  it('connect outside the session\'s windows: the outside-window treatment', () => {
    const office = { ...session, unknownCaller: 'connect-b', windows: parseWindows('mon-fri 09:00-18:00'), tz: 'Asia/Kolkata' };
    expect(decide({ kind: 'unknown', dedicated: office }, policy, new Date('2026-12-02T14:00:00Z'))).toMatchObject({ action: 'reject', disposition: 'outside-window', sessionId: 's1' });
    expect(decide({ kind: 'unknown', dedicated: office }, policy, new Date('2026-12-02T05:00:00Z'))).toMatchObject({ action: 'bridge' });
  });

  it('no dedicated session: the global treatment', () => {
    expect(decide({ kind: 'unknown' }, policy)).toMatchObject({ action: 'reject', sessionId: '', announcement: 'global.wav', disposition: 'unknown-caller' });
  });
});

describe('B calling a one-way session', () => {
  const oneWay = { ...session, direction: 'a-to-b' as const };
  it('announce: the session\'s prompt instead of the configured one', () => {
    expect(decide({ kind: 'found', session: { ...oneWay, unknownCaller: 'announce:order-done.wav' }, callerRole: 'b', peer: A }, policy)).toEqual({
      action: 'reject', sessionId: 's1', status: 404, reason: 'No Active Session', announcement: 'order-done.wav', disposition: 'one-way-refused',
    });
  });
  it.each(['connect-a', 'connect-b', 'reject', undefined])('%s: the configured treatment (B never reaches A on a one-way session)', (value) => {
    expect(decide({ kind: 'found', session: { ...oneWay, unknownCaller: value }, callerRole: 'b', peer: A }, policy)).toEqual({
      action: 'reject', sessionId: 's1', status: 404, reason: 'No Active Session', announcement: 'global.wav', disposition: 'one-way-refused',
    });
  });
});
