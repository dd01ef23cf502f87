// The charted series: the buckets `GET …/series` returned, extended by live events without counting any event twice.
import type { PulseEvent } from '#pulse/contracts';
import type { SeriesPage, SeriesPagePoint } from './gateway-api.js';
import { bucketStart } from './series-range.js';

/** A bucket as charted: null where there is nothing to draw (no attempts, no duration given, no tick). */
export interface ChartPoint {
  t: number;
  attempts: number;
  successes: number;
  failures: number;
  success_rate: number | null;
  duration_avg: number | null;
  duration_max: number | null;
  active_instances: number | null;
}

/** A bucket as sums, so that live attempts can be added to what the server counted. */
interface Bucket {
  attempts: number;
  successes: number;
  failures: number;
  durationSum: number;
  durationCount: number;
  durationMax: number | null;
  activeInstances: number | null;
}

/**
 * Which events the loaded buckets already include. `seq`: exactly those up to it (the server read
 * the buckets and the head together). `ts`: the fallback while the series answer states no seq —
 * events stamped at or before the moment the answer arrived (on the server's clock, as estimated
 * from the live events' stamps) are taken as counted; an event appended during the last leg of
 * the round trip can then be missed, and none is counted twice unless the estimate is off.
 */
export type Watermark = { seq: number } | { ts: number };

/** Events held while the series is read, at most: past it they are dropped, and the series must be read again. */
export const HELD_MAX = 10_000;

/**
 * How the page avoids counting an event twice: the socket hands over every event after the
 * snapshot, once, in seq order. Until the series has loaded they are held. Once it has, each
 * event at or below the series' watermark is dropped (the server's buckets include it) and each
 * later one is folded into the bucket of its timestamp — the current bucket or a new one — on top
 * of the server's sums. A new range, topic or snapshot starts a new LiveSeries. A read that takes
 * so long that more than HELD_MAX events arrive meanwhile leaves the series `overflowed`: the held
 * events are dropped, and a new LiveSeries and read are needed (that read includes them).
 */
export class LiveSeries {
  private readonly buckets = new Map<number, Bucket>();
  private watermark: Watermark | null = null;
  private held: PulseEvent[] = [];
  private dropped = false;

  constructor(
    /** Bucket size in ms. */
    readonly stepMs: number,
    /** Buckets shown, the current one included. */
    readonly count: number,
  ) {}

  get loaded(): boolean {
    return this.watermark !== null;
  }

  /** Events were dropped while the series was read: this one cannot be completed, read it again. */
  get overflowed(): boolean {
    return this.dropped;
  }

  /** Takes the server's buckets, then folds the events held meanwhile that they do not include. */
  load(page: SeriesPage, receivedAt: number): void {
    for (const point of page.points) this.buckets.set(point.t, bucketOf(point));
    this.watermark = typeof page.seq === 'number' ? { seq: page.seq } : { ts: receivedAt };
    const held = this.held;
    this.held = [];
    for (const event of held) this.add(event);
  }

  /** Folds one live event; answers whether a bucket changed. */
  add(event: PulseEvent): boolean {
    if (!this.watermark) {
      if (this.held.length >= HELD_MAX) {
        this.held = [];
        this.dropped = true;
      }
      if (!this.dropped) this.held.push(event);
      return false;
    }
    if ('seq' in this.watermark ? event.seq <= this.watermark.seq : event.ts <= this.watermark.ts) return false;
    if (event.type === 'attempt.recorded') {
      const { data } = event;
      const bucket = this.bucket(event.ts);
      bucket.attempts += 1;
      if (data.outcome === 'success') bucket.successes += 1;
      else bucket.failures += 1;
      if (typeof data.durationMs === 'number') {
        bucket.durationSum += data.durationMs;
        bucket.durationCount += 1;
        bucket.durationMax = Math.max(bucket.durationMax ?? data.durationMs, data.durationMs);
      }
      return true;
    }
    if (event.type === 'status_update') {
      // The tick writes the gauge into its bucket, as the server does at status_update; the latest tick of a bucket wins.
      this.bucket(event.ts).activeInstances = event.data.active_instances;
      return true;
    }
    return false;
  }

  /** Every bucket of the window that ends with the bucket of `now`, oldest first; older buckets are forgotten. */
  points(now: number): ChartPoint[] {
    const last = bucketStart(now, this.stepMs);
    const first = last - (this.count - 1) * this.stepMs;
    for (const t of this.buckets.keys()) if (t < first) this.buckets.delete(t);
    const points: ChartPoint[] = [];
    for (let t = first; t <= last; t += this.stepMs) points.push(pointOf(t, this.buckets.get(t)));
    return points;
  }

  private bucket(ts: number): Bucket {
    const t = bucketStart(ts, this.stepMs);
    let bucket = this.buckets.get(t);
    if (!bucket) {
      bucket = {
        attempts: 0,
        successes: 0,
        failures: 0,
        durationSum: 0,
        durationCount: 0,
        durationMax: null,
        activeInstances: null,
      };
      this.buckets.set(t, bucket);
    }
    return bucket;
  }
}

/** The server's point as sums. Without `duration_count` (a gateway of an earlier version), an average above 0 is taken as given by every attempt. */
function bucketOf(point: SeriesPagePoint): Bucket {
  const durationCount = point.duration_count ?? (point.duration_avg > 0 ? point.attempts : 0);
  return {
    attempts: point.attempts,
    successes: point.successes,
    failures: point.failures,
    durationSum: point.duration_avg * durationCount,
    durationCount,
    durationMax: durationCount > 0 ? point.duration_max : null,
    activeInstances: point.active_instances,
  };
}

/** Percent with two decimals, as the statistics state it. */
const percent = (part: number, whole: number) => Math.round((part * 10_000) / whole) / 100;

function pointOf(t: number, bucket: Bucket | undefined): ChartPoint {
  if (!bucket)
    return {
      t,
      attempts: 0,
      successes: 0,
      failures: 0,
      success_rate: null,
      duration_avg: null,
      duration_max: null,
      active_instances: null,
    };
  return {
    t,
    attempts: bucket.attempts,
    successes: bucket.successes,
    failures: bucket.failures,
    success_rate: bucket.attempts > 0 ? percent(bucket.successes, bucket.attempts) : null,
    duration_avg: bucket.durationCount > 0 ? Math.round(bucket.durationSum / bucket.durationCount) : null,
    duration_max: bucket.durationMax,
    active_instances: bucket.activeInstances,
  };
}
