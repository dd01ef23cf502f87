// The gateway's read side of the monitor-tick queue: scheduler state, and ticks asked for on demand.
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { Queue, QueueEvents } from 'bullmq';
import { PULSE_CONFIG, type PulseConfig } from '#pulse/config';
import { bullConnection } from '#pulse/event-store';
import { BULL_PREFIX, MONITOR_QUEUE, MONITOR_SCHEDULER, type MonitorTickJob, type TickSummary } from '#pulse/contracts';

export interface SchedulerStatus {
  scheduler: string;
  /** Interval (ms), or null when no worker has upserted the scheduler yet. */
  everyMs: number | null;
  /** When the next run is due (ms since 1970). */
  nextRunAt: number | null;
  /** The last finished run: when it was due, when it ran, and how late it started. */
  lastRun: { tickAt: number; processedAt: number; finishedAt: number; delayMs: number; failed: boolean } | null;
}

@Injectable()
export class MonitorQueueService implements OnApplicationShutdown {
  private readonly queue: Queue<MonitorTickJob, TickSummary>;
  private events: QueueEvents | null = null;
  /** BullMQ's connection (a shared Cluster connection on a cluster, which this service closes). */
  private readonly connection: ReturnType<typeof bullConnection>;

  constructor(@Inject(PULSE_CONFIG) private readonly config: PulseConfig) {
    this.connection = bullConnection(config, 'pulse:gateway:queue');
    this.queue = new Queue(MONITOR_QUEUE, { connection: this.connection, prefix: BULL_PREFIX });
  }

  async status(): Promise<SchedulerStatus> {
    const scheduler = await this.queue.getJobScheduler(MONITOR_SCHEDULER);
    const [last] = await this.queue.getJobs(['completed', 'failed'], 0, 0, false);
    const tickAt = last ? (last.data.tickAt ?? last.timestamp + (last.opts.delay ?? 0)) : 0;
    return {
      scheduler: MONITOR_SCHEDULER,
      everyMs: scheduler?.every ?? null,
      nextRunAt: scheduler?.next ?? null,
      lastRun:
        last && last.processedOn && last.finishedOn
          ? { tickAt, processedAt: last.processedOn, finishedAt: last.finishedOn, delayMs: Math.max(0, last.processedOn - tickAt), failed: Boolean(last.failedReason) }
          : null,
    };
  }

  /** Queues a tick at now for the workers and waits for its result; rejects if none runs it within `timeoutMs`. */
  async tickNow(timeoutMs = 15_000): Promise<TickSummary> {
    this.events ??= new QueueEvents(MONITOR_QUEUE, { connection: 'url' in this.connection ? { ...this.connection, connectionName: 'pulse:gateway:queue-events' } : this.connection, prefix: BULL_PREFIX });
    await this.events.waitUntilReady();
    const tickAt = Date.now();
    const job = await this.queue.add(MONITOR_SCHEDULER, { kind: 'monitor-tick', everyMs: this.config.PULSE_TICK_MS, tickAt }, { jobId: `manual-${tickAt}`, removeOnComplete: { count: 1000 }, removeOnFail: { count: 1000 } });
    return job.waitUntilFinished(this.events, timeoutMs);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.events?.close();
    await this.queue.close();
    if (!('url' in this.connection)) await this.connection.quit().catch(() => undefined);
  }
}
