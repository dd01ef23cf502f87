// Which channel hears of which alert, against a real redis-server and a real webhook receiver: a
// resolved follows its firing's delivery, never precedes or replaces it; reminders go only where the
// firing was delivered. And the firing counts that workers taking turns at the tick record.
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { UnrecoverableError, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { parseRuleBody, type NotificationPayload, type NotifyJob, type Rule } from '#pulse/contracts';
import { EventStore } from '#pulse/event-store';
import { NotificationService, type NotifyQueue } from './notification.service.js';
import { NotifyProcessor } from './notify.processor.js';
import { Senders } from './senders.js';

let redis: Redis;
let receiver: Server;
let receiverUrl: string;
/** What the receiver got, in order: kind and channel of each delivery it answered 2xx. */
const delivered: { kind: string; channel: string }[] = [];
/** Channels whose deliveries the receiver refuses (503) for now. */
const down = new Set<string>();
/** Channels whose deliveries the receiver answers with this status. */
const answers = new Map<string, number>();

beforeAll(async () => {
  redis = new Redis(process.env.PULSE_TEST_REDIS_URL!, { maxRetriesPerRequest: 1 });
  receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const channel = new URL(request.url!, 'http://x').searchParams.get('channel')!;
      if (down.has(channel)) return void response.writeHead(503).end();
      if (answers.has(channel)) return void response.writeHead(answers.get(channel)!).end();
      const payload = JSON.parse(Buffer.concat(chunks).toString()) as NotificationPayload;
      delivered.push({ kind: payload.kind, channel });
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', () => resolve()));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
});
afterAll(async () => {
  await redis.quit();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

function rule(ruleId: string, body: unknown): Rule {
  const parsed = parseRuleBody(ruleId, body);
  if (!parsed.success) throw new Error(parsed.error.message);
  return parsed.data;
}

/** A store and the notification path on a clock the test moves; jobs are run one try at a time, as BullMQ would. */
function setup() {
  const clock = { now: Date.UTC(2026, 5, 1, 12) };
  const store = new EventStore(redis, {
    retention: 100_000,
    idempotencyWindowMs: 60_000,
    now: () => clock.now,
    appendDeadlineMs: 0,
  });
  const jobs = new Map<string, { data: NotifyJob; attempts: number; attemptsMade: number; state?: string }>();
  const queue: NotifyQueue = {
    addBulk: (list) => {
      for (const job of list)
        if (!jobs.has(job.opts.jobId!))
          jobs.set(job.opts.jobId!, { data: job.data, attempts: job.opts.attempts!, attemptsMade: 0 });
      return Promise.resolve();
    },
  };
  const service = new NotificationService(store, queue, new Senders({ url: null, from: 'pulse@localhost' }), {
    backoffMs: 1000,
    maxAgeMs: 3000,
    now: () => clock.now,
  });
  const processor = new NotifyProcessor(service);
  const topic = `m-${randomUUID().slice(0, 12)}`;
  const tick = async () => {
    const result = await store.tick(topic, { tickAt: clock.now, nextTickAt: clock.now + 1000, instanceTtlMs: 10_000 });
    if (result.outbox > 0) await service.drain(topic);
  };
  /** One try of the job of that kind and channel: done, failed with a retry to follow, or failed for good. */
  const runTry = async (kind: string, channel: string): Promise<'done' | 'retry' | 'failed'> => {
    const [id, job] = [...jobs].find(
      ([, job]) => job.data.kind === kind && job.data.channelId === channel && !job.state,
    )!;
    const fake = {
      id,
      data: job.data,
      opts: { attempts: job.attempts },
      attemptsMade: job.attemptsMade,
      updateData: (data: NotifyJob) => {
        job.data = data;
        fake.data = data;
        return Promise.resolve();
      },
    };
    try {
      await processor.process(fake as unknown as Job<NotifyJob>);
      job.state = 'done';
    } catch (error) {
      job.attemptsMade += 1;
      // BullMQ ends a job that throws UnrecoverableError, whatever attempts are left.
      if (job.attemptsMade >= job.attempts || error instanceof UnrecoverableError) job.state = 'failed';
    }
    return (job.state as 'done' | 'failed' | undefined) ?? 'retry';
  };
  const channel = async (name: string) => {
    const channelId = `${name}-${topic}`;
    await store.alerts.putChannel({
      channelId,
      type: 'webhook',
      url: `${receiverUrl}?channel=${name}`,
      secret: 'x'.repeat(32),
    });
    return channelId;
  };
  return { clock, store, topic, tick, runTry, channel };
}

describe('notification marks', () => {
  it("holds a resolved until its firing is delivered, and sends none when the firing's tries all failed", async () => {
    const { clock, store, topic, tick, runTry, channel } = setup();
    const slow = await channel('slow');
    const dead = await channel('dead');
    await store.append(topic, [
      { type: 'instance.heartbeat', data: { instanceId: 'i-1' } },
      {
        type: 'rule.set',
        data: rule('down', { kind: 'instance_offline', params: {}, channels: [slow, dead], groupWaitMs: 0 }),
      },
    ]);
    delivered.length = 0;
    down.add('slow').add('dead');
    clock.now += 11_000;
    await tick(); // i-1 offline: firing
    expect(await runTry('firing', slow)).toBe('retry');
    // Every try of the firing on "dead" fails, to the last.
    let outcome;
    do outcome = await runTry('firing', dead);
    while (outcome === 'retry');
    expect(outcome).toBe('failed');
    clock.now += 1000;
    await store.append(topic, [{ type: 'instance.heartbeat', data: { instanceId: 'i-1' } }]);
    await tick(); // back: resolved
    down.delete('slow');
    down.delete('dead');
    // The firing on "slow" waits out its backoff: the resolved must not go first.
    expect(await runTry('resolved', slow)).toBe('retry');
    expect(await runTry('firing', slow)).toBe('done');
    expect(await runTry('resolved', slow)).toBe('done');
    // "dead" never got the firing: its resolved sends nothing.
    expect(await runTry('resolved', dead)).toBe('done');
    expect(delivered).toEqual([
      { kind: 'firing', channel: 'slow' },
      { kind: 'resolved', channel: 'slow' },
    ]);
  });

  it('ends a firing the receiver refuses with a 4xx at once (its resolved goes nowhere), and retries a 429', async () => {
    const { clock, store, topic, tick, runTry, channel } = setup();
    const [gone, busy] = [await channel('gone'), await channel('busy')];
    answers.set('gone', 404).set('busy', 429);
    await store.append(topic, [
      { type: 'instance.heartbeat', data: { instanceId: 'i-1' } },
      {
        type: 'rule.set',
        data: rule('down', { kind: 'instance_offline', params: {}, channels: [gone, busy], groupWaitMs: 0 }),
      },
    ]);
    delivered.length = 0;
    clock.now += 11_000;
    await tick();
    expect(await runTry('firing', gone)).toBe('failed');
    expect(await runTry('firing', busy)).toBe('retry');
    answers.delete('gone');
    answers.delete('busy');
    expect(await runTry('firing', busy)).toBe('done');
    clock.now += 1000;
    await store.append(topic, [{ type: 'instance.heartbeat', data: { instanceId: 'i-1' } }]);
    await tick();
    expect(await runTry('resolved', gone)).toBe('done');
    expect(await runTry('resolved', busy)).toBe('done');
    expect(delivered).toEqual([
      { kind: 'firing', channel: 'busy' },
      { kind: 'resolved', channel: 'busy' },
    ]);
  });

  it('reminds only the channels its firing was delivered to', async () => {
    const { clock, store, topic, tick, runTry, channel } = setup();
    const [a, b] = [await channel('a'), await channel('b')];
    const body = { kind: 'instance_offline', params: {}, channels: [a], groupWaitMs: 0, repeatIntervalMs: 60_000 };
    await store.append(topic, [
      { type: 'instance.heartbeat', data: { instanceId: 'i-1' } },
      { type: 'rule.set', data: rule('down', body) },
    ]);
    delivered.length = 0;
    // The firing on "a" falls in a one-off silence that ends before the first reminder.
    await store.alerts.putSilence({
      id: `s-${topic}`,
      matchers: { topic, ruleId: 'down' },
      startsAt: clock.now,
      endsAt: clock.now + 30_000,
      createdAt: clock.now,
      comment: 'maintenance',
    });
    clock.now += 11_000;
    await tick();
    expect(await runTry('firing', a)).toBe('done');
    // "b" joins the rule while the alert fires.
    await store.append(topic, [{ type: 'rule.set', data: rule('down', { ...body, channels: [a, b] }) }]);
    clock.now += 60_000;
    await tick(); // a reminder is due
    expect(await runTry('reminder', a)).toBe('done');
    expect(await runTry('reminder', b)).toBe('done');
    // Neither was told of the firing: a "still firing" page there would never be resolved.
    expect(delivered).toEqual([]);
    await store.alerts.deleteSilence(`s-${topic}`);
  });
});

describe('firing counts', () => {
  it('are what the last tick found, whichever worker ran the ticks before', async () => {
    const { store, topic } = setup();
    const worker = () =>
      new NotificationService(store, { addBulk: () => Promise.resolve() }, new Senders({ url: null, from: 'p@x' }), {
        backoffMs: 1000,
        maxAgeMs: 3000,
      });
    const [a, b] = [worker(), worker()];
    const one = { critical: 1, warning: 0, info: 0 };
    await a.recordFiring(topic, one);
    await b.recordFiring(topic, { critical: 0, warning: 0, info: 0 });
    expect((await store.alerts.firing()).get(topic)).toBeUndefined();
    // Worker a's previous record had the same counts: the alert fired again since.
    await a.recordFiring(topic, one);
    expect((await store.alerts.firing()).get(topic)).toEqual(one);
    await b.recordFiring(topic, { critical: 0, warning: 0, info: 0 });
  });
});
