// The log tail's reader: the topics' bells, which carry what each append wrote, and the log itself whenever a bell cannot be trusted.
import type { Cluster, Redis } from 'ioredis';
import type { PulseEvent } from '#pulse/contracts';
import { decodeBell, decodeEntry } from './decode.js';
import { bellChannel, KEY, topicKeys, topicOfBell, topicOfLogKey } from './keys.js';
import type { LogSource } from './log-reader.js';

/** Rung events held for one topic between reads; past this the tail has fallen behind, and reads the log instead. */
const MAX_HELD = 10_000;

export interface BellLogReaderOptions {
  /**
   * Every followed topic's log is read at least this often, bells or not: on a busy gateway, whose
   * waits never time out, a bell lost costs at most this much delay. @default 5000
   */
  fullReadMs?: number;
}

/**
 * Every append and tick rings its topic's bell with the entries it wrote (see ring in scripts.ts),
 * so a gateway that follows a topic is handed its events without a round trip: one message per
 * append from Redis, and nothing sent back (a blocking XREAD per gateway is re-sent after every
 * answer, which at light load costs each gateway and Redis a wake per event).
 *
 * The log stays the truth. The reader hands over rung events only where they follow on from the
 * tail's position (and, after a read of the log, from its last entry, in the same epoch); it reads
 * the log (a plain XREAD, as many topics as need it in one call on a single Redis, pipelined per
 * node on a cluster) for a topic just followed, for one whose bell skipped a seq or carried only
 * the new head (an append too big to ring), after its subscriber came back or the tail gave a read
 * up (dropping what rang before: it may have outlived its log), and for every topic when a wait
 * times out and at least every `fullReadMs`. So a lost bell delays events by at most that; it
 * never loses or reorders one.
 *
 * On a single Redis the bells are pub/sub channels on one subscriber connection; on a cluster,
 * shard channels on one subscriber per shard (`shardedSubscribers`).
 */
export class BellLogReader implements LogSource {
  /** Topics whose bell this reader listens to. */
  private readonly bells = new Set<string>();
  /** Events rung since the last read, per topic: contiguous, in seq order. */
  private readonly rung = new Map<string, PulseEvent[]>();
  /** Topics whose log must be read (rung events alone cannot be trusted); 'all' for every one. */
  private dirty: Set<string> | 'all' = 'all';
  /** Ends the wait of the read in progress, if it waits. */
  private waiter: (() => void) | null = null;
  private readonly sharded: boolean;
  /** Counts the reads: one the tail gave up (abandon) or that a newer one replaced hands nothing over. */
  private reads = 0;
  /** When the last read of every followed topic's log was sent. */
  private fullReadAt = -Infinity;
  private readonly fullReadMs: number;

  /**
   * @param commands a connection for the XREADs (on a cluster, with auto-pipelining)
   * @param subscriber a connection of its own for the bells (on a cluster, with sharded subscribers)
   */
  constructor(
    private readonly commands: Redis | Cluster,
    private readonly subscriber: Redis | Cluster,
    options: BellLogReaderOptions = {},
  ) {
    this.fullReadMs = options.fullReadMs ?? 5000;
    this.sharded = subscriber.isCluster;
    subscriber.on(this.sharded ? 'smessage' : 'message', (channel: string, message: string) =>
      this.onBell(channel, message),
    );
    if (this.sharded) {
      // Bells rung while a shard's subscriber was away are lost: read everything when it is back
      // (the whole client, or one shard's subscriber after a failover). ioredis announces a shard's
      // subscriber before its SSUBSCRIBEs hold: a bell lost in between waits for the next full read.
      subscriber.on('ready', () => this.wake(true));
      subscriber.on('subscribersReady', () => this.wake(true));
    } else {
      // ioredis resubscribes right after 'ready': a PING behind those SUBSCRIBEs answers once they
      // hold, and only a read of the log after that covers every bell rung while the connection was
      // away. Should the PING fail, the connection is lost again, and its next 'ready' pings again.
      subscriber.on('ready', () =>
        process.nextTick(() =>
          (subscriber as Redis).ping().then(
            () => this.wake(true),
            () => undefined,
          ),
        ),
      );
    }
  }

