// When silences are in force: one-off windows, recurring ones across midnight in a time zone, and matchers.
import { describe, expect, it } from '@jest/globals';
import type { Silence } from './alerts.js';
import { cronProblem, silenceActiveAt, silencedBy, silenceMatches } from './silences.js';

const base = { id: 's', createdAt: 0, comment: 'x', matchers: {} } as const;

describe('silences', () => {
  it('holds a one-off silence within [startsAt, endsAt) only', () => {
    const silence: Silence = { ...base, startsAt: 1000, endsAt: 2000 };
    expect([999, 1000, 1999, 2000].map((at) => silenceActiveAt(silence, at))).toEqual([false, true, true, false]);
  });

  it('holds a nightly window across midnight in its time zone (23:00-01:00 Paris, UTC+1 in January)', () => {
    const silence: Silence = { ...base, cron: '0 23 * * *', durationMs: 2 * 3_600_000, timeZone: 'Europe/Paris' };
    const utc = (day: number, hour: number, minute = 0) => Date.UTC(2026, 0, day, hour, minute);
    expect(silenceActiveAt(silence, utc(1, 21, 59))).toBe(false); // 22:59 Paris
    expect(silenceActiveAt(silence, utc(1, 22, 0))).toBe(true); // 23:00 Paris
    expect(silenceActiveAt(silence, utc(1, 23, 30))).toBe(true); // 00:30 Paris, the next day
    expect(silenceActiveAt(silence, utc(1, 23, 59))).toBe(true);
    expect(silenceActiveAt(silence, utc(2, 0, 0))).toBe(false); // 01:00 Paris: over
    expect(silenceActiveAt({ ...silence, startsAt: utc(2, 12) }, utc(1, 23))).toBe(false); // not yet started
  });

  it('matches on every matcher it gives', () => {
    const alert = { topic: 't', ruleId: 'r', instanceId: 'i' };
    expect(silenceMatches({ ...base, matchers: {} }, alert)).toBe(true);
    expect(silenceMatches({ ...base, matchers: { topic: 't', instanceId: 'i' } }, alert)).toBe(true);
    expect(silenceMatches({ ...base, matchers: { topic: 't', instanceId: 'j' } }, alert)).toBe(false);
    expect(silenceMatches({ ...base, matchers: { ruleId: 'r' } }, { topic: 't', ruleId: 'q' })).toBe(false);
    expect(
      silencedBy(
        [
          { ...base, matchers: { topic: 'u' }, endsAt: 10 },
          { ...base, id: 'hit', matchers: { ruleId: 'r' }, endsAt: 10 },
        ],
        alert,
        5,
      )?.id,
    ).toBe('hit');
  });

  it('names what is wrong with a cron or a time zone', () => {
    expect(cronProblem('0 23 * * *', 'Europe/Paris')).toBeNull();
    expect(cronProblem('0 23 * *')?.path).toBe('cron');
    expect(cronProblem('61 * * * *')?.path).toBe('cron');
    expect(cronProblem('0 23 * * *', 'Mars/Olympus')?.path).toBe('timeZone');
  });
});
