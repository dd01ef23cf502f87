// The demo fleet under fake time: what a dashboard would see from it, its retries, and a clean stop.
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { ingestBodySchema, type IngestBody } from '#pulse/contracts';
import { DemoFleet } from './demo-fleet.js';

const START = Date.UTC(2026, 0, 1);
const TTL_MS = 10_000;
const HEARTBEAT_MS = 2_000;

/** A small seeded PRNG (mulberry32), so every run simulates the same fleet. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Posted {
  at: number;
  topic: string;
  body: IngestBody;
}

function recorder() {
  const posts: Posted[] = [];
  const post = (topic: string, body: IngestBody): Promise<void> => {
    posts.push({ at: Date.now(), topic, body });
    return Promise.resolve();
  };
  return { posts, post };
}

/** Times at which each instance appeared in a post, by instance id. */
function sightings(posts: Posted[]): Map<string, number[]> {
  const seen = new Map<string, number[]>();
  for (const { at, body } of posts) {
    for (const event of body.events) {
      const times = seen.get(event.data.instanceId) ?? [];
      if (times.at(-1) !== at) times.push(at);
      seen.set(event.data.instanceId, times);
    }
  }
  return seen;
}

function largestGap(times: number[]): number {
  let gap = 0;
  for (let i = 1; i < times.length; i += 1) gap = Math.max(gap, times[i]! - times[i - 1]!);
  return gap;
}

