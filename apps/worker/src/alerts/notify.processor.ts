// BullMQ edge of notifications: the job's payload fixed on its first try, then one send; a failure is retried with the Pulse backoff.
import { Logger } from '@nestjs/common';
import { Processor, WorkerHost } from '@nestjs/bullmq';
import { UnrecoverableError, type Job, type MinimalJob } from 'bullmq';
import { NOTIFY_QUEUE, type NotifyJob } from '#pulse/contracts';
import { backoffDelay, NotificationService, type NotifyResult } from './notification.service.js';
import { DeliveryFailed } from './senders.js';

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
    let result: NotifyResult;
    try {
      result = await this.notifications.send(
        data as NotifyJob & { payload: NonNullable<NotifyJob['payload']> },
        job.id!,
        lastTry,
      );
    } catch (error) {
      // The receiver refused the request itself: the job fails now rather than for 24 h.
      if (error instanceof DeliveryFailed && error.permanent) throw new UnrecoverableError(error.message);
      throw error;
    }
    if (result.suppressed) this.logger.log(`notification ${job.id} not sent: ${result.suppressed}`);
    return result;
  }
}
