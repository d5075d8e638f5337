import { describe, expect, it } from 'vitest';
import { interpretLookup, keys, MalformedRecordError, parseSessionHash } from '../../src/sessions/contract.js';

const k = keys('mb:');
const V = '+912240001000';
const A = '+919812341234';
const B = '+919876549876';
const NOW = 1_800_000_000_000;
const good = { v: V, a: A, b: B, status: 'open', expires_at: String(NOW + 60_000) };
const flat = (h: Record<string, string>) => Object.entries(h).flat();

/** Lookup replies as the script gives them: a candidate from the caller's index, or from a v1 route. */
const party = (id: unknown, h: unknown) => ['party', id, h];
const route = (id: unknown, h: unknown) => ['route', id, h];

describe('interpretLookup', () => {
  it('finds the other party in both directions, through the index or a v1 route', () => {
    for (const via of [party, route]) {
      expect(interpretLookup(k, V, A, via('s1', flat(good)), NOW)).toMatchObject({ kind: 'found', callerRole: 'a', peer: B });
      expect(interpretLookup(k, V, B, via('s1', flat(good)), NOW)).toMatchObject({ kind: 'found', callerRole: 'b', peer: A });
    }
  });

  it('reports no route as unknown', () => {
    expect(interpretLookup(k, V, A, [], NOW)).toEqual({ kind: 'unknown' });
  });

  it('treats an expired or closed session as closed even when Redis still holds it', () => {
    for (const via of [party, route]) {
      expect(interpretLookup(k, V, A, via('s1', flat({ ...good, expires_at: String(NOW) })), NOW)).toMatchObject({ kind: 'closed', why: 'expired' });
      expect(interpretLookup(k, V, A, via('s1', flat({ ...good, status: 'closed' })), NOW)).toMatchObject({ kind: 'closed', why: 'closed' });
    }
  });

  it('an index entry whose session is not open gives way to a v1 route naming an open one, and wins over any other', () => {
    const closed = party('s1', flat({ ...good, status: 'closed' }));
    expect(interpretLookup(k, V, A, [...closed, ...route('s2', flat(good))], NOW)).toMatchObject({ kind: 'found', session: { id: 's2' } });
    expect(interpretLookup(k, V, A, [...closed, ...route('s2', flat({ ...good, expires_at: String(NOW - 1) }))], NOW)).toMatchObject({ kind: 'closed', why: 'closed', session: { id: 's1' } });
    expect(interpretLookup(k, V, A, [...closed, ...route('s2', [])], NOW)).toMatchObject({ kind: 'closed', session: { id: 's1' } });
  });

  it.each([
    ['route is a hash', ['!wrongtype', 'route'], 'mb:route:', 'not a string'],
    ['index is not a hash', ['!wrongtype', 'party'], `mb:party:${A}`, 'not a hash'],
    ['route value is not an id', route('bad id with spaces', []), 'mb:route:', 'not a session id'],
    ['index entry is not an id', party('bad id with spaces', []), `mb:party:${A}`, 'not a session id'],
    ['session key is not a hash', route('s1', 0), 'mb:session:s1', 'not a hash'],
    ['session key (from the index) is not a hash', party('s1', 0), 'mb:session:s1', 'not a hash'],
    ['session missing (half-written)', route('s1', []), 'mb:session:s1', 'missing'],
    ['v not E.164', route('s1', flat({ ...good, v: 'abc' })), 'mb:session:s1', 'field v'],
    ['a not E.164', party('s1', flat({ ...good, a: '12' })), 'mb:session:s1', 'field a'],
    ['b missing', route('s1', flat({ v: V, a: A, status: 'open', expires_at: good.expires_at })), 'mb:session:s1', 'field b'],
    ['a equals b', route('s1', flat({ ...good, b: A })), 'mb:session:s1', 'same number'],
    ['bad status', route('s1', flat({ ...good, status: 'active' })), 'mb:session:s1', 'status'],
    ['bad expiry', party('s1', flat({ ...good, expires_at: 'tomorrow' })), 'mb:session:s1', 'expires_at'],
    ['bad record flag', route('s1', flat({ ...good, record: 'yes' })), 'mb:session:s1', 'record'],
    ['route points at another V', route('s1', flat({ ...good, v: '+912240009999' })), 'mb:route:', 'another virtual number'],
    ['caller not in the session', route('s1', flat({ ...good, a: '+919800000001' })), 'mb:route:', 'not part of'],
  ])('refuses a record where the %s, naming the key', (_what, reply, keyStart, problem) => {
    const r = interpretLookup(k, V, A, reply as unknown[], NOW);
    expect(r.kind).toBe('malformed');
    if (r.kind !== 'malformed') return;
    expect(r.key.startsWith(keyStart)).toBe(true);
    expect(r.problem).toContain(problem);
  });
});

describe('parseSessionHash', () => {
  it('reads optional fields', () => {
    const s = parseSessionHash('mb:session:s1', 's1', { ...good, record: '0', label: 'order 42', created_at: String(NOW) });
    expect(s).toMatchObject({ record: false, label: 'order 42', createdAt: NOW, closedAt: undefined });
  });
  it('throws MalformedRecordError with the key', () => {
    expect(() => parseSessionHash('mb:session:s1', 's1', {})).toThrow(MalformedRecordError);
    expect(() => parseSessionHash('mb:session:s1', 's1', {})).toThrow(/mb:session:s1/);
  });
});

describe('interpretPinLookup', () => {
  it('resolves a PIN to the participant it speaks for and calls the other one', async () => {
    const { interpretPinLookup } = await import('../../src/sessions/contract.js');
    expect(interpretPinLookup(k, V, '4242', ['s1:a', flat(good)], NOW)).toMatchObject({ kind: 'found', callerRole: 'a', peer: B });
    expect(interpretPinLookup(k, V, '4242', ['s1:b', flat(good)], NOW)).toMatchObject({ kind: 'found', callerRole: 'b', peer: A });
    expect(interpretPinLookup(k, V, '4242', [], NOW)).toEqual({ kind: 'unknown' });
    expect(interpretPinLookup(k, V, '4242', ['s1:c', 0], NOW)).toMatchObject({ kind: 'malformed', key: `mb:pin:${V}:4242` });
    expect(interpretPinLookup(k, V, '4242', ['s1:a', flat({ ...good, status: 'closed' })], NOW)).toMatchObject({ kind: 'closed' });
  });

  it('refuses whisper file names FreeSWITCH would parse', () => {
    expect(() => parseSessionHash('mb:session:s1', 's1', { ...good, whisper_b: 'a.wav!b.wav' })).toThrow(/whisper_b/);
    expect(() => parseSessionHash('mb:session:s1', 's1', { ...good, whisper_b: '../../etc/passwd' })).toThrow(/whisper_b/);
    expect(parseSessionHash('mb:session:s1', 's1', { ...good, whisper_b: '/sounds/driver-order.wav' }).whisperB).toBe('/sounds/driver-order.wav');
  });
});
