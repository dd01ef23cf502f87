// The event log of every topic on Redis Streams: atomic append with projections, reads, snapshots, rebuild.
import { randomBytes } from 'node:crypto';
import type { RedisConnection } from './redis.js';
import {
  emptyHistory,
  emptyState,
  foldHistory,
  instancesOf,
  statisticsOf,
  alertsOf,
  rulesOf,
  type ActiveAlert,
  type InstanceState,
  type ProjectionState,
  type RuleState,
  type Severity,
  type PulseEvent,
  type SeriesStep,
  type Snapshot,
} from '#pulse/contracts';
import { AlertStore } from './alert-store.js';
import { decodeEntry } from './decode.js';
import { History, type HistoryRebuild, type ScriptRunner } from './history.js';

export { decodeBell, decodeEntry } from './decode.js';
import { bellChannel, historyPrefix, KEY, TOPICS_KEY, topicKeys, topicQuotaKey } from './keys.js';
import { ADMIT_TOPIC_LUA, APPEND_LUA, REPLACE_LUA, ROTATE_LUA, TAKE_QUOTA_LUA, TICK_LUA } from './scripts.js';

/** One event to append. `data` must already be valid for its type. */
export interface NewEvent {
  type: string;
  data: unknown;
  /** Seen again within the idempotency window, the event is not appended; its first seq is answered. */
  idempotencyKey?: string;
  source?: string;
}

export interface AppendResult {
  epoch: string;
  /** The seq of each event, in order. */
  seqs: number[];
}

export interface TickInput {
  /** The tick's scheduled time (ms); a tick at or before the last one is skipped. */
  tickAt: number;
  nextTickAt: number;
  /** An instance whose last heartbeat is older than this goes offline. */
  instanceTtlMs: number;
  /** An offline instance last seen longer ago than this is removed (instance.removed). 0: never. @default 0 */
  instanceForgetMs?: number;
  /** Make this tick's instances_update whole (the table, not the changes since the previous one). @default false */
  fullInstances?: boolean;
}

export interface TickResult {
  /** False when the topic has no log, or this tick (or a later one) was already appended. */
  appended: boolean;
  seqs: number[];
  /** Notifications waiting in the topic's outbox (AlertStore.outbox) after this call. */
  outbox: number;
  /** Firing alerts by severity after an appended tick. */
  firing?: Record<Severity, number>;
}

/** The position of a topic's log. */
export interface LogHead {
  epoch: string;
  /** Last seq appended (0 before any). */
  head: number;
  /** Last seq trimmed away: events after it are retained. */
  base: number;
}

export interface ReadResult extends LogHead {
  events: PulseEvent[];
}

export interface EventStoreOptions {
  /** Events kept per topic. */
  retention: number;
  /** How long idempotency keys are remembered (ms). */
  idempotencyWindowMs: number;
  /** Clock for event timestamps (ms). @default Date.now */
  now?: () => number;
  /** How long series buckets of each step are kept after they end (ms). @default 48 h, 90 d, 730 d (1h also bounds instance hours) */
  seriesRetentionMs?: Record<SeriesStep, number>;
  /** Keep the history (series, instance hours)? Off only to measure what it costs. @default true */
  history?: boolean;
  /**
   * An append that Redis runs later than this after it was sent appends nothing (it fails with
   * LATE): by then its caller has timed out and answered "not appended", so it must not happen.
   * Keep it below the connection's command timeout. 0 for none. @default 4000
   */
  appendDeadlineMs?: number;
  /** Most instances one topic may hold: an append that would create one more fails with InstanceLimitError, appending nothing. 0: none. @default 0 */
  maxInstancesPerTopic?: number;
  /** Most topics (the registry's size): an append that would create one more fails with TopicLimitError. 0: none. @default 0 */
  maxTopics?: number;
  /** Topics one creator (AppendOptions.creator) may create per window: past it, TopicQuotaError. 0: none. @default none */
  topicQuota?: { count: number; windowMs: number };
  /** Every Nth tick's instances_update carries the whole table, the others the instances changed since the previous one. 1: always whole. @default 60 */
  instancesFullEvery?: number;
  /**
   * This process's real time (ms), for append deadlines. @default performance.timeOrigin + performance.now()
   * (not Date.now, which test clocks fake)
   */
  wallClock?: () => number;
}

