// BullMQ edge of the monitor tick: the job's scheduled time in, one service call.
import { Logger } from '@nestjs/common';
import { Processor, WorkerHost } from '@nestjs/bullmq';
import { UnrecoverableError, type Job } from 'bullmq';
import { MONITOR_QUEUE, MONITOR_SCHEDULER, type MonitorTickJob, type TickSummary } from '#pulse/contracts';
import { MonitorTickService, TickTimeRefused } from './monitor-tick.service.js';

/**
 * When a scheduler run was due: its creation time plus its delay (BullMQ offsets `every` runs
 * within the interval, and the id's `repeat:<scheduler>:<ms>` leaves that offset out).
 * Both are stored with the job, so a retried or stalled run gets the same time again.
 */
export function scheduledTime(job: Pick<Job, 'id' | 'opts' | 'timestamp'>): number {
  if (job.opts.repeatJobKey !== undefined && job.timestamp > 0) return job.timestamp + (job.opts.delay ?? 0);
  const match = /^repeat:.+:(\d+)$/.exec(job.id ?? '');
  if (match) return Number(match[1]);
  throw new Error(`job ${job.id} is not a run of the ${MONITOR_SCHEDULER} scheduler`);
}

@Processor(MONITOR_QUEUE, { concurrency: 1 })
export class MonitorTickProcessor extends WorkerHost {
  private readonly logger = new Logger('MonitorTick');

  constructor(private readonly ticks: MonitorTickService) {
    super();
  }

  async process(job: Job<MonitorTickJob>): Promise<TickSummary> {
    const summary = await this.ticks.tick(job.data.tickAt ?? scheduledTime(job)).catch((error: unknown) => {
      // Its time is wrong (a job written by hand, through Bull Board or Redis): fail it with the reason, never retry it.
      if (error instanceof TickTimeRefused) throw new UnrecoverableError(error.message);
      throw error;
    });
    this.logger.debug(
      `tick ${summary.tickAt}: ${summary.appended}/${summary.topics} topics in ${summary.durationMs} ms`,
    );
    return summary;
  }
}
