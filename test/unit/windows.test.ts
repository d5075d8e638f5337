import { describe, expect, it } from 'vitest';
import { checkTimeZone, parseWindows, withinWindows, WindowsError } from '../../src/sessions/windows.js';

const weekdays = parseWindows('mon-fri 08:00-20:00; sat 09:00-13:00');

describe('call windows', () => {
  it('follows the session\'s time zone: the same instant is inside in Kolkata and outside in New York', () => {
    const at = new Date('2026-12-02T06:00:00Z'); // Wed 11:30 in Kolkata, Wed 01:00 in New York
    expect(withinWindows(weekdays, 'Asia/Kolkata', at)).toBe(true);
    expect(withinWindows(weekdays, 'America/New_York', at)).toBe(false);
  });

  it('honours the days, the end being exclusive, and Saturday\'s shorter hours', () => {
    expect(withinWindows(weekdays, 'UTC', new Date('2026-12-05T12:59:00Z'))).toBe(true); // Sat
    expect(withinWindows(weekdays, 'UTC', new Date('2026-12-05T13:00:00Z'))).toBe(false);
    expect(withinWindows(weekdays, 'UTC', new Date('2026-12-06T12:00:00Z'))).toBe(false); // Sun
    expect(withinWindows(weekdays, 'UTC', new Date('2026-12-07T08:00:00Z'))).toBe(true); // Mon 08:00
  });

  it('runs a window past midnight into the next day, and wraps day ranges over the week', () => {
    const night = parseWindows('fri-mon 22:00-06:00');
    expect(withinWindows(night, 'UTC', new Date('2026-12-08T05:59:00Z'))).toBe(true); // Tue 05:59, from Mon night
    expect(withinWindows(night, 'UTC', new Date('2026-12-09T05:00:00Z'))).toBe(false); // Wed 05:00: Tue not listed
    expect(withinWindows(night, 'UTC', new Date('2026-12-06T23:00:00Z'))).toBe(true); // Sun
  });

  it('keeps to daylight saving: 09:00 in New York is 14:00 UTC in winter and 13:00 in summer', () => {
    const morning = parseWindows('mon-sun 09:00-10:00');
    expect(withinWindows(morning, 'America/New_York', new Date('2026-12-02T14:30:00Z'))).toBe(true);
    expect(withinWindows(morning, 'America/New_York', new Date('2026-07-01T13:30:00Z'))).toBe(true);
    expect(withinWindows(morning, 'America/New_York', new Date('2026-07-01T14:30:00Z'))).toBe(false);
  });

  it.each([
    ['weekdays 08:00-20:00', /not a day/],
    ['mon 8:00-20:00', /not "days HH:MM-HH:MM"/],
    ['mon 08:00-25:00', /not a time/],
    ['mon 08:00-08:00', /empty window/],
    ['', /no window/],
  ])('refuses %j, saying why', (text, why) => {
    expect(() => parseWindows(text)).toThrow(why);
  });

  it('refuses a time zone that is not an IANA name', () => {
    expect(() => checkTimeZone('Mars/Olympus')).toThrow(WindowsError);
    expect(() => checkTimeZone('Europe/Paris')).not.toThrow();
  });
});
