// The socket protocol (namespace `/`): request schemas, ack shapes and typed event maps for both directions.
import { z } from 'zod';
import type { ErrorBody } from './errors.js';
import type { EventType, PulseEvent, Snapshot } from './events.js';
import { topicSchema } from './topic.js';
import type { Hello } from './version.js';

/** Most events `replay` answers with. */
export const MAX_REPLAY_LIMIT = 1000;
/** Most missed events a `subscribe` with `since` replays; past it the answer is `recovered: false` and a snapshot. */
export const MAX_RESUME_EVENTS = 10_000;

const seqSchema = z
  .number({ error: (issue) => (issue.code === 'invalid_type' ? 'expected a whole number' : undefined) })
  // zod's int() is a safe integer: it refuses whole numbers past 2^53 - 1 too, and says so.
  .int(`expected a whole number up to ${Number.MAX_SAFE_INTEGER}`)
  .min(0, 'expected a whole number >= 0');

/** A resume position: the last event a client has, and the log it came from. */
export const resumePositionSchema = z.strictObject({
  seq: seqSchema,
  epoch: z
    .string({ error: (issue) => (issue.code === 'invalid_type' ? 'expected an epoch (string)' : undefined) })
    .min(1, 'expected an epoch of 1-64 chars')
    .max(64, 'expected an epoch of 1-64 chars'),
});
export type ResumePosition = z.infer<typeof resumePositionSchema>;

export const subscribeRequestSchema = z.strictObject({
  topic: topicSchema,
  since: resumePositionSchema.optional(),
  /** Receive `events` frames (arrays, in seq order) instead of one message per event. @default false */
  batch: z
    .boolean()
    .optional()
    .describe(
      'receive `events` frames (arrays of events, in seq order) instead of one message per event; default false',
    ),
  /** Receive `presence` frames (the topic's viewer count across all gateways, when it changes). @default false */
  presence: z
    .boolean()
    .optional()
    .describe(
      "receive `presence { topic, viewers }` frames, the topic's viewers across all gateways, when it changes; default false (a socket that does not ask gets none)",
    ),
});
export type SubscribeRequest = z.infer<typeof subscribeRequestSchema>;

export const replayRequestSchema = z.strictObject({
  topic: topicSchema,
  /** First seq wanted (inclusive); seqs start at 1. */
  fromSeq: seqSchema.min(1, 'expected a seq >= 1'),
  /** @default 1000 */
  limit: z.number().int().min(1).max(MAX_REPLAY_LIMIT).optional(),
});
export type ReplayRequest = z.infer<typeof replayRequestSchema>;

export const unsubscribeRequestSchema = z.strictObject({ topic: topicSchema });
export type UnsubscribeRequest = z.infer<typeof unsubscribeRequestSchema>;

export interface SubscribeOk {
  ok: true;
  topic: string;
  /** Null while the topic has no events: its first events, from seq 1, carry the epoch their append created. */
  epoch: string | null;
  /** The log's last seq when the answer was made (0 for a topic with no events). */
  head: number;
  /** True when `events` continue exactly from `since`; false when a snapshot replaces the history. */
  recovered: boolean;
  /** Present when not recovered (or no `since` was given). */
  snapshot?: Snapshot;
  /** Events after `since` (empty without `since`), in seq order; live events follow from the last one. */
  events: PulseEvent[];
}
export type SubscribeAck = SubscribeOk | ErrorBody;

export interface ReplayOk {
  ok: true;
  topic: string;
  /** Null while the topic has no events. */
  epoch: string | null;
  head: number;
  events: PulseEvent[];
}
export type ReplayAck = ReplayOk | ErrorBody;
export type UnsubscribeAck = { ok: true; topic: string } | ErrorBody;

/** Why continuity was lost, in a `resync`. */
export type ResyncReason = 'epoch_changed' | 'log_lost' | 'trimmed';

/** Without batch mode, each event arrives under its own type name. */
type EventFrames = { [T in EventType]: (event: PulseEvent<T>) => void };

/** Server → client events: the event frames of every type (derived from EVENT_DATA_SCHEMAS), and these. */
export interface ServerToClientEvents extends EventFrames {
  /** The first message on every connection: the gateway's protocol version (PROTOCOL_VERSION). */
  hello: (hello: Hello) => void;
  /** Batch mode: every pending event of one topic, in seq order. */
  events: (events: PulseEvent[]) => void;
  /**
   * How many sockets, across all gateways, are live on `topic` (whether they asked for presence or
   * not); sent when it changes, only to the sockets that subscribed with `presence: true`.
   */
  presence: (info: { topic: string; viewers: number }) => void;
  /** Continuity is lost for `topic`: subscribe again (without `since`) for a snapshot. */
  resync: (notice: { topic: string; reason: ResyncReason }) => void;
}

/** Client → server events; each answers through its ack. */
export interface ClientToServerEvents {
  subscribe: (request: SubscribeRequest, ack: (answer: SubscribeAck) => void) => void;
  replay: (request: ReplayRequest, ack: (answer: ReplayAck) => void) => void;
  unsubscribe: (request: UnsubscribeRequest, ack: (answer: UnsubscribeAck) => void) => void;
}
