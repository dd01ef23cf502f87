// When a silence is in force and what it matches: one-off windows, and recurring ones from a cron in a time zone (cron-parser).
// Imported as `#pulse/contracts/silences`, not from the index: the dashboard's bundle needs no cron parser.
import { CronExpressionParser } from 'cron-parser';
import type { Silence } from './alerts.js';

/** Why a cron expression or time zone cannot be used, or null when it can. */
export function cronProblem(cron: string, timeZone = 'UTC'): { path: 'cron' | 'timeZone'; message: string } | null {
  try {
    new Intl.DateTimeFormat('en', { timeZone });
  } catch {
    return { path: 'timeZone', message: `expected an IANA time zone such as Europe/Paris, got "${timeZone}"` };
  }
  if (cron.trim().split(/\s+/).length !== 5)
    return { path: 'cron', message: 'expected 5 fields: minute hour day-of-month month day-of-week' };
  try {
    CronExpressionParser.parse(cron, { tz: timeZone, strict: false }).next();
    return null;
  } catch (error) {
    return { path: 'cron', message: `does not parse: ${(error as Error).message}` };
  }
}

/**
 * True when the silence is in force at `at` (ms): within [startsAt, endsAt), or within durationMs of
 * an occurrence of its cron, that is when one falls in (at - durationMs, at]. That is searched
 * forward within that span only: searched back (`prev()`), a zone that moves its clocks by half an
 * hour (Pacific/Chatham, Australia/Lord_Howe) cost seconds of CPU per call for a day around the
 * change and then threw, and a cron that seldom occurs (`0 0 * 2 5#5`) scanned back for years. A
 * cron that cannot be evaluated silences nothing: a notification too many, never one held back.
 */
export function silenceActiveAt(silence: Silence, at: number): boolean {
  if (at < (silence.startsAt ?? 0)) return false;
  if (silence.cron === undefined) return at < (silence.endsAt ?? 0);
  const duration = silence.durationMs ?? 0;
  if (duration <= 0) return false;
  try {
    const occurrences = CronExpressionParser.parse(silence.cron, {
      currentDate: new Date(at - duration),
      endDate: new Date(at + 1),
      tz: silence.timeZone ?? 'UTC',
      // `H` (a hashed value) is drawn from this seed: the same minute for this silence at every call.
      hashSeed: silence.id,
    });
    return occurrences.next().getTime() <= at;
  } catch {
    // None in the span ("Out of the time span range"), or none the parser could find.
    return false;
  }
}

/** True when every matcher the silence gives equals the alert's. */
export function silenceMatches(
  silence: Silence,
  alert: { topic: string; ruleId: string; instanceId?: string },
): boolean {
  const { topic, ruleId, instanceId } = silence.matchers;
  return (
    (topic === undefined || topic === alert.topic) &&
    (ruleId === undefined || ruleId === alert.ruleId) &&
    (instanceId === undefined || instanceId === alert.instanceId)
  );
}

/** The silence (in force at `at`) that suppresses a notification about this alert, if any. */
export function silencedBy(
  silences: Silence[],
  alert: { topic: string; ruleId: string; instanceId?: string },
  at: number,
): Silence | undefined {
  return silences.find((silence) => silenceMatches(silence, alert) && silenceActiveAt(silence, at));
}
