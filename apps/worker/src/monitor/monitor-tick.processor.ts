// BullMQ edge of the monitor tick: the job's scheduled time in, one service call.
import { Logger } from '@nestjs/common';
import { Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job } from 'bullmq';
import { MONITOR_QUEUE, MONITOR_SCHEDULER, type MonitorTickJob } from './monitor.constants.js';
import { MonitorTickService, type TickSummary } from './monitor-tick.service.js';

/** The time a scheduler run was due: BullMQ keeps it in opts.prevMillis and in the id `repeat:<scheduler>:<ms>`. */
export function scheduledTime(job: Pick<Job, 'id' | 'opts' | 'timestamp'>): number {
  const fromOpts = (job.opts as { prevMillis?: number }).prevMillis;
  if (typeof fromOpts === 'number' && fromOpts > 0) return fromOpts;
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
    const summary = await this.ticks.tick(scheduledTime(job));
    this.logger.debug(`tick ${summary.tickAt}: ${summary.appended}/${summary.topics} topics in ${summary.durationMs} ms`);
    return summary;
  }
}
