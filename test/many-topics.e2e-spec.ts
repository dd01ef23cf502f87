// 1,000 topics, subscribers spread over three gateways: exact sequences per topic, and one tick over all of them.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import type { PulseClient } from '#pulse/client';
import { MONITOR_QUEUE, type IngestEvent, type PulseEvent } from '#pulse/contracts';
import { startPulse, type PulseTestStack } from '#pulse/testing';
import { Changes, poll } from './support/wait.js';

const TOPICS = 1000;
const CLIENTS = 15;
/** Each topic is followed by this many clients, on different gateways. */
const FOLLOWERS = 3;

let pulse: PulseTestStack | undefined;
const run = Date.now().toString(36);
const topics = Array.from({ length: TOPICS }, (_, i) => `many-${run}-${i}`);

beforeAll(async () => {
  // Clients here follow 200 topics each (above the default limit of 100 per socket), all at once,
  // and the test runs longer than the default instance TTL: neither is what this suite is about.
  pulse = await startPulse({
    gateways: 3,
    workers: 1,
    env: { PULSE_MAX_SUBSCRIPTIONS: '250', PULSE_RATE_LIMIT_CONNECTION: '1000', PULSE_INSTANCE_TTL_MS: '3600000' },
  });
}, 60_000);

afterAll(async () => {
  await pulse?.stop();
}, 60_000);

const attempt = (instanceId: string, i: number): IngestEvent => ({
  type: 'attempt.recorded',
  data: { instanceId, outcome: i % 5 === 0 ? 'failure' : 'success' },
});

/** Posts one batch to every topic through the gateways in turn, 16 requests at a time. */
async function postToAll(round: number): Promise<void> {
  const urls = pulse!.urls;
  for (let i = 0; i < topics.length; i += 16) {
    await Promise.all(
      topics.slice(i, i + 16).map(async (topic, j) => {
        const response = await fetch(`${urls[(i + j) % urls.length]}/api/v1/topics/${topic}/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ events: [attempt(`i-${j % 4}`, round), attempt(`i-${(j + 1) % 4}`, round + 1)] }),
        });
        if (response.status !== 201) throw new Error(`POST ${topic} answered ${response.status}`);
      }),
    );
  }
}

describe('1,000 topics over three gateways', () => {
  it('gives every client its topics exact sequences, and ticks all topics in one run', async () => {
    await postToAll(0);
    const changes = new Changes();
    const urls = pulse!.urls;
    // Client c starts on gateway c % 3 and follows every topic t with t % 5 === c % 5: each topic has three followers, one per gateway.
    const watchers = Array.from({ length: CLIENTS }, (_, c) => {
      const client: PulseClient = pulse!.client({ urls: [...urls.slice(c % 3), ...urls.slice(0, c % 3)] });
      const mine = topics.filter((_, t) => t % (CLIENTS / FOLLOWERS) === c % (CLIENTS / FOLLOWERS));
      const seen = new Map<string, { events: PulseEvent[]; snapshotSeq: number; position: () => number }>();
      for (const topic of mine) {
        const record = { events: [] as PulseEvent[], snapshotSeq: -1, position: () => 0 };
        const subscription = client.subscribe(topic, {
          onEvent: (event) => {
            record.events.push(event);
            changes.changed();
          },
          onSnapshot: (snapshot) => {
            record.snapshotSeq = snapshot.seq;
            changes.changed();
          },
        });
        record.position = () => subscription.position()?.seq ?? 0;
        seen.set(topic, record);
      }
      return { client, seen };
    });
    expect(watchers.reduce((sum, w) => sum + w.seen.size, 0)).toBe(TOPICS * FOLLOWERS);
    await changes.until(
      () => 'every subscription answered',
      () => watchers.every((w) => [...w.seen.values()].every((record) => record.snapshotSeq >= 0)),
      60_000,
    );

    await postToAll(1);
    await postToAll(2);
    const summary = await pulse!.tick();
    expect(summary.topics).toBeGreaterThanOrEqual(TOPICS);
    expect(summary.appended).toBeGreaterThanOrEqual(TOPICS);
    process.stdout.write(`many-topics: one tick over ${summary.topics} topics took ${summary.durationMs} ms\n`);

    const head = 2 + 4 + 3; // the first batch, two more, the tick's three events
    await changes.until(
      () => 'every client at the head of each of its topics',
      () => watchers.every((w) => [...w.seen.values()].every((record) => record.position() >= head)),
      60_000,
    );
    for (const w of watchers) {
      for (const [topic, record] of w.seen) {
        const log = await pulse!.log(topic);
        expect(log.at(-1)!.seq).toBe(head);
        expect(record.events).toEqual(log.filter((event) => event.seq > record.snapshotSeq));
      }
    }
  }, 180_000);

  it('SIGTERM on the worker in the middle of a 1,000-topic tick lets the tick finish before it exits', async () => {
    const [worker] = pulse!.processes.workers;
    const heads = await Promise.all(topics.map(async (topic) => (await pulse!.log(topic)).at(-1)!.seq));
    const queue = new Queue(MONITOR_QUEUE, { connection: { url: pulse!.redisUrl }, prefix: '{pulse}' });
    const tick = pulse!.tick();
    // SIGTERM once the worker runs it (the tick then takes hundreds of ms, see the figure above).
    await poll('the tick job to become active', async () => (await queue.getActiveCount()) > 0, {
      timeoutMs: 15_000,
      pauseMs: 5,
    });
    await queue.close();
    const signalledAt = Date.now();
    const status = await worker!.stop(30_000);
    expect(status.signal === 'SIGTERM' || status.code === 0).toBe(true);
    // No worker is left: the tick finished on the one that was stopping (a closing worker takes no new job).
    const summary = await tick;
    expect(summary.topics).toBeGreaterThanOrEqual(TOPICS);
    // The tick was still running when the SIGTERM came (tickAt is when the tick was asked for, on the same clock).
    expect(signalledAt).toBeLessThan(summary.tickAt + summary.durationMs);
    // Every topic got its whole tick: no half-ticked topic, none left for a retry.
    const ticked = await Promise.all(
      topics.map(async (topic, i) =>
        (await pulse!.log(topic)).filter((event) => event.seq > heads[i]!).map((event) => event.type),
      ),
    );
    expect(new Set(ticked.map((types) => types.join(',')))).toEqual(
      new Set(['status_update,statistics_update,instances_update']),
    );
    await pulse!.processes.addWorker();
  }, 120_000);
});
