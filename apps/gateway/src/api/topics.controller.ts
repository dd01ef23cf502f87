// REST API of the log: ingest, snapshot, events after a seq, topic list.
import { Body, Controller, Get, HttpCode, Inject, Logger, Param, Post, Query, Req } from '@nestjs/common';
import { topicAllowed } from '#pulse/auth';
import { z } from 'zod';
import { emptySnapshot, ingestBodySchema, MAX_REPLAY_LIMIT, topicSchema, type PulseEvent, type Snapshot } from '#pulse/contracts';
import { EventStore } from '#pulse/event-store';
import { Access } from '../auth/access.decorator.js';
import type { AuthedRequest } from '../auth/http-auth.guard.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { parseOr400, PulseHttpError } from './http-error.js';

/** A decimal whole number in a query string, within bounds. */
const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `expected a whole number from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().min(min, `expected a whole number from ${min} to ${max}`).max(max, `expected a whole number from ${min} to ${max}`));

const eventsQuerySchema = z.strictObject({
  after: wholeNumber(0, Number.MAX_SAFE_INTEGER).default(0),
  limit: wholeNumber(1, MAX_REPLAY_LIMIT).default(100),
});

const unavailable = (topic: string, error: unknown) =>
  PulseHttpError.of(503, 'UNAVAILABLE', `the log of ${topic} cannot be reached now (${(error as Error).message}); retry shortly (events with an idempotencyKey are appended at most once)`);

@Controller('api/v1/topics')
export class TopicsController {
  private readonly logger = new Logger(TopicsController.name);

  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(MetricsService) private readonly metrics: MetricsService,
  ) {}

  /** The topics the caller's token covers. */
  @Get()
  @Access('read')
  async list(@Req() request: AuthedRequest): Promise<{ topic: string; head: number; epoch: string }[]> {
    const topics = await this.store.topics().catch((error: unknown) => {
      throw PulseHttpError.of(503, 'UNAVAILABLE', `the topic list cannot be read now (${(error as Error).message}); retry shortly`);
    });
    const principal = request.principal;
    return principal ? topics.filter((entry) => topicAllowed(principal, entry.topic)) : topics;
  }

  /** Appends a batch atomically: all events get seqs, or none (503). */
  @Post(':topic/events')
  @HttpCode(201)
  @Access('publish')
  async ingest(@Param('topic') rawTopic: string, @Body() rawBody: unknown): Promise<{ epoch: string; seqs: number[] }> {
    const topic = parseOr400(topicSchema, rawTopic, 'topic');
    const body = parseOr400(ingestBodySchema, rawBody ?? {});
    try {
      const appended = await this.store.append(
        topic,
        body.events.map((event) => ({ type: event.type, data: event.data, idempotencyKey: event.idempotencyKey, source: body.source })),
      );
      this.metrics.appended(topic, body.events);
      return appended;
    } catch (error) {
      this.logger.warn(`append to ${topic} failed: ${(error as Error).message}`);
      throw unavailable(topic, error);
    }
  }

  @Get(':topic/snapshot')
  @Access('read')
  async snapshot(@Param('topic') rawTopic: string): Promise<Snapshot> {
    const topic = parseOr400(topicSchema, rawTopic, 'topic');
    const snapshot = await this.store.snapshot(topic).catch((error: unknown) => {
      throw unavailable(topic, error);
    });
    // Any valid topic is a log, possibly empty.
    return snapshot ?? emptySnapshot(topic);
  }

  @Get(':topic/events')
  @Access('read')
  async events(@Param('topic') rawTopic: string, @Query() rawQuery: unknown): Promise<{ epoch: string | null; head: number; events: PulseEvent[] }> {
    const topic = parseOr400(topicSchema, rawTopic, 'topic');
    const { after, limit } = parseOr400(eventsQuerySchema, rawQuery);
    const found = await this.store.readAfter(topic, after, limit).catch((error: unknown) => {
      throw unavailable(topic, error);
    });
    // A topic with no events is an empty log: head 0, no epoch yet.
    const page = found ?? { epoch: null, head: 0, base: 0, events: [] };
    if (after > page.head) throw new PulseHttpError(400, { ok: false, code: 'BAD_REQUEST', message: `after: ${after} is beyond the head ${page.head}`, issues: [{ path: 'after', message: `beyond the head ${page.head}` }] });
    if (after < page.base) throw PulseHttpError.of(410, 'NOT_FOUND', `events after ${after} of ${topic} are no longer retained (oldest kept: ${page.base + 1}); read the snapshot instead`);
    return { epoch: page.epoch, head: page.head, events: page.events };
  }
}
