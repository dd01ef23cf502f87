// The monitor tick: its BullMQ queue, the job scheduler upserted at boot, the processor and the service.
import { BullModule, InjectQueue } from '@nestjs/bullmq';
import {
  Inject,
  Logger,
  Module,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { Queue } from 'bullmq';
import { Cluster } from 'ioredis';
import { PULSE_CONFIG, type PulseConfig } from '#pulse/config';
import { bullConnection, EventStore } from '#pulse/event-store';
import { MONITOR_QUEUE, MONITOR_SCHEDULER, type MonitorTickJob } from '#pulse/contracts';
import { NotificationService } from '../alerts/notification.service.js';
import { NotifyModule } from '../alerts/notify.module.js';
import { MonitorTickProcessor } from './monitor-tick.processor.js';
import { MonitorTickService } from './monitor-tick.service.js';

/** Topics whose tick scripts go out together in one pipeline. */
const TICK_BATCH = 250;

/** The worker's command connection (EventStoreModule.forRoot): pipelined, with room for a batch of tick scripts. */
export const TICK_COMMANDS = { autoPipelining: true, commandTimeoutMs: 30_000 };

@Module({
  imports: [
    BullModule.forRootAsync({
      inject: [PULSE_CONFIG],
      useFactory: (config: PulseConfig) => ({
        connection: bullConnection(config, 'pulse:worker:bullmq', new Logger('Redis')),
        // Inspection tools (Bull Board, Taskforce) find the queue under this prefix: {pulse} unless PULSE_QUEUE_PREFIX says otherwise.
        prefix: config.PULSE_QUEUE_PREFIX,
      }),
    }),
    BullModule.registerQueue({ name: MONITOR_QUEUE }),
    NotifyModule,
  ],
  providers: [
    {
      provide: MonitorTickService,
      inject: [EventStore, PULSE_CONFIG, NotificationService],
      // The store's connection pipelines (TICK_COMMANDS): a tick sends its topics' scripts in
      // batches, one round trip per batch (per node on a cluster) rather than one per topic.
      useFactory: (store: EventStore, config: PulseConfig, notifications: NotificationService) =>
        new MonitorTickService(store, {
          tickMs: config.PULSE_TICK_MS,
          instanceTtlMs: config.PULSE_INSTANCE_TTL_MS,
          instanceForgetMs: config.PULSE_INSTANCE_FORGET_MS,
          topicIdleMs: config.PULSE_TOPIC_IDLE_MS,
          concurrency: TICK_BATCH,
          maxAgeMs: config.PULSE_TICK_MAX_AGE_MS,
          maxAheadMs: config.PULSE_TICK_MAX_AHEAD_MS,
          drainOutbox: async (topic) => void (await notifications.drain(topic)),
          recordFiring: (topic, firing) => notifications.recordFiring(topic, firing),
        }),
    },
    MonitorTickProcessor,
  ],
  exports: [MonitorTickService],
})
export class MonitorModule implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('MonitorScheduler');

  constructor(
    @InjectQueue(MONITOR_QUEUE) private readonly queue: Queue<MonitorTickJob>,
    @Inject(PULSE_CONFIG) private readonly config: PulseConfig,
    private readonly processor: MonitorTickProcessor,
  ) {}

  /**
   * SIGTERM: the worker takes no new job and its running tick finishes, before any shutdown hook
   * closes a connection the tick uses (Nest does not order those hooks by dependency).
   */
  async beforeApplicationShutdown(): Promise<void> {
    await this.processor.worker.close();
  }

  /** On a cluster BullMQ shares a connection it does not close: close it once the worker is done. */
  async onApplicationShutdown(): Promise<void> {
    const connection = this.queue.opts.connection;
    if (!(connection instanceof Cluster)) return;
    await this.queue.close();
    await connection.quit().catch(() => connection.disconnect());
  }

  /**
   * Every worker upserts the one scheduler at boot (upserting twice leaves one scheduler), and
   * again when its connection comes back without it: if Redis lost its data, the scheduler went
   * with it and nothing would tick again. A repeated upsert cannot tick twice (ticks are keyed by time).
   */
  async onApplicationBootstrap(): Promise<void> {
    await this.upsertScheduler();
    const client = await this.queue.getBackend().client;
    client.on('ready', () => {
      // Only when it is gone: upserting an existing one again may schedule an extra run now.
      this.queue
        .getJobScheduler(MONITOR_SCHEDULER)
        .then((scheduler) => (scheduler ? undefined : this.upsertScheduler()))
        .catch((error: unknown) =>
          this.logger.warn(
            `could not restore scheduler ${MONITOR_SCHEDULER} after a reconnect: ${(error as Error).message}`,
          ),
        );
    });
  }

  private async upsertScheduler(): Promise<void> {
    const everyMs = this.config.PULSE_TICK_MS;
    await this.queue.upsertJobScheduler(
      MONITOR_SCHEDULER,
      { every: everyMs },
      {
        name: MONITOR_SCHEDULER,
        data: { kind: 'monitor-tick', everyMs },
        opts: {
          attempts: 5,
          backoff: { type: 'exponential', delay: 250 },
          removeOnComplete: { count: this.config.PULSE_JOBS_KEEP_COMPLETED },
          removeOnFail: { count: this.config.PULSE_JOBS_KEEP_FAILED },
        },
      },
    );
    this.logger.log(
      `scheduler ${MONITOR_SCHEDULER} ticks every ${everyMs} ms (queue ${this.config.PULSE_QUEUE_PREFIX}:${MONITOR_QUEUE}; keeps ${this.config.PULSE_JOBS_KEEP_COMPLETED} completed, ${this.config.PULSE_JOBS_KEEP_FAILED} failed jobs)`,
    );
  }
}
