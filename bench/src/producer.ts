// The producer, one child process: feeds Pulse (A) through its REST ingest or EventStore.append, or emits through @socket.io/redis-emitter (B), open-loop at a fixed rate.
// Usage (through ChildServer): node producer.js <redis-url> <retention> <idempotency-window-ms>.
import { Agent, request as httpRequest } from 'node:http';
import { Emitter } from '@socket.io/redis-emitter';
import { Redis } from 'ioredis';
import { EventStore, createRedis, waitForReady } from '#pulse/event-store';
import { runChild, serveParent } from './child-server.js';
import { hrnow } from './common.js';
import { openLoop, type RunSpec } from './open-loop.js';
import { BENCH_EVENT, baselineRoom, envelope } from './payload.js';

export type System = 'pulse' | 'baseline';
/** How A is fed: `rest` POSTs each event to a gateway (round robin over `urls`), `append` calls EventStore.append. */
export type PulseFeed = 'rest' | 'append';
export type ProducerRequest =
  | ({ op: 'run'; system: System; feed: PulseFeed; urls: string[] } & RunSpec)
  | { op: 'burst'; system: System; topic: string; count: number; base: number };

/** Appends per Lua call in a burst (catch-up): what a busy producer batches. */
const BURST_BATCH = 500;
/** A REST request not answered within this counts as failed. */
const REST_TIMEOUT_MS = 30_000;
/** Keep-alive connections per gateway: enough that an open-loop burst is not queued behind a slow answer. */
const REST_SOCKETS = 32;

/** The ingest request body of one bench event. */
const REST_BODY = Buffer.from(JSON.stringify({ events: [BENCH_EVENT] }));

/** POSTs one event to `url`'s ingest of `topic` on a keep-alive connection; resolves with its seq, rejects on a non-2xx answer. */
function postEvent(agent: Agent, url: URL, topic: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        agent,
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path: `/api/v1/topics/${topic}/events`,
        headers: { 'content-type': 'application/json', 'content-length': REST_BODY.length },
        timeout: REST_TIMEOUT_MS,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) {
            reject(new Error(`POST ${url.host} ${topic}: ${status} ${text.slice(0, 200)}`));
            return;
          }
          try {
            resolve((JSON.parse(text) as { seqs: number[] }).seqs[0]!);
          } catch {
            reject(new Error(`POST ${url.host} ${topic}: ${status} with an unreadable body ${text.slice(0, 200)}`));
          }
        });
      },
    );
    req.on('timeout', () =>
      req.destroy(new Error(`POST ${url.host} ${topic}: no answer within ${REST_TIMEOUT_MS} ms`)),
    );
    req.on('error', reject);
    req.end(REST_BODY);
  });
}

async function main(redisUrl: string, retention: number, idempotencyWindowMs: number): Promise<number> {
  const appendRedis = createRedis(redisUrl, { name: 'bench:producer-append' });
  await waitForReady(appendRedis, redisUrl);
  const store = new EventStore(appendRedis, { retention, idempotencyWindowMs });
  const emitRedis = new Redis(redisUrl, { connectionName: 'bench:producer-emitter' });
  const emitter = new Emitter(emitRedis);
  const newEvents = (n: number) =>
    Array.from({ length: n }, () => ({ type: BENCH_EVENT.type, data: BENCH_EVENT.data }));

  const agent = new Agent({ keepAlive: true, maxSockets: REST_SOCKETS });
  const run = (request: ProducerRequest & { op: 'run' }) => {
    if (request.system === 'pulse' && request.feed === 'rest') {
      const urls = request.urls.map((url) => new URL(url));
      if (!urls.length) return Promise.reject(new Error('feed rest: no gateway urls'));
      return openLoop(request, (index) => postEvent(agent, urls[index % urls.length]!, request.topic));
    }
    return request.system === 'pulse'
      ? openLoop(request, async () => (await store.append(request.topic, [BENCH_EVENT])).seqs[0])
      : openLoop(request, (index) => {
          // One PUBLISH per event, as the emitter does; it does not say whether Redis took it (fire and forget).
          emitter
            .to(baselineRoom(request.topic))
            .emit(BENCH_EVENT.type, envelope(request.topic, request.base + index + 1));
        });
  };

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
      agent.destroy();
      await Promise.allSettled([appendRedis.quit(), emitRedis.quit()]);
    },
  );
  return 0;
}

runChild(() =>
  main(
    process.argv[2] ?? 'redis://127.0.0.1:6379',
    Number(process.argv[3] ?? 100_000),
    Number(process.argv[4] ?? 86_400_000),
  ),
);
