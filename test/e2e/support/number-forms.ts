/**
 * A phone number in every form the e2e checks look for, in text or bytes: its last 10 digits as
 * written (E.164, 00-, 0- and national forms alike), the same with separators between the digits
 * ("+91 98123 41234", "98123-41234"), and BCD (ISUP, TBCD) at either digit alignment and nibble order.
 */

/** The digits `e164` ends with, 10 of them (every form of an Indian number holds these). */
function lastTen(e164: string): string {
  const digits = e164.replace(/\D/g, '');
  if (digits.length < 10) throw new Error(`number forms need at least 10 digits, got ${e164}`);
  return digits.slice(-10);
}

/** Pairs of digits from `from`, as BCD bytes: swapped = low nibble first (ISUP, TBCD). */
function bcd(digits: string, from: number, swapped: boolean): Buffer {
  const bytes: number[] = [];
  for (let i = from; i + 1 < digits.length; i += 2) {
    const first = Number(digits[i]);
    const second = Number(digits[i + 1]);
    bytes.push(swapped ? (second << 4) | first : (first << 4) | second);
  }
  return Buffer.from(bytes);
}

/** The number's digits encoded as BCD, in the layout an ISUP number parameter uses (low nibble first). */
export function isupBcd(e164: string): Buffer {
  const digits = e164.replace(/\D/g, '');
  const padded = digits.length % 2 ? `${digits}0` : digits;
  return bcd(padded, 0, true);
}

/** Byte sequences that betray the number: BCD of its last 10 digits at both alignments, both nibble orders. */
function bcdNeedles(e164: string): Buffer[] {
  const d = lastTen(e164);
  return [bcd(d, 0, true), bcd(d, 0, false), bcd(d, 1, true), bcd(d, 1, false)];
}

/** Digits with separators a person or a carrier might put between them. */
const SEPARATED = (d: string) => new RegExp(d.split('').join('[\\s.\\-()/]*'));

/**
 * Where `data` holds the number, as a short description ("text", "separated text", "BCD ..."),
 * or null. Text forms are looked for in the bytes read as Latin-1, so binary data is covered too.
 */
export function findNumber(data: Buffer | string, e164: string): string | null {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  const text = bytes.toString('latin1');
  const d = lastTen(e164);
  if (text.includes(d)) return `text ${d}`;
  const sep = SEPARATED(d).exec(text);
  if (sep) return `separated text ${JSON.stringify(sep[0])}`;
  for (const needle of bcdNeedles(e164)) {
    if (bytes.includes(needle)) return `BCD ${needle.toString('hex')}`;
  }
  return null;
}
