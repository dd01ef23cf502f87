// The monitor tick: its BullMQ queue, the job scheduler upserted at boot, the processor and the service.
import { BullModule, InjectQueue } from '@nestjs/bullmq';
import { Inject, Logger, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Queue } from 'bullmq';
import type { Cluster } from 'ioredis';
import { PULSE_CONFIG, type PulseConfig } from '#pulse/config';
import { bullConnection, EventStore } from '#pulse/event-store';
import { BULL_PREFIX, MONITOR_QUEUE, MONITOR_SCHEDULER, type MonitorTickJob } from '#pulse/contracts';
import { MonitorTickProcessor } from './monitor-tick.processor.js';
import { MonitorTickService } from './monitor-tick.service.js';

@Module({
  imports: [
    BullModule.forRootAsync({
      inject: [PULSE_CONFIG],
      useFactory: (config: PulseConfig) => ({
        connection: bullConnection(config, 'pulse:worker:bullmq'),
        prefix: BULL_PREFIX,
      }),
    }),
    BullModule.registerQueue({ name: MONITOR_QUEUE }),
  ],
  providers: [
    {
      provide: MonitorTickService,
      inject: [EventStore, PULSE_CONFIG],
      useFactory: (store: EventStore, config: PulseConfig) =>
        new MonitorTickService(store, { tickMs: config.PULSE_TICK_MS, instanceTtlMs: config.PULSE_INSTANCE_TTL_MS, topicIdleMs: config.PULSE_TOPIC_IDLE_MS }),
    },
    MonitorTickProcessor,
  ],
  exports: [MonitorTickService],
})
export class MonitorModule implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('MonitorScheduler');

  constructor(
    @InjectQueue(MONITOR_QUEUE) private readonly queue: Queue<MonitorTickJob>,
    @Inject(PULSE_CONFIG) private readonly config: PulseConfig,
    private readonly processor: MonitorTickProcessor,
  ) {}

  /** On a cluster BullMQ shares a connection it does not close: close it once the worker (and its running tick) is done. */
  async onApplicationShutdown(): Promise<void> {
    const connection = this.queue.opts.connection as Cluster | { url: string };
    if ('url' in connection) return;
    await this.processor.worker.close();
    await this.queue.close();
    await connection.quit().catch(() => connection.disconnect());
  }

  /**
   * Every worker upserts the one scheduler at boot (upserting twice leaves one scheduler), and
   * again whenever its connection comes back: if Redis lost its data, the scheduler went with it
   * and nothing would tick again. A repeated upsert cannot tick twice (ticks are keyed by time).
   */
  async onApplicationBootstrap(): Promise<void> {
    await this.upsertScheduler();
    const client = await this.queue.getBackend().client;
    client.on('ready', () => {
      this.upsertScheduler().catch((error: unknown) => this.logger.warn(`could not restore scheduler ${MONITOR_SCHEDULER} after a reconnect: ${(error as Error).message}`));
    });
    this.logger.log(`scheduler ${MONITOR_SCHEDULER} ticks every ${this.config.PULSE_TICK_MS} ms`);
  }

  private async upsertScheduler(): Promise<void> {
    const everyMs = this.config.PULSE_TICK_MS;
    await this.queue.upsertJobScheduler(
      MONITOR_SCHEDULER,
      { every: everyMs },
      {
        name: MONITOR_SCHEDULER,
        data: { kind: 'monitor-tick', everyMs },
        opts: { attempts: 5, backoff: { type: 'exponential', delay: 250 }, removeOnComplete: { count: 1000 }, removeOnFail: { count: 1000 } },
      },
    );
  }
}
