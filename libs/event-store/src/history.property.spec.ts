// Property test of the history on a real redis-server: the series and instance hours the Lua scripts keep read exactly as the TypeScript fold of the log makes them, across minute, hour and day boundaries.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import {
  emptyBucket,
  emptyHistory,
  emptyState,
  foldHistory,
  HOUR_MS,
  SERIES_STEPS,
  STEP_MS,
  type PulseEvent,
} from '#pulse/contracts';
import { EventStore, type NewEvent } from './event-store.js';

let redis: Redis;
beforeAll(() => {
  redis = new Redis(process.env.PULSE_TEST_REDIS_URL!, { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  await redis.quit();
});

const instance = fc.constantFrom('a', 'b', 'c:1', 'd.2');
const event: fc.Arbitrary<NewEvent> = fc.oneof(
  fc.record({
    type: fc.constant('instance.heartbeat'),
    data: fc.record(
      { instanceId: instance, status: fc.constantFrom('online', 'busy', 'offline') },
      { requiredKeys: ['instanceId'] },
    ),
  }),
  fc.record({
    type: fc.constant('attempt.recorded'),
    data: fc.record(
      {
        instanceId: instance,
        outcome: fc.constantFrom('success', 'failure'),
        durationMs: fc.double({ min: 0, max: 5000, noNaN: true }),
      },
      { requiredKeys: ['instanceId', 'outcome'] },
    ),
  }),
);
/** How far the clock moves before an operation: within a minute, across minutes, hours and days, or back (another process's clock behind). */
const advance = fc.oneof(
  fc.integer({ min: 0, max: 20_000 }),
  fc.integer({ min: 20_000, max: 200_000 }),
  fc.integer({ min: 0, max: 2 * HOUR_MS }),
  fc.integer({ min: HOUR_MS, max: 30 * HOUR_MS }),
  fc.integer({ min: -90_000, max: -1 }),
);
const operation = fc.tuple(
  advance,
  fc.oneof(
    { weight: 4, arbitrary: fc.array(event, { minLength: 1, maxLength: 5 }).map((events) => ({ events })) },
    { weight: 1, arbitrary: fc.constant({ tick: true as const }) },
  ),
);

/** Every retained event, in seq order. */
async function wholeLog(store: EventStore, topic: string): Promise<PulseEvent[]> {
  const events: PulseEvent[] = [];
  for (;;) {
    const page = await store.readAfter(topic, events.at(-1)?.seq ?? 0, 1000);
    if (!page || page.events.length === 0) return events;
    events.push(...page.events);
  }
}

describe('History (property-based, real Redis)', () => {
  it('series buckets and instance hours read as the fold of the log, whatever the clock does', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(operation, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 0, max: 86_400_000 }),
        async (operations, offset) => {
          const topic = `hist-${randomUUID().slice(0, 12)}`;
          // Start somewhere in the day before a UTC midnight, so runs cross days as well as hours and minutes.
          let clock = Date.UTC(2026, 10, 30) + offset;
          const store = new EventStore(redis, { retention: 100_000, idempotencyWindowMs: 60_000, now: () => clock });
          let tickAt = 0;
          for (const [delta, op] of operations) {
            clock += delta;
            if ('tick' in op)
              await store.tick(topic, {
                tickAt: ++tickAt,
                nextTickAt: tickAt + 1,
                instanceTtlMs: 30 * 60_000,
                instanceForgetMs: 20 * HOUR_MS,
              });
            else await store.append(topic, op.events);
          }
          const log = await wholeLog(store, topic);
          // Ticks alone start no log (and no history).
          if (log.length === 0) return;
          const state = emptyState();
          const history = emptyHistory();
          for (const e of log) foldHistory(state, history, e);

          for (const step of SERIES_STEPS) {
            const size = STEP_MS[step];
            const starts = new Set<number>();
            for (const e of log) for (const k of [-1, 0, 1]) starts.add(e.ts - (e.ts % size) + k * size);
            const sorted = [...starts].sort((x, y) => x - y);
            const live = await store.history.buckets(topic, step, sorted);
            expect(live).toEqual(sorted.map((t) => history.buckets.get(`${step}:${t}`) ?? emptyBucket()));
          }
          // Instance hours and availability, for the instances still in the table.
          const first = Math.min(...log.map((e) => e.ts));
          const last = Math.max(clock, ...log.map((e) => e.ts));
          for (const id of state.instances.keys()) {
            const found = (await store.history.instance(topic, id, { from: first - (first % HOUR_MS), to: last + 1 }))!;
            expect(found).not.toBeNull();
            const points = found.series.points.filter((p) => p.attempts + p.failures + p.offline_ms > 0);
            const expected = [...history.hours.entries()]
              .filter(
                ([key, hour]) =>
                  key.startsWith(`${id}:`) &&
                  /^\d+$/.test(key.slice(id.length + 1)) &&
                  hour.attempts + hour.failures + hour.offline_ms > 0,
              )
              .map(([key, hour]) => ({ t: Number(key.slice(id.length + 1)), ...hour }))
              .sort((x, y) => x.t - y.t);
            expect(points).toEqual(expected);
            const availability = history.availability.get(id) ?? { first_seen: null, offline_since: null };
            expect({ first_seen: found.first_seen, offline_since: found.offline_since }).toEqual(availability);
          }
          // And the rebuild finds nothing to mend.
          expect((await store.rebuild(topic))!.drift).toEqual([]);
        },
      ),
      { numRuns: 100 },
    );
  }, 120_000);
});
