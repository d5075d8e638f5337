import { describe, expect, it } from 'vitest';
import { decide, mapCalleeFailure, type DecisionPolicy } from '../../src/policy/decide.js';
import { NO_OPTIONS, type SessionRecord } from '../../src/sessions/contract.js';
import { parseWindows } from '../../src/sessions/windows.js';

const policy: DecisionPolicy = {
  unknownCaller: { status: 404, reason: 'No Active Session', announcement: '' },
  closedSession: { status: 410, reason: 'Session Ended', announcement: 'ended.wav' },
  outsideWindow: { status: 480, reason: 'Outside Calling Hours', announcement: '' },
  recordByDefault: true,
};
const session: SessionRecord = {
  ...NO_OPTIONS, id: 's1', virtualNumber: '+912240001000', a: '+919812341234', b: '+919876549876', status: 'open', expiresAt: 2e12,
};

describe('decide', () => {
  it('bridges A to B for an open session', () => {
    expect(decide({ kind: 'found', session, callerRole: 'a', peer: session.b }, policy)).toEqual({
      action: 'bridge', sessionId: 's1', direction: 'a->b', peer: session.b, record: true,
    });
  });
  it('bridges B to A, and honours the session\'s record flag over the default', () => {
    expect(decide({ kind: 'found', session: { ...session, record: false }, callerRole: 'b', peer: session.a }, policy))
      .toMatchObject({ direction: 'b->a', peer: session.a, record: false });
  });
  it('refuses B on a one-way session with the unknown-caller treatment, and still bridges A', () => {
    const oneWay = { ...session, direction: 'a-to-b' as const };
    expect(decide({ kind: 'found', session: oneWay, callerRole: 'b', peer: session.a }, policy)).toEqual({
      action: 'reject', sessionId: 's1', status: 404, reason: 'No Active Session', announcement: '', disposition: 'one-way-refused',
    });
    expect(decide({ kind: 'found', session: oneWay, callerRole: 'a', peer: session.b }, policy)).toMatchObject({ action: 'bridge', direction: 'a->b' });
  });
  it('refuses a call outside the session\'s windows, in its time zone, and connects one inside', () => {
    const office = { ...session, windows: parseWindows('mon-fri 09:00-18:00'), tz: 'Asia/Kolkata' };
    const found = { kind: 'found', session: office, callerRole: 'a', peer: session.b } as const;
    expect(decide(found, policy, new Date('2026-12-02T05:00:00Z'))).toMatchObject({ action: 'bridge' }); // Wed 10:30 IST
    expect(decide(found, policy, new Date('2026-12-02T14:00:00Z'))).toEqual({ // Wed 19:30 IST
      action: 'reject', sessionId: 's1', status: 480, reason: 'Outside Calling Hours', announcement: '', disposition: 'outside-window',
    });
  });
  it('gives an unknown caller the unknown-caller treatment', () => {
    expect(decide({ kind: 'unknown' }, policy)).toEqual({
      action: 'reject', sessionId: '', status: 404, reason: 'No Active Session', announcement: '', disposition: 'unknown-caller',
    });
  });
  it('treats a malformed record as no session', () => {
    expect(decide({ kind: 'malformed', key: 'mb:route:x', problem: 'p' }, policy)).toMatchObject({ action: 'reject', status: 404 });
  });
  it.each(['closed', 'expired'] as const)('gives a %s session the closed-session treatment with its announcement', (why) => {
    expect(decide({ kind: 'closed', session, why }, policy)).toMatchObject({
      action: 'reject', sessionId: 's1', status: 410, announcement: 'ended.wav', disposition: 'session-closed',
    });
  });
});

describe('mapCalleeFailure', () => {
  it.each([
    [486, 486], [600, 486], [480, 480], [408, 480], [603, 603], [404, 404], [484, 404], [500, 503], [503, 503], [488, 502], [401, 502],
  ])('maps %i to %i', (from, to) => {
    expect(mapCalleeFailure(from).status).toBe(to);
  });
});

describe('OPTIONS keep-alives', () => {
  it('answer 200 to the trunk, 503 while draining, 403 to anyone else', async () => {
    const { optionsResponder } = await import('../../src/calls/handler.js');
    const { buildAcl } = await import('../../src/sip/identify.js');
    let draining = false;
    const status = optionsResponder(buildAcl(['198.51.100.0/28']), () => draining);
    expect(status('198.51.100.7')).toBe(200);
    expect(status('::ffff:198.51.100.7')).toBe(200);
    expect(status('203.0.113.1')).toBe(403);
    expect(status('garbage')).toBe(403);
    draining = true;
    expect(status('198.51.100.7')).toBe(503);
  });
});
