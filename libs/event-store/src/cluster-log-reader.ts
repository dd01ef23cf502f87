// The log tail's reader on a Redis Cluster: topics' bells (sharded pub/sub) instead of one blocking XREAD.
import type { Cluster } from 'ioredis';
import type { PulseEvent } from '#pulse/contracts';
import { decodeEntry } from './event-store.js';
import { bellChannel, KEY, topicKeys, topicOfBell } from './keys.js';
import type { LogSource } from './log-reader.js';

/**
 * On a cluster one XREAD cannot span topics in different slots, and a blocking read per topic
 * would take a connection per topic. So the reader subscribes to each followed topic's bell (a
 * shard channel every append rings, see scripts.ts) on one subscriber per shard, and reads the
 * topics that rang with plain XREADs, pipelined per node. Every topic is read again when the
 * wait times out, so that a bell lost in a reconnect delays events by at most `blockMs`.
 */
export class ClusterLogReader implements LogSource {
  private readonly bells = new Set<string>();
  /** Topics that rang since the last read; 'all' after a wake, a timeout or a resubscribe. */
  private dirty: Set<string> | 'all' = 'all';
  private waiter: (() => void) | null = null;

  /**
   * @param commands a cluster connection with auto-pipelining, for the XREADs
   * @param subscriber a cluster connection with sharded subscribers, for the bells
   */
  constructor(
    private readonly commands: Cluster,
    private readonly subscriber: Cluster,
  ) {
    subscriber.on('smessage', (channel: string) => {
      if (this.dirty !== 'all') this.dirty.add(topicOfBell(channel));
      this.release();
    });
    // Bells rung while a shard's subscriber was away are lost: read everything when it is back
    // (the whole client, or one shard's subscriber after a failover).
    subscriber.on('ready', () => this.wake());
    subscriber.on('subscribersReady', () => this.wake());
  }

  /** No CLIENT UNBLOCK here: the tail's TailConnection calls wake() instead. */
  clientId(): Promise<number> {
    return Promise.resolve(0);
  }

  /**
   * Ends a wait in progress (the tail's topic set changed): the next read covers every topic.
   * True if a read was waiting; false if none was (yet), as CLIENT UNBLOCK answers 0 for a read
   * not yet blocked, so that the tail tries again until the read it means has ended.
   */
  wake(): boolean {
    this.dirty = 'all';
    const waiting = this.waiter !== null;
    this.release();
    return waiting;
  }

  async read(
    positions: ReadonlyMap<string, number>,
    blockMs: number,
    count: number,
  ): Promise<Map<string, PulseEvent[]>> {
    await this.listen(positions);
    const first = await this.readDirty(positions, count);
    if (first.size > 0) return first;
    if (this.dirty !== 'all' && this.dirty.size === 0) {
      const rang = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          this.waiter = null;
          resolve(false);
        }, blockMs);
        this.waiter = () => {
          clearTimeout(timer);
          this.waiter = null;
          resolve(true);
        };
      });
      if (!rang) this.dirty = 'all';
    }
    return this.readDirty(positions, count);
  }

  private release(): void {
    this.waiter?.();
  }

  /** Subscribes to the bells of topics now followed and leaves the others; before reading, so that no append goes unnoticed. */
  private async listen(positions: ReadonlyMap<string, number>): Promise<void> {
    const added = [...positions.keys()].filter((topic) => !this.bells.has(topic));
    const removed = [...this.bells].filter((topic) => !positions.has(topic));
    for (const topic of removed) this.bells.delete(topic);
    // One call per channel: the shards differ.
    await Promise.all([
      ...added.map((topic) => this.subscriber.ssubscribe(bellChannel(topic)).then(() => this.bells.add(topic))),
      ...removed.map((topic) => this.subscriber.sunsubscribe(bellChannel(topic))),
    ]);
    if (added.length > 0) this.dirty = 'all';
  }

  /** XREADs (not blocking) of the topics that rang, or of all; clears what it reads. */
  private async readDirty(positions: ReadonlyMap<string, number>, count: number): Promise<Map<string, PulseEvent[]>> {
    const topics =
      this.dirty === 'all' ? [...positions.keys()] : [...this.dirty].filter((topic) => positions.has(topic));
    this.dirty = new Set();
    const answers = await Promise.all(
      topics.map((topic) =>
        this.commands.xread('COUNT', count, 'STREAMS', topicKeys(topic)[KEY.log]!, `${positions.get(topic)!}-0`),
      ),
    ).catch((error: unknown) => {
      // Read them again next time.
      this.dirty = 'all';
      throw error;
    });
    const result = new Map<string, PulseEvent[]>();
    answers.forEach((answer, i) => {
      const topic = topics[i]!;
      const entries = answer?.[0]?.[1];
      if (!entries || entries.length === 0) return;
      result.set(
        topic,
        entries.map(([id, fields]) => decodeEntry(topic, id, fields)),
      );
      // A full page may not be all: read the topic again next time without waiting for a bell.
      if (entries.length >= count && this.dirty !== 'all') this.dirty.add(topic);
    });
    return result;
  }
}
