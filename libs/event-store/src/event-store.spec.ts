// The event store against a real redis-server: contiguity, fold agreement, idempotency, retention, epochs, ticks.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import {
  emptyState,
  foldEvent,
  parseRuleBody,
  foldInstancesUpdate,
  instancesDataSchema,
  instancesOf,
  statisticsOf,
  type InstanceState,
  type PulseEvent,
} from '#pulse/contracts';
import {
  decodeEntry,
  EventStore,
  InstanceLimitError,
  RuleLimitError,
  TopicLimitError,
  TopicQuotaError,
  type NewEvent,
} from './event-store.js';

import { KEY, topicKeys } from './keys.js';

const url = process.env.PULSE_TEST_REDIS_URL!;
const connections: Redis[] = [];
function connect(): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  connections.push(redis);
  return redis;
}
const uniqueTopic = () => `t-${randomUUID().slice(0, 12)}`;

let redis: Redis;
beforeAll(() => {
  redis = connect();
});
afterAll(async () => {
  await Promise.all(connections.map((c) => c.quit()));
});

function heartbeat(instanceId: string, extra: Record<string, unknown> = {}): NewEvent {
  return { type: 'instance.heartbeat', data: { instanceId, ...extra } };
}
function attempt(instanceId: string, outcome: 'success' | 'failure'): NewEvent {
  return { type: 'attempt.recorded', data: { instanceId, outcome } };
}

/** Every retained event of a topic, straight from XRANGE. */
async function wholeLog(store: EventStore, topic: string): Promise<PulseEvent[]> {
  const events: PulseEvent[] = [];
  for (;;) {
    const page = await store.readAfter(topic, events.at(-1)?.seq ?? 0, 1000);
    if (!page || page.events.length === 0) return events;
    events.push(...page.events);
  }
}

