import { describe, expect, it } from 'vitest';
import { GatewayPool, isGatewayFailure } from '../../src/sip/gateways.js';
import { captureLogs, A, B, createHarness, inviteFrom, settle } from '../helpers/harness.js';

const TWO = { trunk: { outbound: { gateways: ['10.0.0.1:5060', '10.0.0.2:5060'] } } };

describe('outbound gateway failover', () => {
  it('a gateway that fails the INVITE without ringing hands the call to the next, which connects it', async () => {
    const h = createHarness(TWO);
    h.sessions.add({ id: 'g1' });
    const call = h.sip.invite(inviteFrom(A));
    await settle();
    expect(h.sip.dials[0]!.req.uri).toBe(`sip:${B}@10.0.0.1:5060`);
    h.sip.dials[0]!.fail(503, 'Service Unavailable');
    await settle();
    expect(h.sip.dials).toHaveLength(2);
    expect(h.sip.dials[1]!.req.uri).toBe(`sip:${B}@10.0.0.2:5060`);
    expect(h.sip.dials[1]!.req.headers.From).toBe(h.sip.dials[0]!.req.headers.From);
    h.sip.dials[1]!.answer();
    await settle();
    await settle();
    expect(call.finalStatus).toBe(200);
    expect(h.logs.some((l) => l.msg === 'outbound gateway failed the call; trying the next')).toBe(true);
  });

  it('a callee\'s refusal (486), or a failure after ringing, is not a gateway failure: no second INVITE', async () => {
    const h = createHarness(TWO);
    h.sessions.add({ id: 'g2' });
    const busy = h.sip.invite(inviteFrom(A));
    await settle();
    h.sip.dials[0]!.fail(486, 'Busy Here');
    await settle();
    expect(h.sip.dials).toHaveLength(1);
    expect(busy.finalStatus).toBe(486);

    const rang = h.sip.invite(inviteFrom(A));
    await settle();
    h.sip.dials[1]!.progress(180);
    h.sip.dials[1]!.fail(503);
    await settle();
    expect(h.sip.dials).toHaveLength(2);
    expect(rang.finalStatus).toBe(503);
  });

  it('when every gateway fails, the caller gets the last failure, once', async () => {
    const h = createHarness(TWO);
    h.sessions.add({ id: 'g3' });
    const call = h.sip.invite(inviteFrom(A));
    await settle();
    h.sip.dials[0]!.fail(408);
    await settle();
    h.sip.dials[1]!.fail(503);
    await settle();
    await settle();
    expect(h.sip.dials).toHaveLength(2);
    expect(call.finalStatus).toBe(503);
    expect(h.cdr.records).toHaveLength(1);
  });
});

describe('gateway health', () => {
  const pool = (ping: ((gw: string) => Promise<number | null>) | null = null) => new GatewayPool(['a:5060', 'b:5060', 'c:5060'], { pingMs: 0, pingTimeoutMs: 100 }, ping, captureLogs().log);

  it('a gateway failing twice in a row is tried last, until it answers again', () => {
    const p = pool();
    p.failed('a:5060', 'timeout');
    expect(p.candidates()).toEqual(['a:5060', 'b:5060', 'c:5060']);
    p.failed('a:5060', 'timeout');
    expect(p.candidates()).toEqual(['b:5060', 'c:5060', 'a:5060']);
    p.answered('a:5060');
    expect(p.candidates()).toEqual(['a:5060', 'b:5060', 'c:5060']);
  });

  it('OPTIONS pings mark a silent gateway down and one that answers anything up', async () => {
    let silent = true;
    const p = pool(async (gw) => (gw === 'b:5060' && silent ? null : 405));
    await p.pingAll();
    await p.pingAll();
    expect(p.health().map((g) => g.up)).toEqual([true, false, true]);
    silent = false;
    await p.pingAll();
    expect(p.health().every((g) => g.up)).toBe(true);
  });

  it('every gateway down: all are still tried', () => {
    const p = pool();
    for (const g of ['a:5060', 'b:5060', 'c:5060']) for (let i = 0; i < 2; i++) p.failed(g, 'x');
    expect(p.candidates()).toHaveLength(3);
  });

  it.each([[408, true], [500, true], [503, true], [504, true], [580, false], [486, false], [404, false], [603, false]])('status %i is a gateway failure: %s', (status, yes) => {
    expect(isGatewayFailure(status)).toBe(yes);
  });
});
