// Alerts as stored: the tick's notification outbox and groups, notified firings, channels and silences (the last two outside the log).
import type { AlertFiringData, AlertResolvedData, Channel, PulseEvent, Silence } from '#pulse/contracts';
import { decodeEntry } from './decode.js';
import { CHANNELS_KEY, groupKey, KEY, SILENCES_KEY, topicKeys } from './keys.js';
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

export class AlertStore {
  constructor(private readonly redis: RedisConnection) {}

  /** Up to `limit` outbox entries of the topic, oldest first. */
  async outbox(topic: string, limit = 100): Promise<OutboxEntry[]> {
    const entries = await this.redis.xrange(topicKeys(topic)[KEY.outbox]!, '-', '+', 'COUNT', limit);
    return entries.map(([id, fields]) => {
      const f: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
      const entry: OutboxEntry = { id, kind: f.kind as OutboxEntry['kind'], seq: Number(f.seq), epoch: f.epoch ?? '', ruleId: f.rule ?? '', channels: (f.channels ?? '').split(',').filter(Boolean), due: Number(f.due) };
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
  async closeGroup(topic: string, seq: number): Promise<PulseEvent<AlertFiringData | AlertResolvedData>[]> {
    const key = groupKey(topic, seq);
    const answers = await this.redis.multi().hset(key, 'c', '1').hget(key, 'm').exec();
    const members = String((answers?.[1]?.[1] as string | null) ?? seq)
      .split(',')
      .map(Number);
    const log = topicKeys(topic)[KEY.log]!;
    const pipeline = this.redis.pipeline();
    for (const member of members) pipeline.xrange(log, `${member}-0`, `${member}-0`);
    const read = (await pipeline.exec()) ?? [];
    return read.flatMap(([, entries]) => (entries as [string, string[]][]).map(([id, fields]) => decodeEntry(topic, id, fields) as PulseEvent<AlertFiringData | AlertResolvedData>));
  }

  /** Remembers that these alerts' firing was notified on a channel (not silenced), so that their resolved is sent there whatever silences say. */
  async markNotified(topic: string, channelId: string, alertIds: string[]): Promise<void> {
    if (alertIds.length > 0) await this.redis.hset(topicKeys(topic)[KEY.alertx]!, Object.fromEntries(alertIds.map((id) => [`n:${channelId}:${id}`, '1'])));
  }

  /** Which of these alerts had their firing notified on the channel; forgets them (their resolved is being sent). */
  async takeNotified(topic: string, channelId: string, alertIds: string[]): Promise<Set<string>> {
    if (alertIds.length === 0) return new Set();
    const key = topicKeys(topic)[KEY.alertx]!;
    const fields = alertIds.map((id) => `n:${channelId}:${id}`);
    const answers = await this.redis.multi().hmget(key, ...fields).hdel(key, ...fields).exec();
    const values = (answers?.[0]?.[1] ?? []) as (string | null)[];
    return new Set(alertIds.filter((_, i) => values[i] !== null && values[i] !== undefined));
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
}
