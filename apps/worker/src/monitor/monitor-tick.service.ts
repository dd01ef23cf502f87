// One monitor tick over every active topic: offline marking and the three tick events, once per scheduled time.
import type { TickSummary } from '#pulse/contracts';
import type { EventStore, TickResult } from '#pulse/event-store';

export interface MonitorTickOptions {
  tickMs: number;
  instanceTtlMs: number;
  /** An offline instance last seen longer ago than this is removed. 0: never. @default 0 */
  instanceForgetMs?: number;
  /** Topics without ingest for this long are not ticked. */
  topicIdleMs: number;
  /** Topics ticked at once (each tick is one Lua call; on a pipelining connection, one batch). @default 32 */
  concurrency?: number;
  /** A tickAt older than this is refused (TickTimeRefused). @default 86400000 (1 day) */
  maxAgeMs?: number;
  /** A tickAt further ahead than this is refused: a tick from the future would make the ticks before it skip. @default 60000 */
  maxAheadMs?: number;
  now?: () => number;
  /**
   * Called for each topic whose outbox holds notifications after its tick (even a skipped one: a
   * run that crashed before draining left them there); a failure fails the tick, which is retried.
   */
  drainOutbox?: (topic: string) => Promise<void>;
  /** Called after each appended tick with the topic's firing alerts by severity (for metrics; a failure is ignored). */
  recordFiring?: (topic: string, firing: NonNullable<TickResult['firing']>) => Promise<void>;
}

/** A tick whose scheduled time lies outside [now − maxAgeMs, now + maxAheadMs]: running it again cannot help. */
export class TickTimeRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TickTimeRefused';
  }
}

export class MonitorTickService {
  private readonly now: () => number;

  constructor(
    private readonly store: EventStore,
    private readonly options: MonitorTickOptions,
  ) {
    this.now = options.now ?? (() => Date.now());
  }

  /**
   * Ticks every active topic for the scheduled time `tickAt`. Safe to run again for the same
   * `tickAt` (a retry, a stalled job, another worker): topics that have it append nothing.
   * Throws if any topic could not be ticked, naming them, so that the job is retried.
   */
  async tick(tickAt: number): Promise<TickSummary> {
    const started = this.now();
    const maxAgeMs = this.options.maxAgeMs ?? 86_400_000;
    const maxAheadMs = this.options.maxAheadMs ?? 60_000;
    if (!Number.isSafeInteger(tickAt) || tickAt < started - maxAgeMs || tickAt > started + maxAheadMs) {
      throw new TickTimeRefused(
        `tickAt ${tickAt} (${Number.isFinite(tickAt) ? new Date(tickAt).toISOString() : 'not a time'}) is outside [now - ${maxAgeMs} ms, now + ${maxAheadMs} ms] (PULSE_TICK_MAX_AGE_MS, PULSE_TICK_MAX_AHEAD_MS): not ticked`,
      );
    }
    const topics = await this.store.activeTopics(started - this.options.topicIdleMs);
    const concurrency = this.options.concurrency ?? 32;
    const failed: string[] = [];
    let appended = 0;
    let firstError: unknown;
    for (let i = 0; i < topics.length; i += concurrency) {
      const chunk = topics.slice(i, i + concurrency);
      const results = await Promise.allSettled(
        chunk.map(async (topic) => {
          const result = await this.store.tick(topic, {
            tickAt,
            nextTickAt: tickAt + this.options.tickMs,
            instanceTtlMs: this.options.instanceTtlMs,
            instanceForgetMs: this.options.instanceForgetMs ?? 0,
          });
          if (result.outbox > 0) await this.options.drainOutbox?.(topic);
          if (result.firing) await this.options.recordFiring?.(topic, result.firing).catch(() => undefined);
          return result;
        }),
      );
      results.forEach((result, j) => {
        if (result.status === 'fulfilled') appended += result.value.appended ? 1 : 0;
        else {
          failed.push(chunk[j]!);
          firstError ??= result.reason;
        }
      });
    }
    if (failed.length > 0) {
      throw new Error(
        `tick ${tickAt} failed for ${failed.length} topic(s) (${failed.slice(0, 5).join(', ')}${failed.length > 5 ? ', …' : ''}): ${(firstError as Error)?.message}`,
      );
    }
    return { tickAt, topics: topics.length, appended, durationMs: this.now() - started };
  }
}
