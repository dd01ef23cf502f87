// History as projections of the log: series buckets per step, per-instance hours and uptime, and the fold that makes them.
import { z } from 'zod';
import type { InstanceState } from './events.js';
import { foldEvent, type FoldableEvent, type ProjectionState } from './fold.js';

/** The steps a series is kept and served at. */
export const SERIES_STEPS = ['1m', '1h', '1d'] as const;
export type SeriesStep = (typeof SERIES_STEPS)[number];
export const STEP_MS: Record<SeriesStep, number> = { '1m': 60_000, '1h': 3_600_000, '1d': 86_400_000 };
/** Most points one series request may answer. */
export const MAX_SERIES_POINTS = 1500;
/** The windows an instance's uptime is given for. */
export const UPTIME_WINDOWS = { '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000 } as const;
export const HOUR_MS = STEP_MS['1h'];

/** What one bucket holds: counters summed over its events, gauges from the last tick in it. */
export interface Bucket {
  attempts: number;
  failures: number;
  /** Sum of the durations given, in whole microseconds (each duration rounded), so sums are exact. */
  duration_sum_us: number;
  duration_count: number;
  /** Largest duration given, µs; 0 when none. */
  duration_max_us: number;
  /** Instances not offline at the last tick in the bucket; null when no tick wrote it. */
  active_instances: number | null;
  known_instances: number | null;
}

export function emptyBucket(): Bucket {
  return {
    attempts: 0,
    failures: 0,
    duration_sum_us: 0,
    duration_count: 0,
    duration_max_us: 0,
    active_instances: null,
    known_instances: null,
  };
}

/** Adds the counters of `from` into `into` (gauges: `from`'s win when it has them). */
export function addBucket(into: Bucket, from: Bucket): Bucket {
  into.attempts += from.attempts;
  into.failures += from.failures;
  into.duration_sum_us += from.duration_sum_us;
  into.duration_count += from.duration_count;
  into.duration_max_us = Math.max(into.duration_max_us, from.duration_max_us);
  if (from.active_instances !== null) into.active_instances = from.active_instances;
  if (from.known_instances !== null) into.known_instances = from.known_instances;
  return into;
}

/** One point of `GET /api/v1/topics/:topic/series`. */
export interface SeriesPoint {
  /** Bucket start, ms since 1970. */
  t: number;
  attempts: number;
  successes: number;
  failures: number;
  /** Percent of the bucket's attempts that succeeded, two decimals; 0 when there were none. */
  success_rate: number;
  /** Mean duration (ms, three decimals) of the attempts that gave one; 0 when none did. */
  duration_avg: number;
  /** How many of the attempts gave a duration (what duration_avg averages): a client adding live attempts to the bucket needs it. */
  duration_count: number;
  duration_max: number;
  /** Instances not offline at the last tick in the bucket; null where no tick ran. */
  active_instances: number | null;
  known_instances: number | null;
}

export interface SeriesResponse {
  topic: string;
  step: SeriesStep;
  /** The first bucket's start (`from` rounded down to the step). */
  from: number;
  /** Exclusive end, as asked. */
  to: number;
  /** The topic's head when the buckets were read: they count exactly the events up to this seq (0: none). */
  seq: number;
  points: SeriesPoint[];
}

export function pointOf(t: number, bucket: Bucket): SeriesPoint {
  const successes = bucket.attempts - bucket.failures;
  return {
    t,
    attempts: bucket.attempts,
    successes,
    failures: bucket.failures,
    success_rate: bucket.attempts > 0 ? Math.floor((successes * 10000) / bucket.attempts + 0.5) / 100 : 0,
    duration_avg: bucket.duration_count > 0 ? Math.round(bucket.duration_sum_us / bucket.duration_count) / 1000 : 0,
    duration_count: bucket.duration_count,
    duration_max: bucket.duration_max_us / 1000,
    active_instances: bucket.active_instances,
    known_instances: bucket.known_instances,
  };
}

/** One hour of an instance. */
export interface InstanceHour {
  attempts: number;
  failures: number;
  /** Milliseconds of the hour the instance was offline (closed offline periods; the open one is added when read). */
  offline_ms: number;
}

export interface InstanceHourPoint extends InstanceHour {
  t: number;
}

/** `GET /api/v1/topics/:topic/instances/:instanceId`: the instance's state, uptime and hourly series. */
export interface InstanceHistory extends InstanceState {
  topic: string;
  /** When the instance was first seen (ms), or null when that predates the history. */
  first_seen: number | null;
  /** Since when it is offline (ms), or null when it is not. */
  offline_since: number | null;
  /** Percent of each window (since first seen) the instance was not offline, two decimals. */
  uptime: Record<keyof typeof UPTIME_WINDOWS, number>;
  series: { step: '1h'; from: number; to: number; points: InstanceHourPoint[] };
}

/** `GET /api/v1/topics/:topic/uptime?window=`: every instance's uptime over one window, for the fleet's table. */
export interface UptimeList {
  topic: string;
  window: keyof typeof UPTIME_WINDOWS;
  /** The window's end (ms): when it was computed. */
  at: number;
  /** Sorted by id; uptime in percent, two decimals, as in InstanceHistory. */
  instances: { id: string; uptime: number }[];
}

/** Query of `GET /api/v1/topics/:topic/uptime`. */
export const uptimeQuerySchema = z.strictObject({
  window: z
    .enum(Object.keys(UPTIME_WINDOWS) as [keyof typeof UPTIME_WINDOWS], {
      error: `window must be one of ${Object.keys(UPTIME_WINDOWS).join(', ')}`,
    })
    .default('24h'),
});

/** An instance's availability facts: what uptime is computed from. */
export interface Availability {
  first_seen: number | null;
  offline_since: number | null;
}

/**
 * Percent of [max(now - windowMs, first_seen), now) that the instance was not offline.
 * `offlineMsByHour` holds the closed offline ms of the hours that have any (by the hour's start;
 * other hours are ignored); the hour the window starts in counts pro rata. It visits only those
 * hours, not every hour of the window: a fleet's list computes this for each of 10,000 instances.
 */
export function uptimePercent(
  offlineMsByHour: ReadonlyMap<number, number>,
  availability: Availability,
  now: number,
  windowMs: number,
): number {
  const start = Math.max(now - windowMs, availability.first_seen ?? -Infinity);
  if (start >= now) return 100;
  const firstHour = start - (start % HOUR_MS);
  // Whole ms and the start hour's share apart: the sum does not depend on the map's order.
  let offline = 0;
  let share = 0;
  for (const [hour, ms] of offlineMsByHour) {
    if (ms === 0 || hour < firstHour || hour >= now) continue;
    if (hour < start) share = (ms * (Math.min(now, hour + HOUR_MS) - start)) / HOUR_MS;
    else offline += ms;
  }
  if (availability.offline_since !== null) offline += now - Math.max(start, availability.offline_since);
  const total = now - start;
  return Math.max(0, Math.min(100, Math.round((1 - (offline + share) / total) * 10000) / 100));
}

/** Calls `add(hourStart, ms)` for each hour that [from, to) overlaps. */
export function splitHours(from: number, to: number, add: (hourStart: number, ms: number) => void): void {
  for (let hour = from - (from % HOUR_MS); hour < to; hour += HOUR_MS)
    add(hour, Math.min(to, hour + HOUR_MS) - Math.max(from, hour));
}

/** The history a log folds into, as the append script keeps it (before retention expires it). */
export interface HistoryState {
  /** Key `${step}:${t}`. */
  buckets: Map<string, Bucket>;
  /** Key `${instanceId}:${hourStart}`. */
  hours: Map<string, InstanceHour>;
  availability: Map<string, Availability>;
}

export function emptyHistory(): HistoryState {
  return { buckets: new Map(), hours: new Map(), availability: new Map() };
}

function bucketAt(history: HistoryState, step: SeriesStep, ts: number): Bucket {
  const key = `${step}:${ts - (ts % STEP_MS[step])}`;
  let bucket = history.buckets.get(key);
  if (!bucket) history.buckets.set(key, (bucket = emptyBucket()));
  return bucket;
}

function hourOf(history: HistoryState, id: string, hourStart: number): InstanceHour {
  const key = `${id}:${hourStart}`;
  let hour = history.hours.get(key);
  if (!hour) history.hours.set(key, (hour = { attempts: 0, failures: 0, offline_ms: 0 }));
  return hour;
}

function closeOffline(history: HistoryState, id: string, at: number): void {
  const availability = history.availability.get(id);
  if (availability?.offline_since == null) return;
  splitHours(availability.offline_since, at, (hour, ms) => (hourOf(history, id, hour).offline_ms += ms));
  availability.offline_since = null;
}

/** Microseconds of a duration in ms, rounded as the append script rounds it. */
export function durationUs(durationMs: number): number {
  return Math.floor(durationMs * 1000 + 0.5);
}

/**
 * Folds one event into `state` (foldEvent) and into `history`, exactly as the append and tick
 * scripts do: attempts into the buckets of every step and the instance's hour, the tick's gauges
 * (at status_update) into every step, status changes to and from offline into offline ms.
 */
export function foldHistory(state: ProjectionState, history: HistoryState, event: FoldableEvent): void {
  const id = 'instanceId' in event.data ? event.data.instanceId : undefined;
  const before = typeof id === 'string' ? state.instances.get(id) : undefined;
  foldEvent(state, event);
  const { ts } = event;
  if (event.type === 'attempt.recorded') {
    const { data } = event;
    const failed = data.outcome === 'success' ? 0 : 1;
    for (const step of SERIES_STEPS) {
      const bucket = bucketAt(history, step, ts);
      bucket.attempts += 1;
      bucket.failures += failed;
      if (data.durationMs !== undefined) {
        const us = durationUs(data.durationMs);
        bucket.duration_sum_us += us;
        bucket.duration_count += 1;
        bucket.duration_max_us = Math.max(bucket.duration_max_us, us);
      }
    }
    const hour = hourOf(history, data.instanceId, ts - (ts % HOUR_MS));
    hour.attempts += 1;
    hour.failures += failed;
  } else if (event.type === 'status_update') {
    let active = 0;
    for (const inst of state.instances.values()) if (inst.status !== 'offline') active += 1;
    for (const step of SERIES_STEPS) {
      const bucket = bucketAt(history, step, ts);
      bucket.active_instances = active;
      bucket.known_instances = state.instances.size;
    }
  }
  if (typeof id !== 'string') return;
  const after = state.instances.get(id);
  if (!before && after) history.availability.set(id, { first_seen: ts, offline_since: null });
  const wasOffline = before?.status === 'offline';
  const isOffline = after?.status === 'offline';
  if (isOffline && !wasOffline) {
    const availability = history.availability.get(id);
    if (availability) availability.offline_since = ts;
    else history.availability.set(id, { first_seen: null, offline_since: ts });
  } else if (wasOffline && !isOffline) closeOffline(history, id, ts);
  if (before && !after) history.availability.delete(id);
}

const wholeMs = (name: string) =>
  z
    .string()
    .regex(/^\d+$/, `${name} must be a whole number of ms since 1970`)
    .transform(Number)
    .pipe(z.number().max(99_999_999_999_999, `${name} must be below 1e14 ms`));

/** Query of `GET /api/v1/topics/:topic/series` (strings, as a query string carries them). */
export const seriesQuerySchema = z.strictObject({
  step: z.enum(SERIES_STEPS, { error: `step must be one of ${SERIES_STEPS.join(', ')}` }).default('1m'),
  from: wholeMs('from').optional(),
  to: wholeMs('to').optional(),
});
export type SeriesQuery = z.infer<typeof seriesQuerySchema>;

/** Query of `GET /api/v1/topics/:topic/instances/:instanceId`. */
export const instanceQuerySchema = z.strictObject({ from: wholeMs('from').optional(), to: wholeMs('to').optional() });

/**
 * The bucket starts of a range: from `from` rounded down to the step, while < `to`. Throws a message
 * meant for the caller when the range is reversed or has more than MAX_SERIES_POINTS buckets.
 */
export function seriesRange(
  step: SeriesStep,
  from: number,
  to: number,
): { from: number; to: number; starts: number[] } {
  if (from > to) throw new RangeError(`from (${from}) is after to (${to})`);
  const ms = STEP_MS[step];
  const first = from - (from % ms);
  const count = Math.ceil((to - first) / ms);
  if (count > MAX_SERIES_POINTS) {
    throw new RangeError(
      `the range holds ${count} buckets of ${step}; at most ${MAX_SERIES_POINTS} per request (narrow from/to or take a coarser step)`,
    );
  }
  return { from: first, to, starts: Array.from({ length: count }, (_, i) => first + i * ms) };
}