/** An append that would create an instance past EventStoreOptions.maxInstancesPerTopic: nothing of its batch was appended. */
export class InstanceLimitError extends Error {
  constructor(
    readonly topic: string,
    /** The limit. */
    readonly limit: number,
    /** Instances the topic holds. */
    readonly held: number,
    /** The batch's first event (from 0) that would have created one past the limit. */
    readonly index: number,
    readonly instanceId: string,
  ) {
    super(
      `topic ${topic} holds ${held} of at most ${limit} instances: event ${index} would add instance ${instanceId} past the limit; nothing appended`,
    );
    this.name = 'InstanceLimitError';
  }
}

/** A rule.set of a new rule id on a topic holding AppendOptions.maxRules rules: nothing of its batch was appended. */
export class RuleLimitError extends Error {
  constructor(
    readonly topic: string,
    /** The limit. */
    readonly limit: number,
    /** Rules the topic holds. */
    readonly held: number,
    /** The batch's first event (from 0) that would have added a rule past the limit. */
    readonly index: number,
    readonly ruleId: string,
  ) {
    super(
      `topic ${topic} holds ${held} of at most ${limit} rules: event ${index} would add rule ${ruleId} past the limit; nothing appended`,
    );
    this.name = 'RuleLimitError';
  }
}

/** An append that would create a topic while the registry holds EventStoreOptions.maxTopics: nothing appended. */
export class TopicLimitError extends Error {
  constructor(
    readonly topic: string,
    readonly limit: number,
  ) {
    super(`there are ${limit} topics, the most allowed: topic ${topic} was not created; nothing appended`);
    this.name = 'TopicLimitError';
  }
}

/** An append that would create a topic past its creator's EventStoreOptions.topicQuota: nothing appended. */
export class TopicQuotaError extends Error {
  constructor(
    readonly topic: string,
    readonly quota: { count: number; windowMs: number },
    /** When the creator's window ends. */
    readonly retryAfterMs: number,
  ) {
    super(
      `this creator already created ${quota.count} topics in ${quota.windowMs} ms, the most allowed: topic ${topic} was not created; nothing appended`,
    );
    this.name = 'TopicQuotaError';
  }
}

/** A lone surrogate's escape in JSON.stringify's output: `\ud800`…`\udfff` after an even number of backslashes. */
const LONE_SURROGATE_ESCAPE = /(?<!\\)(?:\\\\)*\\ud[89a-f][0-9a-f]{2}/;

/** How often the offset between Redis's clock and this process's is measured again. */
const CLOCK_CHECK_MS = 60_000;
/** A clock measurement whose round trip took longer than this is not trusted (see measureClock). */
const CLOCK_ROUND_TRIP_MS = 250;

export interface RebuildResult {
  /** The head the rebuild folded up to. */
  seq: number;
  /** Where the live projection (or a series bucket the retained log fully covers) differs from the rebuilt one; empty when they agree. */
  drift: Drift[];
  rebuilt: ProjectionState;
  /** The series buckets rebuilt from the retained log, and what applying them would write. */
  history: HistoryRebuild;
}

export interface Drift {
  /** What differs, e.g. `statistics.failed` or `instances.i-3.attempts`. */
  path: string;
  live: unknown;
  rebuilt: unknown;
}

/** Random bytes for epochs, drawn 1 KiB at a time: every append offers an epoch, and only a topic's first one takes it. */
let epochPool = Buffer.alloc(0);
let epochNext = 0;

function newEpoch(): string {
  if (epochNext + 4 > epochPool.length) {
    epochPool = randomBytes(1024);
    epochNext = 0;
  }
  epochNext += 4;
  return `${Date.now().toString(36)}-${epochPool.toString('hex', epochNext - 4, epochNext)}`;
}

function counter(hash: Record<string, string>, field: string): number {
  return Number(hash[field] ?? 0);
}

/** A rule as Redis's cjson wrote it back: an empty list comes back as an object. */
function ruleOfJson(json: string): RuleState {
  const rule = JSON.parse(json) as RuleState;
  return { ...rule, channels: Array.isArray(rule.channels) ? rule.channels : [] };
}

