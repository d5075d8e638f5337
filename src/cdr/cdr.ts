/** One call-detail record per call attempt (docs/redis-contract.md, "CDR stream"). */
export type Disposition =
  | 'answered'
  | 'busy'
  | 'no-answer'
  | 'failed'
  | 'cancelled'
  | 'rejected-acl'
  | 'rejected-number'
  | 'rejected-body'
  | 'unknown-caller'
  | 'session-closed'
  | 'store-unavailable'
  | 'media-unavailable'
  | 'shutting-down';

export type Direction = 'a->b' | 'b->a' | '';

export interface Cdr {
  /** Unique per record, so a consumer can drop duplicates after a spool replay. */
  id: string;
  callId: string;
  sessionId: string;
  virtualNumber: string;
  direction: Direction;
  startedAt: number;
  answeredAt: number | null;
  endedAt: number;
  /** Talk time in whole seconds (0 when never answered). */
  durationSec: number;
  /** Final SIP status sent to the caller (200 when answered). */
  finalStatus: number;
  disposition: Disposition;
  /** Who ended an answered call. */
  endedBy: 'caller' | 'callee' | 'max-duration' | 'shutdown' | 'error' | 'session-closed' | '';
  media: 'none' | 'anchored' | 'signalling-only-fallback';
  recording: { path: string; durationSec: number; bytes: number; failed: boolean; error?: string } | null;
}

export interface CdrSink {
  /** Never throws and never blocks the call: a sink that cannot write now keeps the record and retries. */
  write(cdr: Cdr): void;
}

/** Flattens a CDR into the string field/value pairs of a stream entry. */
export function cdrToFields(cdr: Cdr): Record<string, string> {
  const f: Record<string, string> = {
    id: cdr.id,
    call_id: cdr.callId,
    session_id: cdr.sessionId,
    virtual_number: cdr.virtualNumber,
    direction: cdr.direction,
    started_at: new Date(cdr.startedAt).toISOString(),
    answered_at: cdr.answeredAt === null ? '' : new Date(cdr.answeredAt).toISOString(),
    ended_at: new Date(cdr.endedAt).toISOString(),
    duration_sec: String(cdr.durationSec),
    final_status: String(cdr.finalStatus),
    disposition: cdr.disposition,
    ended_by: cdr.endedBy,
    media: cdr.media,
  };
  if (cdr.recording) {
    f.recording_path = cdr.recording.path;
    f.recording_duration_sec = String(cdr.recording.durationSec);
    f.recording_bytes = String(cdr.recording.bytes);
    f.recording_failed = cdr.recording.failed ? '1' : '0';
    if (cdr.recording.error) f.recording_error = cdr.recording.error;
  }
  return f;
}
