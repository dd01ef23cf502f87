// An open-loop producer: sends on a fixed schedule whatever earlier sends are doing, and catches up at once when a timer fires late.
import { errorMessage, hrnow, sleep } from './common.js';

/** One measured run of a producer: event i (0-based) is due at t0 + i / rate and carries seq base + i + 1. */
export interface RunSpec {
  topic: string;
  /** Start time on the monotonic clock (hrnow). */
  t0: number;
  ratePerSec: number;
  count: number;
  /** Seq of the event before the first one of this run. */
  base: number;
}

export interface ProducerStats {
  sent: number;
  failed: number;
  firstError: string | null;
  /** Worst delay between an event's scheduled time and the moment it was sent (ms): the producer's own lag. */
  maxLagMs: number;
  /** Events whose seq was outside the run's range or came twice (someone else appended): latency would be wrong. */
  seqMismatches: number;
  /**
   * Events appended in another order than scheduled (concurrent sends, e.g. REST requests on
   * several connections and gateways): each still in the run's range, but its latency is measured
   * from its neighbour's send time, off by at most `maxDisplacement` intervals.
   */
  displaced: number;
  maxDisplacement: number;
  /** When some were displaced: `order[p]` is the schedule index of the event that got seq base + p + 1 (the clients time each event from its own send). */
  order?: number[];
  seconds: number;
}

/** Sends event `index`; a promise (or a thrown error) says whether it was sent; a returned number is the seq it got. */
export type Send = (index: number) => void | number | Promise<void | number>;

export async function openLoop(spec: RunSpec, send: Send): Promise<ProducerStats> {
  const interval = 1000 / spec.ratePerSec;
  const stats: ProducerStats = {
    sent: 0,
    failed: 0,
    firstError: null,
    maxLagMs: 0,
    seqMismatches: 0,
    displaced: 0,
    maxDisplacement: 0,
    seconds: 0,
  };
  const order = Int32Array.from({ length: spec.count }, (_, i) => i);
  const seen = new Uint8Array(spec.count);
  const fail = (error: unknown) => {
    stats.failed += 1;
    stats.firstError ??= errorMessage(error);
  };
  const settle = (index: number, seq: void | number) => {
    stats.sent += 1;
    if (typeof seq !== 'number') return;
    const at = seq - spec.base - 1;
    if (at < 0 || at >= spec.count || seen[at]) stats.seqMismatches += 1;
    else {
      seen[at] = 1;
      order[at] = index;
      if (at !== index) {
        stats.displaced += 1;
        stats.maxDisplacement = Math.max(stats.maxDisplacement, Math.abs(at - index));
      }
    }
  };
  // Each async send settles into the stats at once: a failure while the loop sleeps is never an unhandled rejection.
  const inFlight: Promise<void>[] = [];
  await sleep(spec.t0 - hrnow());
  let next = 0;
  while (next < spec.count) {
    const due = Math.min(spec.count, Math.floor((hrnow() - spec.t0) / interval) + 1);
    for (; next < due; next++) {
      stats.maxLagMs = Math.max(stats.maxLagMs, hrnow() - (spec.t0 + next * interval));
      const index = next;
      try {
        const result = send(index);
        if (result instanceof Promise) inFlight.push(result.then((seq) => settle(index, seq), fail));
        else settle(index, result);
      } catch (error) {
        fail(error);
      }
    }
    if (next < spec.count) await sleep(spec.t0 + next * interval - hrnow());
  }
  await Promise.all(inFlight);
  stats.seconds = (hrnow() - spec.t0) / 1000;
  if (stats.displaced) stats.order = Array.from(order);
  return stats;
}
