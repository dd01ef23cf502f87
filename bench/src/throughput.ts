// Closed-loop throughput: N callers each repeat one call until a deadline; events/s and the latency of each call.
import { errorMessage, now } from './common.js';
import { summarize, type Summary } from './stats.js';

/** One call that carries a fixed number of events; rejects when the call failed. */
export type Call = () => Promise<void>;

export interface ThroughputOptions {
  /** Events each call carries. */
  batch: number;
  /** Callers running at once, each waiting for its previous call. */
  concurrency: number;
  durationMs: number;
  /** Calls made first and not counted (script load, JIT, connection pools). */
  warmupMs: number;
}

export interface ThroughputResult {
  events: number;
  calls: number;
  /** A caller stops at its first failed call: a run with errors is not a valid measurement. */
  errors: number;
  firstError: string | null;
  seconds: number;
  eventsPerSec: number;
  /** Time of one call (ms). */
  call: Summary | null;
}

interface Tally {
  latencies: number[];
  errors: number;
  firstError: string | null;
}

async function caller(call: Call, deadline: number, tally: Tally): Promise<void> {
  while (now() < deadline) {
    const started = now();
    try {
      await call();
    } catch (error) {
      tally.errors += 1;
      tally.firstError ??= errorMessage(error);
      return;
    }
    tally.latencies.push(now() - started);
  }
}

async function runCallers(call: Call, concurrency: number, durationMs: number): Promise<Tally> {
  const tally: Tally = { latencies: [], errors: 0, firstError: null };
  const deadline = now() + durationMs;
  await Promise.all(Array.from({ length: concurrency }, () => caller(call, deadline, tally)));
  return tally;
}

export async function measureThroughput(call: Call, options: ThroughputOptions): Promise<ThroughputResult> {
  const warmup = await runCallers(call, options.concurrency, options.warmupMs);
  if (warmup.errors > 0) return { events: 0, calls: 0, errors: warmup.errors, firstError: warmup.firstError, seconds: 0, eventsPerSec: 0, call: null };
  const started = now();
  const tally = await runCallers(call, options.concurrency, options.durationMs);
  // Until the last caller is done: the calls still in flight at the deadline are counted too.
  const seconds = (now() - started) / 1000;
  const events = tally.latencies.length * options.batch;
  return {
    events,
    calls: tally.latencies.length,
    errors: tally.errors,
    firstError: tally.firstError,
    seconds,
    eventsPerSec: events / seconds,
    call: summarize(tally.latencies),
  };
}
