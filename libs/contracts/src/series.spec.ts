// uptimePercent: the sparse sum over the hours that have offline time equals the hour-by-hour walk of the window.
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { HOUR_MS, uptimePercent, type Availability } from './series.js';

/** The definition, hour by hour over the window: the start hour pro rata, the open period up to now. */
function byEveryHour(hours: ReadonlyMap<number, number>, availability: Availability, now: number, windowMs: number) {
  const start = Math.max(now - windowMs, availability.first_seen ?? -Infinity);
  if (start >= now) return 100;
  let offline = 0;
  let share = 0;
  for (let hour = start - (start % HOUR_MS); hour < now; hour += HOUR_MS) {
    const ms = hours.get(hour) ?? 0;
    if (hour < start) share = (ms * (Math.min(now, hour + HOUR_MS) - start)) / HOUR_MS;
    else offline += ms;
  }
  if (availability.offline_since !== null) offline += now - Math.max(start, availability.offline_since);
  return Math.max(0, Math.min(100, Math.round((1 - (offline + share) / (now - start)) * 10000) / 100));
}

describe('uptimePercent', () => {
  it('visits only the hours with offline time, and agrees with the walk over every hour of the window', () => {
    const now = Date.UTC(2026, 11, 7, 12, 34, 56, 789);
    const window = fc.constantFrom(HOUR_MS, 24 * HOUR_MS, 7 * 24 * HOUR_MS);
    // Hours around the window and beyond it on both sides, with their closed offline ms.
    const hours = fc.array(fc.tuple(fc.integer({ min: -200, max: 2 }), fc.integer({ min: 0, max: HOUR_MS })), {
      maxLength: 40,
    });
    const moment = fc.option(fc.integer({ min: now - 200 * HOUR_MS, max: now + HOUR_MS }), { nil: null });
    fc.assert(
      fc.property(hours, window, moment, moment, (pairs, windowMs, first_seen, offline_since) => {
        const map = new Map(pairs.map(([h, ms]) => [now - (now % HOUR_MS) + h * HOUR_MS, ms]));
        const availability = { first_seen, offline_since };
        const percent = uptimePercent(map, availability, now, windowMs);
        expect(percent).toBe(byEveryHour(map, availability, now, windowMs));
        expect(percent).toBeGreaterThanOrEqual(0);
        expect(percent).toBeLessThanOrEqual(100);
      }),
      { numRuns: 2000 },
    );
  });

  it('counts the hour the window starts in pro rata, and an open offline period up to now', () => {
    const now = Date.UTC(2026, 0, 2, 0, 30);
    // The window starts at 00:30 the day before: its first hour holds 20 min offline, half of them inside it.
    const hours = new Map([[Date.UTC(2026, 0, 1, 0), 20 * 60_000]]);
    expect(uptimePercent(hours, { first_seen: null, offline_since: null }, now, 24 * HOUR_MS)).toBe(
      Math.round((1 - (10 * 60_000) / (24 * HOUR_MS)) * 10000) / 100,
    );
    // Offline for the last 6 hours: a quarter of the window.
    expect(uptimePercent(new Map(), { first_seen: null, offline_since: now - 6 * HOUR_MS }, now, 24 * HOUR_MS)).toBe(
      75,
    );
    // Seen first an hour ago: the window is that hour.
    expect(
      uptimePercent(new Map(), { first_seen: now - HOUR_MS, offline_since: now - HOUR_MS / 2 }, now, 24 * HOUR_MS),
    ).toBe(50);
  });
});
