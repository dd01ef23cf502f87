// The event envelope, every event type with its data schema, and the projections they fold into.
import { z } from 'zod';
import { textSchema } from './text.js';
import {
  alertFiringDataSchema,
  alertResolvedDataSchema,
  ruleRemovedDataSchema,
  ruleSchema,
  type ActiveAlert,
} from './alerts.js';
import { topicSchema } from './topic.js';

/** An identifier chosen by a producer: instance ids, idempotency keys, sources. */
export const idSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:@/-]*$/, 'expected 1-128 chars of A-Z a-z 0-9 . _ : @ / -');
/** Ms since 1970; below 1e14 (year 5138) so that Redis's Lua JSON (14 significant digits) keeps it exact. */
const msSchema = z.number().int().min(0).max(99_999_999_999_999);
const countSchema = z.number().int().min(0);

/** Instance statuses a heartbeat may report; `offline` is also derived by the tick. */
export const instanceStatusSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,31}$/, 'expected a status: 1-32 chars of a-z 0-9 _ -');

// ---- facts reported by monitored instances (accepted by ingest) ----

export const heartbeatDataSchema = z.strictObject({
  instanceId: idSchema,
  status: instanceStatusSchema.optional(),
  nextActionAt: msSchema.optional(),
  /** Free-form labels shown with the instance (version, host…); strings and booleans only. */
  meta: z
    .unknown()
    // JSON.parse makes `__proto__` an own key, and zod's record would drop it silently: refuse it.
    .refine(
      (value) => !(typeof value === 'object' && value !== null && Object.hasOwn(value, '__proto__')),
      'key __proto__ is not allowed',
    )
    .pipe(
      z
        .record(
          z.string().regex(/^[A-Za-z0-9_.-]{1,32}$/, 'expected a key of 1-32 chars A-Z a-z 0-9 _ . -'),
          z.union([textSchema(256), z.boolean()]),
        )
        .refine((meta) => Object.keys(meta).length <= 16, 'at most 16 keys'),
    )
    .optional(),
});

export const attemptDataSchema = z.strictObject({
  instanceId: idSchema,
  outcome: z.enum(['success', 'failure']),
  durationMs: z.number().min(0).max(8.64e7).optional(),
  error: textSchema(500).optional(),
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

/**
 * A tick's instance table: `full` (the whole table; entries written before this field existed,
 * without it, were whole too) or only the instances changed since the previous instances_update,
 * with the ids the tick removed. Fold it with foldInstancesUpdate; a snapshot is always whole.
 */
export const instancesDataSchema = z.strictObject({
  instances: z.array(instanceStateSchema),
  /** True: the whole table; false: the changes since the previous one. Absent (entries written before it existed): whole. */
  full: z.boolean().optional(),
  /** Ids removed since the previous instances_update (only when not full). */
  removed: z.array(z.string()).optional(),
});
export type InstancesData = z.infer<typeof instancesDataSchema>;

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

/** Every event type: the one list of their names (the keys of EVENT_DATA_SCHEMAS). */
export const EVENT_TYPES = Object.keys(EVENT_DATA_SCHEMAS) as EventType[];

/** Whether `type` names an event type. */
export function isEventType(type: string): type is EventType {
  return Object.hasOwn(EVENT_DATA_SCHEMAS, type);
}
export type HeartbeatData = z.infer<typeof heartbeatDataSchema>;
export type AttemptData = z.infer<typeof attemptDataSchema>;
export type InstanceState = z.infer<typeof instanceStateSchema>;
export type Statistics = z.infer<typeof statisticsSchema>;
export type StatusData = z.infer<typeof statusDataSchema>;

/** Event types a producer may post; the rest are derived by the tick. */
export const INGEST_EVENT_TYPES = ['instance.heartbeat', 'attempt.recorded'] as const;
export type IngestEventType = (typeof INGEST_EVENT_TYPES)[number];

/** One event of the log of type `T`. */
export interface EventEnvelope<T extends EventType> {
  topic: string;
  /** Contiguous per topic (and epoch), from 1. */
  seq: number;
  /** The life of this topic's log; a different epoch means a different log. */
  epoch: string;
  type: T;
  /** Ms since 1970, set at append. */
  ts: number;
  data: EventData<T>;
  /** Producer id, when the producer gave one. */
  source?: string;
}

/** One event of the log as every client sees it: `type` discriminates `data` (one member per type of EVENT_DATA_SCHEMAS). */
export type PulseEvent<T extends EventType = EventType> = { [K in T]: EventEnvelope<K> }[T];

const envelopeShape = {
  topic: topicSchema,
  seq: z.number().int().min(1),
  epoch: z.string().min(1),
  ts: msSchema,
  source: z.string().optional(),
};

/** The schema of one event type's envelope, its `data` the type's own schema. */
export function eventSchemaOf<T extends EventType>(type: T) {
  return z.strictObject({ ...envelopeShape, type: z.literal(type), data: EVENT_DATA_SCHEMAS[type] });
}

/**
 * Any event of the log: one member per type of EVENT_DATA_SCHEMAS, `type` discriminating `data`.
 * (Each member is eventSchemaOf(type), whose output is PulseEvent<type>; the compiler cannot follow
 * that through a map over the types, hence the conversion.)
 */
export const pulseEventSchema: z.ZodType<PulseEvent> = z.union(
  EVENT_TYPES.map((type) => eventSchemaOf(type)) as unknown as [z.ZodType<PulseEvent>, ...z.ZodType<PulseEvent>[]],
);

const ingestEventSchema = z.discriminatedUnion(
  'type',
  [
    z.strictObject({
      type: z.literal('instance.heartbeat'),
      data: heartbeatDataSchema,
      idempotencyKey: idSchema.optional(),
    }),
    z.strictObject({
      type: z.literal('attempt.recorded'),
      data: attemptDataSchema,
      idempotencyKey: idSchema.optional(),
    }),
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
  /** The life of the log this state comes from; null while the topic has no events (seq 0). */
  epoch: string | null;
  /** The last event folded into this state; 0 for a topic with no events. */
  seq: number;
  /** The last tick's status, or null before the first tick. */
  status: Omit<StatusData, 'active_instances'> | null;
  statistics: Statistics;
  /** Sorted by id. */
  instances: InstanceState[];
  /** The firing alerts, sorted by alertId (every snapshot of this version has it; absent from older gateways'). */
  alerts?: ActiveAlert[];
}
