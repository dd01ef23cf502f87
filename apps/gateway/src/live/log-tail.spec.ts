// The log tail on a real Redis, reading through its bells: order and continuity, waking a waiting read, resets on a replaced log, recovery after a kill.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import type { PulseEvent, ResyncReason } from '#pulse/contracts';
import { BellLogReader, createRedis, EventStore, type LogSource } from '#pulse/event-store';
import { LogTail } from './log-tail.js';

const url = process.env.PULSE_TEST_REDIS_URL!;
const topic = () => `tail-${randomUUID().slice(0, 12)}`;
const heartbeat = (instanceId: string) => ({ type: 'instance.heartbeat', data: { instanceId } });

/** A tail on its own connections, recording what it hands over. */
class Harness {
  readonly commands = new Redis(url, { maxRetriesPerRequest: 1 });
  readonly reading = createRedis(url, { name: 'test:tail' });
  readonly bells = createRedis(url, { name: 'test:bells', offlineQueue: true, maxRetriesPerRequest: null });
  readonly store = new EventStore(this.commands, { retention: 10_000, idempotencyWindowMs: 60_000 });
  readonly delivered = new Map<string, PulseEvent[]>();
  readonly resets: { topic: string; reason: ResyncReason }[] = [];
  readonly warnings: string[] = [];
  private watchers = new Set<() => void>();
  readonly tail: LogTail;

  constructor(blockMs = 30_000) {
    this.reading.on('error', () => undefined);
    this.bells.on('error', () => undefined);
    this.tail = new LogTail(
      new BellLogReader(this.reading, this.bells),
      this.store,
      { warn: (message) => this.warnings.push(message), log: () => undefined },
      { blockMs, maxBackoffMs: 200 },
    );
    this.bells.on('close', () => this.tail.interrupt('the bell subscriber connection closed'));
    this.tail.start({
      onEvents: (name, events) => {
        this.delivered.set(name, [...(this.delivered.get(name) ?? []), ...events]);
        this.poke();
      },
      onReset: (name, reason) => {
        this.resets.push({ topic: name, reason });
        this.poke();
      },
    });
  }

  private poke(): void {
    for (const watcher of this.watchers) watcher();
  }

  seqs(name: string): number[] {
    return (this.delivered.get(name) ?? []).map((event) => event.seq);
  }

  /**
   * Resolves once `check` holds after a delivery or reset; fails after 10 s naming `what`, with the
   * tail's warnings and state (a rare CI timeout after a killed connection left nothing else to go on).
   */
  until(what: string, check: () => boolean): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.watchers.delete(watcher);
        const positions = this.tail.topics.map((name) => `${name}@${this.tail.position(name)}`).join(', ');
        reject(
          new Error(
            `timed out waiting for ${what}; tail healthy ${this.tail.healthy}, failures ${this.tail.failures}, ` +
              `connections: reading ${this.reading.status}, bells ${this.bells.status}, positions ${positions || 'none'}; warnings: ` +
              (this.warnings.length ? this.warnings.join(' | ') : 'none') +
              // Which events came, and from which append (runs once saw other specs' ticks here).
              `; delivered: ${[...this.delivered]
                .map(
                  ([name, events]) =>
                    `${name}: ${events.map((e) => `${e.seq}/${e.epoch}/${e.ts}/${JSON.stringify(e.data)}`).join(' ')}`,
                )
                .join('; ')}`,
          ),
        );
      }, 10_000);
      const watcher = () => {
        if (!check()) return;
        clearTimeout(timer);
        this.watchers.delete(watcher);
        resolve();
      };
      this.watchers.add(watcher);
    });
  }

  async close(): Promise<void> {
    await this.tail.stop();
    this.commands.disconnect();
    this.reading.disconnect();
    this.bells.disconnect();
  }
}

const quiet = { warn: () => undefined, log: () => undefined };

/** Resolves once `check` holds, polling; fails after 10 s naming `what`. */
async function poll(what: string, check: () => boolean): Promise<void> {
  for (const started = Date.now(); !check(); await sleep(10))
    if (Date.now() - started > 10_000) throw new Error(`timed out waiting for ${what}`);
}

/**
 * A reader like BellLogReader on a cluster: each read first subscribes (50 ms, when a wake ends no wait and
 * answers false), then waits for a wake or the block time; it records each read's topics.
 */
