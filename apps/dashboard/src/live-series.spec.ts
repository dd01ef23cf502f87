// The history charts' data: each range's query, and live events added to the server's buckets exactly once.
import { describe, expect, it } from '@jest/globals';
import type { PulseEvent } from '#pulse/contracts';
import type { SeriesPage, SeriesPagePoint } from './gateway-api.js';
import { HELD_MAX, LiveSeries, type ChartPoint } from './live-series.js';
import { RANGE_KEYS, RANGES, seriesQuery, STEP_MS } from './series-range.js';

const MIN = 60_000;
/** 2026-12-07 10:00:00 UTC: a minute, hour and day boundary is near. */
const T0 = Date.UTC(2026, 11, 7, 10, 0, 0);

describe('seriesQuery', () => {
  it('asks for whole buckets ending with the current one, within the server limit of 1,500 points', () => {
    const now = T0 + 37_500;
    expect(seriesQuery('live', now)).toEqual({ step: '1m', stepMs: MIN, from: T0 - 9 * MIN, to: now, count: 10 });
    expect(seriesQuery('7d', now)).toEqual({
      step: '1h',
      stepMs: 3_600_000,
      from: T0 - 167 * 3_600_000,
      to: now,
      count: 168,
    });
    for (const range of RANGE_KEYS) {
      const query = seriesQuery(range, now);
      expect(query.from % query.stepMs).toBe(0);
      expect((query.to - query.from) / query.stepMs).toBeLessThanOrEqual(1500);
      expect(query.to - query.from).toBeGreaterThanOrEqual(RANGES[range].spanMs - query.stepMs);
    }
  });
});

let seq = 0;
const attempt = (ts: number, outcome: 'success' | 'failure', durationMs?: number): PulseEvent => ({
  topic: 't',
  seq: ++seq,
  epoch: 'e',
  type: 'attempt.recorded',
  ts,
  data: { instanceId: 'i-1', outcome, ...(durationMs === undefined ? {} : { durationMs }) },
});
const tick = (ts: number, active: number): PulseEvent => ({
  topic: 't',
  seq: ++seq,
  epoch: 'e',
  type: 'status_update',
  ts,
  data: { monitoring_active: true, loop_count: seq, active_instances: active, tick_at: ts, next_tick_at: ts + 5000 },
});

/** An empty bucket as the server answers it: zeros, and null for the gauges. */
const zero = (t: number): SeriesPagePoint => ({
  t,
  attempts: 0,
  successes: 0,
  failures: 0,
  success_rate: 0,
  duration_avg: 0,
  duration_max: 0,
  active_instances: null,
  known_instances: null,
});

/** What the server answers for `events` (all of them counted) over `count` 1-minute buckets ending with the bucket of `now`. */
function serverPage(
  events: PulseEvent[],
  now: number,
  count: number,
  options: { seq: boolean; durationCount: boolean },
): SeriesPage {
  const last = now - (now % MIN);
  const points: SeriesPagePoint[] = [];
  for (let t = last - (count - 1) * MIN; t <= last; t += MIN) {
    const point = zero(t);
    let durationSum = 0;
    let durationCount = 0;
    for (const event of events.filter((e) => e.ts - (e.ts % MIN) === t)) {
      if (event.type === 'status_update') point.active_instances = event.data.active_instances;
      if (event.type !== 'attempt.recorded') continue;
      const { data } = event;
      point.attempts += 1;
      if (data.outcome === 'success') point.successes += 1;
      else point.failures += 1;
      if (data.durationMs !== undefined) {
        durationSum += data.durationMs;
        durationCount += 1;
        point.duration_max = Math.max(point.duration_max, data.durationMs);
      }
    }
    if (point.attempts > 0) point.success_rate = Math.round((point.successes * 10_000) / point.attempts) / 100;
    if (durationCount > 0) point.duration_avg = durationSum / durationCount;
    if (options.durationCount) point.duration_count = durationCount;
    points.push(point);
  }
  return {
    topic: 't',
    step: '1m',
    from: points[0]!.t,
    to: now,
    points,
    ...(options.seq ? { seq: events.at(-1)?.seq ?? 0 } : {}),
  };
}

/** The fold of every event, as charted: a LiveSeries that saw all of them live. */
function chartOf(events: PulseEvent[], now: number, count: number): ChartPoint[] {
  const live = new LiveSeries(MIN, count);
  live.load({ topic: 't', step: '1m', from: 0, to: 0, points: [], seq: 0 }, 0);
  for (const event of events) live.add(event);
  return live.points(now);
}

