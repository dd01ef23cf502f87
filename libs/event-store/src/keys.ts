// Redis key naming: the only place that knows it. Every key of a topic shares the hash tag {<topic>}.

/** Keys of one topic, in the order the Lua scripts take them. */
export function topicKeys(topic: string): string[] {
  const tag = `pulse:{${topic}}`;
  return [
    `${tag}:log`, // 1 stream: id <seq>-0, fields t ts d e [s]
    `${tag}:meta`, // 2 hash: epoch, head, base (last trimmed seq), hm and hdm (the history's minute), ho (offline days kept since)
    `${tag}:idem`, // 3 hash: idempotency key -> seq
    `${tag}:idemx`, // 4 zset: idempotency key -> expiry ms
    `${tag}:stats`, // 5 hash: total_attempts, successful, failed
    `${tag}:instances`, // 6 hash: instance id -> InstanceState JSON
    `${tag}:status`, // 7 hash: loop_count, tick_at, next_tick_at, iu (set once an instances_update was appended)
    `${tag}:base:stats`, // 8..10: the same projections folded over trimmed events only
    `${tag}:base:instances`,
    `${tag}:base:status`,
    `${tag}:avail`, // 11 hash: <instance id>:f -> first seen ms, <instance id>:o -> offline since ms
    `${tag}:rules`, // 12 hash: rule id -> RuleState JSON
    `${tag}:alerts`, // 13 hash: alert id -> ActiveAlert JSON (the firing ones)
    `${tag}:base:rules`, // 14, 15: the same folded over trimmed events only
    `${tag}:base:alerts`,
    `${tag}:alertx`, // 16 hash: the tick's alert bookkeeping, not a projection: a:<alert id>:p -> pending since ms, a:<alert id>:r -> last notified ms, a:<alert id>:c -> channels notified of its firing, g:<rule id>:<kind>:<channels> -> open group JSON (until it ends), n:<channel>:<alert id>:<activeSince> -> firing notified there
    `${tag}:outbox`, // 17 stream: notification groups opened by the tick, drained into the notify queue
    `${tag}:changed`, // 18 set: ids of the instances the live fold changed since the last instances_update
  ];
}

export const KEY = {
  log: 0,
  meta: 1,
  idem: 2,
  idemx: 3,
  stats: 4,
  instances: 5,
  status: 6,
  baseStats: 7,
  baseInstances: 8,
  baseStatus: 9,
  avail: 10,
  rules: 11,
  alerts: 12,
  baseRules: 13,
  baseAlerts: 14,
  alertx: 15,
  outbox: 16,
  changed: 17,
} as const;

/**
 * Prefix of a topic's history keys, which the scripts complete (in the topic's slot):
 * `<prefix><step>:<bucket start ms>` hash of one series bucket (a f ds dn dm ai ki: attempts, failures, duration sum µs, attempts without a duration, max µs, gauges), and
 * `<prefix>i:<instance id>:<day start ms>` hash of one instance-day (fields <hour 0-23><a|f|o>).
 * Every one carries its expiry (bucket end + the step's retention): Redis drops old history, nothing scans for it.
 */
export function historyPrefix(topic: string): string {
  return `pulse:{${topic}}:h:`;
}

/** Key of one series bucket. */
export function bucketKey(topic: string, step: string, start: number): string {
  return `${historyPrefix(topic)}${step}:${start}`;
}

/** Key of one day of an instance's hours. */
export function instanceDayKey(topic: string, instanceId: string, dayStart: number): string {
  return `${historyPrefix(topic)}i:${instanceId}:${dayStart}`;
}

/** Key of one day of the topic's closed offline time: field <hour of the day>:<instance id> -> ms (see close_offline in scripts.ts). */
export function offlineDayKey(topic: string, dayStart: number): string {
  return `${historyPrefix(topic)}off:${dayStart}`;
}

/**
 * The topic's bell, rung by every append and tick with the entries it wrote (see ring in
 * scripts.ts): a pub/sub channel on a single Redis, a shard channel (SPUBLISH) in the topic's slot
 * on a Redis Cluster. The gateways' log tails wait on it (see BellLogReader).
 */
export function bellChannel(topic: string): string {
  return `pulse:{${topic}}:bell`;
}

/** The topic a bell channel belongs to. */
export function topicOfBell(channel: string): string {
  return channel.slice('pulse:{'.length, -'}:bell'.length);
}

/**
 * Registry of topics that took ingest: topic -> last ingest ms. Outside any topic's slot on
 * purpose. Never pruned (a topic's keys stay too), so its size is the topic count the topic cap
 * (EventStoreOptions.maxTopics) holds against.
 */
export const TOPICS_KEY = 'pulse:topics';

/** The topic a log key belongs to (XREAD answers name keys). */
export function topicOfLogKey(key: string): string {
  return key.slice('pulse:{'.length, -'}:log'.length);
}

/** A token's own hash tag (its sub, base64url): on a Redis Cluster, tokens' limit keys spread over the slots. */
function tokenTag(sub: string): string {
  return `{${Buffer.from(sub).toString('base64url')}}`;
}

/** Prefix of the per-token request counters (rate-limiter-flexible appends `:<key>`; the key is tokenLimitKey). */
export const RATE_LIMIT_PREFIX = 'pulse:rl';

/** A token's key under RATE_LIMIT_PREFIX. */
export function tokenLimitKey(sub: string): string {
  return tokenTag(sub);
}

/** Counter of the topics a token created in the current quota window (expires with the window). */
export function topicQuotaKey(sub: string): string {
  return `pulse:tq:${tokenTag(sub)}`;
}

/** Zset of a token's open sockets across gateways: socket id -> last refresh ms. */
export function tokenConnectionsKey(sub: string): string {
  return `pulse:conn:${tokenTag(sub)}`;
}

/** Hash of notification channels: channel id -> Channel JSON (secrets included: never answered, never logged). Outside the log on purpose. */
export const CHANNELS_KEY = 'pulse:channels';

/** Hash of silences: silence id -> Silence JSON. */
export const SILENCES_KEY = 'pulse:silences';

/** Hash of one notification group opened by the tick (in the topic's slot): m -> member seqs (csv), e:<seq> -> a member's data JSON, c -> closed. */
export function groupKey(topic: string, seq: number): string {
  return `${topicKeys(topic)[KEY.alertx]}:${seq}`;
}

/** Hash of firing alerts per topic, for metrics: topic -> { critical, warning, info } JSON (written by workers after each tick that changed it). */
export const FIRING_KEY = 'pulse:alerts:firing';

/** Hash of notification outcomes, for metrics: <channel type>:<sent|failed|retried> -> count. */
export const NOTIFY_COUNTS_KEY = 'pulse:notify:counts';
