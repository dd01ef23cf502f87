// The ingest bench's load generator, one child process: open-loop POSTs to a gateway's REST ingest over keep-alive connections, or EventStore.append called directly.
// Usage (through ChildServer): node ingest-client.js <redis-url> [<other project root, for A/B>].
import { Agent, request as httpRequest } from 'node:http';
import { pathToFileURL } from 'node:url';
import { parseConfig } from '#pulse/config';
import { EventStore, createRedis, eventStoreOptions, waitForReady, type NewEvent } from '#pulse/event-store';
import { runChild, serveParent } from './child-server.js';
import { errorMessage, hrnow, sleep } from './common.js';
import { openLoop } from './open-loop.js';
import { cpuMs, type Roles } from './proc-stats.js';

/** One step of the ladder: `ratePerSec` requests (or append calls) of `batch` events each. */
export interface IngestStep {
  /** 'http': POST to `url`; 'direct': EventStore.append of this tree (A) or the other root's (B). */
  via: 'http' | 'direct';
  /** Gateway base URL (http only). */
  url?: string;
  /** Which tree's EventStore (direct only). @default 'A' */
  tree?: 'A' | 'B';
  topic: string;
  ratePerSec: number;
  batch: number;
  /** Seconds sent but not measured (connections, JIT, the topic's first append). */
  warmupS: number;
  /** Seconds measured after the warm-up. */
  measureS: number;
  /** Every event carries an idempotency key (as a producer that retries sends them). */
  keys: boolean;
  /** Processes whose CPU the step is charged to, sampled at the measured window's edges. */
  roles: Roles;
}

export interface IngestStepResult {
  /** Requests due in the measured window, and the events they carried. */
  requests: number;
  events: number;
  /** Requests (anywhere in the step) that failed or were not answered 201 with one seq per event. */
  failed: number;
  firstError: string | null;
  /** Latency of the measured window's requests from their scheduled time (ms): queueing in the client counts. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Worst lateness of a send against its schedule (ms): the load generator's own lag. */
  maxLagMs: number;
  /** Wall ms of the measured window and CPU ms of each role in it. */
  wallMs: number;
  cpuMs: Record<string, number>;
  /** Seqs that did not continue the topic's log by one (another writer, or a lost or repeated event). */
  seqGaps: number;
}

/** Instances the events spread over, as a small fleet reports. */
const INSTANCES = 50;

/** The events of one request: mostly attempts with durations, a heartbeat every 5th, a failure every 10th. */
function eventsAt(first: number, batch: number, keys: boolean, run: string): NewEvent[] {
  const events: NewEvent[] = [];
  for (let i = first; i < first + batch; i++) {
    const instanceId = `i-${i % INSTANCES}`;
    const idempotencyKey = keys ? `${run}-${i}` : undefined;
    events.push(
      i % 5 === 4
        ? { type: 'instance.heartbeat', data: { instanceId, status: 'online' }, idempotencyKey }
        : {
            type: 'attempt.recorded',
            data: { instanceId, outcome: i % 10 === 3 ? 'failure' : 'success', durationMs: 5 + (i % 97) * 1.37 },
            idempotencyKey,
          },
    );
  }
  return events;
}

function sample(roles: Roles): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [role, pids] of Object.entries(roles)) out[role] = pids.reduce((sum, pid) => sum + (cpuMs(pid) ?? 0), 0);
  return out;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** POSTs `body` and resolves with the answer's seqs; rejects on anything but 201. */
