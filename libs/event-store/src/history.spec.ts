// History on a real redis-server: retention drops each step's buckets by itself, sums over a range, instances forgotten by the tick, and the rebuild mending drifted buckets.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Redis } from 'ioredis';
import { HOUR_MS, SERIES_STEPS, STEP_MS } from '#pulse/contracts';
import { EventStore, type NewEvent } from './event-store.js';
import { bucketKey, instanceDayKey } from './keys.js';

const DAY = STEP_MS['1d'];
let redis: Redis;
beforeAll(() => {
  redis = new Redis(process.env.PULSE_TEST_REDIS_URL!, { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  await redis.quit();
});

const uniqueTopic = () => `h-${randomUUID().slice(0, 12)}`;
const attempt = (instanceId: string, outcome: 'success' | 'failure', durationMs?: number): NewEvent => ({
  type: 'attempt.recorded',
  data: { instanceId, outcome, ...(durationMs === undefined ? {} : { durationMs }) },
});
const heartbeat = (instanceId: string): NewEvent => ({ type: 'instance.heartbeat', data: { instanceId } });

/** Resolves once `check` holds, polling Redis; fails naming `what` after `ms`. */
async function eventually(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('History', () => {
  it("gives every bucket a TTL of its end plus its step's retention, counted on the events' clock", async () => {
    const topic = uniqueTopic();
    // A clock far from Redis's: the retention must not depend on it agreeing with Redis's.
    const clock = Date.UTC(2025, 5, 1, 10, 30, 15);
    const keep = { '1m': 2 * HOUR_MS, '1h': 3 * DAY, '1d': 30 * DAY };
    const store = new EventStore(redis, {
      retention: 1000,
      idempotencyWindowMs: 60_000,
      now: () => clock,
      seriesRetentionMs: keep,
    });
    await store.append(topic, [heartbeat('a'), attempt('a', 'success', 12)]);
    await store.tick(topic, { tickAt: 1, nextTickAt: 2, instanceTtlMs: 60_000 });
    for (const step of SERIES_STEPS) {
      const start = clock - (clock % STEP_MS[step]);
      const ttl = await redis.pttl(bucketKey(topic, step, start));
      const expected = start + STEP_MS[step] + keep[step] - clock;
      expect(ttl).toBeGreaterThan(expected - 5000);
      expect(ttl).toBeLessThanOrEqual(expected);
    }
    const dayStart = clock - (clock % DAY);
    expect(await redis.pttl(instanceDayKey(topic, 'a', dayStart))).toBeGreaterThan(
      dayStart + DAY + keep['1h'] - clock - 5000,
    );
  });

  it("drops each step's buckets once their retention has passed, and reads them as zeros", async () => {
    const topic = uniqueTopic();
    // The last 3 s of a UTC day: the minute, hour and day buckets all end then, and are kept 1 ms
    // more, so they expire about 3 s (real time) after the appends: time enough to read them first,
    // even on a busy machine (40 ms was not).
    let clock = Date.UTC(2026, 0, 31) - 3000;
    const store = new EventStore(redis, {
      retention: 1000,
      idempotencyWindowMs: 60_000,
      now: () => clock,
      seriesRetentionMs: { '1m': 1, '1h': 1, '1d': 1 },
    });
    await store.append(topic, [heartbeat('a'), attempt('a', 'failure', 5)]);
    await store.tick(topic, { tickAt: 1, nextTickAt: 2, instanceTtlMs: 60_000 });
    // Another append in the same minute: read into the day through the minute still being written.
    clock += 20;
    await store.append(topic, [attempt('a', 'success')]);
    const starts = (step: (typeof SERIES_STEPS)[number]) => [clock - (clock % STEP_MS[step])];
    expect((await store.history.buckets(topic, '1d', starts('1d')))[0]!.attempts).toBe(2);
    for (const step of SERIES_STEPS) {
      await eventually(
        `the ${step} bucket to expire`,
        async () => (await redis.exists(bucketKey(topic, step, starts(step)[0]!))) === 0,
      );
      expect((await store.history.buckets(topic, step, starts(step)))[0]).toMatchObject({
        attempts: 0,
        active_instances: null,
      });
    }
  });

  it('sums the buckets of a range, and serves every bucket with zeros where nothing happened', async () => {
    const topic = uniqueTopic();
    const t0 = Date.UTC(2026, 2, 3, 23, 58);
    let clock = t0;
    const store = new EventStore(redis, { retention: 1000, idempotencyWindowMs: 60_000, now: () => clock });
    for (let minute = 0; minute < 5; minute++) {
      clock = t0 + minute * 60_000 + 1000;
      await store.append(topic, [
        attempt('a', minute % 2 ? 'failure' : 'success', 10 * (minute + 1)),
        attempt('b', 'success'),
      ]);
    }
    const sum = await store.history.sum(topic, '1m', t0 + 60_000, t0 + 4 * 60_000);
    expect(sum).toMatchObject({
      attempts: 6,
      failures: 2,
      duration_count: 3,
      duration_sum_us: 90_000,
      duration_max_us: 40_000,
    });
    const series = await store.history.series(topic, '1m', t0 - 60_000, t0 + 6 * 60_000);
    expect(series.points.map((p) => p.attempts)).toEqual([0, 2, 2, 2, 2, 2, 0]);
    expect(series.points[2]).toMatchObject({
      t: t0 + 60_000,
      successes: 1,
      failures: 1,
      success_rate: 50,
      // One of its two attempts gave a duration: the average is of that one, and says so.
      duration_avg: 20,
      duration_count: 1,
      duration_max: 20,
    });
    // The day boundary split the minutes: two before midnight, three after (the last minute still unrolled).
    const days = await store.history.series(topic, '1d', t0, t0 + DAY);
    expect(days.points.map((p) => p.attempts)).toEqual([4, 6]);
    await expect(store.history.series(topic, '1m', t0, t0 + 1501 * 60_000)).rejects.toThrow(/at most 1500/);
  });

  it('removes an instance offline longer than the forget time, closing its offline hours, and keeps its history', async () => {
    const topic = uniqueTopic();
    const t0 = Date.UTC(2026, 4, 1, 8);
    let clock = t0;
    const store = new EventStore(redis, { retention: 1000, idempotencyWindowMs: 60_000, now: () => clock });
    const tick = (at: number) =>
      store.tick(topic, { tickAt: at, nextTickAt: at + 1, instanceTtlMs: 60_000, instanceForgetMs: 3 * HOUR_MS });
    await store.append(topic, [heartbeat('gone'), attempt('gone', 'success'), heartbeat('stays')]);
    clock = t0 + 2 * 60_000;
    await tick(1);
    expect((await store.history.instance(topic, 'gone'))!.offline_since).toBe(clock);
    clock = t0 + 3 * HOUR_MS + 1000;
    await store.append(topic, [heartbeat('stays')]);
    await tick(2);
    const log = (await store.readAfter(topic, 0, 100))!.events;
    expect(log.filter((e) => e.type === 'instance.removed').map((e) => e.data)).toEqual([
      { instanceId: 'gone', last_seen: t0 },
    ]);
    expect((await store.snapshot(topic))!.instances.map((i) => i.id)).toEqual(['stays']);
    expect(await store.history.instance(topic, 'gone')).toBeNull();
    // Its attempts stay in the series, its offline time in its hours.
    expect((await store.history.sum(topic, '1h', t0, t0 + HOUR_MS)).attempts).toBe(1);
    const hours = await redis.hgetall(instanceDayKey(topic, 'gone', t0 - (t0 % DAY)));
    expect(Number(hours['8o']) + Number(hours['9o']) + Number(hours['10o']) + Number(hours['11o'])).toBe(
      clock - (t0 + 2 * 60_000),
    );
    expect((await store.rebuild(topic))!.drift).toEqual([]);
  });

  it('gives each instance its own uptime in the fleet list, whatever order Redis keeps them in', async () => {
    const topic = uniqueTopic();
    const t0 = Date.UTC(2026, 4, 2, 8);
    let clock = t0;
    const store = new EventStore(redis, { retention: 1000, idempotencyWindowMs: 60_000, now: () => clock });
    // Seen first: "zz-down", which is offline for a while; then "aa-up", which stays: HKEYS answers them in that order.
    await store.append(topic, [heartbeat('zz-down')]);
    await store.append(topic, [heartbeat('aa-up')]);
    clock = t0 + 2 * 60_000;
    await store.append(topic, [heartbeat('aa-up')]);
    await store.tick(topic, { tickAt: 1, nextTickAt: 2, instanceTtlMs: 60_000, instanceForgetMs: 0 });
    // Back: its offline minutes are closed into its hours, which is where the list reads them from.
    clock = t0 + 4 * 60_000;
    await store.append(topic, [heartbeat('aa-up'), heartbeat('zz-down')]);
    const list = await store.history.uptimes(topic, '24h');
    expect(list.instances.map((i) => i.id)).toEqual(['aa-up', 'zz-down']);
    expect(list.instances[0]!.uptime).toBe(100);
    expect(list.instances[1]!.uptime).toBe((await store.history.instance(topic, 'zz-down'))!.uptime['24h']);
    expect(list.instances[1]!.uptime).toBeLessThan(100);
    // The series says which events its buckets count: every one up to the head read with them.
    const series = await store.history.series(topic, '1m', t0, clock + 1);
    expect(series.seq).toBe((await store.head(topic))!.head);
    expect(series.points.reduce((sum, point) => sum + point.attempts, 0)).toBe(0);
  });

  it("reads the fleet's offline time from one hash per day, and gives each instance its own uptime", async () => {
    const { topic, store, windows } = await fleetWithOfflineDays();
    const pipeline = jest.spyOn(redis, 'pipeline');
    try {
      for (const window of windows) {
        pipeline.mockClear();
        const list = await store.history.uptimes(topic, window);
        // One read per day of the window, not one per instance and day.
        const reads = pipeline.mock.results.reduce((n, r) => n + (r.value as { length: number }).length, 0);
        expect([window, reads]).toEqual([window, { '24h': 2, '7d': 8, '30d': 31 }[window]]);
        for (const { id, uptime } of list.instances)
          expect([id, uptime]).toEqual([id, (await store.history.instance(topic, id))!.uptime[window]]);
        expect(list.instances.find((i) => i.id === 'up')!.uptime).toBe(100);
        expect(list.instances.find((i) => i.id === 'flaky')!.uptime).toBeLessThan(100);
      }
    } finally {
      pipeline.mockRestore();
    }
  });

  it('reads the days from before the offline days were kept (an earlier build) from each instance', async () => {
    const { topic, store, windows, closedDay } = await fleetWithOfflineDays();
    // As an earlier build left it: no offline day up to the one the last period was closed in,
    // which the first close after the upgrade marked.
    for (const key of await redis.keys(`pulse:{${topic}}:h:off:*`))
      if (Number(key.slice(key.lastIndexOf(':') + 1)) < closedDay) await redis.del(key);
    await redis.hset(`pulse:{${topic}}:meta`, 'ho', closedDay);
    for (const window of windows) {
      const list = await store.history.uptimes(topic, window);
      for (const { id, uptime } of list.instances)
        expect([id, uptime]).toEqual([id, (await store.history.instance(topic, id))!.uptime[window]]);
      expect(list.instances.find((i) => i.id === 'down')!.uptime).toBeLessThan(100);
    }
  });

  it('reads an instance in a bounded number of commands, however far from now the asked range is', async () => {
    const topic = uniqueTopic();
    const store = new EventStore(redis, { retention: 1000, idempotencyWindowMs: 60_000 });
    await store.append(topic, [heartbeat('far')]);
    const multi = jest.spyOn(redis, 'multi');
    try {
      for (const range of [
        { from: 0, to: 5_396_400_000 },
        { from: 99_994_600_800_000, to: 99_999_999_999_999 },
      ]) {
        multi.mockClear();
        expect(await store.history.instance(topic, 'far', range)).toMatchObject({ id: 'far' });
        // MULTI, its state, its availability, and the days of the series (≤ 64) and of the 30-day uptime (≤ 32).
        const queued = (multi.mock.results[0]!.value as { length: number }).length;
        expect(queued).toBeLessThanOrEqual(3 + 64 + 32);
      }
    } finally {
      multi.mockRestore();
    }
  });

  it('reports drifted buckets the retained log covers, and mends them with apply', async () => {
    const topic = uniqueTopic();
    const t0 = Date.UTC(2026, 6, 1, 12);
    let clock = t0;
    const store = new EventStore(redis, { retention: 1000, idempotencyWindowMs: 60_000, now: () => clock });
    for (let i = 0; i < 4; i++) {
      clock = t0 + i * 30_000;
      await store.append(topic, [attempt('a', i === 2 ? 'failure' : 'success', 7)]);
    }
    // Damage: a lost minute, a wrong hour count.
    await redis.del(bucketKey(topic, '1m', t0));
    await redis.hincrby(bucketKey(topic, '1h', t0), 'a', 5);
    const result = (await store.rebuild(topic))!;
    expect(result.drift.map((d) => d.path)).toEqual(
      expect.arrayContaining([
        `series.1m.${new Date(t0).toISOString()}.attempts`,
        `series.1h.${new Date(t0).toISOString()}.attempts`,
      ]),
    );
    expect(await store.applyRebuild(topic, result)).toBe(true);
    expect((await store.rebuild(topic))!.drift).toEqual([]);
    expect((await store.history.series(topic, '1h', t0, t0 + 1)).points[0]).toMatchObject({ attempts: 4, failures: 1 });
    // The minute still being written rolls up later without counting twice.
    clock = t0 + 5 * 60_000;
    await store.append(topic, [attempt('a', 'success')]);
    expect((await store.history.series(topic, '1h', t0, t0 + 1)).points[0]).toMatchObject({ attempts: 5, failures: 1 });
    expect((await store.rebuild(topic))!.drift).toEqual([]);
  });
});

/**
 * A topic whose instances went offline and came back over three days: "down" from 22:00 on the
 * first day to 02:30 on the third, "flaky" for half an hour twice, "up" never; "down" was closed
 * last, on the third day (`closedDay`).
 */
async function fleetWithOfflineDays() {
  const topic = uniqueTopic();
  const t0 = Date.UTC(2026, 2, 10, 21, 50);
  let clock = t0;
  const store = new EventStore(redis, { retention: 1000, idempotencyWindowMs: 60_000, now: () => clock });
  let ticks = 0;
  const at = async (ms: number, events: NewEvent[], tick = false) => {
    clock = t0 + ms;
    if (events.length > 0) await store.append(topic, events);
    if (tick)
      await store.tick(topic, { tickAt: ++ticks, nextTickAt: ticks + 1, instanceTtlMs: 60_000, instanceForgetMs: 0 });
  };
  const MIN = 60_000;
  await at(0, [heartbeat('up'), heartbeat('down'), heartbeat('flaky')]);
  await at(10 * MIN, [heartbeat('up'), heartbeat('flaky')], true); // down: offline at 22:00
  await at(20 * MIN, [heartbeat('up')], true); // flaky: offline at 22:10
  await at(50 * MIN, [heartbeat('up'), heartbeat('flaky')]); // flaky back at 22:40
  await at(26 * HOUR_MS, [heartbeat('up')], true); // flaky: offline again
  await at(26 * HOUR_MS + 30 * MIN, [heartbeat('up'), heartbeat('flaky')]);
  await at(28 * HOUR_MS + 40 * MIN, [heartbeat('up'), heartbeat('flaky'), heartbeat('down')]); // down back at 02:30
  await at(29 * HOUR_MS, [heartbeat('up'), heartbeat('flaky'), heartbeat('down')]);
  return {
    topic,
    store,
    windows: ['24h', '7d', '30d'] as const,
    closedDay: t0 + 28 * HOUR_MS - ((t0 + 28 * HOUR_MS) % DAY),
  };
}