/** A deterministic pseudo-random source, so a failure can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

describe('EventStore', () => {
  it('lists topics a page at a time, by name, after a cursor, keeping those the filter includes', async () => {
    const store = new EventStore(connect(), { retention: 100, idempotencyWindowMs: 60_000 });
    const prefix = uniqueTopic();
    const names = ['a', 'b', 'c', 'd', 'e'].map((letter) => `${prefix}-${letter}`);
    for (const name of [...names].reverse()) await store.append(name, [heartbeat('x')]);
    const include = (topic: string) => topic.startsWith(prefix) && !topic.endsWith('-c');
    const first = await store.topicPage({ limit: 2, include });
    expect(first).toEqual({
      topics: names.slice(0, 2).map((topic) => ({ topic, head: 1, epoch: expect.any(String) })),
      next: names[1],
    });
    const second = await store.topicPage({ after: first.next!, limit: 2, include });
    expect(second.topics.map((entry) => entry.topic)).toEqual([names[3], names[4]]);
    expect(second.next).toBeNull();
  });

  it('decodes an entry of a type it does not know as it is (a newer writer), and refuses one Pulse did not write', () => {
    const entry = ['t', 'future.kind', 'd', '{"x":1}', 'e', 'ep-1', 'ts', '1700000000000'];
    expect(decodeEntry('t1', '7-0', entry)).toEqual({
      topic: 't1',
      seq: 7,
      epoch: 'ep-1',
      type: 'future.kind',
      ts: 1_700_000_000_000,
      data: { x: 1 },
    });
    expect(() => decodeEntry('t1', '8-0', ['t', 'future.kind', 'd', '{}'])).toThrow(
      /malformed log entry 8-0 in topic t1/,
    );
  });

  it('assigns contiguous seqs under concurrent appends from several connections', async () => {
    const topic = uniqueTopic();
    const stores = Array.from(
      { length: 4 },
      () => new EventStore(connect(), { retention: 100_000, idempotencyWindowMs: 60_000 }),
    );
    const results = await Promise.all(
      stores.flatMap((store, s) =>
        Array.from({ length: 25 }, (_, i) =>
          store.append(topic, [heartbeat(`i-${s}`), attempt(`i-${s}`, i % 3 ? 'success' : 'failure')]),
        ),
      ),
    );
    const seqs = results.flatMap((r) => r.seqs).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(new Set(results.map((r) => r.epoch)).size).toBe(1);
    // Each call's seqs are consecutive: a batch is never interleaved with another.
    for (const { seqs: batch } of results) expect(batch[1]).toBe(batch[0]! + 1);
    const log = await wholeLog(stores[0]!, topic);
    expect(log.map((e) => e.seq)).toEqual(seqs);
    expect((await stores[0]!.head(topic))!.head).toBe(200);
  });

  it('keeps the projections equal to the fold of the log at every seq, tick events included', async () => {
    const topic = uniqueTopic();
    let clock = Date.UTC(2026, 0, 1);
    const store = new EventStore(redis, {
      retention: 100_000,
      idempotencyWindowMs: 60_000,
      now: () => clock,
      instancesFullEvery: 3,
    });
    const random = prng(7);
    const expected = emptyState();
    // The table a client keeps from instances_update alone (full every 3rd tick, changes between).
    const table = new Map<string, InstanceState>();
    const kinds = new Set<string>();
    let folded = 0;
    let tickAt = clock;
    for (let step = 0; step < 150; step++) {
      clock += Math.floor(random() * 4000);
      const id = `i-${Math.floor(random() * 6)}`;
      const roll = random();
      if (roll < 0.1) {
        tickAt += 5000;
        await store.tick(topic, { tickAt, nextTickAt: tickAt + 5000, instanceTtlMs: 8000, instanceForgetMs: 20_000 });
      } else if (roll < 0.45) {
        await store.append(topic, [
          heartbeat(
            id,
            roll < 0.3 ? { status: 'working', nextActionAt: clock + 3000 } : { meta: { version: '1.2', canary: true } },
          ),
        ]);
      } else {
        await store.append(topic, [attempt(id, roll < 0.8 ? 'success' : 'failure')]);
      }
      const snapshot = (await store.snapshot(topic))!;
      const log = await wholeLog(store, topic);
      // Fold what this step appended; a tick's derived events must equal the fold at their own seq.
      for (const event of log.filter((e) => e.seq > folded)) {
        foldEvent(expected, event);
        if (event.type === 'statistics_update') expect(event.data).toEqual(statisticsOf(expected));
        if (event.type === 'instances_update') {
          const data = instancesDataSchema.parse(event.data);
          kinds.add(data.full ? 'full' : data.removed ? 'removed' : 'changes');
          foldInstancesUpdate(table, data);
          expect(instancesOf({ ...expected, instances: table })).toEqual(instancesOf(expected));
        }
        folded = event.seq;
      }
      expect(snapshot.seq).toBe(log.at(-1)!.seq);
      expect(snapshot.statistics).toEqual(statisticsOf(expected));
      expect(snapshot.instances).toEqual(instancesOf(expected));
      expect(snapshot.status).toEqual(expected.status);
    }
    expect(kinds).toEqual(new Set(['full', 'changes', 'removed']));
    expect((await store.rebuild(topic))!.drift).toEqual([]);
  });

  it('lists only the instances changed since the previous tick, and the whole table every Nth tick, on demand and after a rebuild is applied', async () => {
    const topic = uniqueTopic();
    let clock = Date.UTC(2026, 0, 1);
    const store = new EventStore(redis, {
      retention: 100_000,
      idempotencyWindowMs: 60_000,
      now: () => clock,
      instancesFullEvery: 4,
    });
    let tickAt = 0;
    const tick = async (fullInstances = false) => {
      clock += 1000;
      const { seqs } = await store.tick(topic, {
        tickAt: ++tickAt,
        nextTickAt: tickAt + 1,
        instanceTtlMs: 60_000,
        fullInstances,
      });
      const update = (await store.readAfter(topic, seqs.at(-1)! - 1, 1))!.events[0]!;
      const data = instancesDataSchema.parse(update.data);
      return { full: data.full, ids: data.instances.map((instance) => instance.id) };
    };
    await store.append(
      topic,
      ['a', 'b', 'c'].map((id) => heartbeat(id)),
    );
    expect(await tick()).toEqual({ full: true, ids: ['a', 'b', 'c'] }); // the first: no previous one
    await store.append(topic, [attempt('c', 'success'), heartbeat('a')]);
    expect(await tick()).toEqual({ full: false, ids: ['a', 'c'] });
    expect(await tick()).toEqual({ full: false, ids: [] });
    expect(await tick()).toEqual({ full: true, ids: ['a', 'b', 'c'] }); // loop 4
    expect(await tick(true)).toEqual({ full: true, ids: ['a', 'b', 'c'] });
    await store.append(topic, [heartbeat('d')]);
    const rebuilt = (await store.rebuild(topic))!;
    expect(await store.applyRebuild(topic, rebuilt)).toBe(true);
    expect(await tick()).toEqual({ full: true, ids: ['a', 'b', 'c', 'd'] }); // the projection was replaced
    expect(await tick()).toEqual({ full: false, ids: [] });
  });

  it('refuses a batch that would add an instance past maxInstancesPerTopic, appending none of it', async () => {
    const topic = uniqueTopic();
    const store = new EventStore(redis, { retention: 1000, idempotencyWindowMs: 60_000, maxInstancesPerTopic: 3 });
    await store.append(topic, [heartbeat('a'), heartbeat('b')]);
    const refused = await store
      .append(topic, [attempt('a', 'success'), heartbeat('c'), attempt('c', 'failure'), heartbeat('d')])
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(InstanceLimitError);
    expect(refused).toMatchObject({ limit: 3, held: 2, index: 3, instanceId: 'd' });
    expect((await store.head(topic))!.head).toBe(2);
    expect((await store.snapshot(topic))!.statistics.total_attempts).toBe(0);
    // Known instances still report, and a new one fits while there is room.
    expect((await store.append(topic, [attempt('a', 'success'), heartbeat('c')])).seqs).toEqual([3, 4]);
    await expect(store.append(topic, [heartbeat('e')])).rejects.toThrow(/holds 3 of at most 3 instances/);
    expect((await store.snapshot(topic))!.instances.map((instance) => instance.id)).toEqual(['a', 'b', 'c']);
  });

  it('refuses an event holding a lone UTF-16 surrogate, appending none of its batch, and keeps the topic working', async () => {
    // Redis's Lua JSON cannot read one back: stored, it would stop the topic's projections for good.
    const topic = uniqueTopic();
    const store = new EventStore(redis, { retention: 2, idempotencyWindowMs: 60_000 });
    await store.append(topic, [heartbeat('a')]);
    const lone = { type: 'attempt.recorded', data: { instanceId: 'a', outcome: 'failure', error: 'bad \ud800 byte' } };
    await expect(store.append(topic, [heartbeat('b'), lone as NewEvent])).rejects.toThrow(
      'event 1 (attempt.recorded) holds a lone UTF-16 surrogate (\\uD800-\\uDFFF outside a pair), which is not text: nothing was appended',
    );
    await expect(store.append(uniqueTopic(), [heartbeat('x', { meta: { note: '\udc00' } })])).rejects.toThrow(
      RangeError,
    );
    expect((await store.head(topic))!.head).toBe(1);
    // A pair, and a backslash followed by "ud800" as text, are text.
    const text = {
      type: 'attempt.recorded',
      data: { instanceId: 'a', outcome: 'failure', error: 'ok \u{1F600} \\ud800' },
    };
    for (let i = 0; i < 3; i++) await store.append(topic, [text]);
    expect((await store.snapshot(topic))!.statistics).toMatchObject({ total_attempts: 3, failed: 3 });
  });

  it("keeps a rule's numbers as sent, past the 14 digits of Redis's JSON, so that a rebuild finds no drift", async () => {
    const topic = uniqueTopic();
    const store = new EventStore(redis, { retention: 2, idempotencyWindowMs: 60_000 });
    const parsed = parseRuleBody('fr', {
      kind: 'failure_rate',
      params: { windowMs: 60_000, thresholdPct: 12.345678901234567 },
      channels: [],
    });
    if (!parsed.success) throw parsed.error;
    await store.append(topic, [{ type: 'rule.set', data: parsed.data }]);
    expect((await store.rules(topic)).rules[0]).toMatchObject({ params: { thresholdPct: 12.345678901234567 } });
    // Trimmed out of the log, it is folded into the base the same way.
    await store.append(topic, [heartbeat('a'), heartbeat('b'), heartbeat('c'), heartbeat('d')]);
    expect((await store.rebuild(topic))!.drift).toEqual([]);
  });

  it('refuses a rule.set of a new rule id past maxRules in the append itself, so that racing appends cannot pass it', async () => {
    const topic = uniqueTopic();
    const store = new EventStore(redis, { retention: 1000, idempotencyWindowMs: 60_000 });
    const ruleSet = (ruleId: string): NewEvent => {
      const parsed = parseRuleBody(ruleId, { kind: 'instance_offline' });
      if (!parsed.success) throw parsed.error;
      return { type: 'rule.set', data: parsed.data };
    };
    await store.append(topic, [ruleSet('r1')], { maxRules: 3 });
    // Ten appends of new ids at once, with room for two: exactly two land.
    const answers = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => store.append(topic, [ruleSet(`n${i}`)], { maxRules: 3 })),
    );
    expect(answers.filter((answer) => answer.status === 'fulfilled')).toHaveLength(2);
    const refused = answers.find((answer) => answer.status === 'rejected')!.reason as unknown;
    expect(refused).toBeInstanceOf(RuleLimitError);
    expect(refused).toMatchObject({ topic, limit: 3, held: 3, index: 0 });
    expect((await store.rules(topic)).rules).toHaveLength(3);
    // A batch whose second event is one too many appends nothing of it; a known id still changes.
    const known = (await store.rules(topic)).rules[1]!.ruleId;
    await expect(store.append(topic, [ruleSet(known), ruleSet('extra')], { maxRules: 3 })).rejects.toMatchObject({
      index: 1,
      ruleId: 'extra',
    });
    expect((await store.head(topic))!.head).toBe(3);
    expect((await store.append(topic, [ruleSet(known)], { maxRules: 3 })).seqs).toEqual([4]);
  });

  it("creates topics within maxTopics and each creator's topic quota, and lets existing topics take appends past them", async () => {
    const prefix = uniqueTopic();
    // A database of its own: the topic registry of database 0 is shared by every spec running now.
    const db = () => {
      const connection = new Redis(url, { maxRetriesPerRequest: 1, db: 9 });
      connections.push(connection);
      return connection;
    };
    await db().flushdb();
    const store = new EventStore(db(), {
      retention: 100,
      idempotencyWindowMs: 60_000,
      maxTopics: 3,
      topicQuota: { count: 2, windowMs: 60_000 },
    });
    await store.append(`${prefix}-1`, [heartbeat('x')], { creator: 'alice' });
    await store.append(`${prefix}-2`, [heartbeat('x')], { creator: 'alice' });
    const overQuota = await store
      .append(`${prefix}-3`, [heartbeat('x')], { creator: 'alice' })
      .catch((error: unknown) => error);
    expect(overQuota).toBeInstanceOf(TopicQuotaError);
    expect((overQuota as TopicQuotaError).retryAfterMs).toBeGreaterThan(0);
    expect(await store.head(`${prefix}-3`)).toBeNull();
    await store.append(`${prefix}-3`, [heartbeat('x')], { creator: 'bob' });
    const overCap = await store
      .append(`${prefix}-4`, [heartbeat('x')], { creator: 'bob' })
      .catch((error: unknown) => error);
    expect(overCap).toBeInstanceOf(TopicLimitError);
    expect(await store.head(`${prefix}-4`)).toBeNull();
    // A topic that exists takes appends from anyone, quota or cap reached.
    expect((await store.append(`${prefix}-1`, [heartbeat('y')], { creator: 'alice' })).seqs).toEqual([2]);
    // Another process (no memory of these topics) finds them in the registry.
    const other = new EventStore(db(), {
      retention: 100,
      idempotencyWindowMs: 60_000,
      maxTopics: 3,
      topicQuota: { count: 2, windowMs: 60_000 },
    });
    expect((await other.append(`${prefix}-3`, [heartbeat('y')], { creator: 'bob' })).seqs).toEqual([2]);
    // bob's creation refused by the cap gave his quota point back: with a higher cap he creates one more.
    const roomier = new EventStore(db(), {
      retention: 100,
      idempotencyWindowMs: 60_000,
      maxTopics: 4,
      topicQuota: { count: 2, windowMs: 60_000 },
    });
    expect((await roomier.append(`${prefix}-4`, [heartbeat('x')], { creator: 'bob' })).seqs).toEqual([1]);
    await expect(roomier.append(`${prefix}-5`, [heartbeat('x')], { creator: 'carol' })).rejects.toThrow(
      TopicLimitError,
    );
  });

  it('answers a repeated idempotency key with its first seq and appends it once, until the window passes', async () => {
    const topic = uniqueTopic();
    let clock = 1_000_000;
    const store = new EventStore(redis, { retention: 1000, idempotencyWindowMs: 10_000, now: () => clock });
    const first = await store.append(topic, [
      { ...attempt('a', 'success'), idempotencyKey: 'k1' },
      { ...attempt('a', 'success'), idempotencyKey: 'k1' },
    ]);
    expect(first.seqs).toEqual([1, 1]);
    const again = await store.append(topic, [
      { ...attempt('a', 'failure'), idempotencyKey: 'k2' },
      { ...attempt('a', 'success'), idempotencyKey: 'k1' },
    ]);
    expect(again.seqs).toEqual([2, 1]);
    expect((await store.snapshot(topic))!.statistics).toMatchObject({ total_attempts: 2, successful: 1, failed: 1 });
    clock += 10_001;
    const later = await store.append(topic, [{ ...attempt('a', 'success'), idempotencyKey: 'k1' }]);
    expect(later.seqs).toEqual([3]);
    expect((await wholeLog(store, topic)).map((e) => e.seq)).toEqual([1, 2, 3]);
  });

  it('leaves every key of a topic as one event per call would, whatever the batching (the append writes what a batch touched once)', async () => {
    /** Every key of the topic by its name without the topic, with its contents and whether it expires. */
    const dump = async (topic: string) => {
      const tag = `pulse:{${topic}}`;
      const out: Record<string, unknown> = {};
      for (const key of (await redis.keys(`${tag}*`)).sort()) {
        const type = await redis.type(key);
        const value =
          type === 'hash'
            ? await redis.hgetall(key)
            : type === 'set'
              ? (await redis.smembers(key)).sort()
              : type === 'zset'
                ? await redis.zrange(key, '0', '-1', 'WITHSCORES')
                : (await redis.xrange(key, '-', '+')).map(([id, fields]) => [id, fields.filter((_, i) => i !== 7)]);
        if (type === 'hash' && key.endsWith(':meta')) delete (value as Record<string, string>).epoch;
        // Instances are JSON whose key order cjson does not keep: compared as values.
        if (type === 'hash' && key.endsWith(':instances'))
          for (const [id, json] of Object.entries(value as Record<string, string>))
            (value as Record<string, unknown>)[id] = JSON.parse(json);
        out[key.slice(tag.length)] = { value, expires: (await redis.pttl(key)) > 0 };
      }
      return out;
    };
    const clock = Date.UTC(2026, 0, 1, 10, 59, 58);
    const events: NewEvent[] = [];
    for (let i = 0; i < 60; i++) {
      const id = `i-${i % 7}`;
      const key = i % 4 === 0 ? `k-${i % 24}` : undefined;
      const event =
        i % 13 === 5
          ? { type: 'instance.offline', data: { instanceId: id, last_seen: clock - 60_000, ttl_ms: 30_000 } }
          : i % 17 === 9
            ? { type: 'instance.removed', data: { instanceId: id, last_seen: clock - 60_000 } }
            : i % 5 === 4
              ? heartbeat(id, { status: i % 2 ? 'busy' : 'online', meta: { n: String(i) } })
              : {
                  ...attempt(id, i % 3 === 0 ? 'failure' : 'success'),
                  data: { instanceId: id, outcome: i % 3 === 0 ? 'failure' : 'success', durationMs: i * 1.5 },
                };
      events.push({ ...event, ...(key ? { idempotencyKey: key } : {}) });
    }
    const [batched, single] = [uniqueTopic(), uniqueTopic()];
    // No trimming: where a log is trimmed depends on the calls (the slack), not on what they hold.
    const options = { retention: 1000, idempotencyWindowMs: 60_000, now: () => clock };
    const store = new EventStore(redis, options);
    const batchSeqs = (await store.append(batched, events.slice(0, 45))).seqs;
    batchSeqs.push(...(await store.append(batched, events.slice(45))).seqs);
    const singleSeqs: number[] = [];
    for (const event of events) singleSeqs.push(...(await store.append(single, [event])).seqs);
    expect(batchSeqs).toEqual(singleSeqs);
    expect(await dump(batched)).toEqual(await dump(single));
  });

  it('trims the log to the retention, keeps what was trimmed in the projections, and rebuilds without drift', async () => {
    const topic = uniqueTopic();
    const store = new EventStore(redis, { retention: 20, idempotencyWindowMs: 60_000 });
    for (let i = 0; i < 30; i++)
      await store.append(topic, [attempt(`i-${i % 4}`, i % 5 ? 'success' : 'failure'), heartbeat(`i-${i % 4}`)]);
    const head = (await store.head(topic))!;
    const log = await wholeLog(store, topic);
    expect(head.head).toBe(60);
    expect(log.length).toBeGreaterThanOrEqual(20);
    expect(log.length).toBeLessThanOrEqual(21);
    expect(head.base).toBe(log[0]!.seq - 1);
    expect(log.at(-1)!.seq).toBe(60);
    expect((await store.snapshot(topic))!.statistics.total_attempts).toBe(30);
    expect((await store.rebuild(topic))!.drift).toEqual([]);
  });

  it('finds drift planted in the live projections', async () => {
    const topic = uniqueTopic();
    const store = new EventStore(redis, { retention: 1000, idempotencyWindowMs: 60_000 });
    await store.append(topic, [attempt('a', 'success'), attempt('b', 'failure')]);
    await redis.hincrby(topicKeys(topic)[4]!, 'failed', 5);
    const result = (await store.rebuild(topic))!;
    expect(result.drift).toEqual([{ path: 'statistics.failed', live: 6, rebuilt: 1 }]);
    // Applying is refused once the log moved on, and mends the projection when it did not.
    await store.append(topic, [attempt('c', 'success')]);
    expect(await store.applyRebuild(topic, result)).toBe(false);
    const again = (await store.rebuild(topic))!;
    expect(await store.applyRebuild(topic, again)).toBe(true);
    expect((await store.rebuild(topic))!.drift).toEqual([]);
    expect((await store.snapshot(topic))!.statistics).toMatchObject({ total_attempts: 3, successful: 2, failed: 1 });
  });

  it('gives every snapshot exactly the fold of events 1..seq while appends run', async () => {
    const topic = uniqueTopic();
    const writer = new EventStore(connect(), { retention: 100_000, idempotencyWindowMs: 60_000 });
    const reader = new EventStore(connect(), { retention: 100_000, idempotencyWindowMs: 60_000 });
    await writer.append(topic, [heartbeat('a')]);
    const writes = (async () => {
      for (let i = 0; i < 200; i++) await writer.append(topic, [attempt(`i-${i % 7}`, i % 4 ? 'success' : 'failure')]);
    })();
    const snapshots = [];
    for (let i = 0; i < 40; i++) snapshots.push((await reader.snapshot(topic))!);
    await writes;
    const log = await wholeLog(reader, topic);
    for (const snapshot of snapshots) {
      const state = emptyState();
      for (const event of log.slice(0, snapshot.seq)) foldEvent(state, event);
      expect(snapshot.statistics).toEqual(statisticsOf(state));
      expect(snapshot.instances).toEqual(instancesOf(state));
    }
  });

  it('keeps one epoch for the life of a log and makes a new one when the log is lost', async () => {
    const topic = uniqueTopic();
    const store = new EventStore(redis, { retention: 1000, idempotencyWindowMs: 60_000 });
    const { epoch } = await store.append(topic, [heartbeat('a')]);
    expect((await store.append(topic, [heartbeat('a')])).epoch).toBe(epoch);
    const log = await wholeLog(store, topic);
    expect(log.every((event) => event.epoch === epoch)).toBe(true);
    await redis.del(...topicKeys(topic));
    const reborn = await store.append(topic, [heartbeat('a')]);
    expect(reborn.epoch).not.toBe(epoch);
    expect(reborn.seqs).toEqual([1]);
  });

  it('rotates the epoch of a log that lost appends once: only while it still has the epoch the lost position was seen in', async () => {
    const topic = uniqueTopic();
    const store = new EventStore(redis, { retention: 1000, idempotencyWindowMs: 60_000 });
    const { epoch } = await store.append(topic, [heartbeat('a'), heartbeat('b')]);
    // A reader saw seq 5 in this epoch: the log lost appends. The first gateway rotates...
    const rotated = await store.rotateEpochIfBehind(topic, 5, epoch);
    expect(rotated).not.toBe(epoch);
    // ...the next ones, which saw seq 5 in the old epoch too, find the new one and leave it.
    expect(await store.rotateEpochIfBehind(topic, 5, epoch)).toBe(rotated);
    // Nor is a log at or past the position rotated.
    expect(await store.rotateEpochIfBehind(topic, 2, rotated!)).toBe(rotated);
  });

  it('appends nothing when Redis runs the append after its deadline (its caller has answered 503 by then)', async () => {
    const topic = uniqueTopic();
    const store = new EventStore(connect(), { retention: 1000, idempotencyWindowMs: 60_000, appendDeadlineMs: 100 });
    // Redis holds write commands for 400 ms, as a stalled Redis would: the append waits in its buffer.
    await connect().client('PAUSE', 400, 'WRITE');
    await expect(store.append(topic, [heartbeat('a')])).rejects.toThrow(/^LATE .* nothing appended/);
    expect(await redis.exists(topicKeys(topic)[KEY.log]!, topicKeys(topic)[KEY.meta]!)).toBe(0);
    // In time, it appends.
    expect((await store.append(topic, [heartbeat('a')])).seqs).toEqual([1]);
  });

  it("states the append deadline on Redis's clock: a process clock a minute off either way changes nothing", async () => {
    const real = () => performance.timeOrigin + performance.now();
    for (const skew of [-60_000, 60_000]) {
      const topic = uniqueTopic();
      const store = new EventStore(connect(), {
        retention: 1000,
        idempotencyWindowMs: 60_000,
        appendDeadlineMs: 100,
        wallClock: () => real() + skew,
      });
      // In time, it appends (a process a minute behind Redis would otherwise be always late).
      expect((await store.append(topic, [heartbeat('a')])).seqs).toEqual([1]);
      // Late, it appends nothing (a process a minute ahead would otherwise never be late).
      await connect().client('PAUSE', 400, 'WRITE');
      await expect(store.append(topic, [heartbeat('b')])).rejects.toThrow(/^LATE /);
      expect((await store.append(topic, [heartbeat('c')])).seqs).toEqual([2]);
    }
  });

  it('keeps deadlines on time when its clock measurement waited in a paused Redis', async () => {
    const topic = uniqueTopic();
    // A 600 ms deadline: room for a busy machine (and the commands other specs queued during the
    // pauses) before the last append, which must land.
    const store = new EventStore(connect(), { retention: 1000, idempotencyWindowMs: 60_000, appendDeadlineMs: 600 });
    // The first append measures the clocks; Redis holds that TIME for 2.5 s, as a frozen one would,
    // and reads its clock at the end of it. Taken as the midpoint, every later deadline was 1.25 s late.
    await connect().client('PAUSE', 2500, 'ALL');
    expect((await store.append(topic, [heartbeat('a')])).seqs).toEqual([1]);
    await connect().client('PAUSE', 1500, 'WRITE');
    await expect(store.append(topic, [heartbeat('b')])).rejects.toThrow(/^LATE /);
    expect((await store.append(topic, [heartbeat('c')])).seqs).toEqual([2]);
  });

  it('ticks once per scheduled time, marks stale instances offline and keeps loop_count contiguous', async () => {
    const topic = uniqueTopic();
    let clock = Date.UTC(2026, 0, 1);
    const store = new EventStore(redis, { retention: 1000, idempotencyWindowMs: 60_000, now: () => clock });
    expect(await store.tick(topic, { tickAt: clock, nextTickAt: clock + 5000, instanceTtlMs: 10_000 })).toEqual({
      appended: false,
      seqs: [],
      outbox: 0,
    });
    await store.append(topic, [heartbeat('fresh'), heartbeat('stale')]);
    clock += 6000;
    await store.append(topic, [heartbeat('fresh')]);
    clock += 6000;
    const tickAt = clock;
    const first = await store.tick(topic, { tickAt, nextTickAt: tickAt + 5000, instanceTtlMs: 10_000 });
    expect(first.seqs).toEqual([4, 5, 6, 7]);
    // The same tick again (a retry, a stalled job, a second worker) and an older one append nothing.
    expect(await store.tick(topic, { tickAt, nextTickAt: tickAt + 5000, instanceTtlMs: 10_000 })).toEqual({
      appended: false,
      seqs: [],
      outbox: 0,
    });
    expect(await store.tick(topic, { tickAt: tickAt - 5000, nextTickAt: tickAt, instanceTtlMs: 10_000 })).toEqual({
      appended: false,
      seqs: [],
      outbox: 0,
    });
    const second = await store.tick(topic, {
      tickAt: tickAt + 5000,
      nextTickAt: tickAt + 10_000,
      instanceTtlMs: 10_000,
    });
    const log = await wholeLog(store, topic);
    expect(log.slice(3).map((e) => e.type)).toEqual([
      'instance.offline',
      'status_update',
      'statistics_update',
      'instances_update',
      'status_update',
      'statistics_update',
      'instances_update',
    ]);
    expect(second.seqs).toEqual([8, 9, 10]);
    expect(log[3]!.data).toEqual({ instanceId: 'stale', last_seen: tickAt - 12_000, ttl_ms: 10_000 });
    expect(log.flatMap((e) => (e.type === 'status_update' ? [e.data.loop_count] : []))).toEqual([1, 2]);
    const snapshot = (await store.snapshot(topic))!;
    expect(snapshot.statistics.active_instances).toBe(1);
    expect(snapshot.instances.map((i) => [i.id, i.status])).toEqual([
      ['fresh', 'online'],
      ['stale', 'offline'],
    ]);
  });
});
