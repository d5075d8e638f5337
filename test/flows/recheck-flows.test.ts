/** A session that closes or expires while the callee rings never connects (it is checked again at answer). */
import { describe, expect, it } from 'vitest';
import { A, V, createHarness, inviteFrom, settle, type Harness } from '../helpers/harness.js';
import { mediaHarness, soon } from '../helpers/media-harness.js';

/** A calls V; the callee rings, `meanwhile` runs, then the callee answers. */
async function answeredAfter(h: Harness, id: string, meanwhile: () => void) {
  const call = h.sip.invite(inviteFrom(A));
  await soon(() => h.sip.dials.length === 1);
  const dial = h.sip.dials[0]!;
  dial.progress(180);
  expect(h.sessions.rechecks).toBe(0); // nothing more than the lookup before the B-leg is sent
  meanwhile();
  const legB = dial.answer();
  await soon(() => h.cdr.records.length === 1 || call.leg !== null);
  await settle();
  return { call, legB, session: h.sessions.sessions.get(id)! };
}

describe('the session ends while the callee rings', () => {
  for (const [how, end] of [
    ['closed', (h: Harness, id: string) => void (h.sessions.sessions.get(id)!.status = 'closed')],
    ['expired', (h: Harness, id: string) => void (h.sessions.sessions.get(id)!.expiresAt = Date.now() - 1)],
  ] as const) {
    it(`${how}: the caller gets the closed-session status, the callee a BYE, and the CDR says so`, async () => {
      const h = createHarness();
      h.sessions.add({ id: `r-${how}` });
      const { call, legB } = await answeredAfter(h, `r-${how}`, () => end(h, `r-${how}`));
      expect(call.finalStatus).toBe(410);
      expect(call.leg).toBeNull();
      expect(legB.hangups).toBe(1);
      expect(h.sessions.rechecks).toBe(1);
      expect(h.cdr.records[0]).toMatchObject({ sessionId: `r-${how}`, disposition: 'session-closed', endedBy: 'session-closed', finalStatus: 410, answeredAt: null });
    });
  }

  it('still open: the call connects after one re-check', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'r-open' });
    const { call, legB } = await answeredAfter(h, 'r-open', () => undefined);
    expect(call.finalStatus).toBe(200);
    expect(legB.hangups).toBe(0);
    expect(h.sessions.rechecks).toBe(1);
  });

  it('Redis cannot answer the re-check: fail closed with 503 and a BYE to the callee', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'r-down' });
    const { call, legB } = await answeredAfter(h, 'r-down', () => void (h.sessions.recheckDown = true));
    expect(call.finalStatus).toBe(503);
    expect(legB.hangups).toBe(1);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'store-unavailable', finalStatus: 503 });
  });

  it('anchored: the caller hears the closed-session status instead of being bridged, and every channel is released', async () => {
    const h = mediaHarness();
    h.sessions.add({ id: 'r-media', record: true });
    const { call, legB } = await answeredAfter(h, 'r-media', () => void (h.sessions.sessions.get('r-media')!.status = 'closed'));
    await soon(() => h.cdr.records.length === 1);
    expect(call.finalStatus).toBe(410);
    expect(legB.hangups).toBe(1);
    expect(h.fs.ops.some((o) => o.startsWith('bridge:') || o.startsWith('record-start'))).toBe(false);
    expect(h.fs.allReleasedOnce).toBe(true);
    expect(h.cdr.records[0]).toMatchObject({ disposition: 'session-closed', endedBy: 'session-closed' });
  });

  it('after a PIN: the caller (already answered) and the callee are hung up', async () => {
    const h = mediaHarness({ media: { pin: { enabled: true, prompt: 'enter-pin.wav', maxDigits: 6, timeoutMs: 5000, tries: 3 } } });
    h.sessions.add({ id: 'r-pin', record: false });
    h.sessions.pins.set(`${V}:424242`, { id: 'r-pin', role: 'a' });
    h.fs.digits = ['424242'];
    const call = h.sip.invite(inviteFrom('+919800000001'));
    await soon(() => h.sip.dials.length === 1);
    h.sessions.sessions.get('r-pin')!.status = 'closed';
    const legB = h.sip.dials[0]!.answer();
    await soon(() => h.cdr.records.length === 1);
    expect(call.leg!.hangups).toBe(1);
    expect(legB.hangups).toBe(1);
    expect(h.fs.ops.some((o) => o.startsWith('bridge:'))).toBe(false);
    expect(h.cdr.records[0]).toMatchObject({ sessionId: 'r-pin', finalStatus: 200, disposition: 'session-closed', endedBy: 'session-closed' });
  });
});
