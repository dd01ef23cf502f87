// The bell reader against a real redis-server: what a bell carries is what the log holds; the log is read exactly when a bell cannot be trusted.
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Redis, type Cluster } from 'ioredis';
import type { PulseEvent } from '#pulse/contracts';
import { BellLogReader } from './bell-log-reader.js';
import { decodeBell, EventStore, type NewEvent } from './event-store.js';
import { bellChannel } from './keys.js';

const url = process.env.PULSE_TEST_REDIS_URL!;
const connections: Redis[] = [];
function connect(): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  connections.push(redis);
  return redis;
}
afterAll(() => {
  for (const redis of connections) redis.disconnect();
});
const uniqueTopic = () => `bell-${randomUUID().slice(0, 12)}`;
const heartbeat = (instanceId: string, source?: string): NewEvent => ({
  type: 'instance.heartbeat',
  data: { instanceId, note: 'a "quoted" / slashed \u00e9 text' },
  ...(source ? { source } : {}),
});

/** A reader on its own two connections, counting the log reads it sends. */
function reader(): { reader: BellLogReader; logReads: () => number; bells: Redis; store: EventStore } {
  const commands = connect();
  const bells = connect();
  let reads = 0;
  const xread = commands.xread.bind(commands);
  commands.xread = ((...args: Parameters<typeof xread>) => {
    reads += 1;
    return xread(...args);
  }) as typeof commands.xread;
  const store = new EventStore(connect(), { retention: 10_000, idempotencyWindowMs: 60_000 });
  return { reader: new BellLogReader(commands, bells), logReads: () => reads, bells, store };
}

/** Reads until `topic` reaches `seq`, collecting what is handed over; fails after 10 s. */
async function readUntil(tail: BellLogReader, topic: string, from: number, seq: number): Promise<PulseEvent[]> {
  const events: PulseEvent[] = [];
  const deadline = Date.now() + 10_000;
  while ((events.at(-1)?.seq ?? from) < seq) {
    if (Date.now() > deadline) throw new Error(`timed out at seq ${events.at(-1)?.seq ?? from} waiting for ${seq}`);
    const batches = await tail.read(new Map([[topic, events.at(-1)?.seq ?? from]]), 1000, 1000);
    events.push(...(batches.get(topic) ?? []));
  }
  return events;
}

describe('decodeBell', () => {
  it('answers for a bell exactly what the log holds for its entries, sources and all', async () => {
    const topic = uniqueTopic();
    const store = new EventStore(connect(), { retention: 10_000, idempotencyWindowMs: 60_000 });
    const subscriber = connect();
    const messages: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => messages.push(message));
    await subscriber.subscribe(bellChannel(topic));
    await store.append(topic, [heartbeat('a', 'probe-1'), heartbeat('b'), heartbeat('c', 'probe "2"')]);
    await store.append(topic, [heartbeat('d')]);
    for (const started = Date.now(); messages.length < 2; await sleep(10))
      if (Date.now() - started > 10_000) throw new Error('no bell rang');
    const rung = messages.flatMap((message) => decodeBell(topic, message) ?? []);
    const logged = (await store.readAfter(topic, 0, 100))!.events;
    expect(rung).toEqual(logged);
    expect(rung.map((event) => event.seq)).toEqual([1, 2, 3, 4]);
  });

  it('answers null for a bare head, a malformed bell, or one whose seqs do not follow on', () => {
    expect(decodeBell('t', '12')).toBeNull();
    expect(decodeBell('t', '{"e":"x"')).toBeNull();
    expect(decodeBell('t', '{"e":"x","ts":1,"v":[]}')).toBeNull();
    expect(decodeBell('t', '{"e":"x","ts":1,"v":[[1,"a",{}],[3,"a",{}]]}')).toBeNull();
    expect(decodeBell('t', '{"e":"x","ts":1,"v":[[0,"a",{}]]}')).toBeNull();
    expect(decodeBell('t', '{"e":"x","ts":1,"v":[[1,"a",{}],[2,"a",{}]]}')).toHaveLength(2);
  });
});

