// The gateway's read side of the monitor-tick queue: scheduler state, and ticks asked for on demand.
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Queue, type QueueEvents } from 'bullmq';
import { Cluster } from 'ioredis';
import { PULSE_CONFIG, type PulseConfig } from '#pulse/config';
import { bullConnection, queueEventsFromNow } from '#pulse/event-store';
import {
  MONITOR_QUEUE,
  MONITOR_SCHEDULER,
  NOTIFY_QUEUE,
  type MonitorTickJob,
  type NotifyJob,
  type TickSummary,
} from '#pulse/contracts';

export interface SchedulerStatus {
  scheduler: string;
  /** Interval (ms), or null when no worker has upserted the scheduler yet. */
  everyMs: number | null;
  /** When the next run is due (ms since 1970). */
  nextRunAt: number | null;
  /** The last finished run: when it was due, when it ran, and how late it started. */
  lastRun: { tickAt: number; processedAt: number; finishedAt: number; delayMs: number; failed: boolean } | null;
}

const logger = new Logger('MonitorQueue');

/** How long a reader of the scheduler state waits for Redis before it answers without it. */
export const STATUS_TIMEOUT_MS = 500;

/** The scheduler state could not be read within STATUS_TIMEOUT_MS (Redis away or slow). */
export class StatusTimeout extends Error {
  constructor() {
    super(`the scheduler state did not come from Redis within ${STATUS_TIMEOUT_MS} ms`);
    this.name = 'StatusTimeout';
  }
}

/** A read of Redis that rejects with StatusTimeout after STATUS_TIMEOUT_MS: commands wait as long as Redis is away, and /metrics may not hang with them. */
export function bounded<T>(reading: Promise<T>): Promise<T> {
  return before(reading, STATUS_TIMEOUT_MS, () => new StatusTimeout());
}

/** `work`, or the error `late` makes once `ms` pass (BullMQ's commands wait as long as Redis is away). */
async function before<T>(work: Promise<T>, ms: number, late: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_resolve, reject) => (timer = setTimeout(() => reject(late()), ms)));
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

@Injectable()
export class MonitorQueueService implements OnApplicationShutdown {
  /** The monitor-tick queue (Bull Board shows it). */
  readonly queue: Queue<MonitorTickJob, TickSummary>;
  /** The alert notifications (Bull Board shows them; a channel test is queued here). */
  readonly notifyQueue: Queue<NotifyJob>;
  private events: Promise<QueueEvents> | null = null;
  /** The reader once open. */
  private reader: QueueEvents | null = null;
  private closing = false;
  /** BullMQ's connection (a shared Cluster connection on a cluster, which this service closes). */
  private readonly connection: ReturnType<typeof bullConnection>;
  /** The read of the scheduler state in flight: readers share it, so that a Redis outage piles up one read, not one per scrape. */
  private reading: Promise<SchedulerStatus> | null = null;
  private notifyReading: Promise<{ counts: Record<string, number>; oldestAgeSeconds: number }> | null = null;

  constructor(@Inject(PULSE_CONFIG) private readonly config: PulseConfig) {
    this.connection = bullConnection(config, 'pulse:gateway:queue', new Logger('Redis'));
    this.queue = new Queue(MONITOR_QUEUE, { connection: this.connection, prefix: config.PULSE_QUEUE_PREFIX });
    this.notifyQueue = new Queue(NOTIFY_QUEUE, { connection: this.connection, prefix: config.PULSE_QUEUE_PREFIX });
  }

  /**
   * The scheduler state, or a StatusTimeout after STATUS_TIMEOUT_MS: BullMQ's commands wait for
   * Redis as long as it is away, and neither /metrics nor the admin endpoint may hang with them.
   */
  async status(): Promise<SchedulerStatus> {
    this.reading ??= this.readStatus().finally(() => (this.reading = null));
    return bounded(this.reading);
  }

  /** The notify queue's jobs by state and how long the oldest due one has waited (s), within STATUS_TIMEOUT_MS. */
  async notifyStatus(): Promise<{ counts: Record<string, number>; oldestAgeSeconds: number }> {
    // Shared by concurrent readers, as status() is: an outage piles up one read, not one per scrape.
    this.notifyReading ??= (async () => {
      const counts = await this.notifyQueue.getJobCounts('waiting', 'delayed', 'active', 'failed');
      const [oldest] = await this.notifyQueue.getJobs(['waiting', 'active'], 0, 0, true);
      const due = oldest ? oldest.timestamp + (oldest.opts.delay ?? 0) : Date.now();
      return { counts, oldestAgeSeconds: Math.max(0, Date.now() - due) / 1000 };
    })().finally(() => (this.notifyReading = null));
    return bounded(this.notifyReading);
  }

