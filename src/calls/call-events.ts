/**
 * Call events for webhooks (docs/webhooks.md): call.initiated when the other party is called,
 * call.ringing at its first 180/183, call.answered when both legs are up, and, from the CDR,
 * call.completed (a call that was initiated) or call.rejected (refused before that), then
 * recording.ready when the CDR carries a recording that was written. INVITEs refused at the edge
 * (src/sip/defences.ts) get no event: a flood must not become one.
 *
 * publish() only appends to the outbox's spool (src/events): nothing here waits on Redis or on a
 * receiver, so events never delay a call. Each call's context (its session's webhook URL and the
 * participants' numbers) lives from the lookup to the CDR, which every call writes exactly once.
 */
import { randomUUID } from 'node:crypto';
import { relative } from 'node:path';
import type { Cdr, CdrSink } from '../cdr/cdr.js';

/** What an outbox takes (src/events/events.ts EventSink satisfies it). */
export interface CallEventSink {
  publish(e: { id: string; type: CallEventType; at: number; sessionId: string; url: string; data: Record<string, unknown>; parties?: Record<string, string> }): void;
}

export type CallEventType = 'call.initiated' | 'call.ringing' | 'call.answered' | 'call.completed' | 'call.rejected' | 'recording.ready';

/** What the call path tells about one call (by its keyed Call-ID hash). */
export interface CallEventContext {
  sessionId: string;
  virtualNumber: string;
  /** The session's own webhook URL ('' = webhooks.defaultUrl). */
  url: string;
  /** Numbers, delivered only where the dispatcher allows (the session's own URL or a trusted default). */
  parties: Record<string, string>;
}

interface Tracked extends CallEventContext {
  initiated: boolean;
  rang: boolean;
  direction: string;
}

export class CallEvents {
  private readonly calls = new Map<string, Tracked>();

  constructor(private readonly sink: CallEventSink, private readonly recordingsDir: string, private readonly now: () => number = Date.now) {}

  /** The call found (or did not find) its session: events from here on carry its URL. */
  bind(callId: string, ctx: CallEventContext): void {
    this.calls.set(callId, { ...ctx, initiated: false, rang: false, direction: '' });
  }

  /** What another instance needs to end this call's events if this one dies (the live-call registry keeps it). */
  context(callId: string): Omit<CallEventContext, 'sessionId' | 'virtualNumber'> | undefined {
    const t = this.calls.get(callId);
    return t ? { url: t.url, parties: t.parties } : undefined;
  }

  /**
   * A call connected on an instance that died, ended here (src/calls/takeover.ts): its CDR, written
   * next through cdrSink(), announces call.completed to the URL the call's own instance had.
   */
  adopt(callId: string, ctx: CallEventContext, direction: string): void {
    this.calls.set(callId, { ...ctx, initiated: true, rang: true, direction });
  }

  initiated(callId: string, direction: string): void {
    const t = this.calls.get(callId);
    if (!t || t.initiated) return;
    t.initiated = true;
    t.direction = direction;
    this.emit('call.initiated', callId, t, { direction });
  }

  ringing(callId: string): void {
    const t = this.calls.get(callId);
    if (!t || t.rang || !t.initiated) return;
    t.rang = true;
    this.emit('call.ringing', callId, t, { direction: t.direction });
  }

  answered(callId: string): void {
    const t = this.calls.get(callId);
    if (t) this.emit('call.answered', callId, t, { direction: t.direction });
  }

  /** A CDR sink that writes to `inner`, then announces how the call ended. */
  cdrSink(inner: CdrSink): CdrSink {
    return { write: (cdr) => {
      inner.write(cdr);
      this.ended(cdr);
    } };
  }

  private ended(cdr: Cdr): void {
    const t = this.calls.get(cdr.callId);
    this.calls.delete(cdr.callId);
    const ctx: Tracked = t ?? { sessionId: cdr.sessionId, virtualNumber: cdr.virtualNumber, url: '', parties: {}, initiated: false, rang: false, direction: cdr.direction };
    const summary = cdrPayload(cdr, this.recordingsDir);
    // Ids made from the CDR's: a call's end announced twice (its own instance, cut off from Redis
    // and taken for dead, and the survivor that ended it) is one event, which the outbox keeps once.
    const type = ctx.initiated ? 'call.completed' : 'call.rejected';
    this.emit(type, cdr.callId, ctx, { cdr: summary }, `${cdr.id}.${type}`);
    if (cdr.recording && !cdr.recording.failed) this.emit('recording.ready', cdr.callId, ctx, { recording: summary.recording }, `${cdr.id}.recording.ready`);
  }

  private emit(type: CallEventType, callId: string, ctx: CallEventContext, data: Record<string, unknown>, id: string = randomUUID()): void {
    const hasParties = Object.keys(ctx.parties).length > 0;
    this.sink.publish({
      id, type, at: this.now(), sessionId: ctx.sessionId, url: ctx.url,
      data: { call_id: callId, session_id: ctx.sessionId, virtual_number: ctx.virtualNumber, ...data },
      ...(hasParties ? { parties: ctx.parties } : {}),
    });
  }
}

/** The CDR as webhook payloads carry it (snake_case like the stream); `recording` is null without one. */
export function cdrPayload(cdr: Cdr, recordingsDir: string) {
  const rec = cdr.recording;
  const rel = rec && !rec.failed ? relative(recordingsDir, rec.path) : null;
  const parts = rel?.split(/[\\/]/) ?? [];
  // {dir}/YYYY/MM/DD/{session}/{call}.wav -> the API's download URL.
  const url = parts.length === 5 ? `/v1/sessions/${encodeURIComponent(cdr.sessionId)}/recordings/${parts[0]}-${parts[1]}-${parts[2]}/${parts[4]}` : null;
  return {
    id: cdr.id, call_id: cdr.callId, session_id: cdr.sessionId, virtual_number: cdr.virtualNumber, direction: cdr.direction,
    started_at: new Date(cdr.startedAt).toISOString(), answered_at: cdr.answeredAt === null ? null : new Date(cdr.answeredAt).toISOString(),
    ended_at: new Date(cdr.endedAt).toISOString(), duration_sec: cdr.durationSec, final_status: cdr.finalStatus,
    disposition: cdr.disposition, ended_by: cdr.endedBy, media: cdr.media,
    recording: rec && !rec.failed ? { path: rel ?? rec.path, duration_sec: rec.durationSec, bytes: rec.bytes, url } : null,
  };
}
