// Alerts as stored: the tick's notification outbox and groups, notified firings, channels and silences (the last two outside the log).
import type { AlertFiringData, AlertResolvedData, Channel, ChannelType, Severity, Silence } from '#pulse/contracts';
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

/** One transition of a notification group. */
export type GroupMember =
  { type: 'alert.firing'; data: AlertFiringData } | { type: 'alert.resolved'; data: AlertResolvedData };

/** One firing-to-resolved life of an alert. */
export interface Episode {
  alertId: string;
  activeSince: number;
}

function notifiedField(channelId: string, alert: Episode): string {
  return `n:${channelId}:${alert.alertId}:${alert.activeSince}`;
}

/** A resolved was built before the firing notification of one of its alerts was delivered on the channel: retry later. */
export class FiringNotDelivered extends Error {
  constructor(channelId: string, alertIds: string[]) {
    super(
      `the firing of ${alertIds.join(', ')} on channel ${channelId} is not delivered yet; the resolved waits for it`,
    );
    this.name = 'FiringNotDelivered';
  }
}

/**
 * An episode's mark on a channel (alertx field n:<channel>:<alert id>:<activeSince>): `p` from the
 * tick that fired it until its firing notification is built, `b` once that lists it, `1` once that
 * was delivered; gone when it was silenced, its firing failed for good, or its resolved went out.
 */
const MARK = { pending: 'p', built: 'b', delivered: '1' } as const;

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
   * answers its transitions' data, in seq order. Idempotent: every channel's job reads the same
   * members. The group keeps each member's data; a group opened by an earlier build kept only their
   * seqs, and those are read from the log (what it trimmed since is missing).
   */
  async closeGroup(topic: string, seq: number): Promise<GroupMember[]> {
    const key = groupKey(topic, seq);
    const answers = await this.redis.multi().hset(key, 'c', '1').hgetall(key).exec();
    const group = (answers?.[1]?.[1] as Record<string, string> | undefined) ?? {};
    const members = (group.m ?? String(seq)).split(',').map(Number);
    const unkept = members.filter((member) => group[`e:${member}`] === undefined);
    const log = topicKeys(topic)[KEY.log]!;
    const fromLog = new Map<number, GroupMember>();
    if (unkept.length > 0) {
      const pipeline = this.redis.pipeline();
      for (const member of unkept) pipeline.xrange(log, `${member}-0`, `${member}-0`);
      for (const [, entries] of (await pipeline.exec()) ?? [])
        for (const [id, fields] of entries as [string, string[]][]) {
          const event = decodeEntry(topic, id, fields);
          if (event.type === 'alert.firing' || event.type === 'alert.resolved')
            fromLog.set(event.seq, { type: event.type, data: event.data } as GroupMember);
        }
    }
    return members.flatMap((member) => {
      const kept = group[`e:${member}`];
      if (kept === undefined) return fromLog.has(member) ? [fromLog.get(member)!] : [];
      const data = JSON.parse(kept) as AlertFiringData | AlertResolvedData;
      return ['resolvedAt' in data ? { type: 'alert.resolved', data } : { type: 'alert.firing', data }];
    });
  }

  /**
   * Settles the marks of a firing group's episodes on a channel once its notification is built:
   * `listed` are in it (built: their resolved waits until it is delivered, see delivered), `dropped`
   * were silenced (their resolved is not sent there). The tick left each mark pending. Keyed by
   * episode (alert id and activeSince): a later firing of the same alert is another mark.
   */
  async settleNotified(topic: string, channelId: string, listed: Episode[], dropped: Episode[]): Promise<void> {
    const key = topicKeys(topic)[KEY.alertx]!;
    const multi = this.redis.multi();
    if (listed.length > 0)
      multi.hset(key, Object.fromEntries(listed.map((alert) => [notifiedField(channelId, alert), MARK.built])));
    if (dropped.length > 0) multi.hdel(key, ...dropped.map((alert) => notifiedField(channelId, alert)));
    if (listed.length + dropped.length > 0) await multi.exec();
  }

  /** The firing notification listing these episodes was delivered on the channel: their resolved (and reminders) may go there. */
  async delivered(topic: string, channelId: string, alerts: Episode[]): Promise<void> {
    if (alerts.length > 0)
      await this.redis.hset(
        topicKeys(topic)[KEY.alertx]!,
        Object.fromEntries(alerts.map((alert) => [notifiedField(channelId, alert), MARK.delivered])),
      );
  }

  /**
   * Which of these alerts' episodes had their firing delivered on the channel (their alert ids).
   * Throws FiringNotDelivered while one's firing notification is still pending or undelivered there
   * (the resolved job is retried): answered now, the resolved could reach the receiver before its
   * firing, or without it.
   */
  async notified(topic: string, channelId: string, alerts: Episode[]): Promise<Set<string>> {
    const marks = await this.marks(topic, channelId, alerts);
    const waiting = alerts.filter((_, i) => marks[i] === MARK.pending || marks[i] === MARK.built);
    if (waiting.length > 0)
      throw new FiringNotDelivered(
        channelId,
        waiting.map((alert) => alert.alertId),
      );
    return new Set(alerts.filter((_, i) => marks[i] === MARK.delivered).map((alert) => alert.alertId));
  }

  /** Which of these episodes' firings were delivered on the channel, not waiting for any (a reminder goes only there). */
  async deliveredTo(topic: string, channelId: string, alerts: Episode[]): Promise<Set<string>> {
    const marks = await this.marks(topic, channelId, alerts);
    return new Set(alerts.filter((_, i) => marks[i] === MARK.delivered).map((alert) => alert.alertId));
  }

  private async marks(topic: string, channelId: string, alerts: Episode[]): Promise<(string | null)[]> {
    if (alerts.length === 0) return [];
    return this.redis.hmget(topicKeys(topic)[KEY.alertx]!, ...alerts.map((alert) => notifiedField(channelId, alert)));
  }

  /** Forgets the marks of these episodes on the channel: their resolved went out, or their firing never will. */
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
