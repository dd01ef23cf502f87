// Alert notifications: the tick's outbox into notify jobs (one per group and channel, deterministic ids), and what each job sends.
import type { JobsOptions } from 'bullmq';
import {
  notifyJobId,
  type AlertFiringData,
  type AlertResolvedData,
  type NotificationPayload,
  type NotifyJob,
  type Severity,
} from '#pulse/contracts';
import { silencedBy } from '#pulse/contracts/silences';
import type { EventStore } from '#pulse/event-store';
import { DeliveryFailed, type Senders } from './senders.js';

export interface NotifyOptions {
  /** First retry delay (ms); doubles up to an hour. */
  backoffMs: number;
  /** Retries go on until the job is this old (ms). */
  maxAgeMs: number;
  /** Linked from each notification (PULSE_PUBLIC_URL's first). */
  dashboardUrl?: string;
  now?: () => number;
}

/** Longest pause between two tries of a notification. */
const MAX_BACKOFF_MS = 3_600_000;

/** The pause before try `attemptsMade + 1`: base × 2^(attemptsMade − 1), at most an hour. */
export function backoffDelay(attemptsMade: number, baseMs: number): number {
  return Math.min(baseMs * 2 ** Math.max(0, attemptsMade - 1), MAX_BACKOFF_MS);
}

/** Tries (the first included) whose pauses add up to at least `maxAgeMs`. */
export function attemptsFor(maxAgeMs: number, baseMs: number): number {
  let attempts = 1;
  for (let waited = 0; waited < maxAgeMs; attempts++) waited += backoffDelay(attempts, baseMs);
  return attempts;
}

/** Where jobs go: BullMQ's Queue.addBulk (ignores a job whose id exists already). */
export interface NotifyQueue {
  addBulk(jobs: { name: string; data: NotifyJob; opts: JobsOptions }[]): Promise<unknown>;
}

/** What a job did: sent to how many alerts, or why nothing was sent. */
export interface NotifyResult {
  sent: number;
  suppressed?: string;
}

export class NotificationService {
  private readonly now: () => number;

  constructor(
    private readonly store: EventStore,
    private readonly queue: NotifyQueue,
    private readonly senders: Senders,
    private readonly options: NotifyOptions,
  ) {
    this.now = options.now ?? (() => Date.now());
  }

  /** Options of every notify job: custom backoff (see backoffDelay), kept when done and when failed. */
  jobOptions(jobId: string, delay = 0): JobsOptions {
    return {
      jobId,
      delay,
      attempts: attemptsFor(this.options.maxAgeMs, this.options.backoffMs),
      backoff: { type: 'pulse', delay: this.options.backoffMs },
      // Kept a week: the job's id is what makes a re-drained outbox entry a no-op.
      removeOnComplete: { age: 7 * 86_400 },
      removeOnFail: false,
    };
  }

  /**
   * Turns the topic's outbox into notify jobs, then acknowledges the entries. A crash in between
   * drains them again: the ids are the same, so BullMQ keeps one job each.
   */
  async drain(topic: string): Promise<number> {
    let queued = 0;
    for (;;) {
      const entries = await this.store.alerts.outbox(topic, 200);
      if (entries.length === 0) return queued;
      const now = this.now();
      const jobs = entries.flatMap((entry) =>
        entry.channels.map((channelId) => {
          const data: NotifyJob = {
            kind: entry.kind,
            channelId,
            topic,
            epoch: entry.epoch,
            seq: entry.seq,
            ruleId: entry.ruleId,
          };
          if (entry.alertId !== undefined) data.alertId = entry.alertId;
          return {
            name: entry.kind,
            data,
            opts: this.jobOptions(notifyJobId({ ...data, tickAt: entry.tickAt }), Math.max(0, entry.due - now)),
          };
        }),
      );
      await this.queue.addBulk(jobs);
      await this.store.alerts.acknowledge(
        topic,
        entries.map((entry) => entry.id),
      );
      queued += jobs.length;
    }
  }

