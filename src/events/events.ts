/**
 * Webhook events (docs/webhooks.md): what the call path and the Redis functions put into the
 * outbox, the Redis stream `${keyPrefix}events`, and the producer interface of the app.
 *
 * An outbox entry has exactly these string fields (the Lua functions XADD the same shape):
 *   id       the event id: stable across resends; receivers de-duplicate on it (<= 128 chars)
 *   type     an EventType
 *   at       epoch milliseconds
 *   session  the session id, or ''
 *   url      the session's own webhook URL, or '' (= webhooks.defaultUrl)
 *   data     JSON object: the payload (never phone numbers)
 *   parties  JSON object of phone numbers (e.g. {"a":"+1555...","b":"+1555..."}), or ''
 */
import { BadRecordError, type RecordCodec } from '../spool/codec.js';

export const EVENT_TYPES = [
  'call.initiated',
  'call.ringing',
  'call.answered',
  'call.completed',
  'call.rejected',
  'recording.ready',
  'session.closed',
  'session.expired',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

const TYPES: ReadonlySet<string> = new Set(EVENT_TYPES);

export function isEventType(v: unknown): v is EventType {
  return typeof v === 'string' && TYPES.has(v);
}

export interface OutboxEvent {
  id: string;
  type: EventType;
  /** Epoch ms. */
  at: number;
  /** '' when the event concerns no session. */
  sessionId: string;
  /** The session's own webhook URL; '' for webhooks.defaultUrl. */
  url: string;
  /** The payload: never phone numbers (those go in `parties`). */
  data: Record<string, unknown>;
  /** Phone numbers, sent only to the session's own URL or to a trusted default URL. */
  parties?: Record<string, string>;
}

/**
 * The app's producer. publish() is synchronous, never throws and never waits on Redis: the event
 * is written ahead to a disk spool and replayed into the outbox stream once (by id).
 */
export interface EventSink {
  publish(e: OutboxEvent): void;
  /** Events accepted by publish() (or left in the spool by an earlier process) and not yet in the outbox. */
  readonly backlog: number;
  /** Resolves when the backlog is in the outbox, on a write failure, or after timeoutMs. Never rejects. */
  flush(timeoutMs?: number): Promise<void>;
  /** A last flush, then stop, within timeoutMs; what is not in Redis stays in the spool. Never rejects. */
  close(timeoutMs: number): Promise<void>;
}

export const MAX_EVENT_ID = 128;
export const MAX_URL = 2048;

/** A per-session webhook URL: the error text, or null when it is usable (http or https, at most 2048 characters). */
export function checkWebhookUrl(url: string): string | null {
  if (typeof url !== 'string' || url.length === 0) return 'must be an http or https URL';
  if (url.length > MAX_URL) return `must be at most ${MAX_URL} characters`;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'is not a URL';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'must be an http or https URL';
  if (u.hostname === '') return 'has no host';
  // The contract's check (library.lua webhook_url) refuses white space; say so here first.
  if (/\s/.test(url)) return 'must not contain white space';
  return null;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= 8.64e15;

function checkParties(v: unknown): v is Record<string, string> {
  return isObject(v) && Object.values(v).every((n) => typeof n === 'string');
}

/** Why an event (from the spool or the outbox) cannot be delivered; names the field, never its value. */
export function eventProblem(e: Partial<Record<keyof OutboxEvent, unknown>>): string | null {
  if (typeof e.id !== 'string' || e.id === '' || e.id.length > MAX_EVENT_ID) return 'bad or missing field id';
  if (!isEventType(e.type)) return 'bad or missing field type';
  if (!isTime(e.at)) return 'bad or missing field at';
  if (typeof e.sessionId !== 'string') return 'bad or missing field session';
  if (typeof e.url !== 'string' || (e.url !== '' && checkWebhookUrl(e.url) !== null)) return 'bad field url';
  if (!isObject(e.data)) return 'bad or missing field data';
  if (e.parties !== undefined && !checkParties(e.parties)) return 'bad field parties';
  return null;
}

/** An outbox entry's fields (as XADD writes them). */
export function eventToFields(e: OutboxEvent): Record<string, string> {
  return {
    id: e.id,
    type: e.type,
    at: String(e.at),
    session: e.sessionId,
    url: e.url,
    data: JSON.stringify(e.data),
    parties: e.parties ? JSON.stringify(e.parties) : '',
  };
}

/** Reads an outbox entry back: the event, or why it cannot be delivered (a malformed entry is dead-lettered with it). */
export function parseOutboxEntry(f: Record<string, string | undefined>): OutboxEvent | { problem: string } {
  let data: unknown;
  let parties: unknown;
  try {
    data = f.data === undefined ? undefined : JSON.parse(f.data);
  } catch {
    return { problem: 'field data is not JSON' };
  }
  try {
    parties = f.parties === undefined || f.parties === '' ? undefined : JSON.parse(f.parties);
  } catch {
    return { problem: 'field parties is not JSON' };
  }
  const at = f.at !== undefined && /^-?\d{1,16}$/.test(f.at) ? Number(f.at) : undefined;
  const e = { id: f.id, type: f.type, at, sessionId: f.session, url: f.url, data, parties };
  const problem = eventProblem(e);
  if (problem) return { problem };
  return e as OutboxEvent;
}

/** Events in the spool (one JSON OutboxEvent per line) and the outbox stream (src/spool). */
export const eventCodec: RecordCodec<OutboxEvent> = {
  noun: 'event',
  plural: 'events',
  idField: 'eventId',
  parse(line: string): OutboxEvent {
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new BadRecordError('not JSON');
    }
    if (!isObject(v)) throw new BadRecordError('not a JSON object');
    const problem = eventProblem(v);
    if (problem) throw new BadRecordError(problem);
    return v as unknown as OutboxEvent;
  },
  toFields: eventToFields,
  id: (e) => e.id,
};
