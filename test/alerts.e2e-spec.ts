// Alerts end to end: 3 workers and 2 gateways ticking every 500 ms, a real webhook receiver that checks signatures itself, a real SMTP sink; grouping, thresholds, forMs, retries and silences.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import { NOTIFY_QUEUE, type NotifyJob, type PulseEvent } from '#pulse/contracts';
import { startPulse, type PulseTestStack } from '#pulse/testing';
import { SmtpSink, WebhookReceiver } from './support/alert-receivers.js';
import { pause, poll } from './support/wait.js';

const SECRET = 'receiver-secret-0123456789abcdef';
let pulse: PulseTestStack;
let receiver: WebhookReceiver;
let smtp: SmtpSink;
let hookUrl: string;
let queue: Queue<NotifyJob>;

beforeAll(async () => {
  receiver = new WebhookReceiver(SECRET);
  smtp = new SmtpSink();
  hookUrl = await receiver.start();
  const smtpUrl = await smtp.start();
  pulse = await startPulse({
    gateways: 2,
    workers: 3,
    tickMs: 500,
    env: { PULSE_INSTANCE_TTL_MS: '1500', PULSE_NOTIFY_BACKOFF_MS: '200', PULSE_SMTP_URL: smtpUrl },
  });
  queue = new Queue(NOTIFY_QUEUE, { connection: { url: pulse.redisUrl }, prefix: '{pulse}' });
});
afterAll(async () => {
  await queue?.close();
  await pulse?.stop();
  await receiver?.stop();
  await smtp?.stop();
});

