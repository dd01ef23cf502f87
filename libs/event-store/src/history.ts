// The history projections as stored by the append and tick scripts: series buckets, instance hours, availability; reads, and the rebuild's check and repair of them.
import {
  addBucket,
  emptyBucket,
  HOUR_MS,
  pointOf,
  SERIES_STEPS,
  seriesRange,
  STEP_MS,
  uptimePercent,
  UPTIME_WINDOWS,
  type Availability,
  type Bucket,
  type HistoryState,
  type InstanceHistory,
  type InstanceHour,
  type InstanceState,
  type SeriesResponse,
  type SeriesStep,
  type UptimeList,
} from '#pulse/contracts';
import { bucketKey, historyPrefix, instanceDayKey, KEY, offlineDayKey, topicKeys } from './keys.js';
import type { RedisConnection } from './redis.js';
import { HISTORY_LUA, HISTORY_REPLACE_LUA } from './scripts.js';

export type ScriptRunner = (keys: string[], args: (string | number)[]) => Promise<unknown>;

const DAY_MS = STEP_MS['1d'];
/** Reads one pipeline of an uptime list sends: others' requests wait for at most this many (tens of ms). */
const UPTIME_READS_PER_CALL = 2000;
/** An instance without closed offline time. */
const NO_HOURS: ReadonlyMap<number, number> = new Map();

/** The stored field of each bucket member; dn (attempts without a duration) stands for the duration count. */
const FIELD: Record<string, keyof Bucket | 'dn'> = {
  a: 'attempts',
  f: 'failures',
  ds: 'duration_sum_us',
  dn: 'dn',
  dm: 'duration_max_us',
  ai: 'active_instances',
  ki: 'known_instances',
};

/** A bucket as stored: flat HGETALL fields a f ds dn dm ai ki. */
function bucketOf(flat: string[]): Bucket {
  const bucket = emptyBucket();
  let withoutDuration = 0;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = FIELD[flat[i]!];
    if (name === 'dn') withoutDuration = Number(flat[i + 1]);
    else if (name) bucket[name] = Number(flat[i + 1]);
  }
  bucket.duration_count = bucket.attempts - withoutDuration;
  return bucket;
}

/** A bucket as the scripts store it (zero counters and unknown gauges left out; dn for the attempts without a duration). */
function fieldsOf(bucket: Bucket): (string | number)[] {
  const fields: (string | number)[] = [];
  const put = (name: string, value: number | null, keep: boolean) => {
    if (value !== null && keep) fields.push(name, value);
  };
  put('a', bucket.attempts, bucket.attempts > 0);
  put('f', bucket.failures, bucket.failures > 0);
  put('ds', bucket.duration_sum_us, bucket.duration_sum_us > 0);
  put('dn', bucket.attempts - bucket.duration_count, bucket.attempts > bucket.duration_count);
  put('dm', bucket.duration_max_us, bucket.duration_max_us > 0);
  put('ai', bucket.active_instances, true);
  put('ki', bucket.known_instances, true);
  return fields;
}

/** Buckets as the reads give them: the minute the append is writing (hm) added into its hour and day. */
function withPendingMinute(
  step: SeriesStep,
  starts: number[],
  stored: Bucket[],
  hm: number | null,
  minute: Bucket,
): Bucket[] {
  if (step === '1m' || hm === null) return stored;
  const at = starts.indexOf(hm - (hm % STEP_MS[step]));
  if (at >= 0) addBucket(stored[at]!, { ...minute, active_instances: null, known_instances: null });
  return stored;
}

function sameBucket(a: Bucket, b: Bucket): boolean {
  return (Object.keys(a) as (keyof Bucket)[]).every((field) => a[field] === b[field]);
}

/** The hours stored in an instance's day hashes (fields <hour><a|f|o>), by hour start. */
function hoursOfDays(days: number[], hashes: Record<string, string>[]): Map<number, InstanceHour> {
  const hours = new Map<number, InstanceHour>();
  days.forEach((day, i) => {
    for (const [field, value] of Object.entries(hashes[i] ?? {})) {
      const match = /^(\d+)([afo])$/.exec(field);
      if (!match) continue;
      const start = day + Number(match[1]) * HOUR_MS;
      const hour = hours.get(start) ?? { attempts: 0, failures: 0, offline_ms: 0 };
      hour[({ a: 'attempts', f: 'failures', o: 'offline_ms' } as const)[match[2] as 'a' | 'f' | 'o']] = Number(value);
      hours.set(start, hour);
    }
  });
  return hours;
}

