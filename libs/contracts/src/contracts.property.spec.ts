// Property tests of the contract schemas: any input is either accepted as the documented shape or refused naming its fields, never thrown on, never polluting.
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { badRequest } from './errors.js';
import { ingestBodySchema } from './events.js';
import { replayRequestSchema, subscribeRequestSchema, unsubscribeRequestSchema } from './protocol.js';
import { TOPIC_PATTERN, topicSchema } from './topic.js';

const validTopic = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,63}$/);
const instanceId = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,20}$/);
const heartbeat = fc.record({ type: fc.constant('instance.heartbeat'), data: fc.record({ instanceId }) });
const attempt = fc.record({
  type: fc.constant('attempt.recorded'),
  data: fc.record({ instanceId, outcome: fc.constantFrom('success', 'failure') }),
});
/** Any JSON-like value, including objects with keys that are dangerous when merged. */
const hostile = fc.oneof(
  fc.anything(),
  fc.jsonValue(),
  fc.dictionary(
    fc.constantFrom('__proto__', 'constructor', 'prototype', 'topic', 'since', 'events', 'type', 'data'),
    fc.jsonValue(),
  ),
);

const schemas = {
  subscribe: subscribeRequestSchema,
  replay: replayRequestSchema,
  unsubscribe: unsubscribeRequestSchema,
  ingest: ingestBodySchema,
};

describe('contract schemas (property-based)', () => {
  it('accept every topic the pattern allows, and refuse every other string', () => {
    fc.assert(fc.property(validTopic, (topic) => expect(topicSchema.safeParse(topic).success).toBe(true)));
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (text) =>
        expect(topicSchema.safeParse(text).success).toBe(TOPIC_PATTERN.test(text)),
      ),
    );
  });

  it.each(Object.entries(schemas))(
    '%s: any input is accepted or refused with BAD_REQUEST naming fields; never thrown on, never polluting',
    (_name, schema) => {
      fc.assert(
        fc.property(hostile, (input) => {
          // Inputs arrive as JSON (socket frames, REST bodies): parse what the wire would carry.
          const json = JSON.stringify(input);
          const value: unknown = json === undefined ? input : JSON.parse(json);
          const result = schema.safeParse(value);
          if (!result.success) {
            const body = badRequest(result.error);
            expect(body.code).toBe('BAD_REQUEST');
            expect(body.issues!.length).toBeGreaterThan(0);
            for (const issue of body.issues!) expect(typeof issue.path).toBe('string');
          }
          expect(({} as Record<string, unknown>).polluted).toBeUndefined();
          expect(Object.getPrototypeOf({})).toBe(Object.prototype);
        }),
        { numRuns: 300 },
      );
    },
  );

  it('resume positions: whole seqs >= 0 with an epoch are accepted; negative, fractional or unsafe ones refused', () => {
    fc.assert(
      fc.property(
        validTopic,
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.string({ minLength: 1, maxLength: 64 }),
        (topic, seq, epoch) => {
          expect(subscribeRequestSchema.safeParse({ topic, since: { seq, epoch } }).success).toBe(true);
        },
      ),
    );
    fc.assert(
      fc.property(
        validTopic,
        fc.oneof(
          fc.integer({ max: -1 }),
          fc.double({ noInteger: true }),
          fc.constant(Number.MAX_SAFE_INTEGER + 2),
          fc.string(),
        ),
        (topic, seq) => {
          const result = subscribeRequestSchema.safeParse({ topic, since: { seq, epoch: 'e' } });
          expect(result.success).toBe(false);
          expect(badRequest(result.error!).issues!.map((issue) => issue.path)).toContain('since.seq');
        },
      ),
    );
  });

  it('ingest bodies: 1..500 valid events are accepted as sent; a single bad event refuses the whole batch naming its index', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(heartbeat, attempt), { minLength: 1, maxLength: 500 }), (events) => {
        const result = ingestBodySchema.safeParse({ events });
        expect(result.success).toBe(true);
        expect(result.data!.events).toEqual(events);
      }),
      { numRuns: 50 },
    );
    fc.assert(
      fc.property(
        fc.array(heartbeat, { minLength: 1, maxLength: 20 }),
        fc.nat(),
        fc.oneof(
          fc.constant({ type: 'instance.exploded', data: {} }),
          fc.constant({ type: 'attempt.recorded', data: { instanceId: 'i', outcome: 'maybe' } }),
          fc.constant({ type: 'instance.heartbeat', data: { instanceId: 'i', extra: 1 } }),
        ),
        (events, at, bad) => {
          const index = at % (events.length + 1);
          const batch = [...events.slice(0, index), bad, ...events.slice(index)];
          const result = ingestBodySchema.safeParse({ events: batch });
          expect(result.success).toBe(false);
          expect(badRequest(result.error!).issues!.some((issue) => issue.path.startsWith(`events.${index}`))).toBe(
            true,
          );
        },
      ),
    );
  });
});

describe('resume positions', () => {
  it.each([
    [{ seq: 2 ** 53, epoch: 'e' }, 'seq', `expected a whole number up to ${Number.MAX_SAFE_INTEGER}`],
    [{ seq: 1.5, epoch: 'e' }, 'seq', `expected a whole number up to ${Number.MAX_SAFE_INTEGER}`],
    [{ seq: '1', epoch: 'e' }, 'seq', 'expected a whole number'],
    [{ seq: 1, epoch: 'e'.repeat(65) }, 'epoch', 'expected an epoch of 1-64 chars'],
    [{ seq: 1, epoch: 7 }, 'epoch', 'expected an epoch (string)'],
  ])('refuses since %j naming since.%s: %s', (since, field, message) => {
    const parsed = subscribeRequestSchema.safeParse({ topic: 't', since });
    expect(parsed.success ? [] : parsed.error.issues.map((issue) => [issue.path.join('.'), issue.message])).toEqual([
      [`since.${field}`, message],
    ]);
  });
});
