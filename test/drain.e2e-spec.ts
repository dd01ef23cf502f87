// Graceful drain e2e: SIGTERM on gateways and workers while events flow, checked against the log (XRANGE).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import type { PulseClient } from '#pulse/client';
import type { IngestEvent } from '#pulse/contracts';
import { startPulse, type PulseTestStack } from '#pulse/testing';
import { recordTopic } from './support/clients.js';
import { pause, poll, within } from './support/wait.js';

let pulse: PulseTestStack | undefined;
let redis: Redis | undefined;

beforeAll(async () => {
  pulse = await startPulse({
    gateways: 3,
    workers: 1,
    env: { PULSE_DRAIN_MS: '600', PULSE_SHUTDOWN_TIMEOUT_MS: '8000', LOG_LEVEL: 'log' },
  });
  redis = new Redis(pulse.redisUrl, { maxRetriesPerRequest: 1 });
}, 60_000);

afterAll(async () => {
  redis?.disconnect();
  await pulse?.stop();
}, 60_000);

function thePulse(): PulseTestStack {
  if (!pulse) throw new Error('the Pulse test stack did not start');
  return pulse;
}

const attempt = (instanceId: string, i: number): IngestEvent => ({
  type: 'attempt.recorded',
  data: { instanceId, outcome: i % 7 === 0 ? 'failure' : 'success' },
});

/**
 * Posts numbered batches to `topic` through the running gateways in turn, until stopped. Like a
 * careful producer, it sends each batch again (to the next gateway, with the same idempotency
 * keys) until one answers 201: a request that meets a stopping gateway (refused, 503, or a
 * keep-alive connection closed under it) is retried, never appended twice.
 */
