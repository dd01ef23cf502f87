// Property tests of the event store on a real redis-server: any sequence of appends gives contiguous seqs, exact replays from any position, and projections equal to the fold.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { emptyState, foldEvent, instancesOf, statisticsOf } from '#pulse/contracts';
import { EventStore, type NewEvent } from './event-store.js';

let redis: Redis;
beforeAll(() => {
  redis = new Redis(process.env.PULSE_TEST_REDIS_URL!, { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  await redis.quit();
});

const instance = fc.constantFrom('a', 'b', 'c', 'd-1', 'e.2');
const event: fc.Arbitrary<NewEvent> = fc.oneof(
  fc.record({
    type: fc.constant('instance.heartbeat'),
    data: fc.record(
      { instanceId: instance, status: fc.constantFrom('online', 'busy', 'degraded') },
      { requiredKeys: ['instanceId'] },
    ),
  }),
  fc.record({
    type: fc.constant('attempt.recorded'),
    data: fc.record({ instanceId: instance, outcome: fc.constantFrom('success', 'failure') }),
  }),
);
/** Batches of events; some carry idempotency keys from a small pool, so repeats happen. */
const batches = fc.array(
  fc.array(fc.tuple(event, fc.option(fc.constantFrom('k1', 'k2', 'k3', 'k4'), { nil: undefined })), {
    minLength: 1,
    maxLength: 30,
  }),
  { minLength: 1, maxLength: 12 },
);

describe('EventStore (property-based, real Redis)', () => {
  it('append/replay/fold: seqs contiguous, repeats answered with their first seq, replay from any position exact, projections = fold of the log', async () => {
    await fc.assert(
      fc.asyncProperty(batches, fc.integer({ min: 10, max: 200 }), fc.nat(), async (input, retention, from) => {
        const topic = `prop-${randomUUID().slice(0, 12)}`;
        const store = new EventStore(redis, { retention, idempotencyWindowMs: 60_000 });
        const firstSeq = new Map<string, number>();
        let expected = 0;
        for (const batch of input) {
          // Keys are unique per topic run (a key seen earlier in this topic is a repeat).
          const result = await store.append(
            topic,
            batch.map(([e, key]) => ({ ...e, ...(key ? { idempotencyKey: key } : {}) })),
          );
          batch.forEach(([, key], i) => {
            const seq = result.seqs[i]!;
            if (key && firstSeq.has(key)) expect(seq).toBe(firstSeq.get(key));
            else {
              expected += 1;
              expect(seq).toBe(expected);
              if (key) firstSeq.set(key, seq);
            }
          });
        }
        const head = (await store.head(topic))!;
        expect(head.head).toBe(expected);
        // Retention keeps at least the last `retention` events; replay from any retained position is the exact suffix.
        const after = head.base + (from % (head.head - head.base + 1));
        const page = (await store.readAfter(topic, after, 1000))!;
        expect(page.events.map((e) => e.seq)).toEqual(
          Array.from({ length: head.head - after }, (_, i) => after + 1 + i),
        );
        expect(head.head - head.base).toBeGreaterThanOrEqual(Math.min(retention, head.head));
        // The live projection equals the fold of the log on top of the trimmed events' base.
        const rebuilt = (await store.rebuild(topic))!;
        expect(rebuilt.drift).toEqual([]);
        // With nothing trimmed, the fold of the whole log from scratch is the snapshot.
        if (head.base === 0) {
          const state = emptyState();
          for (const e of (await store.readAfter(topic, 0, 1000))!.events) foldEvent(state, e);
          const snapshot = (await store.snapshot(topic))!;
          expect({ statistics: snapshot.statistics, instances: snapshot.instances }).toEqual({
            statistics: statisticsOf(state),
            instances: instancesOf(state),
          });
        }
      }),
      { numRuns: 30 },
    );
  }, 60_000);
});