describe('LiveSeries', () => {
  it('sums attempts, durations and the latest gauge per bucket', () => {
    const live = new LiveSeries(MIN, 3);
    live.load(
      {
        topic: 't',
        step: '1m',
        from: T0 - 2 * MIN,
        to: T0,
        points: [zero(T0 - 2 * MIN), zero(T0 - MIN), zero(T0)],
        seq: 0,
      },
      T0,
    );
    live.add(attempt(T0 + 1000, 'success', 100));
    live.add(attempt(T0 + 2000, 'failure', 300));
    live.add(attempt(T0 + 3000, 'success'));
    live.add(tick(T0 + 4000, 3));
    live.add(tick(T0 + 5000, 2));
    expect(live.points(T0 + 6000).at(-1)).toEqual({
      t: T0,
      attempts: 3,
      successes: 2,
      failures: 1,
      success_rate: 66.67,
      duration_avg: 200,
      duration_max: 300,
      active_instances: 2,
    });
  });

  it('adds to the bucket the server already counted (its sums, weighted by duration_count), not over it', () => {
    const live = new LiveSeries(MIN, 1);
    const point: SeriesPagePoint = {
      t: T0,
      attempts: 4,
      successes: 3,
      failures: 1,
      success_rate: 75,
      duration_avg: 100,
      duration_max: 150,
      active_instances: 5,
      known_instances: 6,
      duration_count: 2,
    };
    live.load({ topic: 't', step: '1m', from: T0, to: T0 + 10_000, points: [point], seq: 10 }, T0 + 10_000);
    seq = 10;
    live.add(attempt(T0 + 20_000, 'success', 400));
    expect(live.points(T0 + 30_000)).toEqual([
      {
        t: T0,
        attempts: 5,
        successes: 4,
        failures: 1,
        success_rate: 80,
        duration_avg: 200,
        duration_max: 400,
        active_instances: 5,
      },
    ]);
  });

  it('slides the window: new buckets start at zero, old ones drop out', () => {
    const live = new LiveSeries(MIN, 2);
    live.load(
      {
        topic: 't',
        step: '1m',
        from: T0 - MIN,
        to: T0,
        points: [{ ...zero(T0 - MIN), attempts: 7, successes: 7 }, zero(T0)],
      },
      T0,
    );
    expect(live.points(T0 + 2 * MIN).map((p) => [p.t, p.attempts])).toEqual([
      [T0 + MIN, 0],
      [T0 + 2 * MIN, 0],
    ]);
  });

  // The property that matters: whenever the series is read, and however many events arrived
  // before and during the request, the charted buckets equal the fold of the whole log.
  it.each([
    ['the server states the seq its buckets include, and duration_count', { seq: true, durationCount: true }],
    ['the server states neither: the arrival time of its answer is the cut', { seq: false, durationCount: false }],
  ])('loaded at any point of a stream of events, it shows every event once (%s)', (_name, options) => {
    const stepMs = STEP_MS['1m'];
    for (let cut = 0; cut <= 40; cut += 1) {
      seq = 0;
      const log: PulseEvent[] = [];
      for (let i = 0; i < 40; i++)
        log.push(
          i % 9 === 8
            ? tick(T0 + i * 7000, i % 5)
            : attempt(T0 + i * 7000, i % 3 === 0 ? 'failure' : 'success', i * 10 + 5),
        );
      const now = T0 + 40 * 7000;
      // Snapshot at seq 5: the socket delivers 6.. ; the server reads the series after `cut` events.
      const snapshotSeq = 5;
      const live = new LiveSeries(stepMs, 6);
      const counted = log.slice(0, Math.max(cut, snapshotSeq));
      const page = serverPage(counted, now, 6, options);
      const receivedAt = counted.at(-1)?.ts ?? T0 - 1;
      // Events after the snapshot arrive in order; the answer lands somewhere in between.
      const delivered = log.slice(snapshotSeq);
      const landsAfter = Math.max(0, counted.length - snapshotSeq);
      for (const event of delivered.slice(0, landsAfter)) live.add(event);
      live.load(page, receivedAt);
      for (const event of delivered.slice(landsAfter)) live.add(event);
      expect(live.points(now)).toEqual(chartOf(log, now, 6));
    }
  });

  it('holds at most HELD_MAX events while the series is read, then drops them and asks to be read again', () => {
    seq = 0;
    const live = new LiveSeries(MIN, 3);
    for (let i = 0; i < HELD_MAX; i++) live.add(attempt(T0 + i, 'success'));
    expect(live.overflowed).toBe(false);
    live.add(attempt(T0 + HELD_MAX, 'success'));
    expect(live.overflowed).toBe(true);
    // Whatever arrives later is not held either: the next read includes it.
    for (let i = 0; i < 10; i++) live.add(attempt(T0 + HELD_MAX + 1 + i, 'success'));
    live.load({ topic: 't', step: '1m', from: T0 - 2 * MIN, to: T0, points: [], seq: 0 }, T0);
    expect(live.points(T0).reduce((sum, p) => sum + p.attempts, 0)).toBe(0);
  });
});
