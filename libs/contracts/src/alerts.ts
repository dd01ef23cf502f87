// Alerts: rules (events rule.set / rule.removed), transitions (alert.firing / alert.resolved), channels, silences and what a notification carries.
import { z } from 'zod';
import { textSchema } from './text.js';

/** Ids of rules, channels and silences: also parts of alert ids and job ids, so no ':'. */
export const alertIdPartSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'expected 1-64 chars of A-Z a-z 0-9 . _ -');
const msSchema = z.number().int().min(0).max(99_999_999_999_999);
/** A duration in ms from `min` to `max` (inclusive). */
const durationMs = (min: number, max: number) =>
  z.number().int(`expected whole ms`).min(min, `expected at least ${min} ms`).max(max, `expected at most ${max} ms`);
const DAY_MS = 86_400_000;

export const RULE_KINDS = [
  'instance_offline',
  'instance_status',
  'failure_rate',
  'no_attempts',
  'instances_below',
] as const;
export type RuleKind = (typeof RULE_KINDS)[number];
export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Params by rule kind. Windows are whole minutes of the per-minute series buckets (1 min to 24 h). */
export const RULE_PARAMS_SCHEMAS = {
  instance_offline: z.strictObject({}),
  instance_status: z.strictObject({
    status: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'expected a status: 1-32 chars of a-z 0-9 _ -'),
  }),
  failure_rate: z.strictObject({
    windowMs: durationMs(60_000, DAY_MS).refine((ms) => ms % 60_000 === 0, 'expected whole minutes'),
    thresholdPct: z.number().gt(0, 'expected a percent > 0').max(100, 'expected a percent <= 100'),
    /** Fewer attempts in the window never fire. @default 1 */
    minAttempts: z.number().int().min(1).max(1_000_000).default(1),
  }),
  no_attempts: z.strictObject({
    windowMs: durationMs(60_000, DAY_MS).refine((ms) => ms % 60_000 === 0, 'expected whole minutes'),
  }),
  instances_below: z.strictObject({ min: z.number().int().min(1).max(1_000_000) }),
} as const satisfies Record<RuleKind, z.ZodType>;

/** Kinds with one alert per instance (id `<ruleId>:<instanceId>`); the others have one per topic (id `<ruleId>`). */
export const PER_INSTANCE_KINDS: readonly RuleKind[] = ['instance_offline', 'instance_status'];

/** Body of `PUT /api/v1/topics/:topic/rules/:ruleId`; params are checked against the kind by parseRuleBody. */
export const ruleBodySchema = z.strictObject({
  kind: z.enum(RULE_KINDS, { error: `expected kind to be one of: ${RULE_KINDS.join(', ')}` }),
  params: z.record(z.string(), z.unknown()).default({}),
  /** How long the condition must hold before the alert fires. @default 0 */
  forMs: durationMs(0, DAY_MS).default(0),
  /** @default "warning" */
  severity: z.enum(SEVERITIES).default('warning'),
  /** Channel ids notified of its transitions (each must exist). @default [] */
  channels: z.array(alertIdPartSchema).max(16).default([]),
  /** Per-instance alerts of this rule firing (or resolving) within this of the first go out as one message. @default 10000 */
  groupWaitMs: durationMs(0, 3_600_000).default(10_000),
  /** A reminder while firing, every this many ms; 0 for none. @default 0 */
  repeatIntervalMs: z.union([z.literal(0), durationMs(60_000, 30 * DAY_MS)]).default(0),
  description: textSchema(500).optional(),
});
export type RuleBody = z.input<typeof ruleBodySchema>;

/** A rule as `rule.set` carries it: every default filled in, params checked against the kind. */
export const ruleSchema = z.strictObject({
  ruleId: alertIdPartSchema,
  kind: z.enum(RULE_KINDS),
  params: z.record(z.string(), z.unknown()),
  forMs: z.number().int().min(0),
  severity: z.enum(SEVERITIES),
  channels: z.array(z.string()),
  groupWaitMs: z.number().int().min(0),
  repeatIntervalMs: z.number().int().min(0),
  description: z.string().optional(),
});
export type Rule = z.infer<typeof ruleSchema>;

/** A rule in the projection: `rule.set`'s data and when it was set (its event's ts). */
export interface RuleState extends Rule {
  setAt: number;
}

/** Parses a PUT body into the rule `rule.set` carries; issues name `params.<field>` for params of the kind. */
export function parseRuleBody(ruleId: string, body: unknown): z.ZodSafeParseResult<Rule> {
  const base = ruleBodySchema.safeParse(body);
  if (!base.success) return base as z.ZodSafeParseResult<Rule>;
  const params = RULE_PARAMS_SCHEMAS[base.data.kind].safeParse(base.data.params);
  if (!params.success) {
    return {
      success: false,
      error: new z.ZodError(params.error.issues.map((issue) => ({ ...issue, path: ['params', ...issue.path] }))),
    } as z.ZodSafeParseResult<Rule>;
  }
  return { success: true, data: { ruleId, ...base.data, params: params.data } };
}

export const ruleRemovedDataSchema = z.strictObject({ ruleId: alertIdPartSchema });

export const alertFiringDataSchema = z.strictObject({
  /** `<ruleId>` or `<ruleId>:<instanceId>`. */
  alertId: z.string(),
  ruleId: z.string(),
  instanceId: z.string().optional(),
  severity: z.enum(SEVERITIES),
  /** The value that crossed (percent, ms offline, attempts, instances). */
  value: z.number(),
  threshold: z.number().optional(),
  /** When the condition became true (the start of pending). */
  activeSince: msSchema,
  /** A human summary, e.g. "failure rate 37.5 % over 5 min (threshold 20 %), 24 attempts". */
  summary: z.string(),
});
export type AlertFiringData = z.infer<typeof alertFiringDataSchema>;

