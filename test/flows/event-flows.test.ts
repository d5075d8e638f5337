import { describe, expect, it } from 'vitest';
import { A, B, createHarness, inviteFrom, settle, V } from '../helpers/harness.js';

describe('call events for webhooks', () => {
  it('an answered call publishes initiated, ringing, answered, completed in order, with the session\'s URL and the CDR', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'o1', webhookUrl: 'https://backend.example/o1' });
    const call = h.sip.invite(inviteFrom(A));
    await settle();
    h.sip.dials[0]!.progress(180);
    h.sip.dials[0]!.progress(183); // one ringing event per call
    h.sip.dials[0]!.answer();
    await settle();
    await settle();
    call.leg!.remoteHangup();
    await settle();
    await settle();
    expect(h.events.types()).toEqual(['call.initiated', 'call.ringing', 'call.answered', 'call.completed']);
    for (const e of h.events.events) {
      expect(e).toMatchObject({ sessionId: 'o1', url: 'https://backend.example/o1', parties: { a: A, b: B } });
      expect(e.data).toMatchObject({ session_id: 'o1', virtual_number: V, call_id: h.cdr.records[0]!.callId });
      // Numbers travel apart from the payload, for the dispatcher to include or not.
      expect(JSON.stringify(e.data)).not.toContain(A.slice(-10));
      expect(JSON.stringify(e.data)).not.toContain(B.slice(-10));
    }
    expect(h.events.events[3]!.data.cdr).toMatchObject({ id: h.cdr.records[0]!.id, disposition: 'answered', ended_by: 'caller', recording: null });
    expect(new Set(h.events.events.map((e) => e.id)).size).toBe(4);
  });

  it('a busy callee: initiated then completed with the CDR, no recording and no answered', async () => {
    const h = createHarness();
    h.sessions.add({ id: 'o2' });
    h.sip.invite(inviteFrom(A));
    await settle();
    h.sip.dials[0]!.fail(486, 'Busy Here');
    await settle();
    await settle();
    expect(h.events.types()).toEqual(['call.initiated', 'call.completed']);
    expect(h.events.events[1]!.data.cdr).toMatchObject({ disposition: 'busy', recording: null });
    expect(h.events.events[1]!.url).toBe('');
  });

  it('a caller without a session: one call.rejected, for the default URL, with the caller apart', async () => {
    const h = createHarness();
    const stranger = '+919800000001';
    h.sip.invite(inviteFrom(stranger));
    await settle();
    await settle();
    expect(h.events.types()).toEqual(['call.rejected']);
    expect(h.events.events[0]).toMatchObject({ sessionId: '', url: '', parties: { caller: stranger } });
    expect(h.events.events[0]!.data.cdr).toMatchObject({ disposition: 'unknown-caller', final_status: 404 });
  });

  it('an INVITE refused at the edge publishes nothing', async () => {
    const h = createHarness();
    h.sip.invite(inviteFrom(A, { source: '127.0.0.2' }));
    h.sip.invite(inviteFrom(A, { headers: { 'User-Agent': 'sipvicious' } }));
    await settle();
    expect(h.events.events).toHaveLength(0);
  });
});

describe('recording.ready', () => {
  it('follows call.completed for a recorded call, with the API download URL; a failed recording has none', async () => {
    const { mediaHarness, connectAnchored, soon } = await import('../helpers/media-harness.js');
    const h = mediaHarness();
    h.fs.recordedSeconds = 2;
    h.sessions.add({ id: 'm3', record: true });
    const { call } = await connectAnchored(h);
    call.leg!.remoteHangup();
    await soon(() => h.events.events.length === 5);
    expect(h.events.types()).toEqual(['call.initiated', 'call.ringing', 'call.answered', 'call.completed', 'recording.ready']);
    const rec = h.events.events[4]!.data.recording as Record<string, unknown>;
    expect(rec).toMatchObject({ duration_sec: 2, bytes: 44 + 2 * 8000 * 4 });
    expect(rec.url).toMatch(/^\/v1\/sessions\/m3\/recordings\/\d{4}-\d{2}-\d{2}\/[^/]+\.wav$/);
    expect(rec.path).toMatch(/^\d{4}\/\d{2}\/\d{2}\/m3\/[^/]+\.wav$/);

    const f = mediaHarness();
    f.fs.failRecording = true;
    f.sessions.add({ id: 'm4', record: true });
    const second = await connectAnchored(f);
    second.call.leg!.remoteHangup();
    await soon(() => f.cdr.records.length === 1);
    expect(f.events.types()).not.toContain('recording.ready');
    expect(f.events.events.at(-1)!.data.cdr).toMatchObject({ recording: null });
  });
});
