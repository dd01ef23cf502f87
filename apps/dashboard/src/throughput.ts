// Attempts per minute over the last minutes, from attempt.recorded timestamps (live and backfilled alike), and from per-minute counts where no events were read.

export interface ThroughputSeries {
  /** Sample times, seconds since 1970 (uPlot's x unit). */
  x: number[];
  /** Attempts in the minute up to each sample. */
  attempts: number[];
  /** Failed attempts in the minute up to each sample. */
  failures: number[];
  /** Attempts within the whole window. */
  total: number;
}

const RATE_SECONDS = 60;

/** Counts per second; each sample sums the minute before it, so the line is a rate that moves every second. */
export class Throughput {
  private readonly seconds = new Map<number, { attempts: number; failures: number }>();

  /**
   * @param windowMs how far back the series goes. @default 600000 (10 min)
   * @param stepMs time between samples. @default 5000
   */
  constructor(
    readonly windowMs = 600_000,
    readonly stepMs = 5_000,
  ) {}

  add(ts: number, failed: boolean): void {
    const second = Math.floor(ts / 1000);
    const bucket = this.seconds.get(second) ?? { attempts: 0, failures: 0 };
    bucket.attempts += 1;
    if (failed) bucket.failures += 1;
    this.seconds.set(second, bucket);
  }

  /** Attempts and failures counted so far with a timestamp in [fromMs, toMs). */
  countIn(fromMs: number, toMs: number): { attempts: number; failures: number } {
    let attempts = 0;
    let failures = 0;
    for (const [second, bucket] of this.seconds) {
      if (second * 1000 < fromMs || second * 1000 >= toMs) continue;
      attempts += bucket.attempts;
      failures += bucket.failures;
    }
    return { attempts, failures };
  }

  /**
   * Spreads `attempts` (`failures` of them failed) evenly over the whole seconds of [fromMs, toMs)
   * (at least one): a stretch of time known only as a count, such as a minute of the series.
   */
  seed(fromMs: number, toMs: number, attempts: number, failures: number): void {
    const first = Math.floor(fromMs / 1000);
    const seconds = Math.max(1, Math.ceil(toMs / 1000) - first);
    const share = (total: number, k: number) =>
      Math.floor(((k + 1) * total) / seconds) - Math.floor((k * total) / seconds);
    for (let k = 0; k < seconds; k++) {
      const a = share(attempts, k);
      if (a === 0) continue;
      const bucket = this.seconds.get(first + k) ?? { attempts: 0, failures: 0 };
      bucket.attempts += a;
      bucket.failures += Math.min(a, share(failures, k));
      this.seconds.set(first + k, bucket);
    }
  }

  clear(): void {
    this.seconds.clear();
  }

  /** Samples on step boundaries over the window, plus one at `now`; forgets seconds older than the window needs. */
  series(now: number): ThroughputSeries {
    const nowSecond = Math.floor(now / 1000);
    const oldest = nowSecond - Math.ceil(this.windowMs / 1000) - RATE_SECONDS;
    for (const second of this.seconds.keys()) if (second < oldest) this.seconds.delete(second);

    const step = this.stepMs / 1000;
    const last = Math.floor(nowSecond / step) * step;
    const samples: number[] = [];
    for (let t = last - Math.floor(this.windowMs / this.stepMs) * step; t <= last; t += step) samples.push(t);
    if (last !== nowSecond) samples.push(nowSecond);

    const attempts: number[] = [];
    const failures: number[] = [];
    for (const t of samples) {
      let a = 0;
      let f = 0;
      for (let s = t - RATE_SECONDS + 1; s <= t; s++) {
        const bucket = this.seconds.get(s);
        if (bucket) {
          a += bucket.attempts;
          f += bucket.failures;
        }
      }
      attempts.push(a);
      failures.push(f);
    }
    let total = 0;
    const first = nowSecond - Math.ceil(this.windowMs / 1000) + 1;
    for (const [second, bucket] of this.seconds) if (second >= first && second <= nowSecond) total += bucket.attempts;
    return { x: samples, attempts, failures, total };
  }
}
