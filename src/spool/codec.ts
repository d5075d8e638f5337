/**
 * What the spool (spool.ts), the spooling sink (sink.ts) and the Redis stream writer
 * (redis-stream.ts) need to know about the records they carry: CDRs (src/cdr/cdr.ts) and
 * webhook events (src/events/events.ts) share one implementation through this.
 */
export interface RecordCodec<T> {
  /** How logs name one record and several ("CDR"/"CDRs", "event"/"events"). */
  readonly noun: string;
  readonly plural: string;
  /** The log field that carries a record's id ("cdrId", "eventId"). */
  readonly idField: string;
  /**
   * Reads one spool line back into a record, checking every field `toFields` reads; throws
   * BadRecordError (with a reason that names fields, never their values) for anything else.
   */
  parse(line: string): T;
  /** The string field/value pairs of the record's stream entry. */
  toFields(record: T): Record<string, string>;
  /** Unique per record: the stream de-duplicates on it. */
  id(record: T): string;
}

/** Why a spooled line cannot become a stream entry (it is set aside, never retried). */
export class BadRecordError extends Error {
  override readonly name: string = 'BadRecordError';
}
