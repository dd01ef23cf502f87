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

/** True when the silence is in force at `at` (ms): within [startsAt, endsAt), or within durationMs of the cron's last occurrence. */
export function silenceActiveAt(silence: Silence, at: number): boolean {
  if (at < (silence.startsAt ?? 0)) return false;
  if (silence.cron === undefined) return at < (silence.endsAt ?? 0);
  const occurrences = CronExpressionParser.parse(silence.cron, {
    currentDate: new Date(at + 1),
    tz: silence.timeZone ?? 'UTC',
  });
  return at - occurrences.prev().getTime() < (silence.durationMs ?? 0);
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
