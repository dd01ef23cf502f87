// Instances bench: what one monitor tick costs a topic with 10,000 instances (Redis time per tick, bytes the tick appends), while 1 % of them report between ticks.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { MAX_INGEST_BATCH } from '#pulse/contracts';
import { EventStore, type NewEvent } from '#pulse/event-store';
import { PROJECT_ROOT, RedisServer } from '#pulse/stack';

const INSTANCES = 10_000;
/** Instances that report between two ticks. */
const CHANGED_PER_TICK = 100;
const TICKS = 20;
const TTL_MS = 60_000;

/** A heartbeat with the meta a real agent sends (version, host, region). */
function heartbeat(i: number, at: number): NewEvent {
  return {
    type: 'instance.heartbeat',
    data: {
      instanceId: `instance-${String(i).padStart(5, '0')}`,
      status: 'working',
      nextActionAt: at + 5000,
      meta: { version: '1.4.2', host: `host-${i % 250}.eu-west-1.internal`, region: 'eu-west-1' },
    },
  };
}

/** Redis's own time (µs) of the scripts it ran since the last RESETSTAT (INFO commandstats: evalsha, and eval the first time). */
async function scriptMicros(redis: Redis): Promise<number> {
  const stats = await redis.info('commandstats');
  return [...stats.matchAll(/cmdstat_eval(?:sha)?:calls=\d+,usec=(\d+)/g)].reduce(
    (sum, line) => sum + Number(line[1]),
    0,
  );
}

/** Bytes of event data (JSON) the given seqs wrote to the log, and the size of the instances_update among them. */
async function bytesOf(
  store: EventStore,
  topic: string,
  seqs: number[],
): Promise<{ total: number; instancesUpdate: number }> {
  const page = await store.readAfter(topic, seqs[0]! - 1, seqs.length);
  let total = 0;
  let instancesUpdate = 0;
  for (const event of page?.events ?? []) {
    const bytes = Buffer.byteLength(JSON.stringify(event.data));
    total += bytes;
    if (event.type === 'instances_update') instancesUpdate = bytes;
  }
  return { total, instancesUpdate };
}

interface TickFigures {
  micros: number;
  bytes: number;
  instancesUpdateBytes: number;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-instances-bench-'));
  const server = await RedisServer.start({ dir, appendOnly: false });
  const redis = new Redis(server.url);
  try {
    let clock = Date.UTC(2026, 0, 1);
    // No instance cap here: the bench fills the topic to exactly the default cap's size.
    const store = new EventStore(redis, {
      retention: 100_000,
      idempotencyWindowMs: 60_000,
      now: () => clock,
      appendDeadlineMs: 0,
    });
    const topic = 'bench-instances';
    for (let i = 0; i < INSTANCES; i += MAX_INGEST_BATCH) {
      await store.append(
        topic,
        Array.from({ length: Math.min(MAX_INGEST_BATCH, INSTANCES - i) }, (_, k) => heartbeat(i + k, clock)),
      );
    }
    let tickAt = 0;
    const tick = async (fullInstances = false): Promise<TickFigures> => {
      clock += 1000;
      await redis.config('RESETSTAT');
      const result = await store.tick(topic, {
        tickAt: ++tickAt,
        nextTickAt: tickAt + 1,
        instanceTtlMs: TTL_MS,
        fullInstances,
      });
      const micros = await scriptMicros(redis);
      const bytes = await bytesOf(store, topic, result.seqs);
      return { micros, bytes: bytes.total, instancesUpdateBytes: bytes.instancesUpdate };
    };
    const first = await tick();
    const steady: TickFigures[] = [];
    for (let t = 0; t < TICKS; t++) {
      const from = (t * CHANGED_PER_TICK) % INSTANCES;
      await store.append(
        topic,
        Array.from({ length: CHANGED_PER_TICK }, (_, k) => heartbeat(from + k, clock)),
      );
      steady.push(await tick());
    }
    // A whole table on demand (as every PULSE_INSTANCES_FULL_EVERY-th tick carries it), after the same change.
    await store.append(
      topic,
      Array.from({ length: CHANGED_PER_TICK }, (_, k) => heartbeat(k, clock)),
    );
    const full = await tick(true);
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    const result = {
      date: new Date().toISOString(),
      instances: INSTANCES,
      changedPerTick: CHANGED_PER_TICK,
      firstTick: first,
      fullTick: full,
      steadyTick: {
        micros: median(steady.map((f) => f.micros)),
        bytes: median(steady.map((f) => f.bytes)),
        instancesUpdateBytes: median(steady.map((f) => f.instancesUpdateBytes)),
        maxMicros: Math.max(...steady.map((f) => f.micros)),
        maxBytes: Math.max(...steady.map((f) => f.bytes)),
      },
      method: `${INSTANCES} instances with 3 meta labels in one topic; the first tick after they reported, then ${TICKS} ticks each after ${CHANGED_PER_TICK} of them sent a heartbeat (median and max), then one whose instances_update is whole (fullInstances). Redis time: INFO commandstats (eval + evalsha usec) of the tick call alone; bytes: the event data the tick appended to the log (XRANGE of its seqs).`,
    };
    const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
    const md = [
      '# Instances bench',
      '',
      `Run ${result.date} with \`npm run bench:instances\`.`,
      '',
      '| measure | value |',
      '| --- | --- |',
      `| Redis ms, first tick (${INSTANCES} instances) | ${(first.micros / 1000).toFixed(1)} |`,
      `| bytes appended, first tick | ${kib(first.bytes)} |`,
      `| Redis ms per tick, ${CHANGED_PER_TICK} changed (median / max) | ${(result.steadyTick.micros / 1000).toFixed(1)} / ${(result.steadyTick.maxMicros / 1000).toFixed(1)} |`,
      `| bytes appended per tick, ${CHANGED_PER_TICK} changed (median / max) | ${kib(result.steadyTick.bytes)} / ${kib(result.steadyTick.maxBytes)} |`,
      `| of which instances_update (median) | ${kib(result.steadyTick.instancesUpdateBytes)} |`,
      `| Redis ms, a tick with the whole table (every Nth, or on demand) | ${(full.micros / 1000).toFixed(1)} |`,
      `| bytes appended, a tick with the whole table | ${kib(full.bytes)} |`,
      '',
      result.method,
      '',
    ].join('\n');
    writeFileSync(join(PROJECT_ROOT, 'bench/results/instances.json'), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(join(PROJECT_ROOT, 'bench/results/instances.md'), md);
    process.stdout.write(md);
  } finally {
    redis.disconnect();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