  /**
   * Ends a wait in progress (the tail's topic set changed; with `readAll`, bells may have been
   * lost). True if a read was waiting; false if none was (yet: one still subscribing), so that the
   * tail tries again until the read it means has ended.
   */
  wake(readAll = false): boolean {
    if (readAll) this.distrust();
    const waiting = this.waiter !== null;
    this.waiter?.();
    return waiting;
  }

  /** The tail gave up the read in progress: it ends handing nothing over, and whatever it took is read again from the log. */
  abandon(): void {
    this.reads += 1;
    this.distrust();
    this.waiter?.();
  }

  async read(
    positions: ReadonlyMap<string, number>,
    blockMs: number,
    count: number,
  ): Promise<Map<string, PulseEvent[]>> {
    const read = ++this.reads;
    await this.listen(positions);
    if (read !== this.reads) return new Map();
    // On a single Redis, a subscriber away is a failed read, as a blocking XREAD's connection
    // would be: the tail retries, reports itself unhealthy meanwhile, and checks the topics'
    // epochs once it reads again.
    if (!this.sharded && this.subscriber.status !== 'ready') {
      throw new Error(`the bell subscriber is ${this.subscriber.status}`);
    }
    if (Date.now() - this.fullReadAt >= this.fullReadMs) this.dirty = 'all';
    const first = await this.collect(read, positions, count);
    if (first.size > 0 || read !== this.reads) return first;
    if (this.dirty !== 'all' && this.dirty.size === 0 && this.rung.size === 0) {
      const rang = await new Promise<boolean>((resolve) => {
        const release = () => {
          clearTimeout(timer);
          if (this.waiter === release) this.waiter = null;
          resolve(true);
        };
        const timer = setTimeout(() => {
          if (this.waiter === release) this.waiter = null;
          resolve(false);
        }, blockMs);
        this.waiter = release;
      });
      if (!rang && read === this.reads) this.dirty = 'all';
    }
    return this.collect(read, positions, count);
  }

  /** Nothing rung so far is trusted (bells may have been lost, or held ones outlived their log): every log is read. */
  private distrust(): void {
    this.dirty = 'all';
    this.rung.clear();
  }

  private onBell(channel: string, message: string): void {
    const topic = topicOfBell(channel);
    if (!this.bells.has(topic)) return;
    if (this.dirty !== 'all') {
      const events = decodeBell(topic, message);
      const held = this.rung.get(topic);
      if (events === null) this.dirty.add(topic);
      else if (!held) this.rung.set(topic, events);
      else if (held.at(-1)!.seq + 1 === events[0]!.seq && held.length + events.length <= MAX_HELD) {
        for (const event of events) held.push(event);
      } else {
        // A bell skipped (or the tail is far behind): what the log holds is read instead.
        this.rung.delete(topic);
        this.dirty.add(topic);
      }
    }
    this.waiter?.();
  }

  /** Subscribes to the bells of topics now followed and leaves the others; before reading, so that no append goes unnoticed. */
  private async listen(positions: ReadonlyMap<string, number>): Promise<void> {
    // Once per read, on the hot path: nothing is allocated when the topic set is unchanged.
    const added: string[] = [];
    for (const topic of positions.keys()) if (!this.bells.has(topic)) added.push(topic);
    // With every followed topic listened to, a bell is left over only if there are more bells than topics.
    const removed =
      this.bells.size + added.length > positions.size ? [...this.bells].filter((topic) => !positions.has(topic)) : [];
    if (added.length === 0 && removed.length === 0) return;
    for (const topic of removed) {
      this.bells.delete(topic);
      this.rung.delete(topic);
    }
    if (this.sharded) {
      // One call per channel: the shards differ.
      await Promise.all([
        ...added.map((topic) => this.subscriber.ssubscribe(bellChannel(topic))),
        ...removed.map((topic) => this.subscriber.sunsubscribe(bellChannel(topic))),
      ]);
    } else {
      await Promise.all([
        added.length > 0 ? this.subscriber.subscribe(...added.map(bellChannel)) : null,
        removed.length > 0 ? this.subscriber.unsubscribe(...removed.map(bellChannel)) : null,
      ]);
    }
    // Appends before the subscribe held rang nobody here: the log has them.
    for (const topic of added) {
      this.bells.add(topic);
      this.markDirty(topic);
    }
  }

