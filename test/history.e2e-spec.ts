// History through a built gateway: a day of events across minute, hour and day boundaries read back as series, an instance offline 6 of 24 hours at 75 % uptime, and bad queries refused clearly.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import type { InstanceHistory, SeriesResponse, UptimeList } from '#pulse/contracts';
import { EventStore, type NewEvent } from '#pulse/event-store';
import { startPulse, type PulseTestStack } from '#pulse/testing';
import { instanceHistorySchema, seriesSchema, uptimeListSchema } from '../apps/gateway/src/docs/schemas.js';

const HOUR = 3_600_000;
const TOPIC = `hist-${randomUUID().slice(0, 8)}`;
let pulse: PulseTestStack;
let redis: Redis;
let url: string;
/**
 * The day the test writes: the 24 whole hours before the current one, so that it ends in the
 * gateway's recent past (uptime windows end at the gateway's now) and crosses a UTC midnight
 * unless it is run in the first hour of a day.
 */
const dayEnd = Date.now() - (Date.now() % HOUR);
const dayStart = dayEnd - 24 * HOUR;
/** Every 5 minutes: what the day holds per hour, to compare with the series. */
const expected = new Map<number, { attempts: number; failures: number }>();

async function get<T>(path: string): Promise<{ status: number; body: T }> {
  const response = await fetch(`${url}${path}`);
  return { status: response.status, body: (await response.json()) as T };
}

beforeAll(async () => {
  // A worker for the last test (instances forgotten by the real tick); it ticks only when asked.
  pulse = await startPulse({
    gateways: 1,
    workers: 1,
    env: { PULSE_INSTANCE_TTL_MS: '1000', PULSE_INSTANCE_FORGET_MS: '1500' },
  });
  url = pulse.urls[0]!;
  redis = new Redis(pulse.redisUrl, { maxRetriesPerRequest: 1 });
  // The events are appended by a store whose clock the test sets: the same append script the
  // gateway runs, with `now` (the events' ts) given, as the store's tests give it. The worker's
  // tick is the same store call with its scheduled time, so the test ticks through the store too.
  let clock = dayStart;
  const store = new EventStore(redis, { retention: 100_000, idempotencyWindowMs: 60_000, now: () => clock });
  let loop = 0;
  for (let t = dayStart; t < dayEnd; t += 5 * 60_000) {
    const hour = Math.floor((t - dayStart) / HOUR);
    const events: NewEvent[] = [
      { type: 'instance.heartbeat', data: { instanceId: 'web-1' } },
      { type: 'attempt.recorded', data: { instanceId: 'web-1', outcome: 'success', durationMs: 20 } },
    ];
    // web-2 is silent from 06:00 to 12:00 of the day: the tick marks it offline at 06:00, its heartbeat at 12:00 brings it back.
    const web2Up = hour < 6 || hour >= 12;
    if (web2Up) {
      events.push({ type: 'instance.heartbeat', data: { instanceId: 'web-2' } });
      events.push({
        type: 'attempt.recorded',
        data: { instanceId: 'web-2', outcome: hour % 5 === 0 ? 'failure' : 'success', durationMs: 40 },
      });
    }
    clock = t;
    await store.append(TOPIC, events);
    const row = expected.get(dayStart + hour * HOUR) ?? { attempts: 0, failures: 0 };
    row.attempts += web2Up ? 2 : 1;
    row.failures += web2Up && hour % 5 === 0 ? 1 : 0;
    expected.set(dayStart + hour * HOUR, row);
    // Each slot's tick right after its events: with a 1-minute TTL, web-2's silence shows at the tick of 06:00.
    await store.tick(TOPIC, { tickAt: ++loop, nextTickAt: loop + 1, instanceTtlMs: 60_000 });
  }
}, 120_000);

afterAll(async () => {
  redis?.disconnect();
  await pulse?.stop();
});

