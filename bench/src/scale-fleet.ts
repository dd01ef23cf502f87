// Scale run, main side of the load generator: the threads of scale-worker.ts, asked all at once, their answers merged.
import { Worker } from 'node:worker_threads';
import { within } from '#pulse/stack';
import { progress } from './common.js';
import { mergedLatency, type Latency } from './fleet.js';
import type {
  ConnectResult,
  RejoinResult,
  ScaleClientSpec,
  ScaleProgress,
  ScaleRequest,
  VerifyResult,
  WindowResult,
} from './scale-worker.js';

type Body = ScaleRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

export interface WindowTotals {
  delivered: number;
  frames: number;
  latency: Latency | null;
  /** Busiest load generator thread's event loop utilisation (0..1). */
  maxElu: number;
}

/** Percentiles of a list of ms values (nulls left out). */
export function percentiles(values: number[]): { p50: number; p99: number; max: number } | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
  return { p50: at(50), p99: at(99), max: sorted[sorted.length - 1]! };
}

export class ScaleFleet {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private readonly connected: { connected: number; failed: number }[];

  private constructor(private readonly workers: Worker[]) {
    this.connected = workers.map(() => ({ connected: 0, failed: 0 }));
    workers.forEach((worker, thread) => {
      worker.on('message', (message: { id: number; result?: unknown; error?: string } | ScaleProgress) => {
        if ('progress' in message) {
          this.connected[thread] = message.progress;
          return;
        }
        const waiter = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.error !== undefined) waiter?.reject(new Error(`load generator thread ${thread}: ${message.error}`));
        else waiter?.resolve(message.result);
      });
      worker.on('error', (error) => {
        for (const waiter of this.pending.values()) waiter.reject(error);
        this.pending.clear();
      });
    });
  }

  static start(threads: number): ScaleFleet {
    return new ScaleFleet(
      Array.from({ length: threads }, () => new Worker(new URL('./scale-worker.js', import.meta.url))),
    );
  }

  get threads(): number {
    return this.workers.length;
  }

  private async ask<T>(thread: number, body: Body, timeoutMs: number): Promise<T> {
    const id = this.nextId++;
    const reply = new Promise<unknown>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.workers[thread]!.postMessage({ ...body, id });
    return (await within(`load generator thread ${thread} (${body.op})`, reply, timeoutMs)) as T;
  }

  private async all<T>(body: Body | ((thread: number) => Body), timeoutMs: number): Promise<T[]> {
    return Promise.all(
      this.workers.map((_, thread) => this.ask<T>(thread, typeof body === 'function' ? body(thread) : body, timeoutMs)),
    );
  }

  /** Connects the clients (client i on thread i mod threads), at most `concurrency` opening per thread; progress lines every few seconds. */
  async connect(
    specs: ScaleClientSpec[],
    concurrency: number,
    clockBase: number,
    timeoutMs: number,
  ): Promise<ConnectResult> {
    const perThread: ScaleClientSpec[][] = this.workers.map(() => []);
    specs.forEach((spec, i) => perThread[i % this.workers.length]!.push(spec));
    this.connected.fill({ connected: 0, failed: 0 });
    const ticker = setInterval(() => {
      const connected = this.connected.reduce((sum, part) => sum + part.connected, 0);
      const failed = this.connected.reduce((sum, part) => sum + part.failed, 0);
      progress(`  … ${connected.toLocaleString('en-US')} connected${failed ? `, ${failed} failed` : ''}`);
    }, 5000);
    try {
      const parts = await this.all<ConnectResult>(
        (thread) => ({ op: 'connect', clients: perThread[thread]!, concurrency, clockBase }),
        timeoutMs,
      );
      return {
        connected: parts.reduce((sum, part) => sum + part.connected, 0),
        failed: parts.reduce((sum, part) => sum + part.failed, 0),
        firstError: parts.find((part) => part.firstError)?.firstError ?? null,
        ms: Math.max(...parts.map((part) => part.ms)),
      };
    } finally {
      clearInterval(ticker);
    }
  }

  async mark(): Promise<void> {
    await this.all({ op: 'mark' }, 30_000);
  }

  async window(): Promise<WindowTotals> {
    const parts = await this.all<WindowResult>({ op: 'window' }, 30_000);
    return {
      delivered: parts.reduce((sum, part) => sum + part.delivered, 0),
      frames: parts.reduce((sum, part) => sum + part.frames, 0),
      maxElu: Math.max(...parts.map((part) => part.elu)),
      latency: mergedLatency(parts.map((part) => part.histogram)),
    };
  }

  async drop(timeoutMs: number): Promise<void> {
    await this.all({ op: 'drop' }, timeoutMs);
  }

  async rejoin(targets: Record<string, number>, timeoutMs: number, gapIsLoss: boolean): Promise<RejoinResult> {
    const parts = await this.all<RejoinResult>({ op: 'rejoin', targets, timeoutMs, gapIsLoss }, timeoutMs + 30_000);
    return {
      clients: parts.reduce((sum, part) => sum + part.clients, 0),
      currentMs: parts.flatMap((part) => part.currentMs),
      failed: parts.reduce((sum, part) => sum + part.failed, 0),
      firstError: parts.find((part) => part.firstError)?.firstError ?? null,
      notRecovered: parts.reduce((sum, part) => sum + part.notRecovered, 0),
      replayed: parts.reduce((sum, part) => sum + part.replayed, 0),
      gaps: parts.reduce((sum, part) => sum + part.gaps, 0),
      retries: parts.reduce((sum, part) => sum + part.retries, 0),
      elu: Math.max(...parts.map((part) => part.elu)),
    };
  }

  /** True once every client has its topic's head; `gapIsLoss` (B): a gap is never filled, so it is not waited for. */
  async settle(heads: Record<string, number>, timeoutMs: number, gapIsLoss: boolean): Promise<boolean> {
    return (await this.all<boolean>({ op: 'settle', heads, timeoutMs, gapIsLoss }, timeoutMs + 30_000)).every(Boolean);
  }

  async verify(heads: Record<string, number>): Promise<VerifyResult> {
    const parts = await this.all<VerifyResult>({ op: 'verify', heads }, 30_000);
    const [first, ...rest] = parts;
    const total: VerifyResult = { ...first! };
    for (const part of rest) for (const key of Object.keys(total) as (keyof VerifyResult)[]) total[key] += part[key];
    return total;
  }

  async close(timeoutMs: number): Promise<void> {
    await this.all({ op: 'close' }, timeoutMs);
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}
