// Pulse's BullMQ queue: names that workers, gateways and inspection tools (Bull Board, Taskforce) share.
import type { NotificationPayload } from './alerts.js';

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

/** The queue of alert notifications: one job per (transition or group, channel), under BULL_PREFIX like the ticks. */
export const NOTIFY_QUEUE = 'notify';

/** What a notify job carries. Its id is deterministic (notifyJobId), so N workers, retries and re-ticks make one job. */
export interface NotifyJob {
  kind: 'firing' | 'resolved' | 'reminder' | 'test';
  channelId: string;
  /** The topic, its log's epoch and the seq of the group's first transition (a reminder: the head when due; a test: 0). */
  topic: string;
  epoch: string;
  seq: number;
  ruleId: string;
  /** A reminder's alert. */
  alertId?: string;
  /** What is sent, fixed by the first attempt (group closed, silences applied), so that every retry sends the same body. */
  payload?: NotificationPayload;
}

/** The job id of one notification: the delivery id receivers see (Pulse-Delivery-Id), the same on every retry. */
export function notifyJobId(
  job: Pick<NotifyJob, 'kind' | 'channelId' | 'topic' | 'epoch' | 'seq' | 'ruleId' | 'alertId'> & { tickAt?: number },
): string {
  // BullMQ ids may not contain ':' (alert ids do; no id of Pulse contains '~'). Alert and channel
  // ids may both hold '.': the alert id's length comes first, so that no two pairs spell one id.
  const alert = (job.alertId ?? '').replaceAll(':', '~');
  const what = job.kind === 'reminder' ? `reminder.${job.tickAt ?? 0}.${alert.length}.${alert}` : job.kind;
  return `${job.topic}.${job.epoch}.${job.seq}.${what}.${job.channelId}`;
}