function stateFromHashes(
  stats: Record<string, string>,
  instances: Record<string, string>,
  status: Record<string, string>,
  rules: Record<string, string> = {},
  alerts: Record<string, string> = {},
): ProjectionState {
  const state = emptyState();
  for (const [id, json] of Object.entries(rules)) state.rules.set(id, ruleOfJson(json));
  for (const [id, json] of Object.entries(alerts)) state.alerts.set(id, JSON.parse(json) as ActiveAlert);
  state.counters = {
    total_attempts: counter(stats, 'total_attempts'),
    successful: counter(stats, 'successful'),
    failed: counter(stats, 'failed'),
  };
  for (const [id, json] of Object.entries(instances)) state.instances.set(id, JSON.parse(json) as InstanceState);
  if (status.loop_count !== undefined) {
    state.status = {
      monitoring_active: true,
      loop_count: counter(status, 'loop_count'),
      tick_at: counter(status, 'tick_at'),
      next_tick_at: counter(status, 'next_tick_at'),
    };
  }
  return state;
}

/** Series retention when none is configured: PULSE_SERIES_RETENTION's default, 1m:48h,1h:90d,1d:730d. */
export const DEFAULT_SERIES_RETENTION_MS: Record<SeriesStep, number> = {
  '1m': 48 * 3_600_000,
  '1h': 90 * 86_400_000,
  '1d': 730 * 86_400_000,
};

/** Options of one append. */
export interface AppendOptions {
  /** Who asks (a token's sub): a topic it creates counts against its EventStoreOptions.topicQuota. @default none: no quota */
  creator?: string;
  /** Most rules the topic may hold: a rule.set of a new rule id past it fails with RuleLimitError, appending nothing. @default none */
  maxRules?: number;
}

export class EventStore {
  /** Series, instance hours and uptime: the history projections of the log. */
  readonly history: History;
  /** The tick's notification outbox and groups, channels and silences. */
  readonly alerts: AlertStore;
  private readonly appendScript: ScriptRunner;
  private readonly tickScript: ScriptRunner;
  private readonly replaceScript: ScriptRunner;
  private readonly rotateScript: ScriptRunner;
  private readonly admitTopicScript: ScriptRunner;
  private readonly takeQuotaScript: ScriptRunner;
  /** Topics this process saw registered: their appends skip the topic cap and quota. */
  private readonly admitted = new Set<string>();
  private readonly now: () => number;
  /** When this process last registered each topic in the registry. */
  private readonly registered = new Map<string, number>();
  private readonly wallClock: () => number;
  /**
   * Redis's clock minus this process's (ms), and when it was measured: append deadlines are
   * compared with Redis's TIME, so they are stated on Redis's clock, whatever the skew.
   */
  private clockOffsetMs = 0;
  private clockMeasuredAt = -Infinity;
  private measuringClock: Promise<void> | null = null;

  constructor(
    private readonly redis: RedisConnection,
    private readonly options: EventStoreOptions,
  ) {
    this.now = options.now ?? (() => Date.now());
    this.wallClock = options.wallClock ?? (() => performance.timeOrigin + performance.now());
    this.appendScript = this.script('pulseAppend', APPEND_LUA);
    this.tickScript = this.script('pulseTick', TICK_LUA);
    this.replaceScript = this.script('pulseReplace', REPLACE_LUA);
    this.rotateScript = this.script('pulseRotate', ROTATE_LUA);
    this.admitTopicScript = this.script('pulseAdmitTopic', ADMIT_TOPIC_LUA, 1);
    this.takeQuotaScript = this.script('pulseTakeQuota', TAKE_QUOTA_LUA, 1);
    this.alerts = new AlertStore(redis);
    this.history = new History(redis, (name, lua) => this.script(name, lua), this.retention, this.now);
  }

  private get retention(): Record<SeriesStep, number> {
    return this.options.seriesRetentionMs ?? DEFAULT_SERIES_RETENTION_MS;
  }

  private script(name: string, lua: string, numberOfKeys = topicKeys('').length): ScriptRunner {
    if (!(name in this.redis)) this.redis.defineCommand(name, { lua, numberOfKeys });
    const command = (this.redis as unknown as Record<string, (...args: (string | number)[]) => Promise<unknown>>)[
      name
    ]!;
    return (keys, args) => command.call(this.redis, ...keys, ...args);
  }

  /** The arguments APPEND and TICK share; the bell is what the gateways' log tails wait on (see LogTail). */
  private baseArgs(topic: string): (string | number)[] {
    const keep = this.retention;
    return [
      newEpoch(),
      this.now(),
      this.options.retention,
      this.options.idempotencyWindowMs,
      (this.redis.isCluster ? 'S' : 'P') + bellChannel(topic),
      this.options.history === false ? '' : historyPrefix(topic),
      keep['1m'],
      keep['1h'],
      keep['1d'],
    ];
  }