async function put(path: string, body: unknown, method = 'PUT'): Promise<unknown> {
  const response = await fetch(`${pulse.urls[1]}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = (await response.json()) as unknown;
  if (response.status >= 300)
    throw new Error(`${method} ${path} answered ${response.status} ${JSON.stringify(answer)}`);
  return answer;
}

/** Heartbeats of `ids()` every 250 ms until stopped: instances alive as long as they are listed. */
function heartbeats(
  topic: string,
  ids: () => string[],
  status?: (id: string) => string | undefined,
): { stop: () => Promise<void> } {
  let running = true;
  const loop = (async () => {
    while (running) {
      const events = ids().map((instanceId) => ({
        type: 'instance.heartbeat' as const,
        data: { instanceId, ...(status?.(instanceId) ? { status: status(instanceId) } : {}) },
      }));
      if (events.length > 0) await pulse.publish(topic, events);
      await pause(250);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

const alertEvents = (log: PulseEvent[], type: string) => log.filter((event) => event.type === type);
/** The notify jobs of a topic, whatever their state. */
async function jobsOf(topic: string): Promise<NotifyJob[]> {
  const jobs = await queue.getJobs(['completed', 'failed', 'delayed', 'waiting', 'active', 'wait'], 0, -1);
  return jobs.filter((job) => job?.data.topic === topic).map((job) => job.data);
}

describe('alerts end to end', () => {
  it('sends one grouped, signed firing listing the 12 instances that stopped (webhook and email), and one resolved when they return', async () => {
    const topic = `fleet-${randomUUID().slice(0, 8)}`;
    await put('/api/v1/channels/hook', { type: 'webhook', url: `${hookUrl}/fleet`, secret: SECRET });
    await put('/api/v1/channels/mail', { type: 'email', to: ['ops@example.com'] });
    await put(`/api/v1/topics/${topic}/rules/down`, {
      kind: 'instance_offline',
      channels: ['hook', 'mail'],
      groupWaitMs: 4000,
      severity: 'critical',
    });
    const all = Array.from({ length: 20 }, (_, i) => `web-${String(i).padStart(2, '0')}`);
    let alive = all;
    const beat = heartbeats(topic, () => alive);
    try {
      await pulse.tick();
      alive = all.slice(12);
      await receiver.changes.until(
        'a firing notification for the fleet',
        () => receiver.delivered('/fleet', 'firing').length > 0,
        30_000,
      );
      const [firing] = receiver.delivered('/fleet', 'firing');
      expect(firing!.signatureValid).toBe(true);
      expect(firing!.json.alerts!.map((alert) => alert.alertId).sort()).toEqual(
        all.slice(0, 12).map((id) => `down:${id}`),
      );
      expect(firing!.headers['pulse-delivery-id']).toBeTruthy();
      await smtp.changes.until('the firing email', () => smtp.messages.length > 0, 15_000);
      expect(smtp.messages[0]!.to).toEqual(['ops@example.com']);
      expect(smtp.messages[0]!.raw).toContain(`[FIRING] ${topic}: down (12 alerts)`);

      alive = all;
      await receiver.changes.until(
        'the resolved notification',
        () => receiver.delivered('/fleet', 'resolved').length > 0,
        30_000,
      );
      const [resolved] = receiver.delivered('/fleet', 'resolved');
      expect(resolved!.signatureValid).toBe(true);
      expect(resolved!.json.alerts).toHaveLength(12);
      await smtp.changes.until('the resolved email', () => smtp.messages.length > 1, 15_000);
    } finally {
      await beat.stop();
    }
    const log = await pulse.log(topic);
    expect(alertEvents(log, 'alert.firing')).toHaveLength(12);
    expect(alertEvents(log, 'alert.resolved')).toHaveLength(12);
    // Exactly one job per (group, channel) although three workers ticked.
    expect((await jobsOf(topic)).map((job) => `${job.kind} ${job.channelId}`).sort()).toEqual([
      'firing hook',
      'firing mail',
      'resolved hook',
      'resolved mail',
    ]);
    expect(receiver.delivered('/fleet')).toHaveLength(2);
    expect(smtp.messages).toHaveLength(2);
  });

  it('fires failure_rate at the threshold after forMs, retries a receiver that answers 500 twice with one delivery id, resolves below it', async () => {
    const topic = `rate-${randomUUID().slice(0, 8)}`;
    receiver.answers.set('/flaky', [500, 500, 200]);
    await put('/api/v1/channels/flaky', { type: 'webhook', url: `${hookUrl}/flaky`, secret: SECRET });
    await put(`/api/v1/topics/${topic}/rules/errors`, {
      kind: 'failure_rate',
      params: { windowMs: 60_000, thresholdPct: 50, minAttempts: 4 },
      forMs: 1500,
      groupWaitMs: 0,
      channels: ['flaky'],
    });
    const attempts = (outcomes: ('success' | 'failure')[]) =>
      pulse.publish(
        topic,
        outcomes.map((outcome) => ({ type: 'attempt.recorded' as const, data: { instanceId: 'api', outcome } })),
      );
    await attempts(['success', 'success', 'failure']);
    await pulse.tick(); // 1 of 3 failed: below the threshold and minAttempts
    await attempts(['failure']); // 2 of 4: 50 %, the threshold exactly
    await receiver.changes.until(
      'a delivered firing on the flaky receiver',
      () => receiver.delivered('/flaky', 'firing').length > 0,
      30_000,
    );
    const tries = receiver.received.filter((entry) => entry.path === '/flaky');
    expect(tries.map((entry) => entry.status)).toEqual([500, 500, 200]);
    expect(new Set(tries.map((entry) => entry.headers['pulse-delivery-id'])).size).toBe(1);
    expect(tries.every((entry) => entry.signatureValid)).toBe(true);
    const [firing] = alertEvents(await pulse.log(topic), 'alert.firing') as PulseEvent<'alert.firing'>[];
    expect(firing!.data).toMatchObject({
      value: 50,
      summary: 'failure rate 50 % over 1 min (threshold 50 %), 4 attempts',
    });
    expect(firing!.ts - firing!.data.activeSince).toBeGreaterThanOrEqual(1500);

    const metrics = () => fetch(`${pulse.urls[0]}/metrics`).then((response) => response.text());
    await poll(
      'the firing alert in the metrics',
      async () => (await metrics()).includes(`pulse_alerts_firing{topic="${topic}",severity="warning"} 1`),
      { timeoutMs: 15_000, pauseMs: 200 },
    );
    const page = await metrics();
    expect(page).toContain('pulse_notifications_total{channel_type="webhook",outcome="retried"} 2');
    expect(page).toMatch(/pulse_notify_queue_jobs\{state="failed"\} 0/);
    expect(page).toMatch(/pulse_notify_oldest_job_age_seconds \d/);

    await attempts(['success']); // 2 of 5: 40 %
    await receiver.changes.until(
      'the resolved on the flaky receiver',
      () => receiver.delivered('/flaky', 'resolved').length > 0,
      30_000,
    );
    expect(receiver.delivered('/flaky', 'resolved')[0]!.json.alerts![0]!.summary).toBe(
      'failure rate 40 % over 1 min (threshold 50 %), 5 attempts',
    );
  });

  it('suppresses notifications a silence matches, never the events, and still sends the resolved of a notified firing', async () => {
    const topic = `quiet-${randomUUID().slice(0, 8)}`;
    await put('/api/v1/channels/quiet', { type: 'webhook', url: `${hookUrl}/quiet`, secret: SECRET });
    await put(`/api/v1/topics/${topic}/rules/degraded`, {
      kind: 'instance_status',
      params: { status: 'degraded' },
      groupWaitMs: 0,
      channels: ['quiet'],
    });
    await put(
      '/api/v1/silences',
      { matchers: { topic, instanceId: 'a' }, endsAt: Date.now() + 3_600_000, comment: 'a is being fixed' },
      'POST',
    );
    const degraded = new Set(['a', 'b']);
    const beat = heartbeats(
      topic,
      () => ['a', 'b'],
      (id) => (degraded.has(id) ? 'degraded' : undefined),
    );
    try {
      // a fires silenced (its job completes having sent nothing); b fires and is notified.
      await receiver.changes.until('b firing', () => receiver.delivered('/quiet', 'firing').length > 0, 30_000);
      expect(
        receiver.delivered('/quiet', 'firing').flatMap((entry) => entry.json.alerts!.map((alert) => alert.alertId)),
      ).toEqual(['degraded:b']);
      await poll(
        'both firings in the log',
        async () => alertEvents(await pulse.log(topic), 'alert.firing').length === 2,
        { timeoutMs: 15_000, pauseMs: 200 },
      );
      // Now b is silenced too: its resolved still arrives, a's (never notified) does not.
      await put(
        '/api/v1/silences',
        { matchers: { topic }, endsAt: Date.now() + 3_600_000, comment: 'everything' },
        'POST',
      );
      degraded.clear();
      await receiver.changes.until('b resolved', () => receiver.delivered('/quiet', 'resolved').length > 0, 30_000);
      expect(
        receiver.delivered('/quiet', 'resolved').flatMap((entry) => entry.json.alerts!.map((alert) => alert.alertId)),
      ).toEqual(['degraded:b']);
      await poll(
        'both resolved in the log',
        async () => alertEvents(await pulse.log(topic), 'alert.resolved').length === 2,
        { timeoutMs: 15_000, pauseMs: 200 },
      );
      await poll(
        'every notify job of the topic done',
        async () => {
          const jobs = await queue.getJobs(['completed'], 0, -1);
          return jobs.filter((job) => job?.data.topic === topic).length === (await jobsOf(topic)).length;
        },
        { timeoutMs: 15_000, pauseMs: 200 },
      );
    } finally {
      await beat.stop();
    }
    expect(receiver.delivered('/quiet')).toHaveLength(2);
  });

  it('sends a test message on demand: signed to a webhook, as text and blocks to a Slack incoming webhook', async () => {
    await put('/api/v1/channels/probe', { type: 'webhook', url: `${hookUrl}/probe`, secret: SECRET });
    await put('/api/v1/channels/team', { type: 'slack', url: `${hookUrl}/slack/T000/B000/XXXX` });
    expect(await put('/api/v1/channels/probe/test', {}, 'POST')).toEqual({
      jobId: expect.stringMatching(/^test\.probe\./),
    });
    await put('/api/v1/channels/team/test', {}, 'POST');
    await receiver.changes.until(
      'both test messages',
      () => receiver.delivered('/probe').length > 0 && receiver.delivered('/slack/T000/B000/XXXX').length > 0,
      15_000,
    );
    const [probe] = receiver.delivered('/probe');
    expect(probe!.signatureValid).toBe(true);
    expect(probe!.json).toMatchObject({ kind: 'test', alerts: [] });
    const [slack] = receiver.delivered('/slack/T000/B000/XXXX');
    expect(slack!.json).toMatchObject({
      text: expect.stringContaining('Pulse test notification'),
      blocks: expect.any(Array),
    });
    // The Slack URL's path is its secret: never answered.
    const channels = (await (await fetch(`${pulse.urls[0]}/api/v1/channels`)).json()) as {
      channelId: string;
      url?: string;
    }[];
    expect(channels.find((channel) => channel.channelId === 'team')!.url).toBe(`${new URL(hookUrl).origin}/***`);
  });
});
