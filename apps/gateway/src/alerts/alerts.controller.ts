// REST API of alerts: a topic's rules (events of its log), notification channels and silences (stored outside the log).
import { randomUUID } from 'node:crypto';
import { Body, Controller, Delete, Get, HttpCode, Inject, Logger, Param, Post, Put, Req } from '@nestjs/common';
import { z } from 'zod';
import {
  alertIdPartSchema,
  badRequest,
  channelBodySchema,
  maskChannel,
  parseRuleBody,
  silenceBodySchema,
  topicSchema,
  type ChannelView,
  type Rule,
  type RuleState,
  type Silence,
} from '#pulse/contracts';
import { cronProblem } from '#pulse/contracts/silences';
import { PULSE_CONFIG, type PulseConfig } from '#pulse/config';
import { EventStore } from '#pulse/event-store';
import { MonitorQueueService } from '../admin/monitor-queue.service.js';
import { cardinalityRefusal } from '../api/cardinality-refusal.js';
import { parseOr400, PulseHttpError } from '../api/http-error.js';
import { Access } from '../auth/access.decorator.js';
import type { AuthedRequest } from '../auth/http-auth.guard.js';

/** A 400 naming one field. */
function fieldError(path: string, message: string): PulseHttpError {
  return new PulseHttpError(400, {
    ok: false,
    code: 'BAD_REQUEST',
    message: `${path}: ${message}`,
    issues: [{ path, message }],
  });
}

const logger = new Logger('AlertsController');

/** A refused append (a cardinality limit) as its 400/429; anything else: Redis could not be reached, 503, why in the log only. */
function unavailable(what: string) {
  return (error: unknown): never => {
    const refused = cardinalityRefusal(error);
    if (refused) throw refused;
    logger.warn(`${what} failed: ${(error as Error)?.message ?? String(error)}`);
    throw PulseHttpError.of(503, 'UNAVAILABLE', `${what} failed; retry shortly`);
  };
}