/** What a rebuild found about the series: drift per bucket, and the writes that mend it. */
export interface HistoryRebuild {
  /** Buckets compared (those the retained log fully covers, within retention). */
  compared: number;
  drift: { path: string; live: unknown; rebuilt: unknown }[];
  /** The minute the append was writing when read (the repair is refused if it moved). */
  hm: string;
  /** `expiry`: when the bucket leaves, on the store's clock. */
  writes: { key: string; expiry: number; fields: (string | number)[] }[];
}

/** The starts of the UTC days that [from, to) touches. */
function daysOf(from: number, to: number): number[] {
  const days: number[] = [];
  for (let day = from - (from % DAY_MS); day < to; day += DAY_MS) days.push(day);
  return days;
}

export class History {
  private readonly readScript: ScriptRunner;
  private readonly replaceScript: ScriptRunner;

  constructor(
    private readonly redis: RedisConnection,
    script: (name: string, lua: string) => ScriptRunner,
    private readonly retention: Record<SeriesStep, number>,
    private readonly now: () => number,
  ) {
    this.readScript = script('pulseHistory', HISTORY_LUA);
    this.replaceScript = script('pulseHistoryReplace', HISTORY_REPLACE_LUA);
  }

  /** The stored buckets of `step` starting at `starts`, read at one point of the log; zeros where nothing is stored. */
  async buckets(topic: string, step: SeriesStep, starts: number[]): Promise<Bucket[]> {
    return (await this.read(topic, step, starts)).buckets;
  }

  private async read(
    topic: string,
    step: SeriesStep,
    starts: number[],
  ): Promise<{ buckets: Bucket[]; hm: string; seq: number }> {
    const answer = (await this.readScript(topicKeys(topic), [
      historyPrefix(topic),
      ...starts.map((t) => bucketKey(topic, step, t)),
    ])) as [string, string, string[], ...string[][]];
    const [head, hm, minute, ...flat] = answer;
    return {
      buckets: withPendingMinute(step, starts, flat.map(bucketOf), hm === '' ? null : Number(hm), bucketOf(minute)),
      hm,
      seq: head === '' ? 0 : Number(head),
    };
  }

  /** Every bucket of [from, to) at `step` (see seriesRange; throws RangeError for a range it refuses). */
  async series(topic: string, step: SeriesStep, from: number, to: number): Promise<SeriesResponse> {
    const range = seriesRange(step, from, to);
    const { buckets, seq } = await this.read(topic, step, range.starts);
    return {
      topic,
      step,
      from: range.from,
      to: range.to,
      seq,
      points: buckets.map((bucket, i) => pointOf(range.starts[i]!, bucket)),
    };
  }

  /**
   * The buckets of [from, to) at `step` added up (from rounded down to the step): e.g. attempts and
   * failures over the last N minutes. Gauges are the latest bucket's that has them.
   */
  async sum(topic: string, step: SeriesStep, from: number, to: number): Promise<Bucket> {
    const buckets = await this.buckets(topic, step, seriesRange(step, from, to).starts);
    return buckets.reduce((total, bucket) => addBucket(total, bucket), emptyBucket());
  }

  /**
   * An instance's state, availability, uptime over 24 h / 7 d / 30 d and hourly series over
   * [from, to) (default: the last 24 h); null when the topic has no such instance.
   */
  async instance(
    topic: string,
    instanceId: string,
    range: { from?: number; to?: number } = {},
  ): Promise<InstanceHistory | null> {
    const now = this.now();
    const to = range.to ?? now;
    const from = range.from ?? to - UPTIME_WINDOWS['24h'];
    const series = seriesRange('1h', from, to);
    const keys = topicKeys(topic);
    // The days covering the series and those covering the 30-day uptime window, each read whole:
    // two bounded ranges (at most 64 and 31 days), however far apart the series is from now.
    const days = [
      ...new Set([...daysOf(series.from, series.to), ...daysOf(now - UPTIME_WINDOWS['30d'], now + 1)]),
    ].sort((a, b) => a - b);
    let multi = this.redis
      .multi()
      .hget(keys[KEY.instances]!, instanceId)
      .hmget(keys[KEY.avail]!, `${instanceId}:f`, `${instanceId}:o`);
    for (const day of days) multi = multi.hgetall(instanceDayKey(topic, instanceId, day));
    const answers = (await multi.exec()) as [Error | null, unknown][];
    const failed = answers.find(([error]) => error);
    if (failed) throw failed[0]!;
    const [[, json], [, avail], ...dayHashes] = answers as [
      [null, string | null],
      [null, (string | null)[]],
      ...[null, Record<string, string>][],
    ];
    if (!json) return null;
    const hours = hoursOfDays(
      days,
      dayHashes.map(([, hash]) => hash),
    );
    const availability: Availability = {
      first_seen: avail[0] ? Number(avail[0]) : null,
      offline_since: avail[1] ? Number(avail[1]) : null,
    };
    const offlineMs = new Map([...hours].map(([hour, { offline_ms }]) => [hour, offline_ms]));
    const uptime = Object.fromEntries(
      Object.entries(UPTIME_WINDOWS).map(([name, ms]) => [name, uptimePercent(offlineMs, availability, now, ms)]),
    ) as InstanceHistory['uptime'];
    const state = JSON.parse(json) as InstanceState;
    return {
      ...state,
      topic,
      ...availability,
      uptime,
      series: {
        step: '1h',
        from: series.from,
        to,
        points: series.starts.map((t) => ({ t, ...(hours.get(t) ?? { attempts: 0, failures: 0, offline_ms: 0 }) })),
      },
    };
  }

