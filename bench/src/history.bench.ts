// History bench: Redis time per append with the rollups against without, and the Redis memory a busy topic's history keeps after a simulated month at 10 events/s.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { HOUR_MS } from '#pulse/contracts';
import { EventStore, type NewEvent } from '#pulse/event-store';
import { PROJECT_ROOT, RedisServer } from '#pulse/stack';

const APPENDS = 20_000;
const INSTANCES = 50;
const MONTH_DAYS = 30;
const MINUTE = 60_000;
const DAY = 24 * HOUR_MS;

/** The events of a fleet at 10/s: mostly attempts with durations, some heartbeats, a failure every 10th. */
function eventAt(i: number): NewEvent {
  const instanceId = `i-${i % INSTANCES}`;
  if (i % 5 === 4) return { type: 'instance.heartbeat', data: { instanceId } };
  return {
    type: 'attempt.recorded',
    data: { instanceId, outcome: i % 10 === 3 ? 'failure' : 'success', durationMs: 5 + (i % 97) * 1.37 },
  };
}

/** Redis's own time per call of the append script (INFO commandstats), over APPENDS single-event appends 100 ms apart. */
async function microsPerAppend(redis: Redis, history: boolean, round: number): Promise<number> {
  let clock = Date.UTC(2026, 0, 1);
  const store = new EventStore(redis, {
    retention: 100_000,
    idempotencyWindowMs: 60_000,
    now: () => clock,
    history,
    appendDeadlineMs: 0,
  });
  const topic = `bench-${history ? 'on' : 'off'}-${round}`;
  await store.append(topic, [eventAt(0)]); // loads the script
  await redis.config('RESETSTAT');
  for (let i = 1; i <= APPENDS; i++) {
    clock += 100;
    await store.append(topic, [eventAt(i)]);
  }
  const stats = await redis.info('commandstats');
  const line = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(stats);
  if (!line) throw new Error(`no evalsha in INFO commandstats:\n${stats}`);
  return Number(line[2]) / Number(line[1]);
}

/**
 * A busy topic's month at 10 events/s, compressed: the first 28 days one append a hour (600 events
 * per call would only make the counters bigger numbers, not add keys), the last 48 h one append
 * of 10 events a minute, each followed by a tick. That writes every key a real month keeps: the
 * retained minutes, every hour and day, every instance-hour. Retention is counted at the month's end.
 */
async function monthFootprint(redis: Redis): Promise<{ series: number; perInstance: number; keys: number }> {
  const start = Date.UTC(2026, 0, 1);
  const end = start + MONTH_DAYS * DAY;
  let clock = start;
  const store = new EventStore(redis, {
    retention: 100_000,
    idempotencyWindowMs: 60_000,
    now: () => clock,
    appendDeadlineMs: 0,
  });
  const topic = 'bench-month';
  let i = 0;
  let tick = 0;
  const step = async (at: number) => {
    clock = at;
    // Every 6 h, instance i-0 stays away for an hour: offline time in its hours.
    const away = Math.floor((at - start) / HOUR_MS) % 6 === 5;
    const events = Array.from({ length: 10 }, () => eventAt(i++)).filter(
      (event) => !(away && (event.data as { instanceId: string }).instanceId === 'i-0'),
    );
    await store.append(topic, events);
    await store.tick(topic, { tickAt: ++tick, nextTickAt: tick + 1, instanceTtlMs: 30_000, instanceForgetMs: 7 * DAY });
  };
  for (let at = start; at < end - 2 * DAY; at += HOUR_MS) {
    for (let k = 0; k < INSTANCES; k += 10) await step(at + k * 1000);
  }
  for (let at = end - 2 * DAY; at < end; at += MINUTE) await step(at);
  const footprint = await store.history.footprint(topic, start, end, ['i-0', 'i-1'], end);
  return {
    series: footprint.series,
    perInstance: Math.max(...Object.values(footprint.instances)),
    keys: footprint.keys,
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-history-bench-'));
  const server = await RedisServer.start({ dir, appendOnly: false });
  const redis = new Redis(server.url);
  try {
    const rounds: { on: number; off: number }[] = [];
    // Alternated rounds: the machine's other load falls on both modes alike.
    for (let round = 0; round < 2; round++)
      rounds.push({ off: await microsPerAppend(redis, false, round), on: await microsPerAppend(redis, true, round) });
    const off = Math.min(...rounds.map((r) => r.off));
    const on = Math.min(...rounds.map((r) => r.on));
    const month = await monthFootprint(redis);
    const result = {
      date: new Date().toISOString(),
      appendMicros: {
        withoutHistory: round2(off),
        withHistory: round2(on),
        overheadPct: round2(((on - off) / off) * 100),
        rounds,
      },
      month: { seriesBytesPerTopic: month.series, seriesKeys: month.keys, bytesPerInstance: month.perInstance },
      method: `single-event appends, ${APPENDS} per round, 100 ms apart on the events' clock (10 events/s), ${INSTANCES} instances; Redis time from INFO commandstats (evalsha usec/calls), best of 2 rounds per mode. Month: ${MONTH_DAYS} days, the last 48 h one append a minute; MEMORY USAGE of the keys kept at the month's end.`,
    };
    const md = [
      '# History bench',
      '',
      `Run ${result.date} with \`npm run bench:history\`.`,
      '',
      '| measure | value | goal |',
      '| --- | --- | --- |',
      `| Redis µs per append, without history | ${result.appendMicros.withoutHistory} | |`,
      `| Redis µs per append, with history | ${result.appendMicros.withHistory} | |`,
      `| cost of the rollups | ${result.appendMicros.overheadPct} % | ≤ 15 % |`,
      `| series of one busy topic after a month (${month.keys} keys) | ${(month.series / 1024).toFixed(1)} KiB | < 2 MB |`,
      `| hours of one instance after a month | ${(month.perInstance / 1024).toFixed(1)} KiB | < 100 KB |`,
      '',
      result.method,
      '',
    ].join('\n');
    writeFileSync(join(PROJECT_ROOT, 'bench/results/history.json'), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(join(PROJECT_ROOT, 'bench/results/history.md'), md);
    process.stdout.write(md);
  } finally {
    redis.disconnect();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

await main();