describe('DemoFleet', () => {
  beforeEach(() => {
    jest.useFakeTimers({ now: START });
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it.each([1, 2, 3])('shows a live fleet within 60 s (seed %i)', async (seed) => {
    const { posts, post } = recorder();
    const fleet = new DemoFleet({ post, random: seeded(seed), instanceTtlMs: TTL_MS, heartbeatMs: HEARTBEAT_MS });
    fleet.start();
    await jest.advanceTimersByTimeAsync(60_000);
    await fleet.stop();

    expect(posts.length).toBeGreaterThan(0);
    for (const { topic, body } of posts) {
      expect(topic).toBe('demo');
      const parsed = ingestBodySchema.safeParse(body);
      expect(parsed.error?.issues).toBeUndefined();
    }

    const events = posts.flatMap(({ at, body }) => body.events.map((event) => ({ at, event })));
    const heartbeats = events.flatMap(({ at, event }) =>
      event.type === 'instance.heartbeat' ? [{ at, data: event.data }] : [],
    );
    const attempts = events.flatMap(({ event }) => (event.type === 'attempt.recorded' ? [event.data] : []));

    const ids = Array.from({ length: 12 }, (_, i) => `demo-${String(i + 1).padStart(2, '0')}`);
    expect([...new Set(heartbeats.map(({ data }) => data.instanceId))].sort()).toEqual(ids);
    expect(new Set(heartbeats.map(({ data }) => data.status))).toEqual(new Set(['idle', 'working', 'cooldown']));
    for (const { at, data } of heartbeats) {
      expect(data.nextActionAt).toBeDefined();
      expect(data.nextActionAt!).toBeGreaterThan(at);
    }

    expect(attempts.some((a) => a.outcome === 'success')).toBe(true);
    const failures = attempts.filter((a) => a.outcome === 'failure');
    expect(failures.length).toBeGreaterThan(0);
    for (const failure of failures) expect(failure.error).toEqual(expect.any(String));
    for (const attempt of attempts) expect(attempt.durationMs).toBeGreaterThanOrEqual(500);
    const successRate = attempts.filter((a) => a.outcome === 'success').length / attempts.length;
    expect(successRate).toBeGreaterThan(0.65);
    expect(successRate).toBeLessThan(0.99);

    const keys = events.map(({ event }) => event.idempotencyKey);
    expect(keys.every((key) => typeof key === 'string')).toBe(true);
    expect(new Set(keys).size).toBe(keys.length);

    // What is due at the same moment goes out as one post.
    const times = posts.map(({ at }) => at);
    expect(new Set(times).size).toBe(times.length);

    // One or two instances go silent past the TTL and come back; the rest never go stale.
    const seen = sightings(posts);
    const wentSilent = [...seen].filter(([, at]) => largestGap(at) > TTL_MS);
    expect(wentSilent.length).toBeGreaterThanOrEqual(1);
    expect(wentSilent.length).toBeLessThanOrEqual(2);
    for (const [id, at] of seen) {
      if (!wentSilent.some(([silent]) => silent === id)) expect(largestGap(at)).toBeLessThanOrEqual(HEARTBEAT_MS);
      expect(at.at(-1)!).toBeGreaterThan(START + 60_000 - HEARTBEAT_MS - 1);
    }

    expect(jest.getTimerCount()).toBe(0);
  });

  it('stops every timer and waits for the post in flight', async () => {
    let release: () => void = () => undefined;
    let calls = 0;
    const post = (): Promise<void> => {
      calls += 1;
      return new Promise((resolve) => {
        release = resolve;
      });
    };
    const fleet = new DemoFleet({ post, random: seeded(7), instanceTtlMs: TTL_MS });
    fleet.start();
    await jest.advanceTimersByTimeAsync(5_000);
    expect(calls).toBe(1);
    expect(jest.getTimerCount()).toBeGreaterThan(0);

    let stopped = false;
    const stopping = fleet.stop().then(() => {
      stopped = true;
    });
    expect(jest.getTimerCount()).toBe(0);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(stopped).toBe(true);
    expect(calls).toBe(1);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('survives failing posts, warns once per failure streak and retries without duplicates', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      let failing = true;
      const delivered: Posted[] = [];
      let failedCalls = 0;
      const post = (topic: string, body: IngestBody): Promise<void> => {
        if (failing) {
          failedCalls += 1;
          return Promise.reject(new Error('503 Service Unavailable'));
        }
        delivered.push({ at: Date.now(), topic, body });
        return Promise.resolve();
      };
      const warnings: string[] = [];
      const recoveries: string[] = [];
      const log = { warn: (msg: string) => warnings.push(msg), log: (msg: string) => recoveries.push(msg) };
      const fleet = new DemoFleet({ post, random: seeded(11), instanceTtlMs: TTL_MS, heartbeatMs: HEARTBEAT_MS, log });
      fleet.start();

      await jest.advanceTimersByTimeAsync(20_000);
      expect(failedCalls).toBeGreaterThan(5);
      // Retries wait for the beat instead of following every state change.
      expect(failedCalls).toBeLessThanOrEqual(20_000 / HEARTBEAT_MS + 1);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('503 Service Unavailable');
      expect(delivered).toHaveLength(0);

      failing = false;
      await jest.advanceTimersByTimeAsync(10_000);
      expect(recoveries).toHaveLength(1);
      // The first beat after the outage delivers the attempts made during it, and fresh heartbeats only.
      const first = delivered[0]!;
      expect(first.at).toBe(START + 22_000);
      expect(first.body.events.filter((e) => e.type === 'attempt.recorded').length).toBeGreaterThan(5);
      for (const { at, body } of delivered) {
        for (const e of body.events)
          if (e.type === 'instance.heartbeat') expect(e.data.nextActionAt!).toBeGreaterThan(at);
      }

      failing = true;
      await jest.advanceTimersByTimeAsync(10_000);
      failing = false;
      await jest.advanceTimersByTimeAsync(10_000);
      expect(warnings).toHaveLength(2);
      expect(recoveries).toHaveLength(2);

      await fleet.stop();
      const keys = delivered.flatMap(({ body }) => body.events.map((e) => e.idempotencyKey));
      expect(new Set(keys).size).toBe(keys.length);
      for (const { body } of delivered) expect(ingestBodySchema.safeParse(body).success).toBe(true);
      expect(jest.getTimerCount()).toBe(0);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('DemoFleet incidents', () => {
  beforeEach(() => {
    jest.useFakeTimers({ now: START });
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it.each([1, 2])(
    'now and then most attempts fail for a minute or two, then the rate returns to its baseline (seed %i)',
    async (seed) => {
      const { posts, post } = recorder();
      const incidents: string[] = [];
      const fleet = new DemoFleet({
        post,
        random: seeded(seed),
        instanceTtlMs: TTL_MS,
        heartbeatMs: HEARTBEAT_MS,
        log: { warn: () => undefined, log: (msg) => incidents.push(msg) },
      });
      fleet.start();
      await jest.advanceTimersByTimeAsync(20 * 60_000);
      await fleet.stop();

      // Failure rate per 2-minute window, as a failure_rate rule of the demo sees it.
      const windowMs = 120_000;
      const windows = new Map<number, { attempts: number; failures: number }>();
      for (const { at, body } of posts) {
        for (const event of body.events) {
          if (event.type !== 'attempt.recorded') continue;
          const w = windows.get(Math.floor((at - START) / windowMs)) ?? { attempts: 0, failures: 0 };
          w.attempts += 1;
          if (event.data.outcome === 'failure') w.failures += 1;
          windows.set(Math.floor((at - START) / windowMs), w);
        }
      }
      const rates = [...windows.keys()]
        .sort((a, b) => a - b)
        .map((key) => windows.get(key)!.failures / windows.get(key)!.attempts);
      expect(rates[0]).toBeLessThan(0.3);
      const high = rates.filter((rate) => rate > 0.5).length;
      const low = rates.filter((rate) => rate < 0.3).length;
      expect(high).toBeGreaterThanOrEqual(1);
      expect(low).toBeGreaterThan(high);
      expect(incidents.filter((msg) => msg.includes('simulated upstream incident')).length).toBeGreaterThanOrEqual(2);
      expect(jest.getTimerCount()).toBe(0);
    },
  );
});