class SubscribingReader implements LogSource {
  readonly reads: string[][] = [];
  private waiter: (() => void) | null = null;

  get waiting(): boolean {
    return this.waiter !== null;
  }

  async read(positions: ReadonlyMap<string, number>, blockMs: number): Promise<Map<string, PulseEvent[]>> {
    this.reads.push([...positions.keys()]);
    await sleep(50);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, blockMs);
      this.waiter = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.waiter = null;
    return new Map();
  }

  wake(): boolean {
    const waiting = this.waiter !== null;
    this.waiter?.();
    return waiting;
  }

  abandon(): void {
    this.waiter?.();
  }
}

let harness: Harness | null = null;
afterEach(async () => {
  await harness?.close();
  harness = null;
});

describe('LogTail', () => {
  it('starts at the head and hands over every later event once, in seq order, per topic', async () => {
    harness = new Harness();
    const [a, b] = [topic(), topic()];
    await harness.store.append(a, [heartbeat('before')]);
    await harness.store.append(b, [heartbeat('before')]);
    await Promise.all([harness.tail.follow(a), harness.tail.follow(b)]);
    for (let i = 0; i < 30; i++) await harness.store.append(i % 2 ? a : b, [heartbeat(`x${i}`), heartbeat(`y${i}`)]);
    await harness.until(
      'both topics at seq 31',
      () => harness!.tail.position(a) === 31 && harness!.tail.position(b) === 31,
    );
    expect(harness.seqs(a)).toEqual(Array.from({ length: 30 }, (_, i) => i + 2));
    expect(harness.seqs(b)).toEqual(Array.from({ length: 30 }, (_, i) => i + 2));
  });

  it('wakes its waiting read when a topic is followed, instead of waiting for the block to time out', async () => {
    harness = new Harness(60_000);
    const [first, second] = [topic(), topic()];
    await harness.store.append(first, [heartbeat('a')]);
    await harness.tail.follow(first);
    // The loop now waits for up to a minute on `first` alone; the suite's timeout is shorter.
    await harness.store.append(second, [heartbeat('a')]);
    await harness.tail.follow(second);
    await harness.store.append(second, [heartbeat('b')]);
    await harness.until('the event of the newly followed topic', () => harness!.seqs(second).includes(2));
    expect(harness.seqs(second)).toEqual([2]);
  });

  it('checks epochs when a read times out, not each time a follow wakes it: one head read per topic followed', async () => {
    harness = new Harness(60_000);
    const names = Array.from({ length: 40 }, () => topic());
    for (const name of names) await harness.store.append(name, [heartbeat('a')]);
    await harness.tail.follow(names[0]!);
    let heads = 0;
    const head = harness.store.head.bind(harness.store);
    harness.store.head = (name) => {
      heads += 1;
      return head(name);
    };
    // A reconnect storm: topic after topic is followed while the read blocks.
    for (const name of names.slice(1)) await harness.tail.follow(name);
    for (const name of names) await harness.store.append(name, [heartbeat('b')]);
    await harness.until('seq 2 of every topic', () => names.every((name) => harness!.seqs(name).includes(2)));
    // Each follow reads its topic's head (its start); re-checking every followed topic after each
    // wake read 40 · 41 / 2 heads more.
    expect(heads).toBeLessThan(2 * names.length);
  });

  it('wakes its waiting read for every topic of a burst of follows (each live long before the block ends)', async () => {
    harness = new Harness(60_000);
    const names = Array.from({ length: 30 }, () => topic());
    for (const name of names) await harness.store.append(name, [heartbeat('a')]);
    await harness.tail.follow(names[0]!);
    // Follows in waves, all at once within a wave, while reads block for a minute: a wake lost
    // between two wakes would leave a topic unread past the harness's 10 s.
    for (let wave = 1; wave < names.length; wave += 5)
      await Promise.all(names.slice(wave, wave + 5).map((name) => harness!.tail.follow(name)));
    for (const name of names) await harness.store.append(name, [heartbeat('b')]);
    await harness.until('seq 2 of every topic', () => names.every((name) => harness!.seqs(name).includes(2)));
  });

  it('wakes a reader that was not waiting yet again (one still subscribing to its bells)', async () => {
    const reader = new SubscribingReader();
    const redis = new Redis(url, { maxRetriesPerRequest: 1 });
    const store = new EventStore(redis, { retention: 10_000, idempotencyWindowMs: 60_000 });
    const tail = new LogTail(reader, store, quiet, { blockMs: 60_000 });
    tail.start({ onEvents: () => undefined, onReset: () => undefined });
    try {
      const [a, b, c] = [topic(), topic(), topic()];
      await tail.follow(a);
      await poll('a read waiting on a', () => reader.waiting);
      await tail.follow(b);
      // The next read, on a and b, is subscribing: c's wake finds no wait to end, yet must end that read.
      await poll('a read on a and b', () => reader.reads.some((read) => read.includes(b)));
      await tail.follow(c);
      await poll('a read on a, b and c', () => reader.reads.some((read) => read.includes(c)));
    } finally {
      await tail.stop();
      redis.disconnect();
    }
  });

  it('resets a topic whose log was replaced, then follows the new log', async () => {
    harness = new Harness(200);
    const name = topic();
    const first = await harness.store.append(name, [heartbeat('a'), heartbeat('a')]);
    await harness.tail.follow(name);
    await harness.store.append(name, [heartbeat('a')]);
    await harness.until('seq 3', () => harness!.tail.position(name) === 3);
    // The log is lost (a Redis without persistence restarted) and a new one begins.
    await harness.commands.del(
      ...[
        'log',
        'meta',
        'idem',
        'idemx',
        'stats',
        'instances',
        'status',
        'base:stats',
        'base:instances',
        'base:status',
      ].map((k) => `pulse:{${name}}:${k}`),
    );
    const reborn = await harness.store.append(name, [heartbeat('b'), heartbeat('b'), heartbeat('b'), heartbeat('b')]);
    expect(reborn.epoch).not.toBe(first.epoch);
    await harness.until('a reset', () => harness!.resets.length > 0);
    expect(harness.resets[0]!.topic).toBe(name);
    expect(['epoch_changed', 'log_lost']).toContain(harness.resets[0]!.reason);
    await harness.store.append(name, [heartbeat('c')]);
    await harness.until('seq 5 of the new log', () => harness!.seqs(name).includes(5));
    // Nothing of the new log is handed over as if it continued the old one.
    const delivered = harness.delivered.get(name)!;
    expect(delivered.filter((event) => event.epoch === first.epoch).map((event) => event.seq)).toEqual([3]);
    expect(delivered.filter((event) => event.epoch === reborn.epoch).map((event) => event.seq)).toEqual([5]);
  });

  it('gives a log that lost appends but kept its epoch a new epoch, and resets its topic', async () => {
    harness = new Harness(200);
    const name = topic();
    const { epoch } = await harness.store.append(name, [heartbeat('a')]);
    await harness.tail.follow(name);
    await harness.store.append(name, [heartbeat('a'), heartbeat('a'), heartbeat('a')]);
    await harness.until('seq 4', () => harness!.tail.position(name) === 4);
    // Redis comes back from an older AOF: seqs 3 and 4 are gone (the stream as it was at 2), the epoch is not.
    const log = `pulse:{${name}}:log`;
    const kept = (await harness.commands.xrange(log, '-', '2-0')) as [string, string[]][];
    const restore = harness.commands.multi().del(log);
    for (const [id, fields] of kept) restore.xadd(log, id, ...fields);
    await restore.hset(`pulse:{${name}}:meta`, 'head', 2).exec();
    await harness.until('a reset', () => harness!.resets.length > 0);
    const rotated = (await harness.store.head(name))!.epoch;
    expect(rotated).not.toBe(epoch);
    expect(harness.resets).toEqual([{ topic: name, reason: 'epoch_changed' }]);
    // The reused seqs come with the new epoch, after the reset: never as a continuation of 1..4.
    const again = await harness.store.append(name, [heartbeat('b'), heartbeat('b'), heartbeat('b')]);
    expect(again).toEqual({ epoch: rotated, seqs: [3, 4, 5] });
    await harness.until('seq 5 of the new life', () => harness!.seqs(name).includes(5));
    expect(harness.delivered.get(name)!.map((event) => [event.epoch, event.seq])).toEqual([
      [epoch, 2],
      [epoch, 3],
      [epoch, 4],
      [rotated, 3],
      [rotated, 4],
      [rotated, 5],
    ]);
  });

  it.each(['test:bells', 'test:tail'])(
    'recovers from a killed connection (%s) and goes on from where it was, losing nothing',
    async (connection) => {
      // Block time a minute: what the kill lost must come back through the reconnect, not a timeout.
      harness = new Harness(60_000);
      const [name, later] = [topic(), topic()];
      await harness.store.append(name, [heartbeat('a')]);
      await harness.store.append(later, [heartbeat('a'), heartbeat('a')]);
      await harness.tail.follow(name);
      await harness.store.append(name, [heartbeat('a')]);
      await harness.until('seq 2', () => harness!.tail.position(name) === 2);
      const clients = String(await harness.commands.client('LIST'));
      const id = new RegExp(`id=(\\d+) .*name=${connection} `).exec(clients)![1]!;
      await harness.commands.client('KILL', 'ID', id);
      for (let i = 0; i < 10; i++) await harness.store.append(name, [heartbeat(`k${i}`)]);
      // A topic followed now is read from its log, on the reading connection (killed or not).
      await harness.tail.follow(later);
      await harness.store.append(later, [heartbeat('b')]);
      await harness.until(
        'seq 12 after the kill, and the later topic at 3',
        () => (harness!.tail.position(name) ?? 0) === 12 && harness!.tail.position(later) === 3,
      );
      expect(harness.seqs(name)).toEqual(Array.from({ length: 11 }, (_, i) => i + 2));
      expect(harness.seqs(later)).toEqual([3]);
      expect(harness.resets).toEqual([]);
      await poll('the tail healthy again', () => harness!.tail.healthy);
    },
  );
});

