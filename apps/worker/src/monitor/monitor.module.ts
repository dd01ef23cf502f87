// The monitor tick: its BullMQ queue, the job scheduler upserted at boot, the processor and the service.
import { BullModule, InjectQueue } from '@nestjs/bullmq';
import { Inject, Logger, Module, type OnApplicationBootstrap } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { PULSE_CONFIG, type PulseConfig } from '#pulse/config';
import { EventStore } from '#pulse/event-store';
import { MONITOR_QUEUE, MONITOR_SCHEDULER, type MonitorTickJob } from '#pulse/contracts';
import { MonitorTickProcessor } from './monitor-tick.processor.js';
import { MonitorTickService } from './monitor-tick.service.js';

@Module({
  imports: [
    BullModule.forRootAsync({
      inject: [PULSE_CONFIG],
      useFactory: (config: PulseConfig) => ({
        connection: { url: config.REDIS_URL, connectionName: 'pulse:worker:bullmq' },
        // Inspection tools (Bull Board, Taskforce) find the queue under this prefix: {pulse} unless PULSE_QUEUE_PREFIX says otherwise.
        prefix: config.PULSE_QUEUE_PREFIX,
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
export class MonitorModule implements OnApplicationBootstrap {
  private readonly logger = new Logger('MonitorScheduler');

  constructor(
    @InjectQueue(MONITOR_QUEUE) private readonly queue: Queue<MonitorTickJob>,
    @Inject(PULSE_CONFIG) private readonly config: PulseConfig,
  ) {}

  /** Every worker upserts the one scheduler at boot: upserting twice leaves one scheduler. */
  async onApplicationBootstrap(): Promise<void> {
    const everyMs = this.config.PULSE_TICK_MS;
    await this.queue.upsertJobScheduler(
      MONITOR_SCHEDULER,
      { every: everyMs },
      {
        name: MONITOR_SCHEDULER,
        data: { kind: 'monitor-tick', everyMs },
        opts: { attempts: 5, backoff: { type: 'exponential', delay: 250 }, removeOnComplete: { count: this.config.PULSE_JOBS_KEEP_COMPLETED }, removeOnFail: { count: this.config.PULSE_JOBS_KEEP_FAILED } },
      },
    );
    this.logger.log(`scheduler ${MONITOR_SCHEDULER} ticks every ${everyMs} ms (queue ${this.config.PULSE_QUEUE_PREFIX}:${MONITOR_QUEUE}; keeps ${this.config.PULSE_JOBS_KEEP_COMPLETED} completed, ${this.config.PULSE_JOBS_KEEP_FAILED} failed jobs)`);
  }
}