  /** Appends events in one atomic call: contiguous seqs, projections and trimming together. */
  async append(topic: string, events: NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    if (events.length === 0) throw new Error('append needs at least one event');
    const data = events.map((event, i) => {
      const json = JSON.stringify(event.data);
      // A lone surrogate comes out as its escape (a pair as itself): Redis's Lua JSON refuses that, and
      // an entry it cannot read would stop the topic's projections for good. (textSchema refuses it first.)
      if (json.includes('\\ud') && LONE_SURROGATE_ESCAPE.test(json))
        throw new RangeError(
          `event ${i} (${event.type}) holds a lone UTF-16 surrogate (\\uD800-\\uDFFF outside a pair), which is not text: nothing was appended`,
        );
      return json;
    });
    await this.admit(topic, options.creator);
    const deadlineMs = this.options.appendDeadlineMs ?? 4000;
    if (deadlineMs > 0) {
      // The first append waits for the clocks' offset; later ones refresh it in the background.
      if (this.clockMeasuredAt === -Infinity) await this.measureClock();
      else if (this.wallClock() - this.clockMeasuredAt > CLOCK_CHECK_MS) void this.measureClock();
    }
    const maxInstances = this.options.maxInstancesPerTopic ?? 0;
    const args = [
      ...this.baseArgs(topic),
      deadlineMs > 0 ? Math.floor(this.wallClock() + this.clockOffsetMs) + deadlineMs : 0,
      maxInstances,
      options.maxRules ?? 0,
    ];
    events.forEach((event, i) => args.push(event.type, data[i]!, event.idempotencyKey ?? '', event.source ?? ''));
    // The registry is best effort: the append stands (and is answered) even if registering fails.
    const [answer] = await Promise.all([
      this.appendScript(topicKeys(topic), args).catch((error: unknown) => {
        const refused = /^(INSTANCE|RULE)_LIMIT (\d+) (\d+) (\S+)/.exec((error as Error)?.message ?? '');
        if (!refused) throw error;
        const [, what, held, index, id] = refused;
        throw what === 'INSTANCE'
          ? new InstanceLimitError(topic, maxInstances, Number(held), Number(index), id!)
          : new RuleLimitError(topic, options.maxRules!, Number(held), Number(index), id!);
      }),
      this.register(topic).catch(() => this.registered.delete(topic)),
    ]);
    const [epoch, ...seqs] = answer as (string | number)[];
    return { epoch: String(epoch), seqs: seqs.map(Number) };
  }

  /**
   * Lets an append create `topic` only within the topic cap and its creator's quota. A topic
   * already in the registry passes (and is remembered, so that its later appends cost no call);
   * a new one takes a point of the creator's quota, then a place in the registry (given back
   * when the registry is full). The count is the registry's size (TOPICS_KEY).
   */
  private async admit(topic: string, creator: string | undefined): Promise<void> {
    const maxTopics = this.options.maxTopics ?? 0;
    const quota = creator !== undefined && (this.options.topicQuota?.count ?? 0) > 0 ? this.options.topicQuota! : null;
    if (this.admitted.has(topic) || (maxTopics === 0 && quota === null)) return;
    if ((await this.redis.zscore(TOPICS_KEY, topic)) === null) {
      if (quota) {
        const waitMs = Number(
          await this.takeQuotaScript([topicQuotaKey(creator!)], [quota.count, quota.windowMs, '1']),
        );
        if (waitMs > 0) throw new TopicQuotaError(topic, quota, waitMs);
      }
      if (maxTopics > 0 && Number(await this.admitTopicScript([TOPICS_KEY], [topic, this.now(), maxTopics])) === 0) {
        if (quota) await this.takeQuotaScript([topicQuotaKey(creator!)], [quota.count, quota.windowMs, '-1']);
        throw new TopicLimitError(topic, maxTopics);
      }
    }
    if (this.admitted.size > 100_000) this.admitted.clear();
    this.admitted.add(topic);
  }

