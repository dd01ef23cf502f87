// The tick service on a real Redis with a faked clock: staleness, statistics, once-per-tick appends, failures.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Redis } from 'ioredis';
import type { PulseEvent } from '#pulse/contracts';
import { EventStore } from '#pulse/event-store';
import { scheduledTime } from './monitor-tick.processor.js';
import { MonitorTickService, TickTimeRefused } from './monitor-tick.service.js';

const T0 = Date.UTC(2026, 0, 1, 12);
const TICK_MS = 5000;
const TTL_MS = 30_000;

let redis: Redis;
let store: EventStore;
beforeAll(() => {
  // A database of its own: the service ticks every topic in the registry, and the registry of
  // database 0 holds the topics of every spec running now (a log tail spec saw ticks in its logs).
  redis = new Redis(process.env.PULSE_TEST_REDIS_URL!, { maxRetriesPerRequest: 1, db: 8 });
  store = new EventStore(redis, { retention: 10_000, idempotencyWindowMs: 60_000 });
});
afterAll(async () => {
  await redis.quit();
});
beforeEach(() => {
  // Only the clock is faked: Redis I/O needs real timers.
  jest.useFakeTimers({
    now: T0,
    doNotFake: [
      'setTimeout',
      'clearTimeout',
      'setInterval',
      'clearInterval',
      'setImmediate',
      'clearImmediate',
      'nextTick',
      'queueMicrotask',
      'hrtime',
      'performance',
    ],
  });
});
afterEach(() => {
  jest.useRealTimers();
});

const topic = () => `tick-${randomUUID().slice(0, 12)}`;
const service = (topicIdleMs = 3_600_000) =>
  new MonitorTickService(store, { tickMs: TICK_MS, instanceTtlMs: TTL_MS, topicIdleMs });
const advance = (ms: number) => jest.setSystemTime(Date.now() + ms);

async function log(name: string): Promise<PulseEvent[]> {
  return (await store.readAfter(name, 0, 1000))!.events;
}

