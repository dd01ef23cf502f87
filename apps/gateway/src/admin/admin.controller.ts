// Operator endpoints: viewers per topic, the tick scheduler, a tick on demand, and rebuilding projections.
import { Controller, Get, HttpCode, Inject, Logger, Param, Post, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { z } from 'zod';
import { topicSchema, type TickSummary } from '#pulse/contracts';
import { EventStore } from '#pulse/event-store';
import { parseOr400, PulseHttpError } from '../api/http-error.js';
import { Access } from '../auth/access.decorator.js';
import { Presence } from '../live/presence.js';
import { MonitorQueueService, StatusTimeout, type SchedulerStatus } from './monitor-queue.service.js';

const rebuildQuerySchema = z.strictObject({ apply: z.enum(['0', '1', 'true', 'false']).optional() });

@Controller('api/v1/admin')
@Access('admin')
export class AdminController {
  private readonly logger = new Logger(AdminController.name);

  constructor(
    @Inject(Presence) private readonly viewers: Presence,
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(MonitorQueueService) private readonly queue: MonitorQueueService,
  ) {}

  /** Sockets live on each topic across all gateways (through the Socket.IO Redis adapter). */
  @Get('presence')
  async presence(): Promise<{ topics: Record<string, number> }> {
    return { topics: await this.viewers.count() };
  }

  @Get('scheduler')
  async scheduler(): Promise<SchedulerStatus> {
    try {
      return await this.queue.status();
    } catch (error) {
      if (error instanceof StatusTimeout)
        throw PulseHttpError.of(503, 'UNAVAILABLE', `${error.message}; retry shortly`);
      throw error;
    }
  }

  /** Runs a monitor tick now (on a worker) and answers its summary: tests need not wait for the schedule. */
  @Post('tick')
  @HttpCode(200)
  async tick(): Promise<TickSummary> {
    try {
      return await this.queue.tickNow();
    } catch (error) {
      throw PulseHttpError.of(503, 'UNAVAILABLE', `the tick did not complete: ${(error as Error).message}`);
    }
  }

  /**
   * Folds the log into a fresh projection and compares it with the live one. The answer streams
   * NDJSON: `{ folded, head }` lines while it folds, then `{ seq, drift, applied }`. With
   * `?apply=1` the rebuilt projection replaces the live one if no event was appended meanwhile.
   */
  @Post('topics/:topic/rebuild')
  async rebuild(
    @Param('topic') rawTopic: string,
    @Query() rawQuery: unknown,
    @Res() response: Response,
  ): Promise<void> {
    const topic = parseOr400(topicSchema, rawTopic, 'topic');
    const apply = ['1', 'true'].includes(parseOr400(rebuildQuerySchema, rawQuery).apply ?? '0');
    const head = await this.store.head(topic);
    if (!head) throw PulseHttpError.of(404, 'NOT_FOUND', `topic ${topic} has no events`);
    response.status(200).type('application/x-ndjson');
    let lastReport = 0;
    try {
      const result = (await this.store.rebuild(topic, (folded, total) => {
        if (folded - lastReport >= 1000 || folded === total) {
          lastReport = folded;
          response.write(`${JSON.stringify({ folded, head: total })}\n`);
        }
      }))!;
      const applied = apply && result.drift.length > 0 ? await this.store.applyRebuild(topic, result) : false;
      if (applied)
        this.logger.warn(
          `rebuilt the projection of ${topic} at seq ${result.seq}: ${result.drift.length} difference(s) mended`,
        );
      response.end(
        `${JSON.stringify({ seq: result.seq, drift: result.drift, applied, moved: apply && result.drift.length > 0 && !applied })}\n`,
      );
    } catch (error) {
      response.end(
        `${JSON.stringify({ ok: false, code: 'UNAVAILABLE', message: `rebuild failed: ${(error as Error).message}` })}\n`,
      );
    }
  }
}
