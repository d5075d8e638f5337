/** One call-detail record per call attempt (docs/redis-contract.md, "CDR stream"). */
import { BadRecordError, type RecordCodec } from '../spool/codec.js';

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
  /** A caller with no session on V, connected by V's dedicated session (unknown_caller connect-a/-b), answered. */
  | 'unknown-caller-connected'
  /** B called A on a one-way session (direction a-to-b): B gets the unknown-caller treatment. */
  | 'one-way-refused'
  /** A call outside the session's time-of-day windows (calls.outsideWindow treatment). */
  | 'outside-window'
  | 'session-closed'
  | 'store-unavailable'
  | 'media-unavailable'
  /** Over a fleet-wide concurrent-call limit (defences.maxCallsPerSession / maxCallsPerNumber). */
  | 'over-limit'
  | 'shutting-down'
  /** The intercept hook denied the call (src/hooks/intercept.ts). */
  | 'hook-denied'
  /** A hook failed (timeout, error, invalid answer) and its fail policy is "closed". */
  | 'hook-failed';

/** Who called whom; `unknown->a` / `unknown->b`: a caller with no session on V whom V's dedicated session connected. */
export type Direction = 'a->b' | 'b->a' | 'unknown->a' | 'unknown->b' | '';

/** What the media server received from one party (leg a: the caller, b: the callee). */
export interface LegQuality {
  /** Share of RTP packets that did not arrive in time, 0 to 1. */
  lossRatio: number;
  jitterMs: number;
  /** Estimated mean opinion score, 1 to 5. */
  mos: number;
}

/** Media quality of an anchored, bridged call; a leg is absent when the media server had no statistics for it. */
export interface CdrQuality {
  a?: LegQuality;
  b?: LegQuality;
}

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
  endedBy: 'caller' | 'callee' | 'max-duration' | 'shutdown' | 'error' | 'session-closed' | 'operator'
    /** The instance holding the call died; another hung both parties up (src/calls/takeover.ts). */
    | 'instance-lost' | '';
  media: 'none' | 'anchored' | 'signalling-only-fallback';
  recording: { path: string; durationSec: number; bytes: number; failed: boolean; error?: string } | null;
  /** Media quality (anchored calls that were bridged); null or absent otherwise. */
  quality?: CdrQuality | null;
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
  for (const leg of ['a', 'b'] as const) {
    const q = cdr.quality?.[leg];
    if (!q) continue;
    f[`quality_${leg}_loss_ratio`] = String(q.lossRatio);
    f[`quality_${leg}_jitter_ms`] = String(q.jitterMs);
    f[`quality_${leg}_mos`] = String(q.mos);
  }
  return f;
}

/** Why a spooled line cannot become a stream entry (it is set aside, never retried). */
export class BadCdrError extends BadRecordError {
  override readonly name = 'BadCdrError';
}

const DIRECTIONS: ReadonlySet<string> = new Set(['a->b', 'b->a', 'unknown->a', 'unknown->b', '']);
const isText = (v: unknown): v is string => typeof v === 'string';
/** Within the range a Date can print (toISOString throws beyond it). */
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= 8.64e15;
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const TEXT_FIELDS = ['callId', 'sessionId', 'virtualNumber', 'disposition', 'endedBy', 'media'] as const;
const bad = (field: string) => new BadCdrError(`bad or missing field ${field}`);

/**
 * Reads one spool line back into a CDR, checking every field cdrToFields reads, so a corrupt or
 * hand-edited line fails here (BadCdrError) and not half-way through a write to Redis.
 */
export function parseCdr(line: string): Cdr {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new BadCdrError('not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new BadCdrError('not a JSON object');
  const c = v as Record<string, unknown>;
  if (!isText(c.id) || c.id === '') throw bad('id');
  for (const f of TEXT_FIELDS) {
    if (!isText(c[f])) throw bad(f);
  }
  if (!isText(c.direction) || !DIRECTIONS.has(c.direction)) throw bad('direction');
  if (!isTime(c.startedAt)) throw bad('startedAt');
  if (!isTime(c.endedAt)) throw bad('endedAt');
  if (c.answeredAt !== null && !isTime(c.answeredAt)) throw bad('answeredAt');
  if (!isCount(c.durationSec)) throw bad('durationSec');
  if (!isCount(c.finalStatus)) throw bad('finalStatus');
  const r = c.recording;
  if (r !== null) {
    if (typeof r !== 'object' || r === undefined) throw bad('recording');
    const rec = r as Record<string, unknown>;
    if (!isText(rec.path) || !isCount(rec.durationSec) || !isCount(rec.bytes) || typeof rec.failed !== 'boolean') throw bad('recording');
    if (rec.error !== undefined && !isText(rec.error)) throw bad('recording.error');
  }
  const q = c.quality;
  if (q !== undefined && q !== null) {
    if (typeof q !== 'object' || Array.isArray(q)) throw bad('quality');
    for (const leg of ['a', 'b'] as const) {
      const l = (q as Record<string, unknown>)[leg];
      if (l === undefined) continue;
      const lq = l as Record<string, unknown> | null;
      if (typeof lq !== 'object' || lq === null || !isCount(lq.lossRatio) || !isCount(lq.jitterMs) || !isCount(lq.mos)) throw bad(`quality.${leg}`);
    }
  }
  return c as unknown as Cdr;
}

/** CDRs in the spool and the stream (src/spool). */
export const cdrCodec: RecordCodec<Cdr> = {
  noun: 'CDR',
  plural: 'CDRs',
  idField: 'cdrId',
  parse: parseCdr,
  toFields: cdrToFields,
  id: (c) => c.id,
};
