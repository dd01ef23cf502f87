// Alert notifications in the worker: the notify queue (under the ticks' prefix), its processor, the senders.
import { BullModule, getQueueToken } from '@nestjs/bullmq';
import { Inject, Module, type BeforeApplicationShutdown, type OnApplicationShutdown } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { PULSE_CONFIG, type PulseConfig } from '#pulse/config';
import { NOTIFY_QUEUE, type NotifyJob } from '#pulse/contracts';
import { EventStore } from '#pulse/event-store';
import { NotificationService } from './notification.service.js';
import { NotifyProcessor } from './notify.processor.js';
import { Senders } from './senders.js';

@Module({
  imports: [BullModule.registerQueue({ name: NOTIFY_QUEUE })],
  providers: [
    {
      provide: Senders,
      inject: [PULSE_CONFIG],
      useFactory: (config: PulseConfig) => new Senders({ url: config.PULSE_SMTP_URL, from: config.PULSE_SMTP_FROM }),
    },
    {
      provide: NotificationService,
      inject: [EventStore, getQueueToken(NOTIFY_QUEUE), Senders, PULSE_CONFIG],
      useFactory: (store: EventStore, queue: Queue<NotifyJob>, senders: Senders, config: PulseConfig) =>
        new NotificationService(store, queue, senders, {
          backoffMs: config.PULSE_NOTIFY_BACKOFF_MS,
          maxAgeMs: config.PULSE_NOTIFY_MAX_AGE_MS,
          dashboardUrl: config.PULSE_PUBLIC_URL[0],
        }),
    },
    NotifyProcessor,
  ],
  exports: [NotificationService],
})
export class NotifyModule implements BeforeApplicationShutdown, OnApplicationShutdown {
  constructor(
    @Inject(Senders) private readonly senders: Senders,
    private readonly processor: NotifyProcessor,
  ) {}

  /**
   * SIGTERM: the worker takes no new notification and lets the tries in flight finish, before any
   * shutdown hook closes what they use (Redis, the SMTP transport): cut short, a delivered try
   * would be marked failed and sent again.
   */
  async beforeApplicationShutdown(): Promise<void> {
    await this.processor.worker.close();
  }

  onApplicationShutdown(): void {
    this.senders.close();
  }
}