  /**
   * Measures Redis's clock against this process's with TIME; on failure, keeps the last offset.
   * Redis read its clock at some moment of the round trip: taking the last one, the offset can only
   * come out low, so a deadline is never later than meant (an append can be refused early, never
   * run after its caller gave up). The midpoint could not promise that: a TIME held up in a frozen
   * Redis is answered at the end of a long round trip, and put every deadline seconds late. A
   * round trip over CLOCK_ROUND_TRIP_MS keeps the last offset (unless there is none yet) and is
   * tried again a second later.
   */
  private measureClock(): Promise<void> {
    this.measuringClock ??= (async () => {
      const before = this.wallClock();
      const [seconds, micros] = await this.redis.time();
      const after = this.wallClock();
      const trusted = after - before <= CLOCK_ROUND_TRIP_MS;
      if (trusted || this.clockMeasuredAt === -Infinity)
        this.clockOffsetMs = Number(seconds) * 1000 + Number(micros) / 1000 - after;
      this.clockMeasuredAt = trusted ? after : after - CLOCK_CHECK_MS + 1000;
    })()
      .catch(() => undefined)
      .finally(() => (this.measuringClock = null));
    return this.measuringClock;
  }

  /**
   * Marks the topic as taking ingest now, at most once a second per process: the registry only
   * needs to know which topics are active, and a ZADD per append would cost a Redis call each.
   */
  private async register(topic: string): Promise<void> {
    const now = this.now();
    if (now - (this.registered.get(topic) ?? -Infinity) < 1000) return;
    this.registered.set(topic, now);
    if (this.registered.size > 100_000) this.registered.clear();
    await this.redis.zadd(TOPICS_KEY, String(now), topic);
  }

  /** Runs one monitor tick on `topic` (see TICK_LUA): offline marking, then the three tick events. */
  async tick(topic: string, input: TickInput): Promise<TickResult> {
    const full = [this.options.instancesFullEvery ?? 60, input.fullInstances ? '1' : ''];
    const [, outbox, ...rest] = (await this.tickScript(topicKeys(topic), [
      ...this.baseArgs(topic),
      input.tickAt,
      input.nextTickAt,
      input.instanceTtlMs,
      input.instanceForgetMs ?? 0,
      ...full,
    ])) as (string | number)[];
    if (rest.length === 0) return { appended: false, seqs: [], outbox: Number(outbox ?? 0) };
    const [critical, warning, info, ...seqs] = rest.map(Number);
    return {
      appended: true,
      seqs,
      outbox: Number(outbox),
      firing: { critical: critical!, warning: warning!, info: info! },
    };
  }

  /**
   * Starts a new epoch if the log still has `seenEpoch` and its head is below `seq`, a position a reader saw in it: Redis lost
   * appends (a restart from an older AOF or RDB, a failover to a lagging replica) but kept the
   * epoch. Returns the epoch in force, or null for a topic with no log.
   */
  async rotateEpochIfBehind(topic: string, seq: number, seenEpoch: string): Promise<string | null> {
    const epoch = (await this.rotateScript(topicKeys(topic), [newEpoch(), seq, seenEpoch])) as string;
    return epoch || null;
  }

  /** The log's position, or null for a topic with no log. */
  async head(topic: string): Promise<LogHead | null> {
    const [epoch, head, base] = await this.redis.hmget(topicKeys(topic)[KEY.meta]!, 'epoch', 'head', 'base');
    return epoch ? { epoch, head: Number(head ?? 0), base: Number(base ?? 0) } : null;
  }

  /** Up to `limit` events with seq > `afterSeq`, read atomically with the log's position. */
  async readAfter(topic: string, afterSeq: number, limit: number): Promise<ReadResult | null> {
    const keys = topicKeys(topic);
    const answers = await this.redis
      .multi()
      .hmget(keys[KEY.meta]!, 'epoch', 'head', 'base')
      .xrange(keys[KEY.log]!, `(${afterSeq}-0`, '+', 'COUNT', limit)
      .exec();
    const [[, meta], [, entries]] = answers as [[null, (string | null)[]], [null, [string, string[]][]]];
    const [epoch, head, base] = meta;
    if (!epoch) return null;
    return {
      epoch,
      head: Number(head ?? 0),
      base: Number(base ?? 0),
      events: entries.map(([id, fields]) => decodeEntry(topic, id, fields)),
    };
  }