describe('MonitorTickService', () => {
  it('marks an instance offline once its last heartbeat is older than the TTL, and only then', async () => {
    const name = topic();
    await store.append(name, [
      { type: 'instance.heartbeat', data: { instanceId: 'a' } },
      { type: 'instance.heartbeat', data: { instanceId: 'b' } },
    ]);
    advance(20_000);
    await store.append(name, [{ type: 'instance.heartbeat', data: { instanceId: 'a' } }]);
    advance(TTL_MS - 20_000); // b is exactly TTL old: not yet stale
    await service().tick(Date.now());
    expect((await store.snapshot(name))!.statistics.active_instances).toBe(2);
    advance(1);
    await service().tick(Date.now());
    const events = await log(name);
    const offline = events.filter((event) => event.type === 'instance.offline');
    expect(offline.map((event) => event.data)).toEqual([{ instanceId: 'b', last_seen: T0, ttl_ms: TTL_MS }]);
    const snapshot = (await store.snapshot(name))!;
    expect(snapshot.instances.map((i) => [i.id, i.status])).toEqual([
      ['a', 'online'],
      ['b', 'offline'],
    ]);
    expect(snapshot.statistics.active_instances).toBe(1);
    // A heartbeat brings it back.
    await store.append(name, [{ type: 'instance.heartbeat', data: { instanceId: 'b', status: 'idle' } }]);
    expect((await store.snapshot(name))!.statistics.active_instances).toBe(2);
  });

  it('appends statistics and instances that equal the projection at their seq', async () => {
    const name = topic();
    const outcomes = ['success', 'success', 'failure', 'success', 'failure', 'success'] as const;
    await store.append(
      name,
      outcomes.map((outcome, i) => ({ type: 'attempt.recorded', data: { instanceId: `i-${i % 2}`, outcome } })),
    );
    await service().tick(T0);
    const events = await log(name);
    const byType = Object.fromEntries(events.map((event) => [event.type, event]));
    expect(byType.statistics_update!.data).toEqual({
      total_attempts: 6,
      successful: 4,
      failed: 2,
      success_rate: 66.67,
      active_instances: 2,
    });
    expect(byType.status_update!.data).toEqual({
      monitoring_active: true,
      loop_count: 1,
      active_instances: 2,
      tick_at: T0,
      next_tick_at: T0 + TICK_MS,
    });
    expect(events.flatMap((event) => (event.type === 'instances_update' ? [event.data.instances] : []))).toEqual([
      (await store.snapshot(name))!.instances,
    ]);
  });

  it('appends one tick once, however often and by however many workers it runs', async () => {
    const name = topic();
    await store.append(name, [{ type: 'instance.heartbeat', data: { instanceId: 'a' } }]);
    const workers = [service(), service(), service()];
    // Three workers run the same scheduled tick at once, then it is retried.
    await Promise.all(workers.map((worker) => worker.tick(T0)));
    await workers[0]!.tick(T0);
    advance(TICK_MS);
    await workers[1]!.tick(T0 + TICK_MS);
    const statuses = (await log(name)).flatMap((event) => (event.type === 'status_update' ? [event.data] : []));
    expect(statuses).toEqual([
      expect.objectContaining({ loop_count: 1, tick_at: T0 }),
      expect.objectContaining({ loop_count: 2, tick_at: T0 + TICK_MS }),
    ]);
    expect((await log(name)).map((event) => event.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('leaves topics alone once they have had no ingest for the idle time', async () => {
    const name = topic();
    await store.append(name, [{ type: 'instance.heartbeat', data: { instanceId: 'a' } }]);
    advance(60_000);
    await service(59_999).tick(Date.now());
    expect(await log(name)).toHaveLength(1);
    await service(60_000).tick(Date.now());
    expect((await log(name)).map((event) => event.type)).toEqual([
      'instance.heartbeat',
      'instance.offline',
      'status_update',
      'statistics_update',
      'instances_update',
    ]);
  });

  it('fails, naming the topic, when a topic cannot be ticked, and still ticks the others', async () => {
    const good = topic();
    const broken = topic();
    await store.append(good, [{ type: 'instance.heartbeat', data: { instanceId: 'a' } }]);
    await store.append(broken, [{ type: 'instance.heartbeat', data: { instanceId: 'a' } }]);
    // Plant a corrupt projection: the tick script cannot read it.
    await redis.set(`pulse:{${broken}}:instances`, 'not a hash');
    await expect(service().tick(T0)).rejects.toThrow(broken);
    expect((await log(good)).some((event) => event.type === 'status_update')).toBe(true);
  });

  it('refuses a tickAt more than a day old or more than a minute ahead, naming the bound, and appends nothing', async () => {
    const name = topic();
    await store.append(name, [{ type: 'instance.heartbeat', data: { instanceId: 'a' } }]);
    const headBefore = (await store.head(name))!.head;
    await expect(service().tick(T0 + 60_001)).rejects.toThrow(TickTimeRefused);
    await expect(service().tick(T0 + 3_600_000)).rejects.toThrow('PULSE_TICK_MAX_AHEAD_MS');
    await expect(service().tick(T0 - 86_400_001)).rejects.toThrow(`outside [now - 86400000 ms, now + 60000 ms]`);
    expect((await store.head(name))!.head).toBe(headBefore);
    // At the bounds it ticks (another test's planted broken topic may fail its part of the tick).
    for (const tickAt of [T0 - 86_400_000, T0 + 60_000])
      expect(
        await service()
          .tick(tickAt)
          .catch((error: unknown) => error),
      ).not.toBeInstanceOf(TickTimeRefused);
    expect((await store.head(name))!.head).toBeGreaterThan(headBefore);
    // The bounds are the service's options.
    await expect(
      new MonitorTickService(store, {
        tickMs: TICK_MS,
        instanceTtlMs: TTL_MS,
        topicIdleMs: 3_600_000,
        maxAheadMs: 0,
      }).tick(T0 + 1),
    ).rejects.toThrow('now + 0 ms');
  });
});

describe('scheduledTime', () => {
  it('reads when a scheduler run was due from the job, or from its deterministic id', () => {
    expect(
      scheduledTime({
        id: 'repeat:monitor-tick:1767268800000',
        opts: { repeatJobKey: 'monitor-tick', delay: 4210 },
        timestamp: 1767268800500,
      }),
    ).toBe(1767268804710);
    expect(scheduledTime({ id: 'repeat:monitor-tick:1767268805000', opts: {}, timestamp: 1 })).toBe(1767268805000);
    expect(() => scheduledTime({ id: 'manual-1', opts: {}, timestamp: 1 })).toThrow(
      'not a run of the monitor-tick scheduler',
    );
  });
});