/** A log source whose reads the test answers one by one. */
class ScriptedSource implements LogSource {
  readonly reads: number[] = [];
  private answers: ((batches: Map<string, PulseEvent[]>) => void)[] = [];
  private readWaiters: (() => void)[] = [];

  wake(): boolean {
    return false;
  }

  abandon(): void {}

  read(positions: ReadonlyMap<string, number>): Promise<Map<string, PulseEvent[]>> {
    this.reads.push(positions.get('t')!);
    for (const waiter of this.readWaiters.splice(0)) waiter();
    return new Promise((resolve) => this.answers.push(resolve));
  }

  /** Resolves when the tail has issued `count` reads; fails after 10 s. */
  async untilReads(count: number): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (this.reads.length < count) {
      const timer = setTimeout(() => this.readWaiters.splice(0).forEach((waiter) => waiter()), deadline - Date.now());
      await new Promise<void>((resolve) => this.readWaiters.push(resolve));
      clearTimeout(timer);
      if (this.reads.length < count && Date.now() >= deadline)
        throw new Error(`expected read ${count}, the tail issued ${this.reads.length}`);
    }
  }

  answer(seqs: number[]): void {
    const events = seqs.map((seq) => ({ topic: 't', seq, epoch: 'e1', type: 'instance.heartbeat', ts: seq, data: {} }));
    this.answers.shift()!(new Map([['t', events as PulseEvent[]]]));
  }
}

describe('LogTail coalescing', () => {
  it('reads again at once after single events, and pauses only after a read that found several waiting', async () => {
    const source = new ScriptedSource();
    const store = { head: () => Promise.resolve({ epoch: 'e1', head: 0, base: 0 }) } as unknown as EventStore;
    const warnings: string[] = [];
    // A pause so long that a test waiting through it would time out.
    const tail = new LogTail(
      source,
      store,
      { warn: (m) => void warnings.push(m), log: () => undefined },
      {
        coalesceMs: 600_000,
      },
    );
    const handed: number[][] = [];
    await tail.follow('t');
    tail.start({
      onEvents: (_topic, events) => void handed.push(events.map((event) => event.seq)),
      onReset: () => undefined,
    });
    await source.untilReads(1);
    source.answer([1]);
    await source.untilReads(2);
    source.answer([2]);
    await source.untilReads(3);
    source.answer([3, 4]);
    // Everything the answer set going has run by the next turn of the event loop: no read follows it.
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(source.reads).toEqual([0, 1, 2]);
    expect(handed).toEqual([[1], [2], [3, 4]]);
    await tail.stop();
    expect(warnings).toEqual([]);
  });
});