  /** The projection and the seq it reflects, read in one MULTI; null for a topic with no log. */
  async snapshot(topic: string): Promise<Snapshot | null> {
    const keys = topicKeys(topic);
    const answers = await this.redis
      .multi()
      .hmget(keys[KEY.meta]!, 'epoch', 'head')
      .hgetall(keys[KEY.stats]!)
      .hgetall(keys[KEY.instances]!)
      .hgetall(keys[KEY.status]!)
      .hgetall(keys[KEY.alerts]!)
      .exec();
    const [[, meta], [, stats], [, instances], [, status], [, alerts]] = answers as [
      [null, (string | null)[]],
      [null, Record<string, string>],
      [null, Record<string, string>],
      [null, Record<string, string>],
      [null, Record<string, string>],
    ];
    const [epoch, head] = meta;
    if (!epoch) return null;
    const state = stateFromHashes(stats, instances, status, {}, alerts);
    return {
      topic,
      epoch,
      seq: Number(head ?? 0),
      status: state.status,
      statistics: statisticsOf(state),
      instances: instancesOf(state),
      alerts: alertsOf(state),
    };
  }

  /** The topic's rules (sorted by id) and the seq they reflect; an empty list for a topic with no log. */
  async rules(topic: string): Promise<{ seq: number; rules: RuleState[] }> {
    const keys = topicKeys(topic);
    const answers = await this.redis.multi().hget(keys[KEY.meta]!, 'head').hgetall(keys[KEY.rules]!).exec();
    const [[, head], [, rules]] = answers as [[null, string | null], [null, Record<string, string>]];
    return { seq: Number(head ?? 0), rules: rulesOf(stateFromHashes({}, {}, {}, rules)) };
  }

  /**
   * One page of the topics that took ingest, by name: up to `limit` names after `after` that pass
   * `include` (a token's topic patterns), with their log positions. `next` is the last name the
   * page covered when more may follow, else null. Heads are read for the page's names only.
   */
  async topicPage(options: {
    after?: string;
    limit: number;
    include?: (topic: string) => boolean;
  }): Promise<{ topics: { topic: string; head: number; epoch: string }[]; next: string | null }> {
    const after = options.after ?? '';
    const names = (await this.redis.zrange(TOPICS_KEY, '0', '-1'))
      .filter((topic) => topic > after && (options.include?.(topic) ?? true))
      .sort();
    const page = names.slice(0, options.limit);
    const heads = await Promise.all(page.map((topic) => this.head(topic)));
    const topics = page.flatMap((topic, i) => {
      const head = heads[i];
      return head ? [{ topic, head: head.head, epoch: head.epoch }] : [];
    });
    return { topics, next: names.length > page.length ? page.at(-1)! : null };
  }

  /** Topics with ingest at or after `sinceMs`: the ones the monitor tick visits. */
  async activeTopics(sinceMs: number): Promise<string[]> {
    return this.redis.zrangebyscore(TOPICS_KEY, sinceMs, '+inf');
  }

  /**
   * Folds the retained log onto the base projection (the fold of trimmed events) and compares it
   * with the live projection. `onProgress` is told how many events are folded so far.
   */
  async rebuild(topic: string, onProgress?: (folded: number, head: number) => void): Promise<RebuildResult | null> {
    const keys = topicKeys(topic);
    // Read the live projection and the base in one MULTI, so both describe the same head.
    const answers = await this.redis
      .multi()
      .hmget(keys[KEY.meta]!, 'epoch', 'head', 'base')
      .hgetall(keys[KEY.stats]!)
      .hgetall(keys[KEY.instances]!)
      .hgetall(keys[KEY.status]!)
      .hgetall(keys[KEY.baseStats]!)
      .hgetall(keys[KEY.baseInstances]!)
      .hgetall(keys[KEY.baseStatus]!)
      .hgetall(keys[KEY.rules]!)
      .hgetall(keys[KEY.alerts]!)
      .hgetall(keys[KEY.baseRules]!)
      .hgetall(keys[KEY.baseAlerts]!)
      .exec();
    const [[, meta], ...hashes] = answers as [[null, (string | null)[]], ...[null, Record<string, string>][]];
    const [epoch, headRaw] = meta;
    if (!epoch) return null;
    const head = Number(headRaw ?? 0);
    const [stats, instances, status, baseStats, baseInstances, baseStatus, rules, alerts, baseRules, baseAlerts] =
      hashes.map(([, hash]) => hash);
    const live = stateFromHashes(stats!, instances!, status!, rules, alerts);
    const rebuilt = stateFromHashes(baseStats!, baseInstances!, baseStatus!, baseRules, baseAlerts);
    const history = emptyHistory();
    const base = Number(meta[2] ?? 0);
    let after = base;
    let firstTs = -Infinity;
    let lastTs = -Infinity;
    while (after < head) {
      const page = await this.readAfter(topic, after, 1000);
      if (!page || page.epoch !== epoch)
        throw new Error(`the log of ${topic} changed epoch during the rebuild; run it again`);
      if (page.base > after) throw new Error(`events of ${topic} were trimmed during the rebuild; run it again`);
      const events = page.events.filter((event) => event.seq <= head);
      if (events.length === 0) throw new Error(`events ${after + 1}..${head} of ${topic} are missing from the log`);
      for (const event of events) foldHistory(rebuilt, history, event);
      if (after === base) firstTs = events[0]!.ts;
      after = events.at(-1)!.seq;
      lastTs = Math.max(lastTs, ...events.map((event) => event.ts));
      onProgress?.(after, head);
    }
    // A bucket is fully covered when it starts after the first retained event (nothing trimmed: all are).
    const series = await this.history.compare(topic, history, base === 0 ? -Infinity : firstTs, lastTs);
    return { seq: head, drift: [...compareStates(live, rebuilt), ...series.drift], rebuilt, history: series };
  }