export const alertResolvedDataSchema = z.strictObject({
  alertId: z.string(),
  ruleId: z.string(),
  instanceId: z.string().optional(),
  /** The firing's severity (beyond DESIGN's list: a resolved notification shows it without reading the firing). */
  severity: z.enum(SEVERITIES),
  activeSince: msSchema,
  resolvedAt: msSchema,
  value: z.number(),
  summary: z.string(),
});
export type AlertResolvedData = z.infer<typeof alertResolvedDataSchema>;

/** A firing alert as the snapshot lists it: its alert.firing data and when it fired (that event's ts). */
export const activeAlertSchema = alertFiringDataSchema.extend({ firedAt: msSchema });
export type ActiveAlert = z.infer<typeof activeAlertSchema>;

// ---- channels (admin; stored outside the log, secrets never answered) ----

export const CHANNEL_TYPES = ['webhook', 'slack', 'email'] as const;
export type ChannelType = (typeof CHANNEL_TYPES)[number];

/** What keeps `value` from being a URL a notification can be sent to, or undefined. */
function httpUrlProblem(value: string): string | undefined {
  const url = URL.canParse(value) ? new URL(value) : null;
  if (url?.protocol !== 'http:' && url?.protocol !== 'https:') return 'expected an http(s) URL';
  // fetch refuses to send a request to such a URL: every notification would fail.
  if (url.username !== '' || url.password !== '')
    return 'expected a URL without a user name or password: they cannot be sent with the request';
  return undefined;
}

const httpUrlSchema = z
  .string()
  .max(2048)
  .superRefine((value, ctx) => {
    const problem = httpUrlProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** Body of `PUT /api/v1/channels/:channelId`. */
export const channelBodySchema = z.discriminatedUnion(
  'type',
  [
    z.strictObject({
      type: z.literal('webhook'),
      url: httpUrlSchema,
      secret: z.string().min(16, 'expected a secret of at least 16 chars').max(256),
    }),
    z.strictObject({ type: z.literal('slack'), url: httpUrlSchema }),
    z.strictObject({ type: z.literal('email'), to: z.array(z.email('expected an email address')).min(1).max(20) }),
  ],
  { error: `expected type to be one of: ${CHANNEL_TYPES.join(', ')}` },
);
export type ChannelBody = z.infer<typeof channelBodySchema>;
/** A stored channel. */
export type Channel = ChannelBody & { channelId: string };
/** A channel as `GET /api/v1/channels` shows it: secret masked. */
export type ChannelView = Omit<Channel, 'secret'> & { secret?: '***'; url?: string };

/** The channel without its secrets: a webhook's secret, and a Slack URL's path (which is Slack's secret). */
export function maskChannel(channel: Channel): ChannelView {
  if (channel.type === 'webhook') return { ...channel, secret: '***' };
  if (channel.type === 'slack') return { ...channel, url: `${new URL(channel.url).origin}/***` };
  return channel;
}

// ---- silences ----

export const silenceBodySchema = z
  .strictObject({
    matchers: z.strictObject({
      topic: z.string().max(64).optional(),
      ruleId: alertIdPartSchema.optional(),
      instanceId: z.string().max(128).optional(),
    }),
    startsAt: msSchema.optional(),
    endsAt: msSchema.optional(),
    /** Recurring maintenance: a 5-field cron (checked by the gateway) and how long each window lasts. */
    cron: z.string().max(100).optional(),
    durationMs: durationMs(60_000, 7 * DAY_MS).optional(),
    /** IANA time zone of the cron. @default "UTC" */
    timeZone: z.string().max(64).optional(),
    comment: z.string().min(1).max(500),
  })
  .superRefine((body, ctx) => {
    if (body.cron !== undefined) {
      if (body.durationMs === undefined)
        ctx.addIssue({ code: 'custom', path: ['durationMs'], message: 'expected durationMs with cron' });
      if (body.endsAt !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['endsAt'],
          message: 'expected either endsAt or cron + durationMs, not both',
        });
    } else {
      if (body.endsAt === undefined)
        ctx.addIssue({ code: 'custom', path: ['endsAt'], message: 'expected endsAt (or cron + durationMs)' });
      if (body.durationMs !== undefined)
        ctx.addIssue({ code: 'custom', path: ['durationMs'], message: 'expected durationMs only with cron' });
    }
    if (body.endsAt !== undefined && body.endsAt <= (body.startsAt ?? 0))
      ctx.addIssue({ code: 'custom', path: ['endsAt'], message: 'expected endsAt after startsAt' });
  });
export type SilenceBody = z.infer<typeof silenceBodySchema>;
export type Silence = SilenceBody & { id: string; createdAt: number; createdBy?: string };

/** Webhook (and test) payload. */
export interface NotificationPayload {
  topic: string;
  /** The log position of the transition (the first of a group); 0 for a test. */
  seq: number;
  epoch: string;
  kind: 'firing' | 'resolved' | 'reminder' | 'test';
  alerts: {
    alertId: string;
    ruleId: string;
    instanceId?: string;
    severity: Severity;
    value: number;
    summary: string;
    activeSince: number;
    resolvedAt?: number;
  }[];
  dashboardUrl?: string;
}
