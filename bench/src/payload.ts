// The event every system in the bench carries: one typical monitoring fact, as the same envelope bytes for Pulse and the baseline.
import type { PulseEvent } from '#pulse/contracts';
import type { NewEvent } from '#pulse/event-store';

/** What the Pulse producer appends (it folds into the projections like any ingest). */
export const BENCH_EVENT = {
  type: 'attempt.recorded',
  data: { instanceId: 'bench-instance-1', outcome: 'success', durationMs: 12.5 },
} as const satisfies NewEvent;

/** An epoch of the shape Pulse makes, for envelopes built outside Pulse. */
export const BASELINE_EPOCH = 'm1abcdef-0123abcd';

/** The envelope a Pulse client receives for `seq`; the baseline and the ws ceiling send exactly this. */
export function envelope(topic: string, seq: number): PulseEvent {
  return { topic, seq, epoch: BASELINE_EPOCH, type: BENCH_EVENT.type, ts: Date.now(), data: BENCH_EVENT.data };
}

/** Room the baseline clients join and the emitter targets (Pulse's own room naming). */
export const baselineRoom = (topic: string) => `topic:${topic}`;