  /**
   * Every instance's uptime over one window (for a table of the fleet), sorted by id. A day's closed
   * offline hours come from the topic's offline day (one read for the whole fleet); a day that
   * started before the topic's first such write (meta `ho`: an earlier build kept them only per
   * instance) is read from each instance's day instead.
   */
  async uptimes(topic: string, window: keyof typeof UPTIME_WINDOWS): Promise<UptimeList> {
    const now = this.now();
    const keys = topicKeys(topic);
    const [[, ids], [, avail], [, since]] = (await this.redis
      .multi()
      .hkeys(keys[KEY.instances]!)
      .hgetall(keys[KEY.avail]!)
      .hget(keys[KEY.meta]!, 'ho')
      .exec()) as [[null, string[]], [null, Record<string, string>], [null, string | null]];
    const days = daysOf(now - UPTIME_WINDOWS[window], now);
    const aggregated = (day: number) => since !== null && day >= Number(since);
    const offline = new Map<string, Map<number, number>>();
    const add = (id: string, hour: number, ms: number) => {
      let hours = offline.get(id);
      if (!hours) offline.set(id, (hours = new Map<number, number>()));
      hours.set(hour, (hours.get(hour) ?? 0) + ms);
    };
    const fleetDays = days.filter(aggregated);
    const fleetHashes = await this.hashes(fleetDays.map((day) => offlineDayKey(topic, day)));
    fleetDays.forEach((day, i) => {
      for (const [field, value] of Object.entries(fleetHashes[i]!)) {
        const colon = field.indexOf(':');
        add(field.slice(colon + 1), day + Number(field.slice(0, colon)) * HOUR_MS, Number(value));
      }
    });
    const instanceDays = days.filter((day) => !aggregated(day));
    const dayHashes = await this.hashes(ids.flatMap((id) => instanceDays.map((day) => instanceDayKey(topic, id, day))));
    ids.forEach((id, i) => {
      const hashes = dayHashes.slice(i * instanceDays.length, (i + 1) * instanceDays.length);
      for (const [hour, { offline_ms }] of hoursOfDays(instanceDays, hashes)) add(id, hour, offline_ms);
    });
    const instances = ids
      .map((id) => {
        const availability: Availability = {
          first_seen: avail[`${id}:f`] ? Number(avail[`${id}:f`]) : null,
          offline_since: avail[`${id}:o`] ? Number(avail[`${id}:o`]) : null,
        };
        return {
          id,
          uptime: uptimePercent(offline.get(id) ?? NO_HOURS, availability, now, UPTIME_WINDOWS[window]),
        };
      })
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { topic, window, at: now, instances };
  }

  /**
   * HGETALL of each key, in their order. In pipelines of UPTIME_READS_PER_CALL, one after the other:
   * as one (10,000 instances over 30 days: 310,000 reads, 2.5 s), they held every other request of
   * this gateway's Redis connection (snapshots, appends) until the last answer.
   */
  private async hashes(keys: string[]): Promise<Record<string, string>[]> {
    const answers: Record<string, string>[] = [];
    for (let from = 0; from < keys.length; from += UPTIME_READS_PER_CALL) {
      const pipeline = this.redis.pipeline();
      for (const key of keys.slice(from, from + UPTIME_READS_PER_CALL)) pipeline.hgetall(key);
      for (const [error, hash] of (await pipeline.exec()) ?? []) {
        if (error) throw error;
        answers.push(hash as Record<string, string>);
      }
    }
    return answers;
  }

