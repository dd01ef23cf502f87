// The calls the throughput bench compares: EventStore.append, the same payload as raw XADD, and REST ingest.
import type { Redis } from 'ioredis';
import type { EventStore, NewEvent } from '#pulse/event-store';
import type { Call } from './throughput.js';

/** The event every bench appends: a typical fact from a monitored instance (it folds into the projections). */
export const BENCH_EVENT = {
  type: 'attempt.recorded',
  data: { instanceId: 'bench-instance-1', outcome: 'success', durationMs: 12.5 },
} as const satisfies NewEvent;

/** An epoch of the length Pulse makes, stored with every raw XADD entry as Pulse stores it. */
const RAW_EPOCH = 'm1abcdef-0123abcd';

function events(batch: number): NewEvent[] {
  return Array.from({ length: batch }, () => ({ type: BENCH_EVENT.type, data: BENCH_EVENT.data }));
}

/** One `EventStore.append` of `batch` events (seq, log, projections and trimming in one script call). */
export function appendCall(store: EventStore, topic: string, batch: number): Call {
  const batchEvents = events(batch);
  return async () => {
    await store.append(topic, batchEvents);
  };
}

function xaddArgs(key: string, retention: number): (string | number)[] {
  // The fields Pulse writes (type, ts, data JSON, epoch) and the same approximate retention.
  return [key, 'MAXLEN', '~', retention, '*', 't', BENCH_EVENT.type, 'ts', Date.now(), 'd', JSON.stringify(BENCH_EVENT.data), 'e', RAW_EPOCH];
}

/** The floor any log costs: plain XADD of the same payload; a batch is one pipelined round trip. */
export function xaddCall(redis: Redis, key: string, batch: number, retention: number): Call {
  if (batch === 1) {
    return async () => {
      const [first, ...rest] = xaddArgs(key, retention);
      await redis.xadd(first as string, ...rest);
    };
  }
  return async () => {
    const pipeline = redis.pipeline();
    for (let i = 0; i < batch; i++) {
      const [first, ...rest] = xaddArgs(key, retention);
      pipeline.xadd(first as string, ...rest);
    }
    const answers = (await pipeline.exec()) ?? [];
    const failed = answers.find(([error]) => error !== null);
    if (failed) throw failed[0]!;
  };
}

/** One `POST /api/v1/topics/:topic/events` of `batch` events to a gateway; anything but 201 is an error. */
export function restCall(url: string, topic: string, batch: number): Call {
  const body = JSON.stringify({ events: events(batch) });
  return async () => {
    const response = await fetch(`${url}/api/v1/topics/${topic}/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const text = await response.text();
    if (response.status !== 201) throw new Error(`POST answered ${response.status}: ${text.slice(0, 200)}`);
  };
}
