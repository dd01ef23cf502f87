// Chaos: alerts under kill -9 of workers during ticks: every transition in the log notified exactly once per channel, with a unique delivery id.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import { BULL_PREFIX, NOTIFY_QUEUE, type NotifyJob } from '#pulse/contracts';
import { WebhookReceiver } from '../support/alert-receivers.js';
import { Changes, pause, poll } from '../support/wait.js';
import { checkAlertDeliveries, deliveryNotes, type AlertDelivery } from './support/history.js';
import { verdict } from './support/report.js';
import { ChaosStack, LONG, scale, uniqueTopic } from './support/stack.js';
import { SdkSubscriber, settle, type Subscriber } from './support/subscribers.js';

const SECRET = 'chaos-receiver-secret-0123456789';
const CYCLES = scale(3, 10);
const INSTANCES = Array.from({ length: 8 }, (_, i) => `node-${i}`);

let stack: ChaosStack;
let receiver: WebhookReceiver;
let receiverUrl: string;
let queue: Queue<NotifyJob>;
const changes = new Changes();

beforeAll(async () => {
  receiver = new WebhookReceiver(SECRET);
  receiverUrl = await receiver.start();
  stack = await ChaosStack.start({
    gateways: 1,
    workers: 3,
    env: { PULSE_TICK_MS: '500', PULSE_INSTANCE_TTL_MS: '1000', PULSE_NOTIFY_BACKOFF_MS: '200' },
  });
  queue = new Queue(NOTIFY_QUEUE, { connection: { url: stack.redis.url }, prefix: BULL_PREFIX });
}, 90_000);

afterAll(async () => {
  await queue?.close();
  await stack?.stop();
  await receiver?.stop();
}, 60_000);

async function call(method: string, path: string, body: unknown): Promise<void> {
  const response = await fetch(`${stack.urls[0]}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (response.status >= 300) throw new Error(`${method} ${path} answered ${response.status} ${await response.text()}`);
}

describe(`alerts under kill -9 (${LONG ? 'long' : 'short'})`, () => {
  it(`${CYCLES} outage cycles of 3 of 8 instances while workers are killed and restarted: one delivery per transition`, async () => {
    const topic = uniqueTopic('alerts');
    await call('PUT', '/api/v1/channels/chaos', { type: 'webhook', url: `${receiverUrl}/chaos`, secret: SECRET });
    await call('PUT', `/api/v1/topics/${topic}/rules/down`, {
      kind: 'instance_offline',
      groupWaitMs: 1000,
      channels: ['chaos'],
    });
    const subscribers: Subscriber[] = [stack.track(new SdkSubscriber(stack, topic, 'sdk-0', changes))];
    let down = new Set<string>();
    let beating = true;
    const beats = (async () => {
      while (beating) {
        const alive = INSTANCES.filter((id) => !down.has(id));
        await fetch(`${stack.urls[0]}/api/v1/topics/${topic}/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            events: alive.map((instanceId) => ({ type: 'instance.heartbeat', data: { instanceId } })),
          }),
        }).catch(() => undefined);
        await pause(200);
      }
    })();
    let kills = 0;
    let killing = true;
    const killer = (async () => {
      while (killing) {
        await pause(1200);
        const running = stack.processes.workers.filter((worker) => worker.running);
        const victim = running[kills % running.length]!;
        victim.kill('SIGKILL');
        await victim.exited;
        kills++;
        await stack.processes.addWorker();
      }
    })();
    try {
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        down = new Set(INSTANCES.slice(cycle % 5, (cycle % 5) + 3));
        await pause(3000); // offline after the 1 s TTL, fired at the next tick, grouped for 1 s
        down = new Set();
        await pause(2500);
      }
    } finally {
      killing = false;
      await killer;
    }
    // Every alert resolved in the log, and every notify job finished (a job on a killed worker is re-run once found stalled, within 30 s).
    const count = (entries: { type: string }[], type: string) => entries.filter((entry) => entry.type === type).length;
    await poll(
      'every alert resolved in the log',
      async () => {
        const entries = [...(await stack.readLog(topic)).entries.values()];
        return (
          count(entries, 'alert.firing') > 0 && count(entries, 'alert.firing') === count(entries, 'alert.resolved')
        );
      },
      { timeoutMs: 20_000, pauseMs: 250 },
    );
    beating = false;
    await beats;
    await poll(
      'every notify job of the topic finished',
      async () => {
        const jobs = (await queue.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed'], 0, -1)).filter(
          (job) => job?.data.topic === topic,
        );
        return jobs.length > 0 && jobs.every((job) => job.finishedOn !== undefined && !job.failedReason);
      },
      { timeoutMs: 75_000, pauseMs: 500 },
    );
    await settle(stack, changes, subscribers, 30_000);

    const log = await stack.readLog(topic);
    const received: AlertDelivery[] = receiver.delivered('/chaos').map((entry) => ({
      deliveryId: entry.headers['pulse-delivery-id'] ?? '',
      kind: entry.json.kind ?? '',
      alerts: (entry.json.alerts ?? []) as unknown as AlertDelivery['alerts'],
    }));
    const check = checkAlertDeliveries(log, received);
    const result = await verdict('alerts kill -9 of workers during ticks', stack, subscribers, {
      extra: `kills=${kills} ${deliveryNotes(check)}`,
    });
    expect(result.findings).toEqual([]);
    expect(check.findings).toEqual([]);
    expect(check.transitions).toBeGreaterThanOrEqual(CYCLES * 6);
    expect(receiver.delivered('/chaos').every((entry) => entry.signatureValid)).toBe(true);
    expect(await stack.foldDrift(topic)).toEqual([]);
    expect(stack.unhandled()).toEqual([]);
  }, 240_000);
});
