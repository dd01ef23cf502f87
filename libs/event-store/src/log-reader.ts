// Blocking reads of many topics' logs at once, for the gateways' log tails.
import type { Redis } from 'ioredis';
import type { PulseEvent } from '#pulse/contracts';
import { decodeEntry } from './event-store.js';
import { KEY, topicKeys, topicOfLogKey } from './keys.js';

/** What a log tail reads through: new events of many topics, waiting up to a bound for some. */
export interface LogSource {
  /** The id that CLIENT UNBLOCK releases a waiting read with (see the tail's TailConnection). */
  clientId(): Promise<number>;
  /**
   * Waits up to `blockMs` for events after each topic's position (a seq), answering up to `count`
   * per topic, in seq order. An empty map means the wait timed out or was unblocked.
   */
  read(positions: ReadonlyMap<string, number>, blockMs: number, count: number): Promise<Map<string, PulseEvent[]>>;
}

/** Reads new events of many topics with one blocking XREAD. Give it a connection of its own. */
export class LogReader implements LogSource {
  constructor(private readonly redis: Redis) {}

  /** The connection's client id, for CLIENT UNBLOCK from another connection. */
  async clientId(): Promise<number> {
    return Number(await this.redis.client('ID'));
  }

  async read(
    positions: ReadonlyMap<string, number>,
    blockMs: number,
    count: number,
  ): Promise<Map<string, PulseEvent[]>> {
    const topics = [...positions.keys()];
    const keys = topics.map((topic) => topicKeys(topic)[KEY.log]!);
    const ids = topics.map((topic) => `${positions.get(topic)!}-0`);
    const answer = await this.redis.xread('COUNT', count, 'BLOCK', blockMs, 'STREAMS', ...keys, ...ids);
    const result = new Map<string, PulseEvent[]>();
    for (const [key, entries] of answer ?? []) {
      const topic = topicOfLogKey(key);
      result.set(
        topic,
        entries.map(([id, fields]) => decodeEntry(topic, id, fields)),
      );
    }
    return result;
  }
}
