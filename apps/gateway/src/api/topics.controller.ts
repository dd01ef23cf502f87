// REST API of the log: ingest, snapshot, events after a seq, topic list.
import { Body, Controller, Get, HttpCode, Inject, Logger, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { Response } from 'express';
import { topicAllowed } from '#pulse/auth';
import { z } from 'zod';
import {
  emptySnapshot,
  ingestBodySchema,
  MAX_REPLAY_LIMIT,
  topicSchema,
  type IngestBody,
  type PulseEvent,
  type Snapshot,
} from '#pulse/contracts';
import { authEnabled, PULSE_CONFIG, type PulseConfig } from '#pulse/config';
import { EventStore } from '#pulse/event-store';
import { Access } from '../auth/access.decorator.js';
import type { AuthedRequest } from '../auth/http-auth.guard.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { cardinalityRefusal } from './cardinality-refusal.js';
import { parseOr400, PulseHttpError } from './http-error.js';
import { scopedIdempotencyKey } from './idempotency-scope.js';

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

/** 503 for a failed Redis call: the client learns that it may retry; why (Redis's error text) goes to the log only. */
const unavailable = (topic: string, error: unknown) => {
  logger.warn(`the log of ${topic} cannot be reached: ${(error as Error)?.message ?? String(error)}`);
  return PulseHttpError.of(
    503,
    'UNAVAILABLE',
    `the log of ${topic} cannot be reached now; retry shortly (events with an idempotencyKey are appended at most once)`,
  );
};

@Controller('api/v1/topics')
export class TopicsController {
  private readonly topicsQuerySchema: z.ZodType<{ cursor?: string; limit: number }>;
  /** Idempotency keys are the token's (its sub), or with auth off the request's source's. */
  private readonly keysByToken: boolean;
  private readonly maxMetaBytes: number;

  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(MetricsService) private readonly metrics: MetricsService,
    @Inject(PULSE_CONFIG) config: PulseConfig,
  ) {
    const max = config.PULSE_TOPICS_PAGE_MAX;
    this.topicsQuerySchema = z.strictObject({
      cursor: topicSchema.optional(),
      limit: wholeNumber(1, max, 'PULSE_TOPICS_PAGE_MAX').default(Math.min(TOPICS_PAGE_DEFAULT, max)),
    });
    this.keysByToken = authEnabled(config);
    this.maxMetaBytes = config.PULSE_MAX_META_BYTES;
  }

  /** 400 naming the first heartbeat whose meta is larger than PULSE_MAX_META_BYTES. */
  private checkMetaBytes(body: IngestBody): void {
    body.events.forEach((event, i) => {
      if (event.type !== 'instance.heartbeat' || event.data.meta === undefined) return;
      const bytes = Buffer.byteLength(JSON.stringify(event.data.meta));
      if (bytes <= this.maxMetaBytes) return;
      const message = `meta is ${bytes} bytes of JSON, more than PULSE_MAX_META_BYTES (${this.maxMetaBytes})`;
      throw new PulseHttpError(400, {
        ok: false,
        code: 'BAD_REQUEST',
        message: `events.${i}.data.meta: ${message}`,
        issues: [{ path: `events.${i}.data.meta`, message }],
      });
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

  /** Appends a batch atomically: all events get seqs, or none (503). */
  @Post(':topic/events')
  @HttpCode(201)
  @Access('publish')
  async ingest(
    @Param('topic') rawTopic: string,
    @Body() rawBody: unknown,
    @Req() request: AuthedRequest,
  ): Promise<{ epoch: string; seqs: number[] }> {
    const topic = parseOr400(topicSchema, rawTopic, 'topic');
    const body = parseOr400(ingestBodySchema, rawBody ?? {});
    this.checkMetaBytes(body);
    // One producer cannot claim another's keys (and have its events dropped as repeats).
    const scope = this.keysByToken ? request.principal!.sub : (body.source ?? '');
    try {
      const appended = await this.store.append(
        topic,
        body.events.map((event) => ({
          type: event.type,
          data: event.data,
          idempotencyKey: scopedIdempotencyKey(scope, event.idempotencyKey),
          source: body.source,
        })),
        // Topic quotas are per token: with auth off there is none (the topic cap still holds).
        { creator: this.keysByToken ? request.principal!.sub : undefined },
      );
      this.metrics.appended(topic, body.events);
      return appended;
    } catch (error) {
      throw cardinalityRefusal(error) ?? unavailable(topic, error);
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
  async events(
    @Param('topic') rawTopic: string,
    @Query() rawQuery: unknown,
  ): Promise<{ epoch: string | null; head: number; events: PulseEvent[] }> {
    const topic = parseOr400(topicSchema, rawTopic, 'topic');
    const { after, limit } = parseOr400(eventsQuerySchema, rawQuery);
    const found = await this.store.readAfter(topic, after, limit).catch((error: unknown) => {
      throw unavailable(topic, error);
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