describe('GET /api/v1/topics/:topic/series', () => {
  it('serves a day at 1h as the events of each hour, with the gauges of its last tick', async () => {
    const { status, body } = await get<SeriesResponse>(
      `/api/v1/topics/${TOPIC}/series?step=1h&from=${dayStart}&to=${dayEnd}`,
    );
    expect(status).toBe(200);
    expect(body).toMatchObject({ topic: TOPIC, step: '1h', from: dayStart, to: dayEnd });
    // The answer is what the OpenAPI document says.
    seriesSchema.parse(body);
    expect(body.points).toHaveLength(24);
    body.points.forEach((point, hour) => {
      const want = expected.get(dayStart + hour * HOUR)!;
      expect(point).toMatchObject({
        t: dayStart + hour * HOUR,
        attempts: want.attempts,
        failures: want.failures,
        successes: want.attempts - want.failures,
        // Every attempt of the fixture gives a duration.
        duration_count: want.attempts,
        duration_max: hour >= 6 && hour < 12 ? 20 : 40,
      });
      // The last tick of hours 6..11 saw web-2 offline.
      expect(point.active_instances).toBe(hour >= 6 && hour < 12 ? 1 : 2);
      expect(point.known_instances).toBe(2);
    });
    expect(body.points[0]!.duration_avg).toBe(30);
    // Hour 0: web-1 always succeeds, web-2 fails every attempt (hour % 5 === 0).
    expect(body.points[0]!.success_rate).toBe(50);
  });

  it('serves the same day at 1m and at 1d with the same totals, across the midnight it crosses', async () => {
    const total = [...expected.values()].reduce((sum, row) => sum + row.attempts, 0);
    const minutes = await get<SeriesResponse>(`/api/v1/topics/${TOPIC}/series?step=1m&from=${dayStart}&to=${dayEnd}`);
    expect(minutes.status).toBe(200);
    expect(minutes.body.points).toHaveLength(1440);
    expect(minutes.body.points.reduce((sum, p) => sum + p.attempts, 0)).toBe(total);
    // Events fall in every fifth minute only: the others are zeros, not missing.
    expect(minutes.body.points[1]).toMatchObject({ attempts: 0, success_rate: 0, duration_avg: 0 });
    const days = await get<SeriesResponse>(`/api/v1/topics/${TOPIC}/series?step=1d&from=${dayStart}&to=${dayEnd}`);
    expect(days.body.points.reduce((sum, p) => sum + p.attempts, 0)).toBe(total);
    const midnight = dayEnd - (dayEnd % (24 * HOUR));
    expect(days.body.points.map((p) => p.t)).toEqual(
      midnight > dayStart && midnight < dayEnd ? [midnight - 24 * HOUR, midnight] : [dayStart],
    );
  });

  it('answers a topic with no events with zeros and null gauges, not an error', async () => {
    const { status, body } = await get<SeriesResponse>(
      `/api/v1/topics/never-written-${randomUUID().slice(0, 6)}/series?step=1h&from=${dayStart}&to=${dayStart + 3 * HOUR}`,
    );
    expect(status).toBe(200);
    expect(body.points).toEqual(
      [0, 1, 2].map((i) => ({
        t: dayStart + i * HOUR,
        attempts: 0,
        successes: 0,
        failures: 0,
        success_rate: 0,
        duration_avg: 0,
        duration_count: 0,
        duration_max: 0,
        active_instances: null,
        known_instances: null,
      })),
    );
  });

  it.each([
    ['step=5m', /step must be one of 1m, 1h, 1d/],
    [`step=1h&from=${dayEnd}&to=${dayStart}`, /from \(\d+\) is after to/],
    [`step=1m&from=${dayStart}&to=${dayEnd + HOUR + 1}`, /1501 buckets of 1m; at most 1500/],
    ['step=1h&from=yesterday', /from must be a whole number/],
    ['step=1h&to=-5', /to must be a whole number/],
    ['step=1h&colour=red', /colour/],
  ])('refuses ?%s with 400 and a message naming the problem', async (query, message) => {
    const { status, body } = await get<{ code: string; message: string }>(`/api/v1/topics/${TOPIC}/series?${query}`);
    expect(status).toBe(400);
    expect(body.code).toBe('BAD_REQUEST');
    expect(body.message).toMatch(message);
  });
});

