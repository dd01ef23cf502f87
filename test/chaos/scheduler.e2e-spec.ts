// Chaos: scheduler singleness under kill -9 restarts of three workers: one scheduler, one delayed run, one tick per interval, none twice.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import { BULL_PREFIX, MONITOR_QUEUE, type StatusData } from '#pulse/contracts';
import { Changes, pause } from '../support/wait.js';
import { Load } from './support/load.js';
import { verdict } from './support/report.js';
import { ChaosStack, LONG, scale, uniqueTopic } from './support/stack.js';
import { SdkSubscriber, settle, type Subscriber } from './support/subscribers.js';

const TICK_MS = 500;
const RESTARTS = scale(8, 20);

let stack: ChaosStack;
let queue: Queue;
const changes = new Changes();

beforeAll(async () => {
  stack = await ChaosStack.start({
    gateways: 1,
    workers: 3,
    env: { PULSE_TICK_MS: String(TICK_MS), PULSE_TOPIC_IDLE_MS: '60000', PULSE_INSTANCE_TTL_MS: '60000' },
  });
  queue = new Queue(MONITOR_QUEUE, { connection: { url: stack.redis.url }, prefix: BULL_PREFIX });
}, 90_000);

afterAll(async () => {
  await queue?.close();
  await stack?.stop();
}, 60_000);

/** Scheduler runs waiting for their time or for a worker: one at a time is the singleness (a killed worker's run may still count as active until it is found stalled). */
async function queuedRuns(): Promise<number> {
  const counts = await queue.getJobCounts('delayed', 'wait', 'prioritized');
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

describe(`scheduler singleness (${LONG ? 'long' : 'short'})`, () => {
  it(
    `three workers, ${RESTARTS} kill -9 restarts: exactly one scheduler and one queued run, one tick per interval, loop_count contiguous`,
    async () => {
      const topic = uniqueTopic('scheduler');
      const load = new Load(() => stack.urls, [topic], 20).start();
      await load.firstAccepted();
      const subscribers: Subscriber[] = Array.from({ length: 3 }, (_, i) =>
        stack.track(new SdkSubscriber(stack, topic, `sdk-${i}`, changes)),
      );
      const ticksSeen = () =>
        subscribers[0]!.history.deliveries.filter((d) => d.kind === 'event' && d.type === 'status_update').length;
      const samples: number[] = [];
      const schedulers: number[] = [];
      for (let i = 0; i < RESTARTS; i++) {
        const running = stack.processes.workers.filter((worker) => worker.running);
        const victim = running[i % running.length]!;
        victim.kill('SIGKILL');
        await victim.exited;
        await stack.processes.addWorker();
        // Wait for the next tick to reach a client: the scheduler survived this restart.
        const before = ticksSeen();
        await changes.until(
          () => `a tick after restart ${i + 1}`,
          () => ticksSeen() > before,
          10 * TICK_MS + 10_000,
        );
        samples.push(await queuedRuns());
        schedulers.push((await queue.getJobSchedulers()).length);
      }
      if (LONG) {
        // A frozen worker's running tick stalls; another worker re-runs it after the lock expires (30 s).
        const frozen = stack.processes.workers.find((worker) => worker.running)!;
        frozen.kill('SIGSTOP');
        await pause(35_000);
        frozen.kill('SIGCONT');
      }
      await load.stop();
      await settle(stack, changes, subscribers, 30_000);

      const log = await stack.readLog(topic);
      const ticks = [...log.entries.entries()]
        .filter(([, entry]) => entry.type === 'status_update')
        .map(([, entry]) => entry.data as StatusData);
      const loops = ticks.map((tick) => tick.loop_count);
      const tickAts = ticks.map((tick) => tick.tick_at);
      const gaps = tickAts.slice(1).map((at, i) => at - tickAts[i]!);
      const stalled = (await queue.getJobs(['completed', 'failed'], 0, 1000)).filter(
        (job) => job.attemptsMade > 1 || (job as { stalledCounter?: number }).stalledCounter,
      ).length;
      const result = await verdict('scheduler kill -9 restarts', stack, subscribers, {
        extra: `restarts=${RESTARTS} ticks=${ticks.length} re-run-jobs=${stalled} min-interval=${Math.min(...gaps)}ms`,
      });
      expect(result.findings).toEqual([]);
      expect(schedulers).toEqual(schedulers.map(() => 1));
      // At most one run queued at any moment (zero only in the instant a run is taken).
      expect(samples.filter((count) => count > 1)).toEqual([]);
      expect(loops).toEqual(loops.map((_, i) => loops[0]! + i));
      expect(new Set(tickAts).size).toBe(tickAts.length);
      // One tick per interval: never two within one period (a tick may be skipped while no worker runs).
      expect(gaps.filter((gap) => gap < TICK_MS)).toEqual([]);
      expect(await stack.foldDrift(topic)).toEqual([]);
      expect(stack.unhandled()).toEqual([]);
    },
    180_000 + (LONG ? 120_000 : 0),
  );
});
