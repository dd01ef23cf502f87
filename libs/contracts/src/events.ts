// The event envelope, every event type with its data schema, and the projections they fold into.
import { z } from 'zod';
import { alertFiringDataSchema, alertResolvedDataSchema, ruleRemovedDataSchema, ruleSchema, type ActiveAlert } from './alerts.js';
import { topicSchema } from './topic.js';

/** An identifier chosen by a producer: instance ids, idempotency keys, sources. */
const idSchema = z.string().min(1).max(128).regex(/^[A-Za-z0-9][A-Za-z0-9._:@/-]*$/, 'expected 1-128 chars of A-Z a-z 0-9 . _ : @ / -');
/** Ms since 1970; below 1e14 (year 5138) so that Redis's Lua JSON (14 significant digits) keeps it exact. */
const msSchema = z.number().int().min(0).max(99_999_999_999_999);
const countSchema = z.number().int().min(0);

/** Instance statuses a heartbeat may report; `offline` is also derived by the tick. */
export const instanceStatusSchema = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'expected a status: 1-32 chars of a-z 0-9 _ -');

// ---- facts reported by monitored instances (accepted by ingest) ----

export const heartbeatDataSchema = z.strictObject({
  instanceId: idSchema,
  status: instanceStatusSchema.optional(),
  nextActionAt: msSchema.optional(),
  /** Free-form labels shown with the instance (version, host…); strings and booleans only. */
  meta: z
    .unknown()
    // JSON.parse makes `__proto__` an own key, and zod's record would drop it silently: refuse it.
    .refine((value) => !(typeof value === 'object' && value !== null && Object.hasOwn(value, '__proto__')), 'key __proto__ is not allowed')
    .pipe(
      z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,32}$/, 'expected a key of 1-32 chars A-Z a-z 0-9 _ . -'), z.union([z.string().max(256), z.boolean()]))
    .refine((meta) => Object.keys(meta).length <= 16, 'at most 16 keys'),
    )
    .optional(),
});

export const attemptDataSchema = z.strictObject({
  instanceId: idSchema,
  outcome: z.enum(['success', 'failure']),
  durationMs: z.number().min(0).max(8.64e7).optional(),
  error: z.string().max(500).optional(),
});

// ---- events derived by the monitor tick (never accepted by ingest) ----

export const instanceStateSchema = z.strictObject({
  id: z.string(),
  status: z.string(),
  last_seen: msSchema,
  next_action_at: msSchema.nullable(),
  attempts: countSchema,
  successes: countSchema,
  failures: countSchema,
  meta: z.record(z.string(), z.union([z.string(), z.boolean()])).optional(),
});

export const statisticsSchema = z.strictObject({
  total_attempts: countSchema,
  successful: countSchema,
  failed: countSchema,
  /** Percent of attempts that succeeded, two decimals; 0 when there were none. */
  success_rate: z.number().min(0).max(100),
  active_instances: countSchema,
});

export const offlineDataSchema = z.strictObject({ instanceId: z.string(), last_seen: msSchema, ttl_ms: countSchema });

/** An instance offline for longer than PULSE_INSTANCE_FORGET_MS leaves the table; its history stays in the series. */
export const removedDataSchema = z.strictObject({ instanceId: z.string(), last_seen: msSchema });

export const statusDataSchema = z.strictObject({
  monitoring_active: z.boolean(),
  loop_count: countSchema,
  active_instances: countSchema,
  tick_at: msSchema,
  next_tick_at: msSchema,
});

export const instancesDataSchema = z.strictObject({ instances: z.array(instanceStateSchema) });

/** Data schema of every event type, by type name. */
export const EVENT_DATA_SCHEMAS = {
  'instance.heartbeat': heartbeatDataSchema,
  'attempt.recorded': attemptDataSchema,
  'instance.offline': offlineDataSchema,
  'instance.removed': removedDataSchema,
  status_update: statusDataSchema,
  statistics_update: statisticsSchema,
  instances_update: instancesDataSchema,
  /** A rule of the topic was created or replaced (REST, admin). */
  'rule.set': ruleSchema,
  /** A rule was removed; its firing alerts resolve at the next tick. */
  'rule.removed': ruleRemovedDataSchema,
  /** An alert fired (derived by the tick). */
  'alert.firing': alertFiringDataSchema,
  /** A firing alert resolved (derived by the tick). */
  'alert.resolved': alertResolvedDataSchema,
} as const;

export type EventType = keyof typeof EVENT_DATA_SCHEMAS;
export type EventData<T extends EventType = EventType> = z.infer<(typeof EVENT_DATA_SCHEMAS)[T]>;
export type HeartbeatData = z.infer<typeof heartbeatDataSchema>;
export type AttemptData = z.infer<typeof attemptDataSchema>;
export type InstanceState = z.infer<typeof instanceStateSchema>;
export type Statistics = z.infer<typeof statisticsSchema>;
export type StatusData = z.infer<typeof statusDataSchema>;

/** Event types a producer may post; the rest are derived by the tick. */
export const INGEST_EVENT_TYPES = ['instance.heartbeat', 'attempt.recorded'] as const;
export type IngestEventType = (typeof INGEST_EVENT_TYPES)[number];

/** One event of the log as every client sees it. */
export interface PulseEvent<T = unknown> {
  topic: string;
  /** Contiguous per topic (and epoch), from 1. */
  seq: number;
  /** The life of this topic's log; a different epoch means a different log. */
  epoch: string;
  type: string;
  /** Ms since 1970, set at append. */
  ts: number;
  data: T;
  /** Producer id, when the producer gave one. */
  source?: string;
}

export const pulseEventSchema = z.strictObject({
  topic: topicSchema,
  seq: z.number().int().min(1),
  epoch: z.string().min(1),
  type: z.enum(Object.keys(EVENT_DATA_SCHEMAS) as [EventType, ...EventType[]]),
  ts: msSchema,
  data: z.unknown(),
  source: z.string().optional(),
});

const ingestEventSchema = z.discriminatedUnion(
  'type',
  [
    z.strictObject({ type: z.literal('instance.heartbeat'), data: heartbeatDataSchema, idempotencyKey: idSchema.optional() }),
    z.strictObject({ type: z.literal('attempt.recorded'), data: attemptDataSchema, idempotencyKey: idSchema.optional() }),
  ],
  { error: `expected type to be one of: ${INGEST_EVENT_TYPES.join(', ')}` },
);
export type IngestEvent = z.infer<typeof ingestEventSchema>;

/** Most events one ingest request may carry. */
export const MAX_INGEST_BATCH = 500;

/** Body of `POST /api/v1/topics/:topic/events`. */
export const ingestBodySchema = z.strictObject({
  events: z.array(ingestEventSchema).min(1).max(MAX_INGEST_BATCH),
  source: idSchema.optional(),
});
export type IngestBody = z.infer<typeof ingestBodySchema>;

/** What a dashboard shows: the fold of events 1..seq of one topic's log. */
export interface Snapshot {
  topic: string;
  epoch: string;
  /** The last event folded into this state. */
  seq: number;
  /** The last tick's status, or null before the first tick. */
  status: Omit<StatusData, 'active_instances'> | null;
  statistics: Statistics;
  /** Sorted by id. */
  instances: InstanceState[];
  /** The firing alerts, sorted by alertId (every snapshot of this version has it; absent from older gateways'). */
  alerts?: ActiveAlert[];
}
