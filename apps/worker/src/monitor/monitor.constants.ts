// Names that BullMQ inspection tools (Bull Board, Taskforce) show for Pulse's queue.

/** The queue of monitor ticks. */
export const MONITOR_QUEUE = 'pulse-monitor';
/** The job scheduler (and job name) of the monitor tick. */
export const MONITOR_SCHEDULER = 'monitor-tick';
/** BullMQ key prefix; the braces keep the queue in one Redis Cluster slot. */
export const BULL_PREFIX = '{pulse}';

/** What a monitor-tick job carries: enough for an operator to see what it is. */
export interface MonitorTickJob {
  kind: 'monitor-tick';
  /** The interval it was scheduled with (ms). */
  everyMs: number;
}
