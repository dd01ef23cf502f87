// Alerts as stored: the tick's notification outbox and groups, notified firings, channels and silences (the last two outside the log).
import type { Channel, ChannelType, PulseEvent, Severity, Silence } from '#pulse/contracts';
import { decodeEntry } from './decode.js';
import { CHANNELS_KEY, FIRING_KEY, groupKey, KEY, NOTIFY_COUNTS_KEY, SILENCES_KEY, topicKeys } from './keys.js';
import type { RedisConnection } from './redis.js';

/** One notification the tick asked for: a group of transitions of one rule (or a reminder), for its channels. */
export interface OutboxEntry {
  /** The stream entry id, to acknowledge it. */
  id: string;
  kind: 'firing' | 'resolved' | 'reminder';
  /** The group's first transition (firing, resolved); for a reminder, the head when it was due. */
  seq: number;
  epoch: string;
  ruleId: string;
  channels: string[];
  /** When the group closes and its notification is due (ms). */
  due: number;
  /** A reminder's alert and tick. */
  alertId?: string;
  tickAt?: number;
}

/** One firing-to-resolved life of an alert. */
export interface Episode {
  alertId: string;
  activeSince: number;
}

function notifiedField(channelId: string, alert: Episode): string {
  return `n:${channelId}:${alert.alertId}:${alert.activeSince}`;
}

/** A resolved was built before the firing notification of one of its alerts on the channel: retry later. */
export class FiringNotBuilt extends Error {
  constructor(channelId: string, alertIds: string[]) {
    super(`the firing of ${alertIds.join(', ')} on channel ${channelId} is not built yet; the resolved waits for it`);
    this.name = 'FiringNotBuilt';
  }
}

export class AlertStore {
  constructor(private readonly redis: RedisConnection) {}

  /** Up to `limit` outbox entries of the topic, oldest first. */
  async outbox(topic: string, limit = 100): Promise<OutboxEntry[]> {
    const entries = await this.redis.xrange(topicKeys(topic)[KEY.outbox]!, '-', '+', 'COUNT', limit);
    return entries.map(([id, fields]) => {
      const f: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
      const entry: OutboxEntry = {
        id,
        kind: f.kind as OutboxEntry['kind'],
        seq: Number(f.seq),
        epoch: f.epoch ?? '',
        ruleId: f.rule ?? '',
        channels: (f.channels ?? '').split(',').filter(Boolean),
        due: Number(f.due),
      };
      if (f.alert !== undefined) entry.alertId = f.alert;
      if (f.tick !== undefined) entry.tickAt = Number(f.tick);
      return entry;
    });
  }

  /** Removes outbox entries once their jobs exist. */
  async acknowledge(topic: string, ids: string[]): Promise<void> {
    if (ids.length > 0) await this.redis.xdel(topicKeys(topic)[KEY.outbox]!, ...ids);
  }

  /**
   * Closes a notification group (no later transition joins it: the tick opens a new one) and
   * answers its transitions, read from the log. Idempotent: every channel's job reads the same members.
   */
  async closeGroup(topic: string, seq: number): Promise<PulseEvent<'alert.firing' | 'alert.resolved'>[]> {
    const key = groupKey(topic, seq);
    const answers = await this.redis.multi().hset(key, 'c', '1').hget(key, 'm').exec();
    const members = String((answers?.[1]?.[1] as string | null) ?? seq)
      .split(',')
      .map(Number);
    const log = topicKeys(topic)[KEY.log]!;
    const pipeline = this.redis.pipeline();
    for (const member of members) pipeline.xrange(log, `${member}-0`, `${member}-0`);
    const read = (await pipeline.exec()) ?? [];
    return read.flatMap(([, entries]) =>
      (entries as [string, string[]][]).map(
        ([id, fields]) => decodeEntry(topic, id, fields) as PulseEvent<'alert.firing' | 'alert.resolved'>,
      ),
    );
  }

  /**
   * Settles the marks of a firing group's episodes on a channel once its notification is built:
   * `sent` were notified (their resolved goes there whatever silences say), `dropped` were
   * silenced (their resolved does not). The tick left each mark pending. Keyed by episode (alert
   * id and activeSince): a later firing of the same alert is another mark.
   */
  async settleNotified(topic: string, channelId: string, sent: Episode[], dropped: Episode[]): Promise<void> {
    const key = topicKeys(topic)[KEY.alertx]!;
    const multi = this.redis.multi();
    if (sent.length > 0)
      multi.hset(key, Object.fromEntries(sent.map((alert) => [notifiedField(channelId, alert), '1'])));
    if (dropped.length > 0) multi.hdel(key, ...dropped.map((alert) => notifiedField(channelId, alert)));
    if (sent.length + dropped.length > 0) await multi.exec();
  }

