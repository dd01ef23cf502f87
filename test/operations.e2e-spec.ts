// Operating built gateways: /metrics moving with the traffic, terminus health, the API documents valid and true to the contracts, the scheduler and its queue, and the start rules of auth.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Parser } from '@asyncapi/parser';
import { validate } from '@readme/openapi-parser';
import { Queue, type QueueEvents } from 'bullmq';
import { queueEventsFromNow } from '#pulse/event-store';
import { Redis } from 'ioredis';
import { io, type Socket } from 'socket.io-client';
import { EVENT_DATA_SCHEMAS, MONITOR_QUEUE, NOTIFY_QUEUE, type PulseEvent } from '#pulse/contracts';
import { PROJECT_ROOT } from '#pulse/stack';
import { startPulse, type PulseTestStack } from '#pulse/testing';
import {
  errorBodySchema,
  eventsPageSchema,
  instanceHistorySchema,
  replayOkSchema,
  seriesSchema,
  snapshotSchema,
  subscribeOkSchema,
  topicListSchema,
  appendedSchema,
} from '../apps/gateway/src/docs/schemas.js';
import { poll, within } from './support/wait.js';

const suffix = randomUUID().slice(0, 8);
const TOPIC = `ops-${suffix}`;
const QUEUE_PREFIX = `ops:{q${suffix}}`;
const heartbeat = (instanceId: string) => ({ type: 'instance.heartbeat' as const, data: { instanceId } });
const attempt = (instanceId: string) => ({
  type: 'attempt.recorded' as const,
  data: { instanceId, outcome: 'success' as const },
});

let pulse: PulseTestStack;
let redis: Redis;
let url: string;
const sockets: Socket[] = [];

