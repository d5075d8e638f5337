/**
 * Contract v2 sessions end to end (sipp, drachtio-server, Redis, maskbridge; FreeSWITCH for the
 * anchored case): closing a session hangs up its live call, a one-way session refuses B's call,
 * an answered call slides a sliding TTL, and a caller with no session on a V dedicated to a
 * session's unknown callers (unknown_caller connect-b) reaches B.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { A, B, Bed, occurrences, V } from './support/bed.js';
import { channelCount, resolveFreeswitch } from './support/freeswitch.js';
import { finalStatus, sippAvailable } from './support/sipp.js';
import { resolveDrachtio } from './support/servers.js';
import { until } from '../helpers/until.js';

const drachtio = resolveDrachtio();
const freeswitch = resolveFreeswitch();
const skipReason = sippAvailable() ?? (drachtio.ok ? null : drachtio.reason);
const noFreeswitch = skipReason ?? (freeswitch.ok ? null : freeswitch.reason);

/** A calls V; both phones wait for maskbridge's BYE; the session is closed once the call is up. */
async function closeDuringCall(bed: Bed) {
  await bed.openSession();
  const call = bed.call('closed-mid-call', A, { outcome: 'answer', hangup: 'callee' }, { outcome: 'answer', hangup: 'caller', talkMs: 15_000 });
  await until(() => bed.mb.app.registry.size === 1, 10_000, 50);
  await new Promise((r) => setTimeout(r, 1500)); // rung, answered, talking
  const t0 = Date.now();
  expect(await bed.mb.app.store.close('order-e2e')).toBe(true);
  const r = await call;
  const byeMs = Date.now() - t0;
  expect(r.caller.code, r.caller.stderr).toBe(0);
  expect(r.callee!.code, r.callee!.stderr).toBe(0);
  expect(await bed.cdr()).toMatchObject({ session_id: 'order-e2e', disposition: 'answered', ended_by: 'session-closed', final_status: '200' });
  return byeMs;
}

