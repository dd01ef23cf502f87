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

  it('holds a window from each occurrence, the occurrence itself included and its end excluded', () => {
    const silence: Silence = { ...base, cron: '0 0 * * *', durationMs: 60_000 };
    const midnight = Date.UTC(2026, 0, 2);
    expect([-1, 0, 59_999, 60_000].map((ms) => silenceActiveAt(silence, midnight + ms))).toEqual([
      false,
      true,
      true,
      false,
    ]);
  });

  it('answers in a bounded time around clock changes of half an hour, and for crons that seldom occur', () => {
    // Searched back from `at`, each of these took seconds of CPU and threw for a day around the change.
    const chatham: Silence = { ...base, cron: '0 0 * * *', durationMs: 3_600_000, timeZone: 'Pacific/Chatham' };
    const lordHowe: Silence = { ...base, cron: '0 2 * * *', durationMs: 3_600_000, timeZone: 'Australia/Lord_Howe' };
    const rare: Silence = { ...base, cron: '0 0 * 2 5#5', durationMs: 7 * 86_400_000 };
    const started = process.hrtime.bigint();
    const activeAt = (silence: Silence, from: number) => {
      const times: string[] = [];
      for (let at = from; at < from + 86_400_000; at += 10 * 60_000)
        if (silenceActiveAt(silence, at)) times.push(new Date(at).toISOString().slice(11, 16));
      return times;
    };
    // Chatham's midnight is 11:15 UTC at +12:45, then 10:15 UTC at +13:45 (clocks forward on 27 September).
    expect(activeAt(chatham, Date.UTC(2026, 8, 26, 12))).toEqual([
      '12:00',
      '12:10',
      ...'20 30 40 50'.split(' ').map((m) => `10:${m}`),
      '11:00',
      '11:10',
    ]);
    // Lord Howe has no 02:00 on 4 October (02:00 → 02:30): the window opens at 02:30 (16:00 UTC).
    expect(activeAt(lordHowe, Date.UTC(2026, 9, 3, 12))[0]).toBe('16:00');
    // February 2026 has no fifth Friday.
    expect(activeAt(rare, Date.UTC(2026, 0, 1))).toEqual([]);
    // Not a timing assertion: a bound 1,000 times what the 432 calls take, that only searches of years pass.
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(60_000);
  });

  it('draws a hashed field (H) from the silence, the same at every call', () => {
    const silence: Silence = { ...base, id: 'nightly', cron: 'H H * * *', durationMs: 3_600_000 };
    const day = Date.UTC(2026, 0, 5);
    const answers = Array.from({ length: 24 * 6 }, (_, i) => silenceActiveAt(silence, day + i * 10 * 60_000));
    expect(answers.filter(Boolean)).toHaveLength(6);
    expect(Array.from({ length: 24 * 6 }, (_, i) => silenceActiveAt(silence, day + i * 10 * 60_000))).toEqual(answers);
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
