// The pause before a failed read (series, rules, silences, recent events) is tried again: 2 s, doubled after each failure, at most a minute.

const RETRY_FIRST_MS = 2_000;
const RETRY_MAX_MS = 60_000;

/** The pause after a failure that followed a pause of `previousMs` (0: the first failure). */
export function nextRetryMs(previousMs: number): number {
  return Math.min(RETRY_MAX_MS, Math.max(RETRY_FIRST_MS, previousMs * 2));
}