describe('BellLogReader', () => {
  it('hands over what the bells carry without reading the log, once the topic was read at its follow', async () => {
    const { reader: tail, logReads, store } = reader();
    const topic = uniqueTopic();
    await store.append(topic, [heartbeat('a'), heartbeat('a')]);
    // The first read subscribes, then reads the log: seqs 1 and 2 rang before anyone listened.
    expect((await readUntil(tail, topic, 0, 2)).map((event) => event.seq)).toEqual([1, 2]);
    const before = logReads();
    for (let i = 0; i < 20; i++) await store.append(topic, [heartbeat(`x${i}`)]);
    const events = await readUntil(tail, topic, 2, 22);
    expect(events.map((event) => event.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 3));
    expect(logReads()).toBe(before);
  });

  it('reads the log when a bell was lost, and hands over every event once, in order', async () => {
    const { reader: tail, logReads, bells, store } = reader();
    const topic = uniqueTopic();
    await store.append(topic, [heartbeat('a')]);
    await readUntil(tail, topic, 0, 1);
    // Behind the reader's back: the bells of seqs 2 and 3 ring nobody (as in a reconnect).
    await bells.unsubscribe(bellChannel(topic));
    await store.append(topic, [heartbeat('b')]);
    await store.append(topic, [heartbeat('c')]);
    await bells.subscribe(bellChannel(topic));
    await store.append(topic, [heartbeat('d')]);
    const before = logReads();
    const events = await readUntil(tail, topic, 1, 4);
    expect(events.map((event) => event.seq)).toEqual([2, 3, 4]);
    expect(logReads()).toBeGreaterThan(before);
  });

  it('reads the log for an append too big to ring, and pages it at `count`', async () => {
    const { reader: tail, logReads, store } = reader();
    const topic = uniqueTopic();
    const listener = connect();
    const messages: string[] = [];
    listener.on('message', (_channel: string, message: string) => messages.push(message));
    await listener.subscribe(bellChannel(topic));
    await store.append(topic, [heartbeat('a')]);
    await readUntil(tail, topic, 0, 1);
    // 300 events of ~1 KiB: past the script's 256 KiB, the bell carries only the new head.
    const big = Array.from({ length: 300 }, (_, i) => ({
      type: 'instance.heartbeat',
      data: { instanceId: `i${i}`, padding: 'x'.repeat(1000) },
    }));
    await store.append(topic, big);
    for (const started = Date.now(); messages.length < 2; await sleep(10))
      if (Date.now() - started > 10_000) throw new Error('the second bell did not ring');
    expect(messages[1]).toBe('301');
    expect(decodeBell(topic, messages[1]!)).toBeNull();
    const before = logReads();
    const pages: number[] = [];
    const events: PulseEvent[] = [];
    // Waits of a minute: a page not read again at once would time the test out.
    while ((events.at(-1)?.seq ?? 1) < 301) {
      const batch = (await tail.read(new Map([[topic, events.at(-1)?.seq ?? 1]]), 60_000, 100)).get(topic) ?? [];
      if (batch.length > 0) pages.push(batch.length);
      events.push(...batch);
    }
    expect(events.map((event) => event.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i + 2));
    expect(pages).toEqual([100, 100, 100]);
    expect(logReads() - before).toBe(3);
  });

  it('reads every log at least every fullReadMs, so a bell lost on a busy gateway is not waited on', async () => {
    const commands = connect();
    const bells = connect();
    const store = new EventStore(connect(), { retention: 10_000, idempotencyWindowMs: 60_000 });
    const tail = new BellLogReader(commands, bells, { fullReadMs: 500 });
    const [quiet, busy] = [uniqueTopic(), uniqueTopic()];
    const positions = new Map([
      [quiet, 0],
      [busy, 0],
    ]);
    await tail.read(positions, 100, 100);
    // quiet's only bell rings nobody; busy rings every 20 ms, so no wait of a minute ever times out.
    await bells.unsubscribe(bellChannel(quiet));
    await store.append(quiet, [heartbeat('lost')]);
    await bells.subscribe(bellChannel(quiet));
    let ringing = true;
    const ringer = (async () => {
      while (ringing) {
        await store.append(busy, [heartbeat('b')]);
        await sleep(20);
      }
    })();
    try {
      const started = Date.now();
      while (positions.get(quiet) === 0) {
        if (Date.now() - started > 10_000) throw new Error('the quiet topic was never read');
        for (const [topic, events] of await tail.read(positions, 60_000, 100)) positions.set(topic, events.at(-1)!.seq);
      }
      expect(positions.get(quiet)).toBe(1);
    } finally {
      ringing = false;
      await ringer;
    }
  });

  it('hands nothing over from a read the tail gave up, and reads the log again for the next', async () => {
    const { reader: tail, bells, store } = reader();
    const topic = uniqueTopic();
    await store.append(topic, [heartbeat('a')]);
    await readUntil(tail, topic, 0, 1);
    const given = tail.read(new Map([[topic, 1]]), 60_000, 100);
    await sleep(100);
    // Seq 2 rings nobody (as while the subscriber reconnects): only a read of the log finds it.
    await bells.unsubscribe(bellChannel(topic));
    await store.append(topic, [heartbeat('b')]);
    await bells.subscribe(bellChannel(topic));
    tail.abandon();
    // The given-up read must not take seq 2 with it: the tail would never see it.
    expect((await given).size).toBe(0);
    expect((await readUntil(tail, topic, 1, 2)).map((event) => event.seq)).toEqual([2]);
  });

  it('drops what rang for a tail that fell more than 10,000 events behind, and reads the log instead', async () => {
    const { reader: tail, logReads } = reader();
    // A retention above what the test appends: the log must still hold every event it reads.
    const store = new EventStore(connect(), { retention: 100_000, idempotencyWindowMs: 60_000 });
    const topic = uniqueTopic();
    await store.append(topic, [heartbeat('a')]);
    await readUntil(tail, topic, 0, 1);
    // Eleven batches ring while nobody reads: the held events pass 10,000 with the last.
    for (let batch = 0; batch < 11; batch++)
      await store.append(
        topic,
        Array.from({ length: 1000 }, (_, i) => heartbeat(`b${batch}-${i}`)),
      );
    await sleep(200);
    const before = logReads();
    const events = await readUntil(tail, topic, 1, 11_001);
    expect(events.map((event) => event.seq)).toEqual(Array.from({ length: 11_000 }, (_, i) => i + 2));
    // Read from the log, a page of 1,000 at a time, not handed over from memory.
    expect(logReads() - before).toBeGreaterThanOrEqual(11);
  });

  it('answers from each topic its own position only: a topic no longer followed is dropped', async () => {
    const { reader: tail, store } = reader();
    const [a, b] = [uniqueTopic(), uniqueTopic()];
    await store.append(b, [heartbeat('b')]);
    await tail.read(
      new Map([
        [a, 0],
        [b, 1],
      ]),
      100,
      100,
    );
    await store.append(a, [heartbeat('a')]);
    await store.append(b, [heartbeat('b'), heartbeat('b')]);
    await sleep(100);
    const batches = await tail.read(new Map([[b, 2]]), 1000, 100);
    expect([...batches.keys()]).toEqual([b]);
    expect(batches.get(b)!.map((event) => event.seq)).toEqual([3]);
  });
});

/** Stand-ins for the two cluster connections: subscribing takes a round trip; no topic has events. */
function clusterReader(): BellLogReader {
  const commands = { xread: () => Promise.resolve(null) };
  const subscriber = Object.assign(new EventEmitter(), {
    isCluster: true,
    ssubscribe: () => sleep(50),
    sunsubscribe: () => sleep(50),
  });
  return new BellLogReader(commands as unknown as Cluster, subscriber as unknown as Cluster);
}

describe('BellLogReader.wake', () => {
  it('answers false while no read waits (none yet, or one still subscribing), true when it ends a wait', async () => {
    const tail = clusterReader();
    expect(tail.wake()).toBe(false);
    let done = false;
    const read = tail.read(new Map([['a', 0]]), 60_000, 100).then((batches) => {
      done = true;
      return batches;
    });
    // Still subscribing to a's bell: nothing to end yet, and the tail must try again.
    expect(tail.wake()).toBe(false);
    await sleep(150);
    expect(done).toBe(false);
    expect(tail.wake()).toBe(true);
    expect((await read).size).toBe(0);
    expect(done).toBe(true);
  });
});