  /**
   * Compares the stored buckets with `rebuilt` (the fold of the retained log) for every bucket the
   * retained log fully covers: those starting after `coveredAfter` (the first retained event's ts,
   * or -Infinity when nothing was trimmed) and still within their step's retention.
   */
  async compare(topic: string, rebuilt: HistoryState, coveredAfter: number, lastTs: number): Promise<HistoryRebuild> {
    const now = this.now();
    const result: HistoryRebuild = { compared: 0, drift: [], hm: '', writes: [] };
    const reads = await Promise.all(
      SERIES_STEPS.map(async (step) => {
        const size = STEP_MS[step];
        const kept = now - this.retention[step] - size;
        // With nothing trimmed, every bucket from the log's first one is covered.
        const rebuiltStarts = [...rebuilt.buckets.keys()]
          .filter((key) => key.startsWith(`${step}:`))
          .map((key) => Number(key.slice(step.length + 1)));
        const lower = coveredAfter === -Infinity ? Math.min(lastTs, ...rebuiltStarts) : coveredAfter + 1;
        const first = Math.ceil(Math.max(lower, kept) / size) * size;
        const starts: number[] = [];
        for (let t = first; t <= lastTs; t += size) starts.push(t);
        return { step, starts, ...(await this.read(topic, step, starts)) };
      }),
    );
    // Every read must have seen the same pending minute, or the comparison mixes two states.
    const hms = new Set(reads.map((read) => read.hm));
    if (hms.size > 1)
      throw new Error(`events were appended to ${topic} while its series were read; run the rebuild again`);
    result.hm = reads[0]!.hm;
    const hm = result.hm === '' ? null : Number(result.hm);
    const pendingMinute = hm === null ? emptyBucket() : (rebuilt.buckets.get(`1m:${hm}`) ?? emptyBucket());
    for (const { step, starts, buckets } of reads) {
      starts.forEach((t, i) => {
        result.compared += 1;
        const live = buckets[i]!;
        const want = rebuilt.buckets.get(`${step}:${t}`) ?? emptyBucket();
        if (sameBucket(live, want)) return;
        const at = new Date(t).toISOString();
        for (const field of Object.keys(want) as (keyof Bucket)[]) {
          if (live[field] !== want[field])
            result.drift.push({ path: `series.${step}.${at}.${field}`, live: live[field], rebuilt: want[field] });
        }
        // An hour or day holding the pending minute is stored without it: the append rolls it up later.
        const stored = { ...want };
        if (step !== '1m' && hm !== null && hm - (hm % STEP_MS[step]) === t) {
          stored.attempts -= pendingMinute.attempts;
          stored.failures -= pendingMinute.failures;
          stored.duration_sum_us -= pendingMinute.duration_sum_us;
          stored.duration_count -= pendingMinute.duration_count;
        }
        result.writes.push({
          key: bucketKey(topic, step, t),
          expiry: t + STEP_MS[step] + this.retention[step],
          fields: fieldsOf(stored),
        });
      });
    }
    return result;
  }

  /**
   * Bytes of Redis memory (MEMORY USAGE) that the topic's history keeps at `at` on the events'
   * clock: the buckets of [from, to) of every step and the given instances' days whose retention has
   * not run out by then, and the availability hash. For measuring (the bench), not for serving.
   */
  async footprint(
    topic: string,
    from: number,
    to: number,
    instanceIds: string[],
    at: number,
  ): Promise<{ series: number; instances: Record<string, number>; keys: number }> {
    const usage = async (keys: string[]): Promise<number[]> => {
      const sizes: number[] = [];
      for (let i = 0; i < keys.length; i += 1000) {
        const pipeline = this.redis.pipeline();
        for (const key of keys.slice(i, i + 1000)) pipeline.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
        for (const [error, size] of (await pipeline.exec()) ?? []) sizes.push(error ? 0 : Number(size ?? 0));
      }
      return sizes;
    };
    const seriesKeys: string[] = [];
    for (const step of SERIES_STEPS) {
      const size = STEP_MS[step];
      for (let t = from - (from % size); t < to; t += size)
        if (t + size + this.retention[step] > at) seriesKeys.push(bucketKey(topic, step, t));
    }
    const series = await usage(seriesKeys);
    const instances: Record<string, number> = {};
    for (const id of instanceIds) {
      const days: string[] = [];
      for (let day = from - (from % DAY_MS); day < to; day += DAY_MS)
        if (day + DAY_MS + this.retention['1h'] > at) days.push(instanceDayKey(topic, id, day));
      instances[id] = (await usage(days)).reduce((a, b) => a + b, 0);
    }
    const [avail] = await usage([topicKeys(topic)[KEY.avail]!]);
    return {
      series: series.reduce((a, b) => a + b, 0) + avail!,
      instances,
      keys: series.filter((size) => size > 0).length,
    };
  }

  /** Writes the rebuilt buckets, if nothing was appended since the rebuild at `seq`; false when the log moved on. */
  async apply(topic: string, seq: number, rebuild: HistoryRebuild): Promise<boolean> {
    if (rebuild.writes.length === 0) return true;
    const args: (string | number)[] = [seq, rebuild.hm, historyPrefix(topic)];
    const now = this.now();
    for (const write of rebuild.writes)
      args.push(write.key, Math.max(1, write.expiry - now), write.fields.length / 2, ...write.fields);
    return (await this.replaceScript(topicKeys(topic), args)) === 1;
  }
}
