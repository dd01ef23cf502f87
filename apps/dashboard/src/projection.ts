// The topic as the dashboard shows it: the last snapshot plus every later event, folded as the server folds them.
import type { InstanceState, PulseEvent, Snapshot, Statistics } from '#pulse/contracts';
import { emptyState, foldEvent, stateOfSnapshot, statisticsOf, type ProjectionState } from '#pulse/contracts/fold';

/** What an event changed, so that views redraw only that. */
export interface Changed {
  statistics: boolean;
  instances: boolean;
  status: boolean;
}

const NOTHING: Changed = { statistics: false, instances: false, status: false };

/** What each event type changes, so that views redraw only that. */
const CHANGES: Record<string, Changed> = {
  'instance.heartbeat': { statistics: true, instances: true, status: false },
  'attempt.recorded': { statistics: true, instances: true, status: false },
  'instance.offline': { statistics: true, instances: true, status: false },
  'instance.removed': { statistics: true, instances: true, status: false },
  status_update: { statistics: false, instances: false, status: true },
};

/**
 * The server's own fold (libs/contracts/src/fold.ts) over the last snapshot and every later
 * event: attempts move the counters between ticks, so the tiles equal the server's projection at
 * every seq, not only at each tick.
 */
export class Projection {
  /** The last event folded in. */
  seq = 0;
  /** Null while the topic has no events. */
  epoch: string | null = null;
  private state: ProjectionState = emptyState();

  reset(snapshot: Snapshot): void {
    this.seq = snapshot.seq;
    this.epoch = snapshot.epoch;
    this.state = stateOfSnapshot(snapshot);
  }

  /** Folds the next event (the SDK hands them over once each, in seq order). */
  apply(event: PulseEvent): Changed {
    this.seq = event.seq;
    foldEvent(this.state, event);
    return CHANGES[event.type] ?? NOTHING;
  }

  get status(): Snapshot['status'] {
    return this.state.status;
  }

  /** By id. */
  get instances(): ReadonlyMap<string, InstanceState> {
    return this.state.instances;
  }

  /** As a snapshot and a statistics_update state them. */
  get statistics(): Statistics {
    return statisticsOf(this.state);
  }
}
