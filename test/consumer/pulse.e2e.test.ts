// A consumer's e2e suite against a real Pulse started from the installed package: subscribe first, then publish and tick.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, expect, it, test } from '@jest/globals';
import { PulseClient, type ConnectionState } from '@pulse-monitor/pulse/client';
import type { ErrorBody, ErrorCode, PulseEvent, Statistics } from '@pulse-monitor/pulse/contracts';
import { startPulse, type PulseTestStack } from '@pulse-monitor/pulse/testing';

let pulse: PulseTestStack;
beforeAll(async () => {
  pulse = await startPulse();
}, 60_000);
afterAll(() => pulse?.stop());

// ---- the example of README.md, verbatim ----

it('delivers what is published to a subscriber that came first', async () => {
  const client = pulse.client(); // an SDK client over the stack's gateways
  const first = new Promise<PulseEvent>((onEvent) => client.subscribe('orders', { onEvent }));
  await new Promise<void>((live) => client.onState((state) => state === 'live' && live()));
  await pulse.publish('orders', [{ type: 'instance.heartbeat', data: { instanceId: 'web-1' } }]);
  expect(await first).toMatchObject({ topic: 'orders', seq: 1, type: 'instance.heartbeat' });
});

// ---- more of what a consumer relies on ----

/** Resolves once `check()` is true after an event, or rejects after `ms` saying what it waited for and what it saw. */
function until(
  what: string,
  check: () => boolean,
  subscribe: (wake: () => void) => void,
  seen: () => unknown = () => null,
  ms = 20_000,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`waited ${ms} ms for ${what}; saw ${JSON.stringify(seen())}`)), ms);
    const wake = () => {
      if (!check()) return;
      clearTimeout(timer);
      resolve();
    };
    subscribe(wake);
    wake();
  });
}

test('a subscriber that came first gets the published events, then the tick', async () => {
  const topic = `orders-${Date.now().toString(36)}`;
  const client: PulseClient = pulse.client();
  const events: PulseEvent[] = [];
  const errors: ErrorBody[] = [];
  let wake = () => {};
  client.subscribe(topic, {
    onEvent: (event) => {
      events.push(event);
      wake();
    },
    onError: (error) => void errors.push(error),
  });
  let state: ConnectionState = client.state;
  await until(
    'the subscription to be live',
    () => state === 'live',
    (w) => client.onState((next) => ((state = next), w())),
  );

  const published = await pulse.publish(topic, [
    { type: 'instance.heartbeat', data: { instanceId: 'web-1', status: 'running' } },
    { type: 'attempt.recorded', data: { instanceId: 'web-1', outcome: 'success' } },
  ]);
  expect(published.seqs).toEqual([1, 2]);
  await pulse.tick();
  const seen = () => ({ events: events.map((event) => `${event.seq} ${event.type}`), errors });
  await until(
    "the two published events and the tick's three",
    () => events.length >= 5,
    (w) => (wake = w),
    seen,
  );

  expect(errors).toEqual([]);
  expect(events.map((event) => [event.seq, event.type])).toEqual([
    [1, 'instance.heartbeat'],
    [2, 'attempt.recorded'],
    [3, 'status_update'],
    [4, 'statistics_update'],
    [5, 'instances_update'],
  ]);
  const statistics = events[3]!.data as Statistics;
  expect(statistics).toMatchObject({ total_attempts: 1, successful: 1, failed: 0 });
  expect(events).toEqual(await pulse.log(topic));
});

test("the gateway serves the dashboard from the package's own files", async () => {
  const page = await fetch(pulse.urls[0]!);
  expect(page.status).toBe(200);
  expect(await page.text()).toContain('<script type="module"');
});

test('stop() leaves no process and no folder behind', async () => {
  const pids = [
    pulse.processes.redis!.pid,
    ...pulse.processes.gateways.map((p) => p.pid),
    ...pulse.processes.workers.map((p) => p.pid),
  ];
  await pulse.stop();
  for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  expect(existsSync(pulse.dir)).toBe(false);
});

// What the types promise (checked by `tsc --noEmit`, not run): each line below must be an error.
export function typeProbes(client: PulseClient, error: ErrorBody): void {
  // @ts-expect-error urls is a list of gateway URLs
  new PulseClient({ urls: 'http://127.0.0.1:3000' });
  // @ts-expect-error gateways is a number
  void startPulse({ gateways: 'two' });
  // @ts-expect-error an error code is one of the stable strings
  const code: ErrorCode = 'NOPE';
  // @ts-expect-error onEvent gets a PulseEvent, whose seq is a number
  client.subscribe('t', { onEvent: (event) => event.seq.toUpperCase() });
  void [code, error.code satisfies ErrorCode];
}
