// What a gateway's log tail reads through (see BellLogReader).
import type { PulseEvent } from '#pulse/contracts';

/** What a log tail reads through: new events of many topics, waiting up to a bound for some. */
export interface LogSource {
  /**
   * Ends the read waiting now, if any: true if one was; false if none was (yet: a read still
   * subscribing to bells answers false, and the tail tries again until the read has ended).
   */
  wake(): boolean;
  /** The tail gave up the read in progress (its connection closed, or the tail stops): that read must hand nothing over. */
  abandon(): void;
  /**
   * Waits up to `blockMs` for events after each topic's position (a seq), answering up to `count`
   * per topic, in seq order. An empty map means the wait timed out or was woken.
   */
  read(positions: ReadonlyMap<string, number>, blockMs: number, count: number): Promise<Map<string, PulseEvent[]>>;
}
