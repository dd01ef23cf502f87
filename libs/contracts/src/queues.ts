// Pulse's BullMQ queue: names that workers, gateways and inspection tools (Bull Board, Taskforce) share.

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
  /** Set on a tick asked for on demand (POST /api/v1/admin/tick); scheduler runs take their scheduled time. */
  tickAt?: number;
}

/** What a monitor-tick job returns. */
export interface TickSummary {
  tickAt: number;
  topics: number;
  /** Topics that got this tick's events now (the others had them already, or have no log). */
  appended: number;
  durationMs: number;
}