  /**
   * Writes a rebuild over the live projection and the series buckets it found drifting, each
   * atomically, if nothing was appended since it was rebuilt. Returns false when the log moved on
   * (rebuild again, then apply).
   */
  async applyRebuild(topic: string, result: RebuildResult): Promise<boolean> {
    if (!(await this.history.apply(topic, result.seq, result.history))) return false;
    const { seq, rebuilt } = result;
    const { counters, status } = rebuilt;
    const args: (string | number)[] = [seq, counters.total_attempts, counters.successful, counters.failed];
    args.push(...(status ? [status.loop_count, status.tick_at, status.next_tick_at] : ['', '', '']));
    args.push(rebuilt.rules.size, rebuilt.alerts.size);
    for (const [id, rule] of rebuilt.rules) args.push(id, JSON.stringify(rule));
    for (const [id, alert] of rebuilt.alerts) args.push(id, JSON.stringify(alert));
    for (const [id, instance] of rebuilt.instances) args.push(id, JSON.stringify(instance));
    return (await this.replaceScript(topicKeys(topic), args)) === 1;
  }
}

/** Differences between two projection states, field by field. */
export function compareStates(live: ProjectionState, rebuilt: ProjectionState): Drift[] {
  const drift: Drift[] = [];
  // Key order is not part of a value (Redis's cjson reorders object keys).
  const canonical = (value: unknown): string =>
    JSON.stringify(value, (_key, inner: unknown) =>
      inner && typeof inner === 'object' && !Array.isArray(inner)
        ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : 1)))
        : inner,
    );
  const same = (a: unknown, b: unknown) => canonical(a) === canonical(b);
  for (const field of ['total_attempts', 'successful', 'failed'] as const) {
    if (live.counters[field] !== rebuilt.counters[field])
      drift.push({ path: `statistics.${field}`, live: live.counters[field], rebuilt: rebuilt.counters[field] });
  }
  if (!same(live.status, rebuilt.status)) drift.push({ path: 'status', live: live.status, rebuilt: rebuilt.status });
  for (const [name, a, b] of [
    ['rules', live.rules, rebuilt.rules],
    ['alerts', live.alerts, rebuilt.alerts],
  ] as const) {
    for (const id of [...new Set([...a.keys(), ...b.keys()])].sort()) {
      if (!same(a.get(id) ?? null, b.get(id) ?? null))
        drift.push({ path: `${name}.${id}`, live: a.get(id) ?? null, rebuilt: b.get(id) ?? null });
    }
  }
  const ids = new Set([...live.instances.keys(), ...rebuilt.instances.keys()]);
  for (const id of [...ids].sort()) {
    const a = live.instances.get(id);
    const b = rebuilt.instances.get(id);
    if (!a || !b) {
      drift.push({ path: `instances.${id}`, live: a ?? null, rebuilt: b ?? null });
      continue;
    }
    for (const field of Object.keys({ ...a, ...b }) as (keyof InstanceState)[]) {
      if (!same(a[field], b[field]))
        drift.push({ path: `instances.${id}.${field}`, live: a[field] ?? null, rebuilt: b[field] ?? null });
    }
  }
  return drift;
}
