/**
 * End to end, webhooks: a real call through drachtio-server (sipp as trunk and phone) reaches the
 * session's webhook URL as call.initiated, call.ringing, call.answered, call.completed, in that
 * order, each signed; closing the session then announces session.closed.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verify } from '../../src/util/signature.js';
import { until } from '../helpers/until.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { A, B, Bed } from './support/bed.js';
import { resolveDrachtio } from './support/servers.js';
import { sippAvailable } from './support/sipp.js';

const drachtio = resolveDrachtio();
const skipReason = sippAvailable() ?? (drachtio.ok ? null : drachtio.reason);
if (skipReason) console.warn(`[e2e] webhooks suite skipped: ${skipReason}`);

const SECRET = 'e2e-webhook-secret';

describe.skipIf(skipReason !== null)(`webhooks end to end${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const bed = new Bed();
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await WebhookReceiver.start();
    await bed.start(drachtio, null, (b) => ({
      webhooks: { enabled: true, secret: SECRET, spoolFile: join(b.dir, 'events-spool.jsonl'), expirySweepSec: 1 },
    }));
  });
  afterAll(async () => {
    await bed.stop();
    await receiver.close();
  });

  it('a real call\'s events arrive in order, signed, with the numbers for the session\'s own URL; then session.closed', async () => {
    await new Promise((r) => setTimeout(r, 1200)); // the first expiry sweep has turned session events on
    await bed.openSession({ webhookUrl: receiver.url('/order-e2e') });
    const r = await bed.call('webhook-call', A, { outcome: 'answer', hangup: 'caller' }, { outcome: 'answer', hangup: 'caller' });
    expect(r.caller.code, r.caller.stderr).toBe(0);
    await until(() => receiver.received.some((e) => e.type === 'call.completed'), 10_000);
    const call = receiver.received.filter((e) => e.type.startsWith('call.'));
    expect(call.map((e) => e.type)).toEqual(['call.initiated', 'call.ringing', 'call.answered', 'call.completed']);
    const now = Math.floor(Date.now() / 1000);
    for (const e of call) {
      expect(e.path).toBe('/order-e2e');
      expect(verify(SECRET, e.body, String(e.headers['maskbridge-signature']), now)).toEqual({ ok: true });
      expect(e.json).toMatchObject({ session_id: 'order-e2e', parties: { a: A, b: B } });
    }
    expect(new Set(call.map((e) => (e.json.data as { call_id: string }).call_id)).size).toBe(1);
    expect((call[3]!.json.data as { cdr: Record<string, unknown> }).cdr).toMatchObject({ disposition: 'answered', ended_by: 'caller', recording: null });
    const cdr = await bed.cdr();
    expect((call[3]!.json.data as { cdr: { id: string } }).cdr.id).toBe(cdr.id);

    await bed.mb.app.store.close('order-e2e');
    await until(() => receiver.received.some((e) => e.type === 'session.closed'), 5000);
    expect(receiver.received.find((e) => e.type === 'session.closed')!.json).toMatchObject({ session_id: 'order-e2e', parties: { a: A, b: B } });
  });
});
