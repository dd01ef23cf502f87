// BullMQ edge of notifications: the job's payload fixed on its first try, then one send; a failure is retried with the Pulse backoff.
import { Logger } from '@nestjs/common';
import { Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job, MinimalJob } from 'bullmq';
import { NOTIFY_QUEUE, type NotifyJob } from '#pulse/contracts';
import { backoffDelay, NotificationService, type NotifyResult } from './notification.service.js';

@Processor(NOTIFY_QUEUE, {
  concurrency: 8,
  // backoff { type: 'pulse', delay }: doubling from `delay`, at most an hour (backoffDelay).
  settings: {
    backoffStrategy: (attemptsMade: number, _type?: string, _error?: Error, job?: MinimalJob) =>
      backoffDelay(
        attemptsMade,
        Number(job?.opts.backoff && typeof job.opts.backoff === 'object' ? job.opts.backoff.delay : 1000),
      ),
  },
})
export class NotifyProcessor extends WorkerHost {
  private readonly logger = new Logger('Notify');

  constructor(private readonly notifications: NotificationService) {
    super();
  }

  async process(job: Job<NotifyJob>): Promise<NotifyResult> {
    let data = job.data;
    if (!data.payload) {
      data = { ...data, payload: await this.notifications.build(data) };
      await job.updateData(data);
    }
    const lastTry = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const result = await this.notifications.send(
      data as NotifyJob & { payload: NonNullable<NotifyJob['payload']> },
      job.id!,
      lastTry,
    );
    if (result.suppressed) this.logger.log(`notification ${job.id} not sent: ${result.suppressed}`);
    return result;
  }
}
