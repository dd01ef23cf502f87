// The OpenAPI 3.1 document of the REST API, generated from the same zod schemas the gateway validates with and answers by.
import type { OpenAPIV3_1 } from 'openapi-types';
import {
  activeAlertSchema,
  channelBodySchema,
  MAX_INGEST_BATCH,
  MAX_REPLAY_LIMIT,
  MAX_SERIES_POINTS,
  RULE_KINDS,
  ruleBodySchema,
  ruleSchema,
  SERIES_STEPS,
  silenceBodySchema,
  type TickSummary,
} from '#pulse/contracts';
import { z } from 'zod';
import {
  appendedSchema,
  errorBodySchema,
  eventSchema,
  eventsPageSchema,
  ingestBodySchema,
  instanceHistorySchema,
  jsonSchema,
  seriesSchema,
  snapshotSchema,
  topicListSchema,
  uptimeListSchema,
} from './schemas.js';

const tickSummarySchema = z.strictObject({
  tickAt: z.number().int(),
  topics: z.number().int(),
  appended: z.number().int(),
  durationMs: z.number(),
}) satisfies z.ZodType<TickSummary>;
const schedulerSchema = z.strictObject({
  scheduler: z.string(),
  everyMs: z.number().int().nullable(),
  nextRunAt: z.number().int().nullable(),
  lastRun: z
    .strictObject({
      tickAt: z.number().int(),
      processedAt: z.number().int(),
      finishedAt: z.number().int(),
      delayMs: z.number().int(),
      failed: z.boolean(),
    })
    .nullable(),
});
const presenceSchema = z.strictObject({ topics: z.record(z.string(), z.number().int()) });
const readinessSchema = z.looseObject({
  ok: z.boolean(),
  status: z.enum(['ok', 'error', 'shutting_down']),
  redis: z.string(),
  tail: z.string(),
  topics: z.number().int(),
});

const ruleStateSchema = ruleSchema.extend({ setAt: z.number().int() });
const channelViewSchema = z.looseObject({
  channelId: z.string(),
  type: z.enum(['webhook', 'slack', 'email']),
  url: z.string().optional(),
  secret: z.literal('***').optional(),
  to: z.array(z.string()).optional(),
});
const silenceSchema = z.looseObject({
  id: z.string(),
  createdAt: z.number().int(),
  createdBy: z.string().optional(),
  matchers: z.record(z.string(), z.string()),
  comment: z.string(),
});

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
type Json = Record<string, unknown>;
const json = (schema: Json, description: string): Json => ({
  description,
  content: { 'application/json': { schema } },
});
const error = (description: string) => json(ref('Error'), description);
const topicParameter: Json = {
  name: 'topic',
  in: 'path',
  required: true,
  description: 'Topic name: 1-64 chars of a-z 0-9 . _ -, starting with a letter or digit',
  schema: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' },
};
const idPart = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' };
const ruleIdParameter: Json = { name: 'ruleId', in: 'path', required: true, schema: idPart };
const channelIdParameter: Json = { name: 'channelId', in: 'path', required: true, schema: idPart };
/** What every protected route may also answer. */
const guarded = {
  '401': error('UNAUTHORIZED: token missing, malformed, expired or invalid (`reason` says which)'),
  '403': error(
    "FORBIDDEN: the token's role or topics do not allow this (`reason`: ROLE_FORBIDDEN, TOPIC_FORBIDDEN, ORIGIN_FORBIDDEN)",
  ),
  '429': error('RATE_LIMITED: too many requests for this token; `retryAfterMs` and Retry-After say when to retry'),
};

