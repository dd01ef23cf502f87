// The producer, one child process: appends to Pulse's log (A) or emits through @socket.io/redis-emitter (B), open-loop at a fixed rate.
// Usage (through ChildServer): node producer.js <redis-url> <retention>.
import { Emitter } from '@socket.io/redis-emitter';
import { Redis } from 'ioredis';
import { EventStore, createRedis, waitForReady } from '#pulse/event-store';
import { notifyParent, serveParent } from './child-server.js';
import { hrnow } from './common.js';
import { openLoop, type RunSpec } from './open-loop.js';
import { BENCH_EVENT, baselineRoom, envelope } from './payload.js';

export type System = 'pulse' | 'baseline';
export type ProducerRequest =
  | ({ op: 'run'; system: System } & RunSpec)
  | { op: 'burst'; system: System; topic: string; count: number; base: number };

/** Appends per Lua call in a burst (catch-up): what a busy producer batches. */
const BURST_BATCH = 500;

async function main(redisUrl: string, retention: number, idempotencyWindowMs: number): Promise<void> {
  const appendRedis = createRedis(redisUrl, { name: 'bench:producer-append' });
  await waitForReady(appendRedis, redisUrl);
  const store = new EventStore(appendRedis, { retention, idempotencyWindowMs });
  const emitRedis = new Redis(redisUrl, { connectionName: 'bench:producer-emitter' });
  const emitter = new Emitter(emitRedis);
  const newEvents = (n: number) =>
    Array.from({ length: n }, () => ({ type: BENCH_EVENT.type, data: BENCH_EVENT.data }));

  const run = (request: ProducerRequest & { op: 'run' }) =>
    request.system === 'pulse'
      ? openLoop(request, async () => (await store.append(request.topic, [BENCH_EVENT])).seqs[0])
      : openLoop(request, (index) => {
          // One PUBLISH per event, as the emitter does; it does not say whether Redis took it (fire and forget).
          emitter
            .to(baselineRoom(request.topic))
            .emit(BENCH_EVENT.type, envelope(request.topic, request.base + index + 1));
        });

  const burst = async (request: ProducerRequest & { op: 'burst' }) => {
    const started = hrnow();
    if (request.system === 'pulse') {
      for (let done = 0; done < request.count; done += BURST_BATCH)
        await store.append(request.topic, newEvents(Math.min(BURST_BATCH, request.count - done)));
    } else {
      for (let i = 1; i <= request.count; i++)
        emitter.to(baselineRoom(request.topic)).emit(BENCH_EVENT.type, envelope(request.topic, request.base + i));
      await emitRedis.ping(); // answered after every PUBLISH before it
    }
    return { ms: hrnow() - started };
  };

  serveParent(
    (body) => {
      const request = body as ProducerRequest;
      return request.op === 'run' ? run(request) : burst(request);
    },
    async () => {
      await Promise.allSettled([appendRedis.quit(), emitRedis.quit()]);
    },
  );
  notifyParent({ kind: 'ready', port: 0 });
}

main(
  process.argv[2] ?? 'redis://127.0.0.1:6379',
  Number(process.argv[3] ?? 100_000),
  Number(process.argv[4] ?? 86_400_000),
).catch((error: unknown) => {
  notifyParent({ kind: 'failed', message: error instanceof Error ? error.message : String(error) });
  process.exit(1);
});
