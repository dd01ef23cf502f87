// libs/testing e2e: startPulse() starts a whole stack and stop() leaves nothing behind; tick(), publish() and client() work against it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { PulseEvent, Snapshot, StatusData, TickSummary } from '#pulse/contracts';
import { startPulse, type PulseTestStack } from '#pulse/testing';
import { within } from './support/wait.js';

// ---- the example of docs/testing.md, verbatim ----

let pulse: PulseTestStack;
beforeAll(async () => {
  pulse = await startPulse();
}, 60_000);
afterAll(() => pulse.stop());
it('delivers a published event to a subscriber', async () => {
  const first = new Promise((onEvent) =>
    pulse.client().subscribe('orders', {
      onEvent,
      onSnapshot: () => void pulse.publish('orders', [{ type: 'instance.heartbeat', data: { instanceId: 'web-1' } }]),
    }),
  );
  expect(await first).toMatchObject({ topic: 'orders', seq: 1, type: 'instance.heartbeat' });
});

// ---- helpers ----

let topicCount = 0;
function uniqueTopic(name: string): string {
  topicCount += 1;
  return `testing-${name}-${Date.now().toString(36)}-${process.pid}-${topicCount}`;
}

/** `XRANGE pulse:{<topic>}:log - +` on the stack's own Redis. */

/** Follows `topic` with a client of the stack; resolves with its snapshot, then collects events until `count` have arrived. */
async function collect(topic: string) {
  const events: PulseEvent[] = [];
  let wanted = Infinity;
  let reached: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (reached = resolve));
  const snapshot = await within(
    `a snapshot of ${topic}`,
    new Promise<Snapshot>((resolve) => {
      pulse.client().subscribe(topic, {
        onSnapshot: resolve,
        onEvent: (event) => {
          events.push(event);
          if (events.length >= wanted) reached();
        },
      });
    }),
  );
  return {
    snapshot,
    events,
    /** Resolves once `count` events have arrived. */
    async take(count: number): Promise<PulseEvent[]> {
      wanted = count;
      if (events.length < count) await within(`${count} events of ${topic} (has ${events.length})`, done);
      return events.slice(0, count);
    },
  };
}