/** The samples of a Prometheus text page: `name{labels}` → value. */
async function metrics(): Promise<Map<string, number>> {
  const response = await fetch(`${url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  const samples = new Map<string, number>();
  for (const line of (await response.text()).split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*(?:\{.*\})?) (\S+)$/.exec(line);
    if (match) samples.set(match[1]!, Number(match[2]));
  }
  return samples;
}
const sample = (samples: Map<string, number>, key: string) => samples.get(key) ?? 0;

async function socket(): Promise<Socket> {
  const client = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
  sockets.push(client);
  await within(
    'a connection',
    new Promise((resolve, reject) => client.once('connect', () => resolve(undefined)).once('connect_error', reject)),
  );
  return client;
}

beforeAll(async () => {
  pulse = await startPulse({
    gateways: 1,
    workers: 1,
    env: { PULSE_QUEUE_PREFIX: QUEUE_PREFIX, PULSE_JOBS_KEEP_COMPLETED: '2', PULSE_JOBS_KEEP_FAILED: '2' },
  });
  url = pulse.urls[0]!;
  redis = new Redis(pulse.redisUrl);
}, 90_000);

afterAll(async () => {
  for (const client of sockets) client.close();
  redis?.disconnect();
  await pulse?.stop();
});

describe('/metrics', () => {
  it('moves as events are appended, delivered, replayed and ticked', async () => {
    await pulse.publish(TOPIC, [heartbeat('web-1')]);
    const before = await metrics();
    const live = await socket();
    const received: PulseEvent[] = [];
    live.on('attempt.recorded', (event: PulseEvent) => received.push(event));
    const ack: unknown = await live.emitWithAck('subscribe', { topic: TOPIC });
    expect(subscribeOkSchema.parse(ack)).toMatchObject({ ok: true, recovered: false });
    await pulse.publish(TOPIC, [attempt('web-1'), attempt('web-1'), attempt('web-1')]);
    await poll('3 live events', () => received.length === 3);
    // A resume from a position of another log: recovered false, a snapshot instead.
    const resumed: unknown = await (
      await socket()
    ).emitWithAck('subscribe', { topic: TOPIC, since: { seq: 1, epoch: 'another-life' } });
    expect(resumed).toMatchObject({ ok: true, recovered: false });
    expect(replayOkSchema.parse(await live.emitWithAck('replay', { topic: TOPIC, fromSeq: 1 }))).toMatchObject({
      ok: true,
    });
    const tick = await pulse.tick();
    expect(tick.appended).toBeGreaterThanOrEqual(1);
    const after = await waitUntilMetrics(
      (samples) => sample(samples, 'pulse_tick_delay_seconds_count') > sample(before, 'pulse_tick_delay_seconds_count'),
    );

    const labels = (type: string) => `{topic="${TOPIC}",type="${type}"}`;
    expect(
      sample(after, `pulse_events_appended_total${labels('attempt.recorded')}`) -
        sample(before, `pulse_events_appended_total${labels('attempt.recorded')}`),
    ).toBe(3);
    expect(sample(after, `pulse_events_tailed_total${labels('attempt.recorded')}`)).toBe(3);
    expect(sample(after, `pulse_events_tailed_total${labels('status_update')}`)).toBeGreaterThanOrEqual(1);
    expect(sample(after, `pulse_deliveries_total{topic="${TOPIC}"}`)).toBeGreaterThanOrEqual(3);
    expect(
      sample(after, 'pulse_append_to_emit_seconds_count') - sample(before, 'pulse_append_to_emit_seconds_count'),
    ).toBeGreaterThanOrEqual(3);
    expect(sample(after, 'pulse_sockets')).toBeGreaterThanOrEqual(2);
    expect(
      sample(after, 'pulse_subscribes_total{result="snapshot"}') -
        sample(before, 'pulse_subscribes_total{result="snapshot"}'),
    ).toBe(1);
    expect(
      sample(after, 'pulse_subscribes_total{result="not_recovered"}') -
        sample(before, 'pulse_subscribes_total{result="not_recovered"}'),
    ).toBe(1);
    expect(sample(after, 'pulse_replays_total{result="ok"}') - sample(before, 'pulse_replays_total{result="ok"}')).toBe(
      1,
    );
    expect(sample(after, 'pulse_log_tail_errors')).toBe(0);
    expect(after.has('pulse_scheduler_last_run_delay_seconds')).toBe(true);
    expect(after.has('process_cpu_user_seconds_total')).toBe(true);
  });

  it('counts a Redis reconnect of the command connection', async () => {
    const before = sample(await metrics(), 'pulse_redis_reconnects_total{connection="commands"}');
    const clients = String(await redis.client('LIST'));
    const ids = [...clients.matchAll(/id=(\d+) .*name=pulse:commands /g)].map((match) => match[1]!);
    expect(ids.length).toBeGreaterThan(0);
    for (const id of ids) await redis.client('KILL', 'ID', id);
    await waitUntilMetrics(
      (samples) => sample(samples, 'pulse_redis_reconnects_total{connection="commands"}') > before,
    );
  });
});

describe('limits on input size', () => {
  it('closes a socket that sends a frame over 64 KB, while another socket carries on', async () => {
    const big = await socket();
    const other = await socket();
    const closed = new Promise<string>((resolve) => big.once('disconnect', resolve));
    big.emit('subscribe', { topic: TOPIC, padding: 'x'.repeat(70 * 1024) });
    expect(await within('the oversized frame to close its socket', closed)).toMatch(/transport close|transport error/);
    expect(await other.emitWithAck('replay', { topic: TOPIC, fromSeq: 1 })).toMatchObject({ ok: true });
  });

  it('answers a REST body over PULSE_MAX_BODY_BYTES with 413', async () => {
    const events = Array.from({ length: 400 }, (_, i) => ({
      type: 'instance.heartbeat',
      data: { instanceId: `web-${i}`, meta: { pad: 'x'.repeat(3000) } },
    }));
    const answer = await fetch(`${url}/api/v1/topics/${TOPIC}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
    });
    expect(answer.status).toBe(413);
    expect(errorBodySchema.parse(await answer.json())).toMatchObject({ code: 'BAD_REQUEST' });
  });
});

describe('health', () => {
  it('answers /healthz and /readyz through terminus, with the fields scripts read', async () => {
    expect(await (await fetch(`${url}/healthz`)).json()).toMatchObject({ ok: true, status: 'ok' });
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      ok: true,
      status: 'ok',
      redis: 'ready',
      tail: 'reading',
      details: { redis: { status: 'up' }, tail: { status: 'up' } },
    });
  });
});