@Controller('api/v1')
export class AlertsController {
  private readonly maxRules: number;

  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(MonitorQueueService) private readonly queues: MonitorQueueService,
    @Inject(PULSE_CONFIG) config: PulseConfig,
  ) {
    this.maxRules = config.PULSE_MAX_RULES_PER_TOPIC;
  }

  /** The topic's rules, sorted by id, and the seq they reflect. */
  @Get('topics/:topic/rules')
  @Access('read')
  async rules(@Param('topic') rawTopic: string): Promise<{ topic: string; seq: number; rules: RuleState[] }> {
    const topic = parseOr400(topicSchema, rawTopic, 'topic');
    const { seq, rules } = await this.store.rules(topic).catch(unavailable('reading the rules'));
    return { topic, seq, rules };
  }

  /** Creates or replaces a rule: appends `rule.set` with every default filled in. */
  @Put('topics/:topic/rules/:ruleId')
  @Access('admin')
  async putRule(
    @Param('topic') rawTopic: string,
    @Param('ruleId') rawRuleId: string,
    @Body() body: unknown,
  ): Promise<{ seq: number; rule: Rule }> {
    const topic = parseOr400(topicSchema, rawTopic, 'topic');
    const ruleId = parseOr400(alertIdPartSchema, rawRuleId, 'ruleId');
    const parsed = parseRuleBody(ruleId, body);
    if (!parsed.success) throw new PulseHttpError(400, badRequest(parsed.error));
    const rule = parsed.data;
    const known = await this.store.alerts.existingChannels(rule.channels).catch(unavailable('checking the channels'));
    const missing = rule.channels.findIndex((id) => !known.has(id));
    if (missing >= 0)
      throw fieldError(
        `channels.${missing}`,
        `unknown channel ${rule.channels[missing]} (create it with PUT /api/v1/channels/${rule.channels[missing]})`,
      );
    // Every rule is evaluated at every tick (an instance rule over every instance): the append
    // script refuses a new rule id past the limit, in the same atomic call as the append.
    const { seqs } = await this.store
      .append(topic, [{ type: 'rule.set', data: rule, source: 'rest' }], { maxRules: this.maxRules })
      .catch(unavailable('appending rule.set'));
    return { seq: seqs[0]!, rule };
  }

  /** Removes a rule: appends `rule.removed`; its firing alerts resolve at the next tick. */
  @Delete('topics/:topic/rules/:ruleId')
  @Access('admin')
  async deleteRule(@Param('topic') rawTopic: string, @Param('ruleId') rawRuleId: string): Promise<{ seq: number }> {
    const topic = parseOr400(topicSchema, rawTopic, 'topic');
    const ruleId = parseOr400(alertIdPartSchema, rawRuleId, 'ruleId');
    const { rules } = await this.store.rules(topic).catch(unavailable('reading the rules'));
    if (!rules.some((rule) => rule.ruleId === ruleId))
      throw PulseHttpError.of(404, 'NOT_FOUND', `topic ${topic} has no rule ${ruleId}`);
    const { seqs } = await this.store
      .append(topic, [{ type: 'rule.removed', data: { ruleId }, source: 'rest' }])
      .catch(unavailable('appending rule.removed'));
    return { seq: seqs[0]! };
  }

  /** Every channel, secrets masked. */
  @Get('channels')
  @Access('admin')
  async channels(): Promise<ChannelView[]> {
    return (await this.store.alerts.channels().catch(unavailable('reading the channels'))).map(maskChannel);
  }

  /** Creates or replaces a channel; answers it with its secret masked. */
  @Put('channels/:channelId')
  @Access('admin')
  async putChannel(@Param('channelId') rawId: string, @Body() body: unknown): Promise<ChannelView> {
    const channelId = parseOr400(alertIdPartSchema, rawId, 'channelId');
    const channel = { ...parseOr400(channelBodySchema, body), channelId };
    await this.store.alerts.putChannel(channel).catch(unavailable('storing the channel'));
    return maskChannel(channel);
  }

  /** Queues a test message to the channel (a notify job of kind `test`, visible in Bull Board): 202 with its job id. */
  @Post('channels/:channelId/test')
  @Access('admin')
  @HttpCode(202)
  async testChannel(@Param('channelId') rawId: string): Promise<{ jobId: string }> {
    const channelId = parseOr400(alertIdPartSchema, rawId, 'channelId');
    const known = await this.store.alerts.existingChannels([channelId]).catch(unavailable('reading the channel'));
    if (!known.has(channelId)) throw PulseHttpError.of(404, 'NOT_FOUND', `no channel ${channelId}`);
    const jobId = `test.${channelId}.${Date.now()}`;
    await this.queues.notifyQueue
      .add(
        'test',
        { kind: 'test', channelId, topic: '', epoch: '', seq: 0, ruleId: '' },
        {
          jobId,
          attempts: 3,
          backoff: { type: 'exponential', delay: 1000 },
          removeOnComplete: { age: 86_400 },
          removeOnFail: { age: 7 * 86_400 },
        },
      )
      .catch(unavailable('queueing the test'));
    return { jobId };
  }

  /** Every silence, oldest first (in force or not). */
  @Get('silences')
  @Access('read')
  async silences(): Promise<Silence[]> {
    return this.store.alerts.silences().catch(unavailable('reading the silences'));
  }

  /** Creates a silence: notifications it matches are suppressed while it is in force (alert state and events are not). */
  @Post('silences')
  @Access('admin')
  async createSilence(@Body() body: unknown, @Req() request: AuthedRequest): Promise<{ id: string }> {
    const parsed = parseOr400(silenceBodySchema, body);
    if (parsed.matchers.topic !== undefined) parseOr400(topicSchema, parsed.matchers.topic, 'matchers.topic');
    if (parsed.cron !== undefined) {
      const problem = cronProblem(parsed.cron, parsed.timeZone);
      if (problem) throw fieldError(problem.path, problem.message);
    } else if (parsed.timeZone !== undefined) throw fieldError('timeZone', 'expected timeZone only with cron');
    const silence: Silence = { ...parsed, id: randomUUID(), createdAt: Date.now() };
    if (request.principal) silence.createdBy = request.principal.sub;
    await this.store.alerts.putSilence(silence).catch(unavailable('storing the silence'));
    return { id: silence.id };
  }

  @Delete('silences/:id')
  @Access('admin')
  async deleteSilence(@Param('id') rawId: string): Promise<{ id: string }> {
    const id = parseOr400(z.uuid(), rawId, 'id');
    if (!(await this.store.alerts.deleteSilence(id).catch(unavailable('deleting the silence'))))
      throw PulseHttpError.of(404, 'NOT_FOUND', `no silence ${id}`);
    return { id };
  }
}
