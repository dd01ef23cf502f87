// Redis Cluster e2e: a local three-master cluster, topics on every shard, two gateways and a worker: delivery, resume, tick, presence.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Cluster } from 'ioredis';
import type { PulseClient } from '#pulse/client';
import type { IngestEvent, PulseEvent, SeriesResponse } from '#pulse/contracts';
import { startPulse, type PulseTestStack } from '#pulse/testing';
import { decodeBell } from '#pulse/event-store';
import { Changes, poll } from './support/wait.js';

let pulse: PulseTestStack | undefined;
let cluster: Cluster | undefined;
/** Three topics on each master, by the slot of their hash tag. */
let topics: string[] = [];

beforeAll(async () => {
  pulse = await startPulse({ redisCluster: 3, gateways: 2, workers: 1 });
  cluster = new Cluster(seedNodes());
  topics = await topicsOnEveryShard(3);
}, 90_000);

/** The clients a test made: closed after it, passed or failed, so that none is left counted as a viewer by the next. */
const clients: PulseClient[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

afterAll(async () => {
  cluster?.disconnect();
  await pulse?.stop();
}, 60_000);

/** The test cluster's nodes, from the stack's REDIS_URL. */
function seedNodes(): { host: string; port: number }[] {
  return thePulse()
    .redisUrl.split(',')
    .map((url) => ({ host: new URL(url).hostname, port: Number(new URL(url).port) }));
}

function thePulse(): PulseTestStack {
  if (!pulse) throw new Error('the Pulse test stack did not start');
  return pulse;
}

/** Topic names, `perShard` on each master: the slot of `{topic}` decides the shard. */
async function topicsOnEveryShard(perShard: number): Promise<string[]> {
  const slots = (await cluster!.cluster('SLOTS')) as unknown as [number, number, [string, number, string]][];
  const owner = (slot: number) => slots.find(([from, to]) => slot >= from && slot <= to)![2][1];
  const byShard = new Map<number, string[]>(slots.map(([, , [, port]]) => [port, []]));
  expect(byShard.size).toBe(3);
  const run = Date.now().toString(36);
  for (let i = 0; [...byShard.values()].some((list) => list.length < perShard); i++) {
    const topic = `cluster-${run}-${i}`;
    const list = byShard.get(owner(Number(await cluster!.cluster('KEYSLOT', `pulse:{${topic}}:log`))))!;
    if (list.length < perShard) list.push(topic);
  }
  return [...byShard.values()].flat();
}

const attempt = (instanceId: string, i: number): IngestEvent => ({
  type: 'attempt.recorded',
  data: { instanceId, outcome: i % 3 === 0 ? 'failure' : 'success' },
});

async function postTo(url: string, topic: string, events: IngestEvent[]): Promise<void> {
  const response = await fetch(`${url}/api/v1/topics/${topic}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ events }),
  });
  if (response.status !== 201)
    throw new Error(`POST ${url} ${topic} answered ${response.status} ${await response.text()}`);
}

/** A PulseClient following every topic in `names`, recording per topic what its handlers see. */
function follow(names: string[], urls: string[]) {
  const changes = new Changes();
  const client: PulseClient = thePulse().client({ urls, reconnectDelayMs: 50 });
  clients.push(client);
  const seen = new Map<string, { events: PulseEvent[]; snapshots: string[]; recovered: number[] }>();
  const subscriptions = names.map((topic) => {
    const record = { events: [] as PulseEvent[], snapshots: [] as string[], recovered: [] as number[] };
    seen.set(topic, record);
    return client.subscribe(topic, {
      onEvent: (event) => {
        record.events.push(event);
        changes.changed();
      },
      onSnapshot: (_snapshot, reason) => {
        record.snapshots.push(reason);
        changes.changed();
      },
      onRecovered: ({ missed }) => {
        record.recovered.push(missed);
        changes.changed();
      },
    });
  });
  const at = (topic: string) => subscriptions[names.indexOf(topic)]!.position()?.seq ?? 0;
  const until = (what: string, check: () => boolean, timeoutMs = 15_000) => changes.until(() => what, check, timeoutMs);
  return { client, seen, at, until };
}

describe('Pulse on a Redis Cluster', () => {
  it('spreads topics over all three shards, each topic in one slot', () => {
    expect(topics).toHaveLength(9);
  });

  it('delivers events appended through one gateway to clients of the other, on every shard, exactly as logged', async () => {
    const [a, b] = thePulse().urls as [string, string];
    for (const topic of topics) await postTo(a, topic, [attempt('seed', 0)]);
    const onA = follow(topics, [a]);
    const onB = follow(topics, [b]);
    await onA.until('A subscribed', () => topics.every((topic) => onA.seen.get(topic)!.snapshots.length > 0));
    await onB.until('B subscribed', () => topics.every((topic) => onB.seen.get(topic)!.snapshots.length > 0));
    for (let round = 1; round <= 10; round++) {
      await Promise.all(
        topics.map((topic, i) =>
          postTo(round % 2 ? b : a, topic, [attempt(`i-${i}`, round), attempt(`i-${i + 1}`, round + 1)]),
        ),
      );
    }
    for (const watcher of [onA, onB]) {
      await watcher.until('every topic at seq 21', () => topics.every((topic) => watcher.at(topic) >= 21));
      for (const topic of topics)
        expect(watcher.seen.get(topic)!.events).toEqual((await thePulse().log(topic)).filter((event) => event.seq > 1));
    }
  }, 60_000);

  it('resumes a client that lost its gateway on the other one with exactly what it missed', async () => {
    const [a, b] = thePulse().urls as [string, string];
    const watcher = follow(topics, [a, b]);
    await watcher.until('subscribed', () => topics.every((topic) => watcher.seen.get(topic)!.snapshots.length > 0));
    const before = new Map(topics.map((topic) => [topic, watcher.at(topic)]));
    watcher.client.dropConnection();
    await Promise.all(
      topics.map((topic, i) => postTo(b, topic, [attempt(`r-${i}`, 1), attempt(`r-${i}`, 2), attempt(`r-${i}`, 3)])),
    );
    await watcher.until('caught up', () => topics.every((topic) => watcher.at(topic) >= before.get(topic)! + 3));
    for (const topic of topics) {
      const record = watcher.seen.get(topic)!;
      expect(record.snapshots).toEqual(['initial']);
      expect(record.recovered.reduce((sum, missed) => sum + missed, 0)).toBeGreaterThanOrEqual(1);
      // Subscribed at the head (a snapshot), then exactly the log after it: the replay on the other gateway, then live.
      expect(record.events).toEqual((await thePulse().log(topic)).filter((event) => event.seq > before.get(topic)!));
    }
  }, 60_000);

  it('ticks every topic on every shard once, and the tick events reach the clients', async () => {
    const [a, b] = thePulse().urls as [string, string];
    const watcher = follow(topics, [b, a]);
    await watcher.until('subscribed', () => topics.every((topic) => watcher.seen.get(topic)!.snapshots.length > 0));
    const heads = new Map(
      await Promise.all(topics.map(async (topic) => [topic, (await thePulse().log(topic)).at(-1)!.seq] as const)),
    );
    const summary = await thePulse().tick();
    expect(summary.topics).toBeGreaterThanOrEqual(topics.length);
    await watcher.until('the tick events', () => topics.every((topic) => watcher.at(topic) >= heads.get(topic)! + 3));
    for (const topic of topics) {
      const ticked = (await thePulse().log(topic)).filter((event) => event.seq > heads.get(topic)!);
      expect(ticked.map((event) => event.type)).toEqual(['status_update', 'statistics_update', 'instances_update']);
      expect(watcher.seen.get(topic)!.events.slice(-3)).toEqual(ticked);
    }
    watcher.client.close();
    // The history lives in each topic's slot too: its series holds every attempt of its log and the tick's gauges.
    for (const topic of topics) {
      const log = await thePulse().log(topic);
      const day = 86_400_000;
      const response = await fetch(
        `${b}/api/v1/topics/${topic}/series?step=1d&from=${log[0]!.ts - day}&to=${Date.now() + 1}`,
      );
      expect(response.status).toBe(200);
      const { points } = (await response.json()) as SeriesResponse;
      expect(points.reduce((sum, point) => sum + point.attempts, 0)).toBe(
        log.filter((event) => event.type === 'attempt.recorded').length,
      );
      expect(points.at(-1)!.known_instances).toBeGreaterThan(0);
    }
  }, 60_000);

  it('counts viewers across gateways through the sharded adapter', async () => {
    const [a, b] = thePulse().urls as [string, string];
    const topic = topics[4]!;
    const one = follow([topic], [a]);
    const two = follow([topic], [b]);
    await one.until('one subscribed', () => one.seen.get(topic)!.snapshots.length > 0);
    await two.until('two subscribed', () => two.seen.get(topic)!.snapshots.length > 0);
    let viewers: number | undefined;
    await poll(
      () => `2 viewers of ${topic} (has ${viewers})`,
      async () => {
        viewers = ((await (await fetch(`${a}/api/v1/admin/presence`)).json()) as { topics: Record<string, number> })
          .topics[topic];
        return viewers === 2;
      },
      { timeoutMs: 10_000 },
    );
    expect(viewers).toBe(2);
  }, 30_000);

  it("rings each topic's bell (a shard channel in its slot) with the entries of every append, as logged", async () => {
    const listener = new Cluster(seedNodes(), { shardedSubscribers: true });
    try {
      const rung = new Map<string, string[]>();
      const rings = new Changes();
      listener.on('smessage', (channel: string, message: string) => {
        rung.set(channel, [...(rung.get(channel) ?? []), message]);
        rings.changed();
      });
      await Promise.all(topics.map((topic) => listener.ssubscribe(`pulse:{${topic}}:bell`)));
      const [a] = thePulse().urls as [string];
      for (const topic of topics) await postTo(a, topic, [attempt('bell', 1), attempt('bell', 2)]);
      const logged = await Promise.all(topics.map(async (topic) => (await thePulse().log(topic)).slice(-2)));
      await rings.until(
        () => `a ring on every bell (${rung.size} of ${topics.length})`,
        () => topics.every((topic) => rung.has(`pulse:{${topic}}:bell`)),
        10_000,
      );
      // One ring per append call, carrying the entries it wrote.
      expect(
        topics.map((topic) => rung.get(`pulse:{${topic}}:bell`)!.map((message) => decodeBell(topic, message))),
      ).toEqual(logged.map((events) => [events]));
    } finally {
      listener.disconnect();
    }
  });
});