function producer(topic: string) {
  let running = true;
  let batches = 0;
  const retried = new Map<string, number>();
  const done = (async () => {
    for (let i = 0; running; i++) {
      const events = [0, 1].map((j) => ({ ...attempt(`i-${(i + j) % 5}`, i + j), idempotencyKey: `batch-${i}-${j}` }));
      for (let attemptNo = 0; ; attemptNo++) {
        const urls = thePulse()
          .processes.gateways.filter((gateway) => gateway.running)
          .map((gateway) => gateway.url);
        const url = urls[(i + attemptNo) % urls.length]!;
        const outcome = await fetch(`${url}/api/v1/topics/${topic}/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ events }),
        }).then(
          (response) => (response.status === 201 ? 'ok' : String(response.status)),
          (error: Error) => (error.cause as { code?: string } | undefined)?.code ?? error.message,
        );
        if (outcome === 'ok') break;
        retried.set(outcome, (retried.get(outcome) ?? 0) + 1);
        if (attemptNo >= 50) throw new Error(`batch ${i} was refused 50 times (${[...retried].join(', ')})`);
        await pause(20);
      }
      batches += 1;
      await pause(15);
    }
  })();
  // Its failure is the test's, through stop(); a test that failed first never calls stop(), and the
  // rejection must not land in whatever suite this jest worker runs next.
  done.catch(() => undefined);
  return {
    stop: async () => {
      running = false;
      await done;
      return { batches, retried };
    },
  };
}

/** A PulseClient following `topic`, recording every event and snapshot its handlers see. */
function follow(topic: string, urls: string[]) {
  const gateways = new Set<string>();
  const client: PulseClient = thePulse().client({ urls, reconnectDelayMs: 50, maxReconnectDelayMs: 500 });
  client.onState((_state, gateway) => {
    if (gateway) gateways.add(gateway);
  });
  return { client, gateways, ...recordTopic(client, topic) };
}

describe('graceful drain', () => {
  it('a rolling SIGTERM restart of every gateway while events flow leaves every client with exactly the log', async () => {
    const stack = thePulse();
    const topic = `drain-rolling-${Date.now().toString(36)}`;
    await stack.publish(topic, [attempt('i-0', 1)]);
    const ports = stack.urls.map((url) => Number(new URL(url).port));
    // Twelve clients, spread: each starts on a different gateway and fails over in turn.
    const clients = Array.from({ length: 12 }, (_, i) =>
      follow(topic, [...stack.urls.slice(i % 3), ...stack.urls.slice(0, i % 3)]),
    );
    await Promise.all(
      clients.map((c) =>
        c.changes.until(
          () => 'clients subscribed',
          () => c.snapshots.length > 0,
        ),
      ),
    );
    const flow = producer(topic);

    for (const [i, port] of ports.entries()) {
      const gateway = stack.processes.gateways.find((g) => g.running && Number(new URL(g.url).port) === port)!;
      const started = Date.now();
      const status = await gateway.stop(15_000);
      // It exits on its own (code 0 once shut down), well before the SIGKILL fallback.
      expect(status.signal === 'SIGTERM' || status.code === 0).toBe(true);
      expect(Date.now() - started).toBeLessThan(8000);
      expect(gateway.output(Infinity)).toMatch(/SIGTERM: closed \d+ socket connection\(s\)/);
      if (i === 0) expect(gateway.output(Infinity)).not.toMatch(/closed 0 socket/);
      await stack.processes.addGateway(port);
    }

    const { batches, retried } = await flow.stop();
    expect(batches).toBeGreaterThan(10);
    // Only what a stopping gateway answers: refused connections, 503s, closed keep-alive sockets.
    for (const outcome of retried.keys())
      expect(['ECONNREFUSED', '503', 'ECONNRESET', 'UND_ERR_SOCKET']).toContain(outcome);
    // Every batch in the log once, in order: nothing in flight was lost or doubled by a drain.
    const log = await thePulse().log(topic);
    expect(log).toHaveLength(1 + 2 * batches);
    const head = log.at(-1)!.seq;
    await Promise.all(
      clients.map((c, i) =>
        c.changes.until(
          () => `client ${i} at ${head} (at ${c.seq()})`,
          () => c.seq() >= head,
          20_000,
        ),
      ),
    );
    for (const c of clients) {
      // One snapshot (the first subscribe); after it, every event exactly once, in order: each move was a resume.
      expect(c.snapshots).toEqual(['initial']);
      // Subscribed at seq 1 (before the producer started): every event after it.
      expect(c.events).toEqual(log.filter((event) => event.seq > 1));
      expect(c.gateways.size).toBeGreaterThan(1);
    }
  }, 90_000);

  it('a gateway that is draining stops answering ready (503, or its listener is closed), then exits', async () => {
    const stack = thePulse();
    const gateway = await stack.processes.addGateway(0, { PULSE_DRAIN_MS: '3000' });
    const topic = `drain-ready-${Date.now().toString(36)}`;
    await stack.publish(topic, [attempt('i-0', 1)]);
    const watcher = follow(topic, [gateway.url]);
    await watcher.changes.until(
      () => 'subscribed',
      () => watcher.snapshots.length > 0,
    );
    expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200);
    // A keep-alive connection opened before the SIGTERM sees readiness drop while the sockets are moved.
    gateway.kill('SIGTERM');
    const readiness = await poll(
      'readyz to answer 503 or the listener to close',
      async () => {
        const status = await fetch(`${gateway.url}/readyz`).then(
          (r) => r.status,
          () => 'refused' as const,
        );
        return status !== 200 && status;
      },
      { timeoutMs: 10_000, pauseMs: 5 },
    );
    expect([503, 'refused']).toContain(readiness);
    const status = await within('the draining gateway to exit', gateway.exited, 10_000);
    expect(status.signal === 'SIGTERM' || status.code === 0).toBe(true);
    expect(gateway.output(Infinity)).toMatch(/closed 1 socket connection/);
    watcher.client.close();
  }, 30_000);

  it('SIGTERM on a worker lets it exit cleanly; the scheduler stays one and the next worker ticks', async () => {
    const stack = thePulse();
    const topic = `drain-worker-${Date.now().toString(36)}`;
    await stack.publish(topic, [attempt('i-0', 1)]);
    const [worker] = stack.processes.workers;
    const tick = stack.tick();
    const status = await worker!.stop(15_000);
    expect(status.signal === 'SIGTERM' || status.code === 0).toBe(true);
    await stack.processes.addWorker();
    const summary = await stack.tick();
    expect(summary.topics).toBeGreaterThan(0);
    // The tick asked for before the SIGTERM ran, on the old worker or else on the new one.
    expect((await tick).topics).toBeGreaterThan(0);
    const schedulers = await redis!.zrange('{pulse}:pulse-monitor:repeat', '0', '-1');
    expect(schedulers).toEqual(['monitor-tick']);
  }, 60_000);
});
