// An open-loop producer: sends on a fixed schedule whatever earlier sends are doing, and catches up at once when a timer fires late.
import { errorMessage, now, sleep } from './common.js';

export interface ProducerStats {
  scheduled: number;
  sent: number;
  failed: number;
  firstError: string | null;
  /** Worst delay between an event's scheduled time and the moment it was sent (ms): the producer's own lag. */
  maxLagMs: number;
  seconds: number;
}

export interface OpenLoopOptions {
  count: number;
  ratePerSec: number;
  /** Sends event `index` (0-based); records its own send time. Rejects when the send failed. */
  send: (index: number) => Promise<void>;
  /** Told every `rate × 5` events how many were started. */
  onProgress?: (started: number) => void;
}

export async function openLoop(options: OpenLoopOptions): Promise<ProducerStats> {
  const interval = 1000 / options.ratePerSec;
  const every = options.ratePerSec * 5;
  const started = now();
  // Each send settles into its error (or null) at once: a failure while the loop sleeps is never an unhandled rejection.
  const inFlight: Promise<unknown>[] = [];
  let next = 0;
  let maxLagMs = 0;
  while (next < options.count) {
    const due = Math.min(options.count, Math.floor((now() - started) / interval) + 1);
    for (; next < due; next++) {
      maxLagMs = Math.max(maxLagMs, now() - (started + next * interval));
      inFlight.push(options.send(next).then(() => null, (error: unknown) => error ?? new Error('send failed')));
      if ((next + 1) % every === 0) options.onProgress?.(next + 1);
    }
    if (next < options.count) await sleep(started + next * interval - now());
  }
  const failures = (await Promise.all(inFlight)).filter((error) => error !== null);
  return {
    scheduled: options.count,
    sent: options.count - failures.length,
    failed: failures.length,
    firstError: failures.length ? errorMessage(failures[0]) : null,
    maxLagMs,
    seconds: (now() - started) / 1000,
  };
}
