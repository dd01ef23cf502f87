// The history ranges the page offers (live 10 min … 30 d), and the series query each one makes: step, from, to.

import type { SeriesStep } from '#pulse/contracts';

/** Bucket sizes the series endpoint serves (as libs/contracts STEP_MS: importing its value would bundle zod). */
export const STEP_MS: Record<SeriesStep, number> = { '1m': 60_000, '1h': 3_600_000, '1d': 86_400_000 };

export type RangeKey = 'live' | '1h' | '24h' | '7d' | '30d';

export interface RangeSpec {
  /** What the selector shows. */
  label: string;
  /** How far back the charts reach. */
  spanMs: number;
  /** Bucket size: the finest whose retention (1m: 48 h, 1h: 90 d) covers the span within 1,500 points. */
  step: SeriesStep;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const RANGES: Record<RangeKey, RangeSpec> = {
  live: { label: 'live 10 min', spanMs: 10 * MINUTE, step: '1m' },
  '1h': { label: '1 h', spanMs: HOUR, step: '1m' },
  '24h': { label: '24 h', spanMs: DAY, step: '1m' },
  '7d': { label: '7 d', spanMs: 7 * DAY, step: '1h' },
  '30d': { label: '30 d', spanMs: 30 * DAY, step: '1h' },
};

export const RANGE_KEYS = Object.keys(RANGES) as RangeKey[];

export function isRangeKey(value: string | null | undefined): value is RangeKey {
  return value !== null && value !== undefined && Object.hasOwn(RANGES, value);
}

export interface SeriesQuery {
  step: SeriesStep;
  stepMs: number;
  /** Start of the first bucket shown (a bucket boundary). */
  from: number;
  /** `now`: the current bucket is the last one. */
  to: number;
  /** Buckets shown, the current one included. */
  count: number;
}

/** The bucket that holds `ts`: its start. Buckets are aligned to the epoch (UTC), as the server aligns them. */
export function bucketStart(ts: number, stepMs: number): number {
  return Math.floor(ts / stepMs) * stepMs;
}

/** The query for `range` at `now`: span / step buckets, the current (partial) one last. */
export function seriesQuery(range: RangeKey, now: number): SeriesQuery {
  const { spanMs, step } = RANGES[range];
  const stepMs = STEP_MS[step];
  const count = Math.ceil(spanMs / stepMs);
  return { step, stepMs, from: bucketStart(now, stepMs) - (count - 1) * stepMs, to: now, count };
}
