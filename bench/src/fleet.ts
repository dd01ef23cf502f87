// The load generator, main side: worker threads holding the clients, groups of clients spread over servers and threads, merged results.
import { Worker } from 'node:worker_threads';
import * as hdr from 'hdr-histogram-js';
import { within } from '#pulse/stack';
import type { ClientKind, FleetRequest, GroupResult, SubscribeOptions } from './fleet-worker.js';

/** Latency percentiles (ms) of one run, from the merged HdrHistogram. */
export interface Latency {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** The latency of the threads' histograms (µs, compressed base64) merged, in ms; null when they hold nothing. */
export function mergedLatency(histograms: string[]): Latency | null {
  const merged = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
  });
  for (const histogram of histograms) merged.add(hdr.decodeFromCompressedBase64(histogram));
  if (merged.totalCount === 0) return null;
  const ms = (us: number) => us / 1000;
  return {
    count: merged.totalCount,
    p50: ms(merged.getValueAtPercentile(50)),
    p90: ms(merged.getValueAtPercentile(90)),
    p99: ms(merged.getValueAtPercentile(99)),
    p999: ms(merged.getValueAtPercentile(99.9)),
    max: ms(merged.maxValue),
    mean: ms(merged.mean),
  };
}

/** One group's run, every thread merged. */
export interface RunResult extends Omit<GroupResult, 'histogram' | 'elu'> {
  latency: Latency | null;
  /** Highest event loop utilisation of any load generator thread during the run. */
  maxElu: number;
}

type Body = FleetRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

const REQUEST_TIMEOUT_MS = 120_000;

export class Fleet {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  /** Per group: the threads that hold some of its clients. */
  private readonly placement = new Map<string, number[]>();

  private constructor(private readonly workers: Worker[]) {
    for (const worker of workers) {
      worker.on('message', (message: { id: number; result?: unknown; error?: string }) => {
        const waiter = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.error !== undefined) waiter?.reject(new Error(`load generator: ${message.error}`));
        else waiter?.resolve(message.result);
      });
      worker.on('error', (error) => {
        for (const waiter of this.pending.values()) waiter.reject(error);
        this.pending.clear();
      });
    }
  }

  static start(threads: number): Fleet {
    return new Fleet(Array.from({ length: threads }, () => new Worker(new URL('./fleet-worker.js', import.meta.url))));
  }

  get threads(): number {
    return this.workers.length;
  }

  private async ask(thread: number, body: Body): Promise<unknown> {
    const id = this.nextId++;
    const reply = new Promise<unknown>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.workers[thread]!.postMessage({ ...body, id });
    return within(`load generator thread ${thread} (${body.op})`, reply, REQUEST_TIMEOUT_MS);
  }

  private async all(group: string, body: Body): Promise<unknown[]> {
    return Promise.all((this.placement.get(group) ?? []).map((thread) => this.ask(thread, body)));
  }

  /** Connects `count` clients to `urls` (round robin) spread over the threads, and readies them (Pulse: subscribe with `subscribe`'s options; B: join). */
  async connect(
    group: string,
    kind: ClientKind,
    urls: string[],
    count: number,
    topic: string,
    subscribe: SubscribeOptions = {},
  ): Promise<void> {
    const perThread: string[][] = this.workers.map(() => []);
    for (let i = 0; i < count; i++) perThread[i % this.workers.length]!.push(urls[i % urls.length]!);
    const used = perThread.flatMap((list, thread) => (list.length ? [thread] : []));
    this.placement.set(group, used);
    await Promise.all(
      used.map((thread) =>
        this.ask(thread, { op: 'connect', group, kind, urls: perThread[thread]!, topic, subscribe }),
      ),
    );
  }

  /** Prepares a timed run: event i carries seq base+i+1 and is due at t0 + i·interval. */
  async arm(group: string, t0: number, intervalMs: number, base: number, count: number): Promise<void> {
    await this.all(group, { op: 'arm', group, t0, intervalMs, base, count });
  }

  /** True once every client has the run's last event; false when `timeoutMs` pass first. */
  async drain(group: string, timeoutMs: number): Promise<boolean> {
    return (await this.all(group, { op: 'drain', group, timeoutMs })).every(Boolean);
  }

  /** The group's run, merged; `order[p]`: the schedule index of the event appended at position p (null: in schedule). */
  async collect(group: string, order: number[] | null = null): Promise<RunResult> {
    const parts = (await this.all(group, { op: 'collect', group, order })) as GroupResult[];
    const result: RunResult = {
      clients: 0,
      delivered: 0,
      lost: 0,
      clientsWithLoss: 0,
      duplicates: 0,
      outOfOrder: 0,
      unexpected: 0,
      disconnects: 0,
      resyncs: 0,
      frames: 0,
      catchUp: [],
      latency: null,
      maxElu: 0,
    };
    for (const part of parts) {
      for (const key of [
        'clients',
        'delivered',
        'lost',
        'clientsWithLoss',
        'duplicates',
        'outOfOrder',
        'unexpected',
        'disconnects',
        'resyncs',
        'frames',
      ] as const)
        result[key] += part[key];
      result.catchUp.push(...part.catchUp);
      result.maxElu = Math.max(result.maxElu, part.elu);
    }
    result.latency = mergedLatency(parts.map((part) => part.histogram));
    return result;
  }

  /** Catch-up: every client of the group disconnects (remembering its last seq). */
  async away(group: string): Promise<void> {
    await this.all(group, { op: 'away', group });
  }

  /** Catch-up: every client comes back from `base` (Pulse: subscribe with since) and counts until `target`. */
  async back(group: string, base: number, target: number): Promise<void> {
    await this.all(group, { op: 'back', group, base, target });
  }

  async close(group: string): Promise<void> {
    await this.all(group, { op: 'close', group });
    this.placement.delete(group);
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}
