// REST API of a topic's history: its series at one step, one instance's uptime and hours, and every instance's uptime.
import { Controller, Get, Inject, Logger, Param, Query } from '@nestjs/common';
import {
  idSchema,
  instanceQuerySchema,
  seriesQuerySchema,
  STEP_MS,
  topicSchema,
  uptimeQuerySchema,
  type InstanceHistory,
  type SeriesResponse,
  type UptimeList,
} from '#pulse/contracts';
import { EventStore } from '#pulse/event-store';
import { parseOr400, PulseHttpError } from '../api/http-error.js';
import { Access } from '../auth/access.decorator.js';

const logger = new Logger('HistoryController');
/** How long one gateway answers the same fleet uptime list: many viewers of a big fleet cost one read. */
const UPTIME_SHARED_MS = 15_000;

/** A refused range (RangeError from the contracts) as a 400 naming it; anything else as 503, why in the log only. */
function failure(topic: string, error: unknown): PulseHttpError {
  if (error instanceof RangeError)
    return new PulseHttpError(400, {
      ok: false,
      code: 'BAD_REQUEST',
      message: error.message,
      issues: [{ path: 'from', message: error.message }],
    });
  logger.warn(`the history of ${topic} cannot be read: ${(error as Error)?.message ?? String(error)}`);
  return PulseHttpError.of(503, 'UNAVAILABLE', `the history of ${topic} cannot be read now; retry shortly`);
}

@Controller('api/v1/topics')
export class HistoryController {
  /** Fleet uptime lists being read or read within UPTIME_SHARED_MS, by topic and window. */
  private readonly uptimeLists = new Map<string, { at: number; list: Promise<UptimeList> }>();

  constructor(@Inject(EventStore) private readonly store: EventStore) {}

  /** Every bucket of [from, to) at `step` (default: the last 60 buckets); zeros where nothing happened, also for a topic with no events. */
  @Get(':topic/series')
  @Access('read')
  async series(@Param('topic') rawTopic: string, @Query() rawQuery: unknown): Promise<SeriesResponse> {
    const topic = parseOr400(topicSchema, rawTopic, 'topic');
    const { step, from, to } = parseOr400(seriesQuerySchema, rawQuery);
    const end = to ?? Date.now();
    const start = from ?? end - 60 * STEP_MS[step];
    return this.store.history.series(topic, step, start, end).catch((error: unknown) => {
      throw failure(topic, error);
    });
  }

  /** Every instance's uptime over one window (default 24 h): what a fleet table shows, in one request rather than one per instance. */
  @Get(':topic/uptime')
  @Access('read')
  async uptime(@Param('topic') rawTopic: string, @Query() rawQuery: unknown): Promise<UptimeList> {
    const topic = parseOr400(topicSchema, rawTopic, 'topic');
    const { window } = parseOr400(uptimeQuerySchema, rawQuery);
    // A list costs a read per instance and day: viewers asking within a few seconds share one.
    const key = `${topic} ${window}`;
    const now = Date.now();
    let shared = this.uptimeLists.get(key);
    if (!shared || now - shared.at > UPTIME_SHARED_MS) {
      for (const [old, entry] of this.uptimeLists) if (now - entry.at > UPTIME_SHARED_MS) this.uptimeLists.delete(old);
      shared = { at: now, list: this.store.history.uptimes(topic, window) };
      this.uptimeLists.set(key, shared);
      const entry = shared;
      entry.list.catch(() => this.uptimeLists.get(key) === entry && this.uptimeLists.delete(key));
    }
    return shared.list.catch((error: unknown) => {
      throw failure(topic, error);
    });
  }

  /** The instance's state, uptime over 24 h / 7 d / 30 d and its hours over [from, to) (default: the last 24 h). */
  @Get(':topic/instances/:instanceId')
  @Access('read')
  async instance(
    @Param('topic') rawTopic: string,
    @Param('instanceId') rawId: string,
    @Query() rawQuery: unknown,
  ): Promise<InstanceHistory> {
    const topic = parseOr400(topicSchema, rawTopic, 'topic');
    const instanceId = parseOr400(idSchema, rawId, 'instanceId');
    const range = parseOr400(instanceQuerySchema, rawQuery);
    const found = await this.store.history.instance(topic, instanceId, range).catch((error: unknown) => {
      throw failure(topic, error);
    });
    if (!found)
      throw PulseHttpError.of(
        404,
        'NOT_FOUND',
        `topic ${topic} has no instance ${instanceId} (never seen, or removed after being offline for PULSE_INSTANCE_FORGET_MS)`,
      );
    return found;
  }
}