function post(agent: Agent, url: URL, body: string): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 201) return reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
          try {
            resolve((JSON.parse(text) as { seqs: number[] }).seqs);
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function main(redisUrl: string, otherRoot: string | undefined): Promise<number> {
  const options = eventStoreOptions(parseConfig({}));
  const redis = createRedis(redisUrl, { name: 'bench:ingest-direct' });
  await waitForReady(redis, redisUrl);
  const stores: Record<'A' | 'B', { append: (topic: string, events: NewEvent[]) => Promise<{ seqs: number[] }> }> = {
    A: new EventStore(redis, options),
    B: new EventStore(redis, options),
  };
  if (otherRoot) {
    // The other tree's store on its own connection: its Lua is registered under the same command names.
    const other = (await import(
      pathToFileURL(`${otherRoot}/dist/libs/event-store/src/index.js`).href
    )) as typeof import('#pulse/event-store');
    const otherRedis = other.createRedis(redisUrl, { name: 'bench:ingest-direct-b' });
    await other.waitForReady(otherRedis, redisUrl);
    stores.B = new other.EventStore(otherRedis, options);
  }
  // Enough connections that a slow answer does not hold the next requests back (they queue in the agent past it).
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  let runs = 0;

  const step = async (spec: IngestStep): Promise<IngestStepResult> => {
    const run = `r${process.pid}-${++runs}`;
    const interval = 1000 / spec.ratePerSec;
    const count = Math.max(1, Math.round(spec.ratePerSec * (spec.warmupS + spec.measureS)));
    const t0 = hrnow() + 50;
    const measureFrom = t0 + spec.warmupS * 1000;
    const measureTo = t0 + (spec.warmupS + spec.measureS) * 1000;
    const latencies: number[] = [];
    const seqs: number[] = [];
    let failed = 0;
    let firstError: string | null = null;
    const url = new URL(`/api/v1/topics/${spec.topic}/events`, spec.url ?? 'http://127.0.0.1');
    const store = stores[spec.tree ?? 'A'];
    let cpuStart: Record<string, number> = {};
    let cpuEnd: Record<string, number> = {};
    const startSample = sleep(measureFrom - hrnow()).then(() => (cpuStart = sample(spec.roles)));
    const endSample = sleep(measureTo - hrnow()).then(() => (cpuEnd = sample(spec.roles)));
    const stats = await openLoop(
      { topic: spec.topic, t0, ratePerSec: spec.ratePerSec, count, base: 0 },
      async (index) => {
        const due = t0 + index * interval;
        const events = eventsAt(index * spec.batch, spec.batch, spec.keys, run);
        try {
          const got =
            spec.via === 'http'
              ? await post(
                  agent,
                  url,
                  JSON.stringify({
                    events: events.map(({ type, data, idempotencyKey }) => ({ type, data, idempotencyKey })),
                  }),
                )
              : (await store.append(spec.topic, events)).seqs;
          if (got.length !== spec.batch) throw new Error(`${got.length} seqs for ${spec.batch} events`);
          seqs.push(...got);
          if (due >= measureFrom && due < measureTo) latencies.push(hrnow() - due);
        } catch (error) {
          failed += 1;
          firstError ??= errorMessage(error);
        }
      },
    );
    await Promise.all([startSample, endSample]);
    seqs.sort((a, b) => a - b);
    let seqGaps = 0;
    for (let i = 1; i < seqs.length; i++) if (seqs[i] !== seqs[i - 1]! + 1) seqGaps += 1;
    if (seqs.length > 0 && seqs[0] !== 1) seqGaps += 1;
    const sorted = Float64Array.from(latencies).sort();
    const cpu: Record<string, number> = {};
    for (const role of Object.keys(spec.roles)) cpu[role] = (cpuEnd[role] ?? 0) - (cpuStart[role] ?? 0);
    return {
      requests: sorted.length,
      events: sorted.length * spec.batch,
      failed: failed + stats.failed,
      firstError: firstError ?? stats.firstError,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      maxMs: sorted.length ? sorted[sorted.length - 1]! : 0,
      maxLagMs: stats.maxLagMs,
      wallMs: measureTo - measureFrom,
      cpuMs: cpu,
      seqGaps,
    };
  };

  serveParent(
    (body) => step(body as IngestStep),
    async () => {
      agent.destroy();
      await redis.quit().catch(() => undefined);
    },
  );
  return 0;
}

runChild(() => main(process.argv[2] ?? 'redis://127.0.0.1:6379', process.argv[3] || undefined));
