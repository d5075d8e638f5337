/**
 * Time-of-day windows of a session (contract v2 fields `windows` and `tz`): when calls may
 * connect, in the session's IANA time zone. Written as day sets and times, `;`-separated:
 *
 *   mon-fri 08:00-20:00; sat 09:00-13:00; sun 22:00-06:00
 *
 * Days: mon tue wed thu fri sat sun, as ranges (mon-fri, fri-mon wraps) or lists (mon,wed).
 * `from` is inclusive, `to` exclusive; `to` before `from` runs past midnight into the next day
 * (its start day is the one named). Pure; the time zone rules come from Node's ICU data.
 */
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

export interface CallWindow {
  days: ReadonlySet<number>;
  fromMin: number;
  toMin: number;
}

export class WindowsError extends Error {
  override readonly name = 'WindowsError';
}

function day(token: string): number {
  const i = DAYS.indexOf(token as (typeof DAYS)[number]);
  if (i < 0) throw new WindowsError(`"${token}" is not a day (mon tue wed thu fri sat sun)`);
  return i;
}

function minutes(hhmm: string): number {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(hhmm) ?? (hhmm === '24:00' ? ['24:00', '24', '00'] : null);
  if (!m) throw new WindowsError(`"${hhmm}" is not a time (HH:MM)`);
  return Number(m[1]) * 60 + Number(m[2]);
}

export function parseWindows(text: string): CallWindow[] {
  if (text.length > 200) throw new WindowsError('at most 200 characters');
  const out: CallWindow[] = [];
  for (const part of text.split(';').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([a-z,-]+)\s+(\d\d:\d\d)-(\d\d:\d\d)$/.exec(part.toLowerCase());
    if (!m) throw new WindowsError(`"${part}" is not "days HH:MM-HH:MM"`);
    const days = new Set<number>();
    for (const item of (m[1] as string).split(',')) {
      const [first, last] = item.split('-');
      if (last === undefined) {
        days.add(day(first as string));
        continue;
      }
      for (let d = day(first as string), end = day(last), n = 0; n < 7; d = (d + 1) % 7, n++) {
        days.add(d);
        if (d === end) break;
      }
    }
    const fromMin = minutes(m[2] as string);
    const toMin = minutes(m[3] as string);
    if (fromMin === toMin) throw new WindowsError(`"${part}" is an empty window`);
    out.push({ days, fromMin, toMin });
  }
  if (out.length === 0) throw new WindowsError('no window given');
  return out;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Throws WindowsError unless `tz` is an IANA time zone name Node knows. */
export function checkTimeZone(tz: string): void {
  localTime(tz, new Date(0));
}

function localTime(tz: string, at: Date): { day: number; min: number } {
  let f = formatters.get(tz);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-US', { timeZone: tz, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    } catch {
      throw new WindowsError(`"${tz}" is not an IANA time zone`);
    }
    if (formatters.size > 1000) formatters.clear();
    formatters.set(tz, f);
  }
  const parts = Object.fromEntries(f.formatToParts(at).map((p) => [p.type, p.value]));
  return { day: day(String(parts.weekday).toLowerCase()), min: Number(parts.hour) * 60 + Number(parts.minute) };
}

/** Whether `at` falls in one of the windows, in time zone `tz`. */
export function withinWindows(windows: readonly CallWindow[], tz: string, at: Date): boolean {
  const { day: d, min } = localTime(tz, at);
  const yesterday = (d + 6) % 7;
  return windows.some((w) => (w.fromMin < w.toMin
    ? w.days.has(d) && min >= w.fromMin && min < w.toMin
    : (w.days.has(d) && min >= w.fromMin) || (w.days.has(yesterday) && min < w.toMin)));
}
