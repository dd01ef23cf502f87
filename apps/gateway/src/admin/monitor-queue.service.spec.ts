// MonitorQueueService.tickNow against a real Redis and a real BullMQ worker: the summary, and what a tick nobody runs answers.
import { randomUUID } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Queue, Worker } from 'bullmq';
import type { PulseConfig } from '#pulse/config';
import { MONITOR_QUEUE, type MonitorTickJob, type TickSummary } from '#pulse/contracts';
import { MonitorQueueService } from './monitor-queue.service.js';

/** Database 11 of the specs' Redis, and a prefix of its own per test: no other spec sees these queues. */
const REDIS_URL = `${process.env.PULSE_TEST_REDIS_URL!}/11`;

const closing: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  for (const closable of closing.splice(0).reverse()) await closable.close();
});

function fixture() {
  const prefix = `{spec-${randomUUID()}}`;
  const connection = { url: REDIS_URL };
  const config = {
    REDIS_URL,
    REDIS_CLUSTER: false,
    PULSE_QUEUE_PREFIX: prefix,
    PULSE_TICK_MS: 5_000,
    PULSE_JOBS_KEEP_COMPLETED: 10,
    PULSE_JOBS_KEEP_FAILED: 10,
  } as PulseConfig;
  /** A worker that answers every tick with `summary` (BullMQ's, as the monitor worker runs it). */
  const worker = (summary: TickSummary) => {
    const running = new Worker<MonitorTickJob, TickSummary>(MONITOR_QUEUE, () => Promise.resolve(summary), {
      connection,
      prefix,
    });
    closing.push(running);
    return running;
  };
  return { prefix, connection, config, worker };
}

const SUMMARY = { topics: 3, appended: 9 } as unknown as TickSummary;

describe('MonitorQueueService.tickNow', () => {
  it('answers the summary of the tick a worker ran, tick after tick on one event reader', async () => {
    const { config, worker } = fixture();
    const service = new MonitorQueueService(config);
    closing.push({ close: () => service.onApplicationShutdown() });
    worker(SUMMARY);
    for (let i = 0; i < 3; i++) expect(await service.tickNow(30_000)).toEqual(SUMMARY);
  });

  it('says that no worker took the tick when none runs, and adds nothing else', async () => {
    const { prefix, connection, config } = fixture();
    const service = new MonitorQueueService(config);
    closing.push({ close: () => service.onApplicationShutdown() });
    await expect(service.tickNow(500)).rejects.toThrow('no worker took the tick within 500 ms; is a worker running?');
    const queue = new Queue<MonitorTickJob>(MONITOR_QUEUE, { connection, prefix });
    closing.push(queue);
    expect(await queue.getJobCounts('waiting', 'active', 'completed', 'failed')).toEqual({
      waiting: 1,
      active: 0,
      completed: 0,
      failed: 0,
    });
  });

  it('answers a tick asked for while Redis is away within its timeout, and shuts down without waiting for Redis', async () => {
    const { config } = fixture();
    // A port that takes connections and answers nothing: no Redis ever gets ready there.
    const sockets: Socket[] = [];
    const server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const service = new MonitorQueueService({ ...config, REDIS_URL: `redis://127.0.0.1:${port}` });
    try {
      await expect(service.tickNow(500)).rejects.toThrow(
        'the tick could not be queued within 500 ms; is Redis reachable?',
      );
      // Its event reader is still waiting for Redis: shutdown does not wait with it.
      const started = Date.now();
      await service.onApplicationShutdown();
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      server.close();
      for (const socket of sockets) socket.destroy();
    }
  });
});
