// Runtime schemas of what the gateway answers, built from the contracts' schemas and checked against their types: the API documents are generated from these.
import { z } from 'zod';
import {
  activeAlertSchema,
  ERROR_CODES,
  ERROR_REASONS,
  EVENT_DATA_SCHEMAS,
  instanceStateSchema,
  MAX_REPLAY_LIMIT,
  eventSchemaOf,
  pulseEventSchema,
  replayRequestSchema,
  statisticsSchema,
  statusDataSchema,
  subscribeRequestSchema,
  topicSchema,
  unsubscribeRequestSchema,
  MAX_SERIES_POINTS,
  SERIES_STEPS,
  type ErrorBody,
  type Hello,
  type InstanceHistory,
  type SeriesResponse,
  type UptimeList,
  type ReplayOk,
  type ResyncReason,
  type Snapshot,
  type SubscribeOk,
} from '#pulse/contracts';

export { ingestBodySchema } from '#pulse/contracts';
export { replayRequestSchema, subscribeRequestSchema, unsubscribeRequestSchema };

const epochSchema = z.string().min(1);
/** A log position's epoch: null while the topic has no events (any valid topic is a log, possibly empty). */
const logEpochSchema = epochSchema
  .nullable()
  .describe('the life of the log; null while the topic has no events (seq 0)');
const seqSchema = z.number().int().min(0);

export const eventSchema = pulseEventSchema;

export const errorBodySchema = z.strictObject({
  ok: z.literal(false),
  code: z.enum(ERROR_CODES),
  message: z.string(),
  issues: z.array(z.strictObject({ path: z.string(), message: z.string() })).optional(),
  reason: z
    .enum(Object.keys(ERROR_REASONS) as [keyof typeof ERROR_REASONS, ...(keyof typeof ERROR_REASONS)[]])
    .optional(),
  retryAfterMs: z.number().int().min(0).optional(),
  protocol: z.number().int().min(1).optional(),
}) satisfies z.ZodType<ErrorBody>;

export const helloSchema = z.strictObject({ protocol: z.number().int().min(1) }) satisfies z.ZodType<Hello>;

export const snapshotSchema = z.strictObject({
  topic: topicSchema,
  epoch: logEpochSchema,
  seq: seqSchema,
  status: statusDataSchema.omit({ active_instances: true }).nullable(),
  statistics: statisticsSchema,
  instances: z.array(instanceStateSchema),
  alerts: z.array(activeAlertSchema).optional(),
}) satisfies z.ZodType<Snapshot>;

export const appendedSchema = z.strictObject({ epoch: epochSchema, seqs: z.array(z.number().int().min(1)) });
export const eventsPageSchema = z.strictObject({
  epoch: logEpochSchema,
  head: seqSchema,
  events: z.array(eventSchema).max(MAX_REPLAY_LIMIT),
});
export const topicListSchema = z.array(z.strictObject({ topic: topicSchema, head: seqSchema, epoch: epochSchema }));

export const subscribeOkSchema = z.strictObject({
  ok: z.literal(true),
  topic: topicSchema,
  epoch: logEpochSchema,
  head: seqSchema,
  recovered: z.boolean(),
  snapshot: snapshotSchema.optional(),
  events: z.array(eventSchema),
}) satisfies z.ZodType<SubscribeOk>;
export const replayOkSchema = z.strictObject({
  ok: z.literal(true),
  topic: topicSchema,
  epoch: logEpochSchema,
  head: seqSchema,
  events: z.array(eventSchema),
}) satisfies z.ZodType<ReplayOk>;
export const unsubscribeOkSchema = z.strictObject({ ok: z.literal(true), topic: topicSchema });

export const presenceSchema = z.strictObject({ topic: topicSchema, viewers: z.number().int().min(0) });
export const resyncSchema = z.strictObject({
  topic: topicSchema,
  reason: z.enum(['epoch_changed', 'log_lost', 'trimmed'] satisfies ResyncReason[]),
});

/** An event envelope whose `data` is the given type's schema. */
export const typedEventSchema = (type: keyof typeof EVENT_DATA_SCHEMAS): z.ZodType => eventSchemaOf(type);

/** A zod schema as plain JSON Schema (no `$schema`), for embedding in an API document. */
export function jsonSchema(
  schema: z.ZodType,
  target: 'draft-2020-12' | 'draft-7' = 'draft-2020-12',
  io: 'input' | 'output' = 'output',
): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { target, io, unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return rest;
}

const countSchema = z.number().int().min(0);
const gaugeSchema = countSchema.nullable();

export const seriesSchema = z.strictObject({
  topic: topicSchema,
  step: z.enum(SERIES_STEPS),
  from: z.number().int(),
  to: z.number().int(),
  seq: z
    .number()
    .int()
    .min(0)
    .describe("the topic's head when the buckets were read: they count exactly the events up to it"),
  points: z
    .array(
      z.strictObject({
        t: z.number().int(),
        attempts: countSchema,
        successes: countSchema,
        failures: countSchema,
        success_rate: z.number().min(0).max(100),
        duration_avg: z.number().min(0),
        duration_count: countSchema,
        duration_max: z.number().min(0),
        active_instances: gaugeSchema,
        known_instances: gaugeSchema,
      }),
    )
    .max(MAX_SERIES_POINTS),
}) satisfies z.ZodType<SeriesResponse>;

const percentSchema = z.number().min(0).max(100);
export const instanceHistorySchema = instanceStateSchema.extend({
  topic: topicSchema,
  first_seen: z.number().int().nullable(),
  offline_since: z.number().int().nullable(),
  uptime: z.strictObject({ '24h': percentSchema, '7d': percentSchema, '30d': percentSchema }),
  series: z.strictObject({
    step: z.literal('1h'),
    from: z.number().int(),
    to: z.number().int(),
    points: z
      .array(
        z.strictObject({ t: z.number().int(), attempts: countSchema, failures: countSchema, offline_ms: countSchema }),
      )
      .max(MAX_SERIES_POINTS),
  }),
}) satisfies z.ZodType<InstanceHistory>;

export const uptimeListSchema = z.strictObject({
  topic: topicSchema,
  window: z.enum(['24h', '7d', '30d']),
  at: z.number().int(),
  instances: z.array(z.strictObject({ id: z.string(), uptime: percentSchema })),
}) satisfies z.ZodType<UptimeList>;