  /** What the job sends: the group closed and read, silences applied; alerts empty when everything was suppressed. */
  async build(job: NotifyJob): Promise<NotificationPayload> {
    const base = {
      topic: job.topic,
      seq: job.seq,
      epoch: job.epoch,
      kind: job.kind,
      ...(this.options.dashboardUrl ? { dashboardUrl: this.dashboardLink(job.topic) } : {}),
    };
    if (job.kind === 'test') return { ...base, alerts: [] };
    const silences = await this.store.alerts.silences();
    const now = this.now();
    const silenced = (alert: { ruleId: string; instanceId?: string }) =>
      silencedBy(silences, { topic: job.topic, ...alert }, now) !== undefined;
    if (job.kind === 'reminder') {
      const snapshot = await this.store.snapshot(job.topic);
      const alert = snapshot?.alerts?.find((active) => active.alertId === job.alertId);
      if (!alert || silenced(alert)) return { ...base, alerts: [] };
      // Only where its firing was delivered: a "still firing" page elsewhere (the firing silenced
      // there, or the channel added to the rule since) would never be resolved.
      const delivered = await this.store.alerts.deliveredTo(job.topic, job.channelId, [alert]);
      return { ...base, alerts: delivered.has(alert.alertId) ? [alertOf(alert)] : [] };
    }
    const members = await this.store.alerts.closeGroup(job.topic, job.seq);
    if (job.kind === 'firing') {
      const firings = members.flatMap((event) => (event.type === 'alert.firing' ? [event.data] : []));
      const kept = firings.filter((alert) => !silenced(alert));
      await this.store.alerts.settleNotified(
        job.topic,
        job.channelId,
        kept,
        firings.filter((alert) => silenced(alert)),
      );
      return { ...base, alerts: kept.map(alertOf) };
    }
    // A resolved goes where its firing went, silenced or not; never where it did not.
    const resolved = members.flatMap((event) => (event.type === 'alert.resolved' ? [event.data] : []));
    // Read, not taken: a try that dies before its payload is stored builds the same one again.
    const notified = await this.store.alerts.notified(job.topic, job.channelId, resolved);
    return { ...base, alerts: resolved.filter((alert) => notified.has(alert.alertId)).map(alertOf) };
  }

  /**
   * Sends the job's payload to its channel; throws DeliveryFailed (retried, unless permanent) when
   * it does not go through. `lastTry`: no retry follows a failure of this one (counted as failed,
   * not retried), as none follows a permanent one.
   */
  async send(
    job: NotifyJob & { payload: NotificationPayload },
    deliveryId: string,
    lastTry: boolean,
  ): Promise<NotifyResult> {
    if (job.kind !== 'test' && job.payload.alerts.length === 0)
      return { sent: 0, suppressed: 'silenced, or nothing of it was notified as firing' };
    const { topic, channelId, payload } = job;
    const channel = await this.store.alerts.channel(channelId);
    try {
      if (!channel) throw new DeliveryFailed(`channel ${channelId} does not exist (any more)`);
      await this.senders.send(channel, payload, deliveryId, this.now());
    } catch (error) {
      const final = lastTry || (error instanceof DeliveryFailed && error.permanent);
      if (channel)
        await this.store.alerts.countNotification(channel.type, final ? 'failed' : 'retried').catch(() => undefined);
      // A firing that never got through: nor will its resolved (no resolved for a page nobody got).
      if (final && job.kind === 'firing')
        await this.store.alerts.forgetNotified(topic, channelId, payload.alerts).catch(() => undefined);
      throw error;
    }
    await this.store.alerts.countNotification(channel.type, 'sent').catch(() => undefined);
    // Its resolved waits for this mark. Should it fail, so does the try: the retry sends the firing
    // again under the same delivery id (at least once), rather than leave its resolved unsent.
    if (job.kind === 'firing') await this.store.alerts.delivered(topic, channelId, payload.alerts);
    if (job.kind === 'resolved')
      await this.store.alerts.forgetNotified(topic, channelId, payload.alerts).catch(() => undefined);
    return { sent: payload.alerts.length };
  }

  /**
   * Records the topic's firing alerts after each tick that evaluated them. Not only when they
   * changed since this worker's last tick: the scheduler's runs go to any worker, and another may
   * have recorded different counts since (one command per topic and tick).
   */
  async recordFiring(topic: string, firing: Record<Severity, number>): Promise<void> {
    await this.store.alerts.setFiring(topic, firing);
  }

  private dashboardLink(topic: string): string {
    return `${this.options.dashboardUrl!.replace(/\/$/, '')}/?topic=${encodeURIComponent(topic)}`;
  }
}

function alertOf(alert: AlertFiringData | AlertResolvedData): NotificationPayload['alerts'][number] {
  const out: NotificationPayload['alerts'][number] = {
    alertId: alert.alertId,
    ruleId: alert.ruleId,
    severity: alert.severity,
    value: alert.value,
    summary: alert.summary,
    activeSince: alert.activeSince,
  };
  if (alert.instanceId !== undefined) out.instanceId = alert.instanceId;
  if ('resolvedAt' in alert) out.resolvedAt = alert.resolvedAt;
  return out;
}
