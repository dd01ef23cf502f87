// Attempts per minute: each sample counts the minute before it; old seconds are forgotten.
import { describe, expect, it } from '@jest/globals';
import { Throughput } from './throughput.js';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

describe('Throughput', () => {
  it('samples the window on step boundaries and ends at now', () => {
    const series = new Throughput(60_000, 5_000).series(T0 + 2_500);
    expect(series.x[0]).toBe(T0 / 1000 - 60);
    expect(series.x.at(-2)).toBe(T0 / 1000);
    expect(series.x.at(-1)).toBe(T0 / 1000 + 2);
    expect(series.attempts.every((value) => value === 0)).toBe(true);
  });

  it('counts each attempt in the samples of the following minute', () => {
    const throughput = new Throughput(600_000, 5_000);
    throughput.add(T0 + 100, false);
    throughput.add(T0 + 200, true);
    throughput.add(T0 + 30_000, false);
    const at = (series: ReturnType<Throughput['series']>, second: number) => ({
      attempts: series.attempts[series.x.indexOf(T0 / 1000 + second)],
      failures: series.failures[series.x.indexOf(T0 / 1000 + second)],
    });
    const series = throughput.series(T0 + 90_000);
    expect(at(series, -5)).toEqual({ attempts: 0, failures: 0 });
    expect(at(series, 0)).toEqual({ attempts: 2, failures: 1 });
    expect(at(series, 30)).toEqual({ attempts: 3, failures: 1 });
    expect(at(series, 60)).toEqual({ attempts: 1, failures: 0 });
    expect(at(series, 90)).toEqual({ attempts: 0, failures: 0 });
    expect(series.total).toBe(3);
  });

  it('forgets what left the window', () => {
    const throughput = new Throughput(60_000, 5_000);
    throughput.add(T0, false);
    expect(throughput.series(T0 + 1_000).total).toBe(1);
    expect(throughput.series(T0 + 10 * 60_000).total).toBe(0);
    expect(throughput.series(T0 + 1_000).total).toBe(0);
  });

  it('spreads a count known only per minute over its seconds, and counts what was added in a span', () => {
    const throughput = new Throughput(600_000, 5_000);
    throughput.add(T0 + 45_500, true);
    throughput.seed(T0, T0 + 60_000, 90, 30);
    expect(throughput.countIn(T0, T0 + 60_000)).toEqual({ attempts: 91, failures: 31 });
    expect(throughput.countIn(T0, T0 + 30_000)).toEqual({ attempts: 45, failures: 15 });
    // A stretch shorter than a second still gets its count.
    throughput.seed(T0 + 60_200, T0 + 60_400, 7, 0);
    expect(throughput.countIn(T0 + 60_000, T0 + 61_000)).toEqual({ attempts: 7, failures: 0 });
    expect(throughput.series(T0 + 61_000).total).toBe(98);
  });
});