  /**
   * Which of these alerts' episodes had their firing notified on the channel (their alert ids).
   * Throws FiringNotBuilt while one's firing notification is still pending there (the resolved
   * job is retried): answered now, it would leave that firing without its resolved.
   */
  async notified(topic: string, channelId: string, alerts: Episode[]): Promise<Set<string>> {
    if (alerts.length === 0) return new Set();
    const values = await this.redis.hmget(
      topicKeys(topic)[KEY.alertx]!,
      ...alerts.map((alert) => notifiedField(channelId, alert)),
    );
    const pending = alerts.filter((_, i) => values[i] === 'p').map((alert) => alert.alertId);
    if (pending.length > 0) throw new FiringNotBuilt(channelId, pending);
    return new Set(alerts.filter((_, i) => values[i] === '1').map((alert) => alert.alertId));
  }

  /** Forgets the marks of these episodes on the channel: their resolved went out. */
  async forgetNotified(topic: string, channelId: string, alerts: Episode[]): Promise<void> {
    if (alerts.length > 0)
      await this.redis.hdel(topicKeys(topic)[KEY.alertx]!, ...alerts.map((alert) => notifiedField(channelId, alert)));
  }

  async channels(): Promise<Channel[]> {
    const all = await this.redis.hgetall(CHANNELS_KEY);
    return Object.values(all)
      .map((json) => JSON.parse(json) as Channel)
      .sort((a, b) => (a.channelId < b.channelId ? -1 : 1));
  }

  async channel(channelId: string): Promise<Channel | null> {
    const json = await this.redis.hget(CHANNELS_KEY, channelId);
    return json ? (JSON.parse(json) as Channel) : null;
  }

  async putChannel(channel: Channel): Promise<void> {
    await this.redis.hset(CHANNELS_KEY, channel.channelId, JSON.stringify(channel));
  }

  /** Which of these channel ids exist. */
  async existingChannels(ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const found = await this.redis.hmget(CHANNELS_KEY, ...ids);
    return new Set(ids.filter((_, i) => found[i] !== null));
  }

  async silences(): Promise<Silence[]> {
    const all = await this.redis.hgetall(SILENCES_KEY);
    return Object.values(all)
      .map((json) => JSON.parse(json) as Silence)
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
  }

  async putSilence(silence: Silence): Promise<void> {
    await this.redis.hset(SILENCES_KEY, silence.id, JSON.stringify(silence));
  }

  /** Deletes a silence; false when there was none. */
  async deleteSilence(id: string): Promise<boolean> {
    return (await this.redis.hdel(SILENCES_KEY, id)) === 1;
  }

  /** Records a topic's firing alerts by severity (none: forgotten). */
  async setFiring(topic: string, firing: Record<Severity, number>): Promise<void> {
    if (firing.critical + firing.warning + firing.info === 0) await this.redis.hdel(FIRING_KEY, topic);
    else await this.redis.hset(FIRING_KEY, topic, JSON.stringify(firing));
  }

  /** Firing alerts by topic and severity, as the workers last recorded them. */
  async firing(): Promise<Map<string, Record<Severity, number>>> {
    const all = await this.redis.hgetall(FIRING_KEY);
    return new Map(Object.entries(all).map(([topic, json]) => [topic, JSON.parse(json) as Record<Severity, number>]));
  }

  /** Counts one notification outcome of a channel type. */
  async countNotification(type: ChannelType, outcome: NotificationOutcome): Promise<void> {
    await this.redis.hincrby(NOTIFY_COUNTS_KEY, `${type}:${outcome}`, 1);
  }

  /** Notification outcomes so far, by channel type. */
  async notificationCounts(): Promise<{ type: string; outcome: string; count: number }[]> {
    const all = await this.redis.hgetall(NOTIFY_COUNTS_KEY);
    return Object.entries(all).map(([field, count]) => {
      const [type = '', outcome = ''] = field.split(':');
      return { type, outcome, count: Number(count) };
    });
  }
}

/** sent: delivered; retried: a try failed and another follows; failed: the last try failed. */
export type NotificationOutcome = 'sent' | 'retried' | 'failed';