  /** The log of the topics that need reading, then what rang after it, from each topic's position. */
  private async collect(
    read: number,
    positions: ReadonlyMap<string, number>,
    count: number,
  ): Promise<Map<string, PulseEvent[]>> {
    const result = new Map<string, PulseEvent[]>();
    if (read !== this.reads) return result;
    const full = this.dirty === 'all';
    const dirty = full ? [...positions.keys()] : [...this.dirty].filter((topic) => positions.has(topic));
    this.dirty = new Set();
    const sentAt = Date.now();
    let logged = new Map<string, PulseEvent[]>();
    try {
      if (dirty.length > 0) logged = await this.readLog(dirty, positions, count);
    } catch (error) {
      // Read them again next time.
      for (const topic of dirty) this.markDirty(topic);
      throw error;
    }
    if (read !== this.reads) {
      for (const topic of dirty) this.markDirty(topic);
      return result;
    }
    if (full) this.fullReadAt = sentAt;
    for (const topic of new Set([...logged.keys(), ...this.rung.keys()])) {
      const position = positions.get(topic);
      const held = this.rung.get(topic);
      this.rung.delete(topic);
      if (position === undefined) continue;
      const events = logged.get(topic) ?? [];
      if (events.length >= count) {
        // A full page may not be all: read the topic again, and keep what rang for after it.
        if (held) this.rung.set(topic, held);
        this.markDirty(topic);
      } else if (held) {
        const last = events.at(-1);
        const after = last?.seq ?? position;
        const from = held.findIndex((event) => event.seq > after);
        const next = held[from];
        // What rang must continue the log just read, in its epoch: else the log is read again.
        if (next && (next.seq !== after + 1 || (last && next.epoch !== last.epoch))) this.markDirty(topic);
        else if (next) {
          const room = count - events.length;
          for (const event of held.slice(from, from + room)) events.push(event);
          if (held.length - from > room) this.rung.set(topic, held.slice(from + room));
        }
      }
      if (events.length > 0) result.set(topic, events);
    }
    return result;
  }

  private markDirty(topic: string): void {
    if (this.dirty !== 'all') this.dirty.add(topic);
  }

  /** XREADs (not blocking) from each topic's position: on a single Redis one call, on a cluster one per topic. */
  private async readLog(
    topics: string[],
    positions: ReadonlyMap<string, number>,
    count: number,
  ): Promise<Map<string, PulseEvent[]>> {
    const key = (topic: string) => topicKeys(topic)[KEY.log]!;
    const id = (topic: string) => `${positions.get(topic)!}-0`;
    const answers: [string, [string, string[]][]][] = this.sharded
      ? (
          await Promise.all(
            topics.map((topic) => this.commands.xread('COUNT', count, 'STREAMS', key(topic), id(topic))),
          )
        ).flatMap((answer) => answer ?? [])
      : ((await this.commands.xread('COUNT', count, 'STREAMS', ...topics.map(key), ...topics.map(id))) ?? []);
    const result = new Map<string, PulseEvent[]>();
    for (const [logKey, entries] of answers) {
      const topic = topicOfLogKey(logKey);
      if (entries.length > 0)
        result.set(
          topic,
          entries.map(([id, fields]) => decodeEntry(topic, id, fields)),
        );
    }
    return result;
  }
}