/** Runs `body` with `vars` set in this process's environment (what a developer's shell or CI exports), then puts it back. */
async function withEnv<T>(vars: Record<string, string>, body: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]));
  Object.assign(process.env, vars);
  try {
    return await body();
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

/** The pids of this process's children (the stack of this file is among them). */
function children(): string[] {
  try {
    return execFileSync('pgrep', ['-P', String(process.pid)])
      .toString()
      .trim()
      .split('\n')
      .filter(Boolean);
  } catch {
    return []; // pgrep answers 1 when there is none
  }
}

// ---- the helper itself ----

describe('startPulse', () => {
  it('starts Redis, gateways and workers, and stop() leaves no process, client or folder behind', async () => {
    const own = await startPulse({ gateways: 2, workers: 1 });
    const pids = [
      own.processes.redis!.pid,
      ...own.processes.gateways.map((gateway) => gateway.pid),
      ...own.processes.workers.map((worker) => worker.pid),
    ];
    try {
      expect(own.urls).toHaveLength(2);
      expect(own.redisUrl).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
      expect(existsSync(own.dir)).toBe(true);
      for (const url of own.urls) expect((await fetch(`${url}/readyz`)).status).toBe(200);
      expect(pids).toHaveLength(4);
      for (const pid of pids) expect(() => process.kill(pid, 0)).not.toThrow();
      // A client left open is closed by stop().
      const client = own.client();
      await within(
        'the client to go live',
        new Promise<void>((resolve) => client.onState((state) => state === 'live' && resolve())),
      );
    } finally {
      await own.stop();
    }
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    expect(existsSync(own.dir)).toBe(false);
    await expect(own.stop()).resolves.toBeUndefined();
    expect(() => own.client()).toThrow('stopped');
  }, 60_000);

  it('says why tick() cannot work without a worker', async () => {
    const noWorker = await startPulse({ workers: 0 });
    try {
      await expect(noWorker.tick()).rejects.toThrow('tick() needs a running worker');
    } finally {
      await noWorker.stop();
    }
  }, 60_000);

  it('tick() appends status_update, statistics_update and instances_update to an active topic and answers the summary', async () => {
    const topic = uniqueTopic('tick');
    await pulse.publish(topic, [
      { type: 'instance.heartbeat', data: { instanceId: 'i-1', status: 'running' } },
      { type: 'attempt.recorded', data: { instanceId: 'i-1', outcome: 'success' } },
      { type: 'attempt.recorded', data: { instanceId: 'i-1', outcome: 'failure' } },
      { type: 'attempt.recorded', data: { instanceId: 'i-1', outcome: 'success' } },
    ]);
    const follower = await collect(topic);
    expect(follower.snapshot.seq).toBe(4);

    const before = Date.now();
    const summary: TickSummary = await pulse.tick();
    expect(summary.topics).toBeGreaterThanOrEqual(1);
    expect(summary.appended).toBeGreaterThanOrEqual(1);
    expect(summary.tickAt).toBeGreaterThanOrEqual(before - 1000);

    const [status, statistics, instances] = await follower.take(3);
    expect([status, statistics, instances].map((event) => [event!.seq, event!.type, event!.source])).toEqual([
      [5, 'status_update', 'monitor-tick'],
      [6, 'statistics_update', 'monitor-tick'],
      [7, 'instances_update', 'monitor-tick'],
    ]);
    expect(status!.data as StatusData).toMatchObject({
      monitoring_active: true,
      active_instances: 1,
      tick_at: summary.tickAt,
      next_tick_at: summary.tickAt + 3_600_000,
    });
    expect(statistics!.data).toEqual({
      total_attempts: 3,
      successful: 2,
      failed: 1,
      success_rate: 66.67,
      active_instances: 1,
    });
    expect(instances!.data).toMatchObject({
      instances: [{ id: 'i-1', status: 'running', attempts: 3, successes: 2, failures: 1 }],
    });
    expect(follower.events).toEqual((await pulse.log(topic)).filter((event) => event.seq > 4));
  });

  it('client() receives what publish() appends, exactly as the log holds it', async () => {
    const topic = uniqueTopic('publish');
    const first = await pulse.publish(topic, [{ type: 'instance.heartbeat', data: { instanceId: 'a' } }]);
    expect(first.seqs).toEqual([1]);
    const follower = await collect(topic);
    expect(follower.snapshot).toMatchObject({ epoch: first.epoch, seq: 1 });

    const more = await pulse.publish(topic, [
      { type: 'attempt.recorded', data: { instanceId: 'a', outcome: 'success' } },
      { type: 'attempt.recorded', data: { instanceId: 'b', outcome: 'failure' } },
      { type: 'instance.heartbeat', data: { instanceId: 'b' } },
    ]);
    expect(more).toEqual({ epoch: first.epoch, seqs: [2, 3, 4] });
    const events = await follower.take(3);
    expect(events).toEqual((await pulse.log(topic)).slice(1));
    expect(events.map((event) => event.type)).toEqual(['attempt.recorded', 'attempt.recorded', 'instance.heartbeat']);
  });

  it('publish() rejects with the answer when the gateway refuses the events', async () => {
    const bad = [{ type: 'status_update', data: {} }] as unknown as Parameters<PulseTestStack['publish']>[1];
    await expect(pulse.publish(uniqueTopic('bad'), bad)).rejects.toThrow(/answered 400 .*BAD_REQUEST/);
  });

  it('keeps auth off when told so, whatever PULSE_AUTH_SECRET the environment of jest holds', async () => {
    const own = await withEnv({ PULSE_AUTH_SECRET: 'c'.repeat(64) }, () => startPulse({ workers: 0 }));
    try {
      expect(own.authSecret).toBeNull();
      const topic = uniqueTopic('auth-off');
      await expect(own.publish(topic, [{ type: 'instance.heartbeat', data: { instanceId: 'a' } }])).resolves.toEqual({
        epoch: expect.any(String),
        seqs: [1],
      });
      const client = own.client();
      const refusals: string[] = [];
      client.onError((error) => refusals.push(`${error.code}/${error.reason ?? '-'}`));
      await within(
        'the client to go live without a token',
        new Promise<void>((resolve) => client.onState((state) => state === 'live' && resolve())),
      );
      expect(refusals).toEqual([]);
    } finally {
      await own.stop();
    }
  }, 60_000);

  it('checks `env` as the processes see it, on top of the environment of jest, before it starts anything', async () => {
    // Valid only with the environment's PULSE_SHUTDOWN_TIMEOUT_MS (the drain needs 3 s less than it): it starts.
    const own = await withEnv({ PULSE_SHUTDOWN_TIMEOUT_MS: '20000' }, () =>
      startPulse({ workers: 0, env: { PULSE_DRAIN_MS: '13000' } }),
    );
    await own.stop();

    // Invalid with it: refused before any process or folder exists.
    const temp = mkdtempSync(join(tmpdir(), 'pulse-testing-check-'));
    const before = children();
    try {
      await expect(
        withEnv({ PULSE_SHUTDOWN_TIMEOUT_MS: '5000', TMPDIR: temp }, () =>
          startPulse({ workers: 0, env: { PULSE_DRAIN_MS: '13000' } }),
        ),
      ).rejects.toThrow(/PULSE_SHUTDOWN_TIMEOUT_MS \(5000\) must leave 3000 ms after PULSE_DRAIN_MS \(13000\)/);
      expect(children()).toEqual(before);
      expect(readdirSync(temp)).toEqual([]);
    } finally {
      rmSync(temp, { recursive: true, force: true });
    }
  }, 60_000);
});
