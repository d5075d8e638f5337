import { parsePhoneNumberWithError, ParseError, type CountryCode } from 'libphonenumber-js';

export class NumberFormatError extends Error {
  override readonly name = 'NumberFormatError';
  constructor(readonly input: string, readonly problem: string) {
    super(`not a phone number (${problem})`);
  }
}

/** Characters a dialled number may carry besides digits; anything else is refused. */
const DIALLABLE = /^[+\d\s().-]+$/;

/**
 * Normalises a number as it appears in a SIP user part (or a tel: URI) to E.164.
 * Accepts "+E.164", "00"-international, national formats of the default region and
 * visual separators. Throws NumberFormatError for anything that is not a valid number.
 */
export function toE164(raw: string, defaultRegion: string): string {
  const key = `${defaultRegion}:${raw}`;
  const known = memo.get(key);
  if (typeof known === 'string') return known;
  if (known) throw new NumberFormatError(raw, known.problem);
  try {
    const e164 = parseE164(raw, defaultRegion);
    remember(key, e164);
    return e164;
  } catch (err) {
    if (err instanceof NumberFormatError) remember(key, { problem: err.problem });
    throw err;
  }
}

/**
 * Results of toE164 by region and input, at most MEMO_LIMIT, oldest dropped first. Parsing with
 * libphonenumber-js costs tens of µs and sits on every INVITE's path; the same virtual numbers
 * and callers come back all day.
 */
const MEMO_LIMIT = 20_000;
const memo = new Map<string, string | { problem: string }>();

function remember(key: string, value: string | { problem: string }): void {
  if (memo.size >= MEMO_LIMIT) memo.delete(memo.keys().next().value as string);
  memo.set(key, value);
}

function parseE164(raw: string, defaultRegion: string): string {
  const input = decodeUser(raw).trim();
  if (input.length === 0) throw new NumberFormatError(raw, 'empty');
  if (input.length > 32 || !DIALLABLE.test(input)) throw new NumberFormatError(raw, 'unexpected characters');
  const text = input.startsWith('00') ? `+${input.slice(2)}` : input;
  try {
    const parsed = parsePhoneNumberWithError(text, { defaultCountry: defaultRegion as CountryCode, extract: false });
    // isPossible (length rules per region) rather than isValid: range metadata lags new allocations,
    // and a number only has to match a session the backend wrote.
    if (!parsed.isPossible()) throw new NumberFormatError(raw, 'wrong length for its region');
    return parsed.number;
  } catch (err) {
    if (err instanceof NumberFormatError) throw err;
    if (err instanceof ParseError) throw new NumberFormatError(raw, err.message.toLowerCase().replace(/_/g, ' '));
    throw err;
  }
}

/** True when the string is already in canonical E.164 form and valid. */
export function isE164(value: string): boolean {
  if (!/^\+[1-9]\d{6,14}$/.test(value)) return false;
  try {
    return toE164(value, 'US') === value;
  } catch {
    return false;
  }
}

function decodeUser(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}
