/**
 * End to end, signalling only: sipp plays the carrier trunk (caller) and the called phone behind
 * the outbound gateway, against a real drachtio-server, a real redis-server and maskbridge.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { A, B, Bed, V, occurrences } from './support/bed.js';
import { readLearned } from './support/rtp.js';
import { finalStatus, sippAvailable, type SippResult } from './support/sipp.js';
import { resolveDrachtio } from './support/servers.js';
import { until } from '../helpers/until.js';

const drachtio = resolveDrachtio();
const skipReason = sippAvailable() ?? (drachtio.ok ? null : drachtio.reason);
if (skipReason) console.warn(`[e2e] signalling suite skipped: ${skipReason}`);

describe.skipIf(skipReason !== null)(`signalling end to end${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const bed = new Bed();

  // The close sweep only every minute: a quiet close is then seen by the re-check at answer.
  beforeAll(() => bed.start(drachtio, null, () => ({ calls: { closeSweepSec: 60 } })));
  afterAll(() => bed.stop());
  beforeEach(() => bed.flush());

  function expectNoLeak(r: { caller: SippResult; callee: SippResult | null }) {
    expect(occurrences(r.caller.messages, B)).toBe(0);
    if (r.callee) expect(occurrences(r.callee.messages, A)).toBe(0);
  }

  it('A calls V, B sees V and answers, A hangs up', async () => {
    await bed.openSession();
    const r = await bed.call('a-hangs-up', A, { outcome: 'answer', hangup: 'caller' }, { outcome: 'answer', hangup: 'caller' });
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(r.callee!.code, r.callee!.stderr).toBe(0);
    expect(r.callee!.messages).toMatch(new RegExp(`^From: <sip:\\${V}@`, 'm'));
    expectNoLeak(r);
    expect(await bed.cdr()).toMatchObject({ session_id: 'order-e2e', direction: 'a->b', disposition: 'answered', ended_by: 'caller', final_status: '200' });
  });

  it('A calls V, B answers and hangs up', async () => {
    await bed.openSession();
    const r = await bed.call('b-hangs-up', A, { outcome: 'answer', hangup: 'callee' }, { outcome: 'answer', hangup: 'callee' });
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(r.callee!.code, r.callee!.stderr).toBe(0);
    expectNoLeak(r);
    expect(await bed.cdr()).toMatchObject({ disposition: 'answered', ended_by: 'callee' });
  });

  it('a transfer (REFER) from the caller is refused with 403, reaches nobody, and the call goes on', async () => {
    await bed.openSession();
    // The callee's scenario takes nothing but the call and the caller's BYE: a REFER reaching it would fail it.
    const r = await bed.call('refer', A, { outcome: 'answer', hangup: 'caller', referExpect: 403 }, { outcome: 'answer', hangup: 'caller' });
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(r.callee!.code, r.callee!.stderr).toBe(0);
    expect(r.callee!.messages).not.toMatch(/^REFER /m);
    expect(occurrences(r.callee!.messages, '+919800000099')).toBe(0);
    expectNoLeak(r);
    expect(await bed.cdr()).toMatchObject({ disposition: 'answered', ended_by: 'caller' });
  });

  it("an UPDATE with a new offer from A reaches B as a re-INVITE, and B's answer comes back, both scrubbed", async () => {
    await bed.openSession();
    const r = await bed.call('update', A, { outcome: 'answer', hangup: 'caller', updateOffer: true }, { outcome: 'answer', hangup: 'caller', answerReinvite: true });
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(r.callee!.code, r.callee!.stderr).toBe(0);
    expect(r.callee!.messages).toMatch(/^a=ptime:30/m); // A's new offer reached B
    expect(r.caller.messages).toMatch(/^a=ptime:40/m); // B's answer reached A
    expectNoLeak(r);
    expect(await bed.cdr()).toMatchObject({ disposition: 'answered', ended_by: 'caller' });
  });

  it('a re-INVITE without SDP from A (a session refresh) is answered with the SDP A already has, and B sees nothing', async () => {
    await bed.openSession();
    // The callee's scenario takes nothing but the call and the caller's BYE: a re-INVITE reaching it would fail it.
    const r = await bed.call('refresh', A, { outcome: 'answer', hangup: 'caller', refreshWithoutSdp: true }, { outcome: 'answer', hangup: 'caller' });
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(r.callee!.code, r.callee!.stderr).toBe(0);
    const okBodies = r.caller.messages.split(/^SIP\/2\.0 200 OK/m).slice(1).filter((m) => /^CSeq: \d+ INVITE/m.test(m)).map((m) => m.slice(m.search(/^v=0/m)).split(/\r?\n\r?\n/)[0]!.trim());
    expect(okBodies).toHaveLength(2); // the call's 200 and the refresh's, with the same SDP
    expect(okBodies[1]).toBe(okBodies[0]);
    expectNoLeak(r);
    expect(await bed.cdr()).toMatchObject({ disposition: 'answered', ended_by: 'caller' });
  });

  it('B calls V and reaches A, who sees V', async () => {
    await bed.openSession();
    const r = await bed.call('b-calls', B, { outcome: 'answer', hangup: 'caller' }, { outcome: 'answer', hangup: 'caller' });
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(r.callee!.code, r.callee!.stderr).toBe(0);
    expect(r.callee!.messages).toMatch(new RegExp(`^INVITE sip:\\${A}@`, 'm'));
    expect(occurrences(r.callee!.messages, B)).toBe(0);
    expect(occurrences(r.caller.messages, A)).toBe(0);
    expect(await bed.cdr()).toMatchObject({ direction: 'b->a', disposition: 'answered' });
  });

  it('an unknown caller is rejected and nobody is called', async () => {
    await bed.openSession();
    const r = await bed.call('unknown', '+919800000001', { outcome: 'reject', status: 404 }, null);
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(finalStatus(r.caller.messages)).toBe(404);
    expect(await bed.cdr()).toMatchObject({ disposition: 'unknown-caller', final_status: '404' });
  });

  it('an expired session is rejected', async () => {
    await bed.openSession({ expiresInMs: 300 });
    await new Promise((r) => setTimeout(r, 400));
    const r = await bed.call('expired', A, { outcome: 'reject', status: 410 }, null);
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(await bed.cdr()).toMatchObject({ disposition: 'session-closed', final_status: '410' });
  });

  // The callee rings for 2 s; its sipp writes a file when the INVITE is in (MediaOpts.learnFile),
  // so the session ends while it rings, whatever the machine's speed. "closed" is a plain HSET
  // (no mb_close message): only the re-check when B answers can catch it.
  for (const how of ['closed', 'expired'] as const) {
    it(`a session ${how} while B rings never connects: B's answer gets a BYE, A gets 410`, async () => {
      await bed.openSession(how === 'expired' ? { expiresInMs: 1200 } : {});
      const ringing = join(bed.dir, `${how}-ringing.callee-learned`);
      const pending = bed.call(`${how}-ringing`, A, { outcome: 'reject', status: 410, ringing: true }, { outcome: 'answer', hangup: 'caller', ringMs: 2000, media: { learnFile: ringing } });
      await readLearned(ringing);
      if (how === 'closed') await bed.closeQuietly();
      const r = await pending;
      expect(r.caller.code, r.caller.stderr).toBe(0);
      expect(r.callee!.code, r.callee!.stderr).toBe(0); // it answered, got the ACK, then a BYE
      expect(finalStatus(r.caller.messages)).toBe(410);
      expect(r.caller.messages).not.toMatch(/^SIP\/2\.0 200/m);
      expect(r.callee!.messages).toMatch(/^BYE sip:/m);
      expectNoLeak(r);
      expect(await bed.cdr()).toMatchObject({ disposition: 'session-closed', ended_by: 'session-closed', final_status: '410' });
    });
  }

  it('a session closed with mb_close while B rings: B gets a CANCEL at once, A gets 410', async () => {
    await bed.openSession();
    const pending = bed.call('mb-close-ringing', A, { outcome: 'reject', status: 410, ringing: true }, { outcome: 'ring-until-cancel' });
    await until(() => bed.mb.app.registry.size === 1, 10_000, 20);
    await new Promise((r) => setTimeout(r, 500)); // B rings
    expect(await bed.mb.app.store.close('order-e2e')).toBe(true);
    const r = await pending;
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(r.callee!.code, r.callee!.stderr).toBe(0); // it got the CANCEL, and never answered
    expect(finalStatus(r.caller.messages)).toBe(410);
    expectNoLeak(r);
    expect(await bed.cdr()).toMatchObject({ disposition: 'session-closed', ended_by: 'session-closed', final_status: '410' });
  });

  it('a CANCEL before answer cancels B and A gets 487', async () => {
    await bed.openSession();
    const r = await bed.call('cancel', A, { outcome: 'cancel', afterMs: 300 }, { outcome: 'ring-until-cancel' });
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(r.callee!.code, r.callee!.stderr).toBe(0);
    expectNoLeak(r);
    expect(await bed.cdr()).toMatchObject({ disposition: 'cancelled', final_status: '487' });
  });

  it('B busy gives A 486', async () => {
    await bed.openSession();
    const r = await bed.call('busy', A, { outcome: 'reject', status: 486 }, { outcome: 'reject', status: 486, reason: 'Busy Here' });
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(r.callee!.code, r.callee!.stderr).toBe(0);
    expectNoLeak(r);
    expect(await bed.cdr()).toMatchObject({ disposition: 'busy', final_status: '486' });
  });

  it('answers OPTIONS keep-alives: 200 to the trunk, 403 to anyone else', async () => {
    const trunk = await bed.options('options-trunk', 200);
    expect(trunk.code, trunk.stderr).toBe(0);
    const other = await bed.options('options-other', 403, '127.0.0.2');
    expect(other.code, other.stderr).toBe(0);
  });

  it('a call from outside the trunk (127.0.0.2) gets 403, and leaves no CDR (edge refusals are counted, not recorded)', async () => {
    await bed.openSession();
    const before = (await bed.cdrs()).length;
    const r = await bed.call('acl', A, { outcome: 'reject', status: 403 }, null, '127.0.0.2');
    expect(r.caller.code, r.caller.stderr).toBe(0);
    await new Promise((res) => setTimeout(res, 500));
    expect((await bed.cdrs()).length).toBe(before);
  });
});