/** The document served at /docs (and /docs-json). */
export function openApiDocument(): OpenAPIV3_1.Document {
  // openapi-types' 3.1 types mix in 3.0 ones: the document is built as plain JSON and typed once here.
  const document: Json = {
    openapi: '3.1.0',
    info: {
      title: 'Pulse gateway REST API',
      version: '1',
      description:
        'Append monitoring events to per-topic logs and read them back. The live feed is the Socket.IO protocol, described at /asyncapi.json. With auth on, every route except health and docs takes `Authorization: Bearer <token>` (mint one with `pulse token`).',
    },
    security: [{ bearer: [] }],
    paths: {
      '/api/v1/topics': {
        get: {
          operationId: 'listTopics',
          summary: 'Topics with events that the token covers, by name, a page at a time',
          tags: ['log'],
          parameters: [
            {
              name: 'cursor',
              in: 'query',
              description: 'The last topic of the previous page (from its Link header); absent for the first page',
              schema: { type: 'string' },
            },
            {
              name: 'limit',
              in: 'query',
              description: 'Most topics answered (at most PULSE_TOPICS_PAGE_MAX, 1000 by default)',
              schema: { type: 'integer', minimum: 1, default: 100 },
            },
          ],
          responses: {
            '200': {
              ...json(ref('TopicList'), 'One page: each topic with its head seq and epoch'),
              headers: {
                Link: {
                  description:
                    '`</api/v1/topics?cursor=…&limit=…>; rel="next"` when more topics follow; absent on the last page',
                  schema: { type: 'string' },
                },
              },
            },
            '400': error('BAD_REQUEST: a bad cursor or limit'),
            ...guarded,
            '503': error('UNAVAILABLE: Redis cannot be reached'),
          },
        },
      },
      '/api/v1/topics/{topic}/events': {
        post: {
          operationId: 'ingest',
          summary: `Append up to ${MAX_INGEST_BATCH} events atomically (publisher or admin); idempotency keys are the token's own (its sub; with auth off, the body's source)`,
          tags: ['log'],
          parameters: [topicParameter],
          requestBody: { required: true, content: { 'application/json': { schema: ref('IngestBody') } } },
          responses: {
            '201': json(
              ref('Appended'),
              'Every event got its seq (events with a known idempotencyKey answer the seq they got then)',
            ),
            '400': error(
              'BAD_REQUEST: `issues` names every wrong field (a meta over PULSE_MAX_META_BYTES too); or, nothing appended, `reason` INSTANCE_LIMIT (the batch would add an instance past PULSE_MAX_INSTANCES_PER_TOPIC) or TOPIC_LIMIT (it would create a topic past PULSE_MAX_TOPICS)',
            ),
            ...guarded,
            '429': error(
              'RATE_LIMITED: too many requests for this token, or (`reason` TOPIC_QUOTA) it created PULSE_TOPIC_QUOTA topics this window and this would be one more; `retryAfterMs` and Retry-After say when to retry',
            ),
            '413': error('BAD_REQUEST: the body is larger than PULSE_MAX_BODY_BYTES'),
            '503': error(
              'UNAVAILABLE: nothing was appended; retry (events with an idempotencyKey are appended at most once)',
            ),
          },
        },
        get: {
          operationId: 'events',
          summary: 'Events after a seq (viewer or admin)',
          tags: ['log'],
          parameters: [
            topicParameter,
            {
              name: 'after',
              in: 'query',
              description: 'Last seq the caller has (exclusive); 0 for the first event',
              schema: { type: 'integer', minimum: 0, default: 0 },
            },
            {
              name: 'limit',
              in: 'query',
              description: 'Most events answered',
              schema: { type: 'integer', minimum: 1, maximum: MAX_REPLAY_LIMIT, default: 100 },
            },
          ],
          responses: {
            '200': json(
              ref('EventsPage'),
              'Events after `after`, in seq order; a topic with no events is an empty log (`epoch: null, head: 0, events: []`)',
            ),
            '400': error('BAD_REQUEST: a bad query, or `after` beyond the head'),
            ...guarded,
            '410': error('NOT_FOUND: those events are no longer retained; read the snapshot'),
            '503': error('UNAVAILABLE'),
          },
        },
      },
      '/api/v1/topics/{topic}/snapshot': {
        get: {
          operationId: 'snapshot',
          summary: "The fold of the topic's log up to `seq` (viewer or admin)",
          tags: ['log'],
          parameters: [topicParameter],
          responses: {
            '200': json(
              ref('Snapshot'),
              'Status, statistics and instances as of `seq`; `seq: 0, epoch: null` and empty state for a topic with no events',
            ),
            ...guarded,
            '503': error('UNAVAILABLE'),
          },
        },
      },
      '/api/v1/topics/{topic}/series': {
        get: {
          operationId: 'series',
          summary:
            "The topic's history at one step: every bucket of [from, to), zeros where nothing happened (viewer or admin)",
          tags: ['history'],
          parameters: [
            topicParameter,
            {
              name: 'step',
              in: 'query',
              description:
                'Bucket size; 1m buckets are kept 48 h, 1h 90 d, 1d 730 d by default (PULSE_SERIES_RETENTION)',
              schema: { type: 'string', enum: [...SERIES_STEPS], default: '1m' },
            },
            {
              name: 'from',
              in: 'query',
              description: 'Start, ms since 1970, rounded down to the step; default: 60 steps before `to`',
              schema: { type: 'integer', minimum: 0 },
            },
            {
              name: 'to',
              in: 'query',
              description: 'End (exclusive), ms since 1970; default: now',
              schema: { type: 'integer', minimum: 0 },
            },
          ],
          responses: {
            '200': json(
              ref('Series'),
              `One point per bucket (at most ${MAX_SERIES_POINTS}); a topic with no events reads as zeros with null gauges`,
            ),
            '400': error(
              `BAD_REQUEST: a step other than ${SERIES_STEPS.join(', ')}, from after to, a number that is not one, or more than ${MAX_SERIES_POINTS} points`,
            ),
            ...guarded,
            '503': error('UNAVAILABLE'),
          },
        },
      },
      '/api/v1/topics/{topic}/instances/{instanceId}': {
        get: {
          operationId: 'instance',
          summary:
            'One instance: its state, uptime over 24 h / 7 d / 30 d (since first seen, from its offline transitions) and its hours (viewer or admin)',
          tags: ['history'],
          parameters: [
            topicParameter,
            {
              name: 'instanceId',
              in: 'path',
              required: true,
              schema: { type: 'string', minLength: 1, maxLength: 128 },
            },
            {
              name: 'from',
              in: 'query',
              description: 'Start of the hourly series, ms since 1970; default: 24 h before `to`',
              schema: { type: 'integer', minimum: 0 },
            },
            {
              name: 'to',
              in: 'query',
              description: 'End (exclusive) of the hourly series; default: now',
              schema: { type: 'integer', minimum: 0 },
            },
          ],
          responses: {
            '200': json(ref('InstanceHistory'), 'The instance'),
            '400': error('BAD_REQUEST: a bad range'),
            ...guarded,
            '404': error(
              'NOT_FOUND: the topic has no such instance (never seen, or removed after PULSE_INSTANCE_FORGET_MS offline)',
            ),
            '503': error('UNAVAILABLE'),
          },
        },
      },
      '/api/v1/topics/{topic}/uptime': {
        get: {
          operationId: 'uptime',
          summary:
            "Every instance's uptime over one window, for a fleet table: one request, not one per instance (viewer or admin)",
          tags: ['history'],
          parameters: [
            topicParameter,
            { name: 'window', in: 'query', schema: { type: 'string', enum: ['24h', '7d', '30d'], default: '24h' } },
          ],
          responses: {
            '200': json(ref('UptimeList'), 'Instances sorted by id, uptime in percent'),
            '400': error('BAD_REQUEST: another window'),
            ...guarded,
            '503': error('UNAVAILABLE'),
          },
        },
      },
      '/api/v1/topics/{topic}/rules': {
        get: {
          operationId: 'listRules',
          summary: "The topic's alert rules, sorted by id, and the seq they reflect (viewer or admin)",
          tags: ['alerts'],
          parameters: [topicParameter],
          responses: {
            '200': json(
              jsonSchema(z.strictObject({ topic: z.string(), seq: z.number().int(), rules: z.array(ruleStateSchema) })),
              'The rules',
            ),
            ...guarded,
            '503': error('UNAVAILABLE'),
          },
        },
      },
      '/api/v1/topics/{topic}/rules/{ruleId}': {
        put: {
          operationId: 'putRule',
          summary: `Create or replace a rule: appends \`rule.set\` (admin). Kinds: ${RULE_KINDS.join(', ')}`,
          tags: ['alerts'],
          parameters: [topicParameter, ruleIdParameter],
          requestBody: { required: true, content: { 'application/json': { schema: ref('RuleBody') } } },
          responses: {
            '200': json(
              jsonSchema(z.strictObject({ seq: z.number().int(), rule: ruleSchema })),
              'Appended: the rule with every default filled in',
            ),
            '400': error(
              'BAD_REQUEST naming the field: unknown kind, params missing or out of range for the kind, an unknown channel; or `reason` RULE_LIMIT (a new rule id on a topic holding PULSE_MAX_RULES_PER_TOPIC rules); nothing appended',
            ),
            ...guarded,
            '503': error('UNAVAILABLE: nothing appended'),
          },
        },
        delete: {
          operationId: 'deleteRule',
          summary: 'Remove a rule: appends `rule.removed`; its firing alerts resolve at the next tick (admin)',
          tags: ['alerts'],
          parameters: [topicParameter, ruleIdParameter],
          responses: {
            '200': json(jsonSchema(z.strictObject({ seq: z.number().int() })), 'Appended'),
            ...guarded,
            '404': error('NOT_FOUND: no such rule'),
            '503': error('UNAVAILABLE'),
          },
        },
      },
      '/api/v1/channels': {
        get: {
          operationId: 'listChannels',
          summary: 'Notification channels, secrets masked (admin)',
          tags: ['alerts'],
          responses: {
            '200': json(jsonSchema(z.array(channelViewSchema)), 'The channels'),
            ...guarded,
            '503': error('UNAVAILABLE'),
          },
        },
      },
      '/api/v1/channels/{channelId}': {
        put: {
          operationId: 'putChannel',
          summary:
            'Create or replace a channel: webhook (url, secret: signs Pulse-Signature), slack (incoming-webhook url) or email (to; sent through PULSE_SMTP_URL) (admin)',
          tags: ['alerts'],
          parameters: [channelIdParameter],
          requestBody: { required: true, content: { 'application/json': { schema: ref('ChannelBody') } } },
          responses: {
            '200': json(jsonSchema(channelViewSchema), 'Stored; the secret is never answered'),
            '400': error('BAD_REQUEST naming the field: a type, a URL that is not http(s), a short secret, an address'),
            ...guarded,
            '503': error('UNAVAILABLE'),
          },
        },
      },
      '/api/v1/channels/{channelId}/test': {
        post: {
          operationId: 'testChannel',
          summary: 'Queue a test message to the channel: a notify job of kind `test` (admin)',
          tags: ['alerts'],
          parameters: [channelIdParameter],
          responses: {
            '202': json(
              jsonSchema(z.strictObject({ jobId: z.string() })),
              'Queued; Bull Board (/admin/queues) shows how it went',
            ),
            ...guarded,
            '404': error('NOT_FOUND: no such channel'),
            '503': error('UNAVAILABLE'),
          },
        },
      },
      '/api/v1/silences': {
        get: {
          operationId: 'listSilences',
          summary: 'Every silence, oldest first (viewer or admin)',
          tags: ['alerts'],
          responses: {
            '200': json(jsonSchema(z.array(silenceSchema)), 'The silences'),
            ...guarded,
            '503': error('UNAVAILABLE'),
          },
        },
        post: {
          operationId: 'createSilence',
          summary:
            'Suppress matching notifications (never alert state or events) within [startsAt, endsAt), or for durationMs after each occurrence of a 5-field cron in timeZone (admin)',
          tags: ['alerts'],
          requestBody: { required: true, content: { 'application/json': { schema: ref('SilenceBody') } } },
          responses: {
            '200': json(jsonSchema(z.strictObject({ id: z.string() })), 'Created'),
            '400': error(
              'BAD_REQUEST naming the field: endsAt before startsAt, a cron that does not parse, an unknown time zone',
            ),
            ...guarded,
            '503': error('UNAVAILABLE'),
          },
        },
      },
      '/api/v1/silences/{id}': {
        delete: {
          operationId: 'deleteSilence',
          summary: 'Delete a silence (admin)',
          tags: ['alerts'],
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
          responses: {
            '200': json(jsonSchema(z.strictObject({ id: z.string() })), 'Deleted'),
            ...guarded,
            '404': error('NOT_FOUND: no such silence'),
          },
        },
      },
      '/api/v1/admin/presence': {
        get: {
          operationId: 'presence',
          summary: 'Sockets live on each topic across all gateways (admin)',
          tags: ['admin'],
          responses: { '200': json(jsonSchema(presenceSchema), 'Viewers per topic'), ...guarded },
        },
      },
      '/api/v1/admin/scheduler': {
        get: {
          operationId: 'scheduler',
          summary: 'The monitor-tick scheduler: interval, next run, last run and its delay (admin)',
          tags: ['admin'],
          responses: { '200': json(jsonSchema(schedulerSchema), 'Scheduler state from BullMQ'), ...guarded },
        },
      },
      '/api/v1/admin/tick': {
        post: {
          operationId: 'tick',
          summary: 'Run a monitor tick now on a worker and answer its summary (admin)',
          tags: ['admin'],
          responses: {
            '200': json(jsonSchema(tickSummarySchema), 'The tick ran'),
            ...guarded,
            '503': error('UNAVAILABLE: no worker ran it in time'),
          },
        },
      },
      '/api/v1/admin/topics/{topic}/rebuild': {
        post: {
          operationId: 'rebuild',
          summary: 'Fold the log again and compare with the live projection; `apply=1` replaces it (admin)',
          tags: ['admin'],
          parameters: [
            topicParameter,
            { name: 'apply', in: 'query', schema: { type: 'string', enum: ['0', '1', 'true', 'false'] } },
          ],
          responses: {
            '200': {
              description: 'NDJSON: `{ folded, head }` progress lines, then `{ seq, drift, applied, moved }`',
              content: { 'application/x-ndjson': { schema: { type: 'string' } } },
            },
            ...guarded,
            '404': error('NOT_FOUND: the topic has no events'),
          },
        },
      },
      '/healthz': {
        get: {
          operationId: 'healthz',
          summary: 'The process is alive',
          tags: ['operations'],
          security: [],
          responses: {
            '200': json({ type: 'object', properties: { ok: { const: true }, status: { type: 'string' } } }, 'Alive'),
          },
        },
      },
      '/readyz': {
        get: {
          operationId: 'readyz',
          summary: 'Redis answers and the log tail reads',
          tags: ['operations'],
          security: [],
          responses: {
            '200': json(jsonSchema(readinessSchema), 'Ready'),
            '503': json(
              jsonSchema(readinessSchema),
              'Not ready: `redis` and `tail` say which part is wrong (why is in the gateway log)',
            ),
          },
        },
      },
      '/metrics': {
        get: {
          operationId: 'metrics',
          summary: 'Prometheus metrics of this gateway (metrics or admin token)',
          tags: ['operations'],
          responses: {
            '200': { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } },
            ...guarded,
          },
        },
      },
      '/asyncapi.json': {
        get: {
          operationId: 'asyncapi',
          summary: 'AsyncAPI 3 document of the Socket.IO protocol',
          tags: ['operations'],
          security: [],
          responses: { '200': json({ type: 'object' }, 'The document') },
        },
      },
    },
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            'A Pulse token: claims sub, role (viewer, publisher, metrics, admin), topics (patterns, * as wildcard), exp',
        },
      },
      schemas: {
        IngestBody: jsonSchema(ingestBodySchema, 'draft-2020-12', 'input'),
        Appended: jsonSchema(appendedSchema),
        Event: jsonSchema(eventSchema),
        EventsPage: jsonSchema(eventsPageSchema),
        Snapshot: jsonSchema(snapshotSchema),
        TopicList: jsonSchema(topicListSchema),
        Series: jsonSchema(seriesSchema),
        InstanceHistory: jsonSchema(instanceHistorySchema),
        UptimeList: jsonSchema(uptimeListSchema),
        Error: jsonSchema(errorBodySchema),
        RuleBody: jsonSchema(ruleBodySchema, 'draft-2020-12', 'input'),
        ChannelBody: jsonSchema(channelBodySchema, 'draft-2020-12', 'input'),
        SilenceBody: jsonSchema(silenceBodySchema, 'draft-2020-12', 'input'),
        ActiveAlert: jsonSchema(activeAlertSchema),
      },
    },
  };
  return document as unknown as OpenAPIV3_1.Document;
}
