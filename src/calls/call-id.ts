/**
 * What a call is known by outside SIP: a keyed hash of its Call-ID. Carriers put numbers in
 * Call-IDs, and a plain hash of a number-bearing Call-ID can be brute-forced (a country's
 * numbers are a few billion guesses), so CDRs, recording file names and log lines carry
 * HMAC-SHA256(calls.callIdKey, Call-ID), hex, 128 bits. The same key gives the same id in every
 * process, so logs and CDRs of one call can be matched; `maskbridge call-id` computes it for a
 * Call-ID seen in a SIP trace.
 */
import { createHmac, randomBytes } from 'node:crypto';

export type CallIdHasher = (callId: string) => string;

export function callIdHasher(key: string | Buffer): CallIdHasher {
  return (callId) => createHmac('sha256', key).update(callId).digest('hex').slice(0, 32);
}

/** The configured key, or a random one for this process (logged at start: ids then do not match across restarts). */
export function callIdKeyOrRandom(configured: string): { key: string | Buffer; random: boolean } {
  return configured ? { key: configured, random: false } : { key: randomBytes(32), random: true };
}