describe.skipIf(skipReason !== null)(`sessions end to end, signalling only${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const bed = new Bed();
  beforeAll(() => bed.start(drachtio, null, () => ({ calls: { closeSweepSec: 60 } })));
  afterAll(() => bed.stop());
  beforeEach(() => bed.flush());

  it('closing the session hangs up its live call: BYE to both phones within a second (pub/sub), CDR ended_by session-closed', async () => {
    const ms = await closeDuringCall(bed);
    console.info(`[e2e] session closed mid-call: both legs ended ${ms} ms later`);
    expect(ms).toBeLessThan(2000); // the sweep runs every 60 s here: only the published close can be this fast
  });

  it('a one-way session connects A to B and refuses B\'s call to A with the unknown-caller status', async () => {
    await bed.openSession({ direction: 'a-to-b' });
    const refused = await bed.call('one-way-b', B, { outcome: 'reject', status: 404 }, null);
    expect(refused.caller.code, refused.caller.stderr).toBe(0);
    expect(finalStatus(refused.caller.messages)).toBe(404);
    expect(await bed.cdr()).toMatchObject({ session_id: 'order-e2e', disposition: 'one-way-refused', final_status: '404' });
    const ok = await bed.call('one-way-a', A, { outcome: 'answer', hangup: 'caller' }, { outcome: 'answer', hangup: 'caller' });
    expect(ok.caller.code, ok.caller.stderr).toBe(0);
  });

  it('connect-b: a caller with no session on a V dedicated to the session reaches B, who sees V and never the caller\'s number', async () => {
    const C = '+919811112222';
    await bed.openSession({ unknownCaller: 'connect-b' });
    const r = await bed.call('unknown-connect-b', C, { outcome: 'answer', hangup: 'caller' }, { outcome: 'answer', hangup: 'caller' });
    expect(r.caller.code, r.caller.stderr).toBe(0);
    expect(r.callee!.code, r.callee!.stderr).toBe(0);
    expect(r.callee!.messages).toMatch(new RegExp(`^INVITE sip:\\${B}@`, 'm'));
    expect(r.callee!.messages).toMatch(new RegExp(`^From: <sip:\\${V}@`, 'm'));
    expect(occurrences(r.callee!.messages, C)).toBe(0);
    expect(occurrences(r.callee!.messages, A)).toBe(0);
    expect(occurrences(r.caller.messages, B)).toBe(0);
    expect(await bed.cdr()).toMatchObject({ session_id: 'order-e2e', direction: 'unknown->b', disposition: 'unknown-caller-connected', final_status: '200' });
    // Closed, the session no longer takes V's unknown callers: the global treatment.
    await bed.mb.app.store.close('order-e2e');
    const refused = await bed.call('unknown-after-close', C, { outcome: 'reject', status: 404 }, null);
    expect(refused.caller.code, refused.caller.stderr).toBe(0);
    expect(await bed.cdr(2)).toMatchObject({ session_id: '', disposition: 'unknown-caller', final_status: '404' });
  });

  it('a call outside the session\'s time-of-day window is refused with 480; inside it connects', async () => {
    // A window that is closed now and one that is open now, both in a zone other than the machine's.
    const hour = Number(new Intl.DateTimeFormat('en-US', { timeZone: 'Asia/Kolkata', hour: '2-digit', hourCycle: 'h23' }).format(new Date()));
    const h = (n: number) => String((hour + n + 24) % 24).padStart(2, '0');
    await bed.openSession({ windows: `mon-sun ${h(2)}:00-${h(3)}:00`, tz: 'Asia/Kolkata' });
    const refused = await bed.call('outside-window', A, { outcome: 'reject', status: 480 }, null);
    expect(refused.caller.code, refused.caller.stderr).toBe(0);
    expect(await bed.cdr()).toMatchObject({ session_id: 'order-e2e', disposition: 'outside-window', final_status: '480' });
    await bed.mb.app.store.update('order-e2e', { windows: `mon-sun ${h(-1)}:00-${h(2)}:00` });
    const ok = await bed.call('inside-window', A, { outcome: 'answer', hangup: 'caller' }, { outcome: 'answer', hangup: 'caller' });
    expect(ok.caller.code, ok.caller.stderr).toBe(0);
  });

  it('an answered call refreshes a sliding TTL from its end; a refused call does not', async () => {
    await bed.openSession({ expiresInMs: 30_000, ttlSec: 600 });
    const before = (await bed.mb.app.store.get('order-e2e'))!.expiresAt;
    const refused = await bed.call('slide-busy', A, { outcome: 'reject', status: 486 }, { outcome: 'reject', status: 486, reason: 'Busy Here' });
    expect(refused.caller.code, refused.caller.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    expect((await bed.mb.app.store.get('order-e2e'))!.expiresAt).toBe(before);
    await bed.call('slide-answered', A, { outcome: 'answer', hangup: 'caller' }, { outcome: 'answer', hangup: 'caller' });
    const ended = Date.now();
    await until(async () => (await bed.mb.app.store.get('order-e2e'))!.expiresAt > before, 5000, 100);
    const after = (await bed.mb.app.store.get('order-e2e'))!.expiresAt;
    expect(after).toBeGreaterThan(ended + 590_000);
    expect(after).toBeLessThanOrEqual(ended + 600_000);
  });
});

describe.skipIf(noFreeswitch !== null)(`sessions end to end, media anchored${noFreeswitch ? ` (skipped: ${noFreeswitch})` : ''}`, () => {
  const bed = new Bed();
  beforeAll(() => bed.start(drachtio, freeswitch, (b) => ({
    media: { mode: 'anchor', servers: [`${b.fs!.esl.host}:${b.fs!.esl.port}:${b.fs!.esl.secret}`], eslListenAddress: '127.0.0.1' },
    calls: { closeSweepSec: 60 },
  })), 120_000);
  afterAll(() => bed.stop());

  it('closing the session hangs up its anchored call on both legs, and the media channels are released', async () => {
    await bed.flush();
    const ms = await closeDuringCall(bed);
    console.info(`[e2e] anchored session closed mid-call: both legs ended ${ms} ms later`);
    expect(ms).toBeLessThan(2000);
    await until(async () => (await channelCount(bed.fs!.esl)) === 0, 10_000, 200);
  });
});
