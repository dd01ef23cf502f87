// REST API of the log: snapshot, events after a seq, topic list (ingest is IngestRoute, served in front of Express).
import { Controller, Get, Inject, Logger, Param, Query, Req, Res } from '@nestjs/common';
import type { Response } from 'express';
import { topicAllowed } from '#pulse/auth';
import { z } from 'zod';
import { emptySnapshot, MAX_REPLAY_LIMIT, topicSchema, type PulseEvent, type Snapshot } from '#pulse/contracts';
import { PULSE_CONFIG, type PulseConfig } from '#pulse/config';
import { EventStore } from '#pulse/event-store';
import { Access } from '../auth/access.decorator.js';
import type { AuthedRequest } from '../auth/http-auth.guard.js';
import { parseOr400, PulseHttpError, topicUnavailable } from './http-error.js';

/** A decimal whole number in a query string, within bounds (`setting`: the variable that sets `max`, named in the message). */
const wholeNumber = (min: number, max: number, setting?: string) => {
  const message = `expected a whole number from ${min} to ${max}${setting ? ` (${setting})` : ''}`;
  return z.string().regex(/^\d+$/, message).transform(Number).pipe(z.number().min(min, message).max(max, message));
};

const eventsQuerySchema = z.strictObject({
  after: wholeNumber(0, Number.MAX_SAFE_INTEGER).default(0),
  limit: wholeNumber(1, MAX_REPLAY_LIMIT).default(100),
});

/** A page of the topic list unless `?limit` says otherwise (or PULSE_TOPICS_PAGE_MAX is lower). */
const TOPICS_PAGE_DEFAULT = 100;

const logger = new Logger('TopicsController');

@Controller('api/v1/topics')
export class TopicsController {
  private readonly topicsQuerySchema: z.ZodType<{ cursor?: string; limit: number }>;

  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(PULSE_CONFIG) config: PulseConfig,
  ) {
    const max = config.PULSE_TOPICS_PAGE_MAX;
    this.topicsQuerySchema = z.strictObject({
      cursor: topicSchema.optional(),
      limit: wholeNumber(1, max, 'PULSE_TOPICS_PAGE_MAX').default(Math.min(TOPICS_PAGE_DEFAULT, max)),
    });
  }

  /**
   * One page of the topics the caller's token covers, by name: `?limit` (default 100, at most
   * PULSE_TOPICS_PAGE_MAX) after `?cursor` (a topic name). When more follow, the answer has a
   * `Link: <…?cursor=…&limit=…>; rel="next"` header.
   */
  @Get()
  @Access('read')
  async list(
    @Req() request: AuthedRequest,
    @Query() rawQuery: unknown,
    @Res({ passthrough: true }) response: Response,
  ): Promise<{ topic: string; head: number; epoch: string }[]> {
    const { cursor, limit } = parseOr400(this.topicsQuerySchema, rawQuery);
    const principal = request.principal;
    const page = await this.store
      .topicPage({ after: cursor, limit, include: principal ? (topic) => topicAllowed(principal, topic) : undefined })
      .catch((error: unknown) => {
        logger.warn(`the topic list cannot be read: ${(error as Error)?.message ?? String(error)}`);
        throw PulseHttpError.of(503, 'UNAVAILABLE', 'the topic list cannot be read now; retry shortly');
      });
    if (page.next !== null)
      response.setHeader('Link', `</api/v1/topics?cursor=${page.next}&limit=${limit}>; rel="next"`);
    return page.topics;
  }

  @Get(':topic/snapshot')
  @Access('read')
  async snapshot(@Param('topic') rawTopic: string): Promise<Snapshot> {
    const topic = parseOr400(topicSchema, rawTopic, 'topic');
    const snapshot = await this.store.snapshot(topic).catch((error: unknown) => {
      throw topicUnavailable(topic, error);
    });
    // Any valid topic is a log, possibly empty.
    return snapshot ?? emptySnapshot(topic);
  }

  @Get(':topic/events')
  @Access('read')
  async events(
    @Param('topic') rawTopic: string,
    @Query() rawQuery: unknown,
  ): Promise<{ epoch: string | null; head: number; events: PulseEvent[] }> {
    const topic = parseOr400(topicSchema, rawTopic, 'topic');
    const { after, limit } = parseOr400(eventsQuerySchema, rawQuery);
    const found = await this.store.readAfter(topic, after, limit).catch((error: unknown) => {
      throw topicUnavailable(topic, error);
    });
    // A topic with no events is an empty log: head 0, no epoch yet.
    const page = found ?? { epoch: null, head: 0, base: 0, events: [] };
    if (after > page.head)
      throw new PulseHttpError(400, {
        ok: false,
        code: 'BAD_REQUEST',
        message: `after: ${after} is beyond the head ${page.head}`,
        issues: [{ path: 'after', message: `beyond the head ${page.head}` }],
      });
    if (after < page.base)
      throw PulseHttpError.of(
        410,
        'NOT_FOUND',
        `events after ${after} of ${topic} are no longer retained (oldest kept: ${page.base + 1}); read the snapshot instead`,
      );
    return { epoch: page.epoch, head: page.head, events: page.events };
  }
}