  private async readStatus(): Promise<SchedulerStatus> {
    const scheduler = await this.queue.getJobScheduler(MONITOR_SCHEDULER);
    // Newest of each kind: a failed run after the last completed one is the last run.
    const [[completed], [failed]] = await Promise.all([
      this.queue.getJobs(['completed'], 0, 0, false),
      this.queue.getJobs(['failed'], 0, 0, false),
    ]);
    const last = [completed, failed]
      .filter((job) => job?.finishedOn)
      .sort((a, b) => b!.finishedOn! - a!.finishedOn!)[0];
    const tickAt = last ? (last.data.tickAt ?? last.timestamp + (last.opts.delay ?? 0)) : 0;
    return {
      scheduler: MONITOR_SCHEDULER,
      everyMs: scheduler?.every ?? null,
      nextRunAt: scheduler?.next ?? null,
      lastRun:
        last && last.processedOn && last.finishedOn
          ? {
              tickAt,
              processedAt: last.processedOn,
              finishedAt: last.finishedOn,
              delayMs: Math.max(0, last.processedOn - tickAt),
              failed: Boolean(last.failedReason),
            }
          : null,
    };
  }

  /** Queues a tick at now for the workers and waits for its result; rejects, saying how far it got, if none runs it within `timeoutMs`. */
  async tickNow(timeoutMs = 15_000): Promise<TickSummary> {
    const deadline = Date.now() + timeoutMs;
    const queued = (async () => {
      const events = await this.listen();
      const tickAt = Date.now();
      const job = await this.queue.add(
        MONITOR_SCHEDULER,
        { kind: 'monitor-tick', everyMs: this.config.PULSE_TICK_MS, tickAt },
        {
          jobId: `manual-${tickAt}`,
          removeOnComplete: { count: this.config.PULSE_JOBS_KEEP_COMPLETED },
          removeOnFail: { count: this.config.PULSE_JOBS_KEEP_FAILED },
        },
      );
      return { events, job };
    })();
    const { events, job } = await before(
      queued,
      timeoutMs,
      () => new Error(`the tick could not be queued within ${timeoutMs} ms; is Redis reachable?`),
    );
    try {
      return await job.waitUntilFinished(events, Math.max(1, deadline - Date.now()));
    } catch (error) {
      // How far it got, if Redis says so within STATUS_TIMEOUT_MS: an answer may not wait on an outage twice.
      const state = await bounded(job.getState()).catch(() => 'unknown');
      if (state === 'failed') throw error; // the worker's reason
      if (state === 'waiting' || state === 'prioritized' || state === 'delayed')
        throw new Error(`no worker took the tick within ${timeoutMs} ms; is a worker running?`, { cause: error });
      if (state === 'active')
        throw new Error(`a worker is still running the tick after ${timeoutMs} ms`, { cause: error });
      throw new Error(`${(error as Error).message} (the job is ${state})`, { cause: error });
    }
  }

  /** The queue's events, read by one QueueEvents per gateway, opened at the first tick asked for. */
  private listen(): Promise<QueueEvents> {
    if (this.closing) return Promise.reject(new Error('the gateway is shutting down'));
    this.events ??= queueEventsFromNow(this.queue, {
      connection:
        this.connection instanceof Cluster
          ? this.connection
          : { ...this.connection, connectionName: 'pulse:gateway:queue-events' },
      prefix: this.config.PULSE_QUEUE_PREFIX,
    }).then(
      (events) => {
        // Its read loop retries through an outage: said once a minute, not once per retry.
        let saidAt = -Infinity;
        events.on('error', (error: Error) => {
          if (Date.now() - saidAt < 60_000) return;
          saidAt = Date.now();
          logger.warn(`the tick's event reader: ${error.message}; retrying`);
        });
        if (this.closing) void events.close().catch(() => undefined);
        else this.reader = events;
        return events;
      },
      (error: unknown) => {
        this.events = null;
        throw error;
      },
    );
    return this.events;
  }

  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
    // A reader still opening (Redis away) is not waited for: it closes itself once open (listen).
    await this.reader?.close();
    await this.notifyQueue.close();
    await this.queue.close();
    if (this.connection instanceof Cluster) await this.connection.quit().catch(() => undefined);
  }
}
