// Percentiles by sorting: exact, and quick enough for the few hundred thousand samples one run collects.

/** Distribution of a set of samples (ms). */
export interface Summary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of ascending `sorted` (q in 0..1). */
function percentile(sorted: Float64Array, q: number): number {
  const rank = Math.ceil(q * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!;
}

/** The summary of `samples`, or null when there are none. */
export function summarize(samples: ArrayLike<number>): Summary | null {
  if (samples.length === 0) return null;
  const sorted = Float64Array.from(samples).sort();
  let total = 0;
  for (const value of sorted) total += value;
  return {
    count: sorted.length,
    mean: total / sorted.length,
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    max: sorted[sorted.length - 1]!,
  };
}