describe('API documents', () => {
  it('serves a valid OpenAPI document at /docs whose schemas the real answers satisfy', async () => {
    const document = (await (await fetch(`${url}/docs/openapi.json`)).json()) as Record<string, unknown>;
    const result = await validate(structuredClone(document) as never);
    expect(result.valid ? [] : result.errors).toEqual([]);
    expect((await fetch(`${url}/docs`)).status).toBe(200);
    expect(Object.keys(document.paths as object)).toEqual(
      expect.arrayContaining([
        '/api/v1/topics',
        '/api/v1/topics/{topic}/events',
        '/api/v1/topics/{topic}/snapshot',
        '/api/v1/topics/{topic}/series',
        '/api/v1/topics/{topic}/instances/{instanceId}',
        '/api/v1/admin/scheduler',
        '/metrics',
        '/readyz',
      ]),
    );
    // The schemas the document is generated from describe what the gateway really answers.
    appendedSchema.parse(await pulse.publish(TOPIC, [heartbeat('web-2')]));
    snapshotSchema.parse(await (await fetch(`${url}/api/v1/topics/${TOPIC}/snapshot`)).json());
    eventsPageSchema.parse(await (await fetch(`${url}/api/v1/topics/${TOPIC}/events?after=0&limit=1000`)).json());
    topicListSchema.parse(await (await fetch(`${url}/api/v1/topics`)).json());
    seriesSchema.parse(await (await fetch(`${url}/api/v1/topics/${TOPIC}/series?step=1h`)).json());
    instanceHistorySchema.parse(await (await fetch(`${url}/api/v1/topics/${TOPIC}/instances/web-2`)).json());
    errorBodySchema.parse(
      await (
        await fetch(`${url}/api/v1/topics/${TOPIC}/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"events":[]}',
        })
      ).json(),
    );
  });

  it('serves a valid AsyncAPI 3 document at /asyncapi.json naming every event of the protocol', async () => {
    const document = (await (await fetch(`${url}/asyncapi.json`)).json()) as {
      asyncapi: string;
      channels: { socket: { messages: Record<string, { name: string }> } };
    };
    const diagnostics = await new Parser().validate(document);
    // Severity 0 is an error (1 warning, 2 information, 3 hint).
    expect(
      diagnostics
        .filter((diagnostic) => Number(diagnostic.severity) === 0)
        .map((diagnostic) => `${diagnostic.message} at ${diagnostic.path.join('.')}`),
    ).toEqual([]);
    expect(document.asyncapi).toBe('3.0.0');
    const names = Object.values(document.channels.socket.messages).map((message) => message.name);
    for (const name of [
      ...Object.keys(EVENT_DATA_SCHEMAS),
      'events',
      'presence',
      'resync',
      'subscribe',
      'subscribe ack',
      'replay',
      'replay ack',
      'unsubscribe',
      'unsubscribe ack',
    ])
      expect(names).toContain(name);
  });
});

describe('the monitor-tick queue', () => {
  it('lives under the configured prefix, keeps only PULSE_JOBS_KEEP_COMPLETED completed jobs, and reports its last run', async () => {
    for (let i = 0; i < 4; i++) await pulse.tick();
    const keys = await redis.keys(`${QUEUE_PREFIX}:${MONITOR_QUEUE}:*`);
    expect(keys).toEqual(
      expect.arrayContaining([`${QUEUE_PREFIX}:${MONITOR_QUEUE}:completed`, `${QUEUE_PREFIX}:${MONITOR_QUEUE}:meta`]),
    );
    expect(await redis.keys(`{pulse}:${MONITOR_QUEUE}:*`)).toEqual([]);
    expect(await redis.zcard(`${QUEUE_PREFIX}:${MONITOR_QUEUE}:completed`)).toBeLessThanOrEqual(2);
    const job = await redis.hgetall((await redis.keys(`${QUEUE_PREFIX}:${MONITOR_QUEUE}:manual-*`))[0]!);
    expect(job.name).toBe('monitor-tick');
    expect(JSON.parse(job.data!)).toMatchObject({ kind: 'monitor-tick', everyMs: expect.any(Number) });
    const scheduler = (await (await fetch(`${url}/api/v1/admin/scheduler`)).json()) as {
      scheduler: string;
      everyMs: number;
      nextRunAt: number;
      lastRun: { delayMs: number } | null;
    };
    expect(scheduler).toMatchObject({
      scheduler: 'monitor-tick',
      everyMs: 3_600_000,
      nextRunAt: expect.any(Number),
      lastRun: { delayMs: expect.any(Number) },
    });
  });

  it('reports a failed run that is newer than the last completed one as the last run', async () => {
    await pulse.tick();
    const connection = { url: pulse.redisUrl };
    const queue = new Queue(MONITOR_QUEUE, { connection, prefix: QUEUE_PREFIX });
    let events: QueueEvents | undefined;
    try {
      events = await queueEventsFromNow(queue, { connection, prefix: QUEUE_PREFIX });
      // Neither a scheduler run nor a manual tick (no tickAt): the worker fails it.
      const job = await queue.add('monitor-tick', { kind: 'monitor-tick', everyMs: 1 }, { jobId: `broken-${suffix}` });
      await expect(within('the broken job to fail', job.waitUntilFinished(events, 15_000))).rejects.toThrow(
        /not a run/,
      );
    } finally {
      await events?.close();
      await queue.close();
    }
    const scheduler = (await (await fetch(`${url}/api/v1/admin/scheduler`)).json()) as {
      lastRun: { failed: boolean } | null;
    };
    expect(scheduler.lastRun).toMatchObject({ failed: true });
  });

  it('answers /metrics and (503) the scheduler endpoint while Redis does not answer', async () => {
    // CLIENT PAUSE holds every command of every client (BullMQ's included) without closing
    // anything, for 6 s; the gateway must answer well before that.
    const pauser = new Redis(pulse.redisUrl);
    try {
      await pauser.client('PAUSE', 6_000, 'ALL');
      const scrape = await within('/metrics while Redis is paused', fetch(`${url}/metrics`), 3_000);
      expect(scrape.status).toBe(200);
      expect(await scrape.text()).toContain('pulse_sockets');
      const scheduler = await within(
        'the scheduler endpoint while Redis is paused',
        fetch(`${url}/api/v1/admin/scheduler`),
        3_000,
      );
      expect(scheduler.status).toBe(503);
      expect(await scheduler.json()).toMatchObject({ ok: false, code: 'UNAVAILABLE' });
    } finally {
      // Answered when the pause is over (the pausing client is held too).
      await pauser.ping();
      pauser.disconnect();
    }
  });

  it('is shown read-only on Bull Board while auth is off', async () => {
    const answer = await fetch(`${url}/admin/queues/api/queues`);
    expect(answer.status).toBe(200);
    const body = (await answer.json()) as { queues: { name: string; readOnlyMode: boolean }[] };
    expect(body.queues.map((queue) => [queue.name, queue.readOnlyMode])).toEqual([
      [MONITOR_QUEUE, true],
      [NOTIFY_QUEUE, true],
    ]);
  });

  it('may not be framed by another page, nor may the dashboard', async () => {
    for (const path of ['/admin/queues', '/admin/queues/api/queues', '/']) {
      const answer = await fetch(`${url}${path}`);
      const csp = answer.headers.get('content-security-policy');
      expect({
        path,
        status: answer.status,
        frame: answer.headers.get('x-frame-options'),
        framing: csp?.split('; ').includes("frame-ancestors 'none'"),
      }).toEqual({ path, status: 200, frame: 'DENY', framing: true });
    }
  });
});

describe('starting with auth', () => {
  it('says on every start that auth is off', () => {
    expect(pulse.processes.gateways[0]!.output(500)).toContain('auth is OFF');
  });

  it.each(['gateway', 'worker'])(
    'refuses to start the %s with NODE_ENV=production and no secret (exit 78)',
    async (role) => {
      const child = spawn(process.execPath, [`dist/apps/${role}/src/main.js`], {
        cwd: PROJECT_ROOT,
        env: { NODE_ENV: 'production', REDIS_URL: pulse.redisUrl, PORT: '0' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const code = await within(
        `the ${role} to exit`,
        new Promise<number | null>((resolve) => child.once('close', resolve)),
      );
      expect(code).toBe(78);
      expect(stderr).toContain('PULSE_AUTH_SECRET');
    },
  );
});

/** Scrapes until `check` holds (metrics move when the gateway has handled what the test caused). */
async function waitUntilMetrics(
  check: (samples: Map<string, number>) => boolean,
  timeoutMs = 15_000,
): Promise<Map<string, number>> {
  return poll(
    'the metrics to move',
    async () => {
      const samples = await metrics();
      return check(samples) && samples;
    },
    { timeoutMs },
  );
}
