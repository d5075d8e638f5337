import { describe, expect, it } from 'vitest';
import { A, B, createHarness, inviteFrom, settle, V } from '../helpers/harness.js';

const WIDE = { trunk: { inboundAllow: ['127.0.0.0/8'] }, defences: { trunkSources: ['127.0.0.1/32'], rateLimit: { limit: 30, windowSec: 2 }, maxCallsPerSession: 0, maxCallsPerNumber: 0 } };

describe('edge defences', () => {
  it('refuses a scanner User-Agent before any lookup, with no CDR and no call', async () => {
    const h = createHarness(WIDE);
    h.sessions.add({ id: 's1' });
    const call = h.sip.invite(inviteFrom(A, { headers: { 'User-Agent': 'friendly-scanner' } }));
    await settle();
    expect(call.finalStatus).toBe(403);
    expect(h.sessions.calls).toBe(0);
    expect(h.sip.dials).toHaveLength(0);
    expect(h.cdr.records).toHaveLength(0);
    expect(h.registry.size).toBe(0);
  });

  it('bans a flooding source inside the allowed range after 30 INVITEs in 2 s: the rest cost no lookup, and it is logged once', async () => {
    const h = createHarness(WIDE);
    const calls = Array.from({ length: 200 }, () => h.sip.invite(inviteFrom(A, { source: '127.0.0.3' })));
    await settle();
    expect(h.sessions.calls).toBe(30);
    expect(calls.filter((c) => c.finalStatus === 403)).toHaveLength(170);
    expect(h.cdr.records.filter((r) => r.disposition === 'unknown-caller')).toHaveLength(30);
    expect(h.cdr.records).toHaveLength(30);
    expect(h.logs.filter((l) => l.msg === 'source over the INVITE rate limit: banned (defences.rateLimit)')).toHaveLength(1);
    expect(h.logs.filter((l) => l.msg === 'INVITE refused at the edge (logged once a minute per source)')).toHaveLength(1);
    const byReason = Object.fromEntries((await h.metrics.sipRejectedSources.get()).values.map((v) => [v.labels.reason, v.value]));
    expect(byReason).toEqual({ 'rate-limited': 1, banned: 169 });
    expect((await h.metrics.sipBannedSources.get()).values[0]?.value).toBe(1);
  });

  it('never bans the named trunk, even during a flood from another source', async () => {
    const h = createHarness(WIDE);
    h.sessions.add({ id: 's1' });
    for (let i = 0; i < 100; i++) h.sip.invite(inviteFrom('+919800000001', { source: '127.0.0.3' }));
    const trunk = Array.from({ length: 100 }, () => h.sip.invite(inviteFrom(A)));
    await settle();
    expect(trunk.every((c) => c.finalStatus !== 403)).toBe(true);
    expect(h.sip.dials).toHaveLength(100);
    expect(h.sip.dials[0]?.req.headers.From).toContain(V);
    expect(h.sip.dials[0]?.req.uri).toContain(B);
  });
});

describe('concurrent-call limits (fleet-wide, after the lookup)', () => {
  const LIMITS = { defences: { maxCallsPerSession: 2, maxCallsPerNumber: 3 } };

  it('refuses a third concurrent call of one session with 486 and no call to the other party, and frees the slot when a call ends', async () => {
    const h = createHarness(LIMITS);
    h.sessions.add({ id: 's1' });
    const first = h.sip.invite(inviteFrom(A));
    h.sip.invite(inviteFrom(A));
    await settle();
    const third = h.sip.invite(inviteFrom(A));
    await settle();
    expect(third.finalStatus).toBe(486);
    expect(h.sip.dials).toHaveLength(2);
    expect(h.cdr.records).toMatchObject([{ disposition: 'over-limit', sessionId: 's1', finalStatus: 486 }]);
    expect((await h.metrics.concurrencyRejections.get()).values).toMatchObject([{ labels: { scope: 'session' }, value: 1 }]);

    first.cancel();
    await settle();
    await settle();
    expect(h.sessions.admitted.size).toBe(1);
    h.sip.invite(inviteFrom(A));
    await settle();
    expect(h.sip.dials).toHaveLength(3);
  });

  it('counts every session on a virtual number against its own limit', async () => {
    const h = createHarness(LIMITS);
    for (let i = 0; i < 4; i++) h.sessions.add({ id: `s${i}`, a: `+91981234000${i}` });
    const calls = [0, 1, 2, 3].map((i) => h.sip.invite(inviteFrom(`+91981234000${i}`)));
    await settle();
    await settle();
    expect(h.sip.dials).toHaveLength(3);
    expect(calls[3]?.finalStatus).toBe(486);
    expect((await h.metrics.concurrencyRejections.get()).values).toMatchObject([{ labels: { scope: 'number' }, value: 1 }]);
  });

  it('fails closed with 503 when the store cannot count the call', async () => {
    const h = createHarness(LIMITS);
    h.sessions.add({ id: 's1' });
    h.sessions.admitDown = true;
    const call = h.sip.invite(inviteFrom(A));
    await settle();
    expect(call.finalStatus).toBe(503);
    expect(h.sip.dials).toHaveLength(0);
    expect(h.cdr.records).toMatchObject([{ disposition: 'store-unavailable' }]);
  });

  it('asks nothing of the store when both limits are 0', async () => {
    const h = createHarness({ defences: { maxCallsPerSession: 0, maxCallsPerNumber: 0 } });
    h.sessions.add({ id: 's1' });
    h.sessions.admitDown = true;
    h.sip.invite(inviteFrom(A));
    await settle();
    expect(h.sip.dials).toHaveLength(1);
  });
});
