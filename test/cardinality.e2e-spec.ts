// Cardinality under abuse (issue 15): an instance flood and a topic flood against a real stack hit their caps, append nothing past them, and keep ticks small.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { instancesDataSchema, MAX_INGEST_BATCH, type ErrorBody, type IngestEvent } from '#pulse/contracts';
import { startPulse, type PulseTestStack } from '#pulse/testing';

const suffix = randomUUID().slice(0, 8);
const MAX_INSTANCES = 1200;
const MAX_META_BYTES = 200;
const MAX_TOPICS = 6;
const TOPIC_QUOTA = 3;

const heartbeat = (instanceId: string, meta?: Record<string, string>): IngestEvent => ({
  type: 'instance.heartbeat',
  data: { instanceId, ...(meta ? { meta } : {}) },
});

describe('cardinality', () => {
  let pulse: PulseTestStack;
  let url = '';
  let admin = '';

  /** POST events with this token; answers the status, the body and the headers. */
  async function post(
    topic: string,
    events: IngestEvent[],
    token = admin,
  ): Promise<{ status: number; body: ErrorBody & { seqs?: number[] }; retryAfter: string | null }> {
    const response = await fetch(`${url}/api/v1/topics/${topic}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ events }),
    });
    return {
      status: response.status,
      body: (await response.json()) as ErrorBody & { seqs?: number[] },
      retryAfter: response.headers.get('retry-after'),
    };
  }

  beforeAll(async () => {
    pulse = await startPulse({
      gateways: 1,
      workers: 1,
      auth: true,
      env: {
        PULSE_MAX_INSTANCES_PER_TOPIC: String(MAX_INSTANCES),
        PULSE_MAX_META_BYTES: String(MAX_META_BYTES),
        PULSE_MAX_TOPICS: String(MAX_TOPICS),
        PULSE_TOPIC_QUOTA: String(TOPIC_QUOTA),
        PULSE_INSTANCES_FULL_EVERY: '1000',
      },
    });
    url = pulse.urls[0]!;
    admin = await pulse.token({ sub: 'ops', role: 'admin' });
  }, 90_000);

  afterAll(async () => {
    await pulse?.stop();
  });

  describe('an instance flood', () => {
    const topic = `fleet-${suffix}`;
    const batch = (from: number) =>
      Array.from({ length: MAX_INGEST_BATCH }, (_, i) => heartbeat(`flood-${from + i}`, { version: '1.0' }));

    it('stops at PULSE_MAX_INSTANCES_PER_TOPIC: the batch that would pass it is refused whole, naming the limit', async () => {
      const answers = [];
      for (let from = 0; from < 2 * MAX_INSTANCES; from += MAX_INGEST_BATCH)
        answers.push(await post(topic, batch(from)));
      // 500 + 500 fit; the third batch would make 1500: refused, all of it, and so are the later ones.
      expect(answers.map((answer) => answer.status)).toEqual([201, 201, 400, 400, 400]);
      const refused = answers[2]!.body;
      expect(refused).toMatchObject({ ok: false, code: 'BAD_REQUEST', reason: 'INSTANCE_LIMIT' });
      expect(refused.message).toContain(`PULSE_MAX_INSTANCES_PER_TOPIC is ${MAX_INSTANCES}`);
      expect(refused.issues).toEqual([
        { path: 'events.200.data.instanceId', message: expect.stringContaining('flood-1200') },
      ]);
      const log = await pulse.log(topic);
      expect(log).toHaveLength(2 * MAX_INGEST_BATCH);
      expect(new Set(log.map((event) => (event.data as { instanceId: string }).instanceId)).size).toBe(1000);
    });

    it('still takes events of known instances, and new ones up to the limit exactly', async () => {
      expect(
        (
          await post(topic, [
            heartbeat('flood-3'),
            { type: 'attempt.recorded', data: { instanceId: 'flood-4', outcome: 'success' } },
          ])
        ).status,
      ).toBe(201);
      const fill = Array.from({ length: MAX_INSTANCES - 1000 }, (_, i) => heartbeat(`late-${i}`));
      expect((await post(topic, fill)).status).toBe(201);
      const over = await post(topic, [heartbeat('flood-5'), heartbeat('one-too-many')]);
      expect(over).toMatchObject({
        status: 400,
        body: { reason: 'INSTANCE_LIMIT', issues: [{ path: 'events.1.data.instanceId' }] },
      });
      const snapshot = (await (
        await fetch(`${url}/api/v1/topics/${topic}/snapshot`, { headers: { authorization: `Bearer ${admin}` } })
      ).json()) as { instances: unknown[] };
      expect(snapshot.instances).toHaveLength(MAX_INSTANCES);
    });

    it('refuses a heartbeat whose meta is larger than PULSE_MAX_META_BYTES, naming it', async () => {
      const answer = await post(topic, [heartbeat('flood-1', { note: 'x'.repeat(MAX_META_BYTES) })]);
      expect(answer.status).toBe(400);
      expect(answer.body.issues).toEqual([
        { path: 'events.0.data.meta', message: expect.stringContaining(`PULSE_MAX_META_BYTES (${MAX_META_BYTES})`) },
      ]);
    });

    it('ticks the full fleet once, then appends only what changed: its size follows change, not fleet size', async () => {
      const whole = await pulse.tick();
      expect(whole.appended).toBeGreaterThanOrEqual(1);
      await post(
        topic,
        Array.from({ length: 10 }, (_, i) => heartbeat(`flood-${i}`, { version: '1.1' })),
      );
      const changed = await pulse.tick();
      // Bounded by the cap's table even on a loaded machine: a whole-table tick of 1200 instances takes milliseconds in Redis.
      expect(changed.durationMs).toBeLessThan(10_000);
      const updates = (await pulse.log(topic))
        .filter((event) => event.type === 'instances_update')
        .map((event) => ({ data: instancesDataSchema.parse(event.data), bytes: JSON.stringify(event.data).length }));
      expect(updates.map((update) => [update.data.full, update.data.instances.length])).toEqual([
        [true, MAX_INSTANCES],
        [false, 10],
      ]);
      expect(updates[1]!.data.instances.map((instance) => instance.meta)).toEqual(
        Array.from({ length: 10 }, () => ({ version: '1.1' })),
      );
      expect(updates[1]!.bytes).toBeLessThan(updates[0]!.bytes / 50);
    });
  });

  describe('a topic flood from a wildcard publisher', () => {
    // The instance flood made one topic (the admin's): MAX_TOPICS − 1 are left.
    const flood = (i: number) => `flood-${suffix}-${i}`;

    it('stops each token at PULSE_TOPIC_QUOTA new topics (429 with Retry-After), then everyone at PULSE_MAX_TOPICS (400), creating no log past either', async () => {
      const alice = await pulse.token({ sub: 'alice', role: 'publisher', topics: ['flood-*'] });
      const bob = await pulse.token({ sub: 'bob', role: 'publisher', topics: ['flood-*'] });
      for (let i = 0; i < TOPIC_QUOTA; i++) expect((await post(flood(i), [heartbeat('a')], alice)).status).toBe(201);
      const overQuota = await post(flood(TOPIC_QUOTA), [heartbeat('a')], alice);
      expect(overQuota).toMatchObject({
        status: 429,
        body: { ok: false, code: 'RATE_LIMITED', reason: 'TOPIC_QUOTA' },
      });
      expect(overQuota.body.message).toContain(`PULSE_TOPIC_QUOTA (${TOPIC_QUOTA})`);
      expect(Number(overQuota.retryAfter)).toBeGreaterThan(0);
      // bob has his own quota, but only MAX_TOPICS − 1 − TOPIC_QUOTA = 2 topics are left in all.
      expect((await post(flood(10), [heartbeat('b')], bob)).status).toBe(201);
      expect((await post(flood(11), [heartbeat('b')], bob)).status).toBe(201);
      const overCap = await post(flood(12), [heartbeat('b')], bob);
      expect(overCap).toMatchObject({ status: 400, body: { ok: false, code: 'BAD_REQUEST', reason: 'TOPIC_LIMIT' } });
      expect(overCap.body.message).toContain(`PULSE_MAX_TOPICS (${MAX_TOPICS})`);
      for (const refused of [flood(TOPIC_QUOTA), flood(12)]) expect(await pulse.log(refused)).toEqual([]);
      // Topics that exist take events from anyone allowed, caps reached or not.
      expect((await post(flood(0), [heartbeat('c')], bob)).status).toBe(201);
      const listed = (await (
        await fetch(`${url}/api/v1/topics?limit=100`, { headers: { authorization: `Bearer ${admin}` } })
      ).json()) as { topic: string }[];
      expect(listed).toHaveLength(MAX_TOPICS);
    });
  });
});