describe('GET /api/v1/topics/:topic/instances/:instanceId', () => {
  it('gives an instance offline 6 of the last 24 hours 75 % uptime, from its offline transitions', async () => {
    const { status, body } = await get<InstanceHistory>(
      `/api/v1/topics/${TOPIC}/instances/web-2?from=${dayStart}&to=${dayEnd}`,
    );
    expect(status).toBe(200);
    expect(body).toMatchObject({
      id: 'web-2',
      topic: TOPIC,
      status: 'online',
      first_seen: dayStart,
      offline_since: null,
    });
    instanceHistorySchema.parse(body);
    expect(body.uptime['24h']).toBe(75);
    // Seen since dayStart only: the longer windows count from then, up to the gateway's now (within the hour after dayEnd).
    expect(body.uptime['7d']).toBeGreaterThanOrEqual(75);
    expect(body.uptime['7d']).toBeLessThanOrEqual(76.1);
    expect(body.uptime['30d']).toBe(body.uptime['7d']);
    expect(body.series.points).toHaveLength(24);
    expect(body.series.points.map((p) => p.offline_ms)).toEqual(
      Array.from({ length: 24 }, (_, hour) => (hour >= 6 && hour < 12 ? HOUR : 0)),
    );
    expect(body.series.points[0]).toMatchObject({ t: dayStart, attempts: 12, failures: 12 });
    const always = await get<InstanceHistory>(`/api/v1/topics/${TOPIC}/instances/web-1`);
    expect(always.body.uptime).toEqual({ '24h': 100, '7d': 100, '30d': 100 });
  });

  it("lists every instance's uptime over a window in one request, as the instance reads it", async () => {
    const { status, body } = await get<UptimeList>(`/api/v1/topics/${TOPIC}/uptime`);
    expect(status).toBe(200);
    uptimeListSchema.parse(body);
    expect(body).toMatchObject({
      topic: TOPIC,
      window: '24h',
      instances: [
        { id: 'web-1', uptime: 100 },
        { id: 'web-2', uptime: 75 },
      ],
    });
    const week = await get<UptimeList>(`/api/v1/topics/${TOPIC}/uptime?window=7d`);
    const single = await get<InstanceHistory>(`/api/v1/topics/${TOPIC}/instances/web-2`);
    expect(week.body.instances[1]!.uptime).toBeCloseTo(single.body.uptime['7d'], 1);
    const bad = await get<{ message: string }>(`/api/v1/topics/${TOPIC}/uptime?window=1y`);
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/window must be one of 24h, 7d, 30d/);
  });

  it('answers 404 naming an instance the topic does not have, and 400 for a bad range', async () => {
    const missing = await get<{ code: string; message: string }>(`/api/v1/topics/${TOPIC}/instances/web-9`);
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining(`topic ${TOPIC} has no instance web-9`),
    });
    const reversed = await get<{ message: string }>(
      `/api/v1/topics/${TOPIC}/instances/web-1?from=${dayEnd}&to=${dayStart}`,
    );
    expect(reversed.status).toBe(400);
    expect(reversed.body.message).toMatch(/is after to/);
  });
});

// Last: its ticks visit every active topic, the day's topic included.
describe('instances that come and go', () => {
  it('removes an instance offline for longer than PULSE_INSTANCE_FORGET_MS with instance.removed, keeping its history', async () => {
    const topic = `forget-${randomUUID().slice(0, 8)}`;
    await pulse.publish(topic, [
      { type: 'instance.heartbeat', data: { instanceId: 'brief' } },
      { type: 'attempt.recorded', data: { instanceId: 'brief', outcome: 'success', durationMs: 3 } },
    ]);
    // Real time has to pass the TTL (1 s) and the forget time (1.5 s): tick until the worker removes it, 20 s at most.
    const deadline = Date.now() + 20_000;
    let log = await pulse.log(topic);
    while (!log.some((event) => event.type === 'instance.removed')) {
      if (Date.now() > deadline)
        throw new Error(`no instance.removed within 20 s; the log has ${log.map((event) => event.type).join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
      await pulse.tick();
      log = await pulse.log(topic);
    }
    const seen = log.find((event) => event.type === 'attempt.recorded')!.ts;
    expect(log.find((event) => event.type === 'instance.removed')!.data).toEqual({
      instanceId: 'brief',
      last_seen: seen,
    });
    // Offline first, then removed, each once.
    expect(
      log
        .filter((event) => event.type.startsWith('instance.') && event.type !== 'instance.heartbeat')
        .map((event) => event.type),
    ).toEqual(['instance.offline', 'instance.removed']);
    expect((await get(`/api/v1/topics/${topic}/instances/brief`)).status).toBe(404);
    const snapshot = await get<{ instances: unknown[] }>(`/api/v1/topics/${topic}/snapshot`);
    expect(snapshot.body.instances).toEqual([]);
    const series = await get<SeriesResponse>(
      `/api/v1/topics/${topic}/series?step=1h&from=${seen}&to=${Date.now() + 1}`,
    );
    expect(series.body.points.reduce((sum, point) => sum + point.attempts, 0)).toBe(1);
  }, 40_000);
});
