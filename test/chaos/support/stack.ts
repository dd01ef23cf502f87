// A chaos scenario's own Pulse: a Redis it may freeze, kill and restart, Pulse processes, the log as truth; and the knobs of a run (short or long).
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { PulseClient, type PulseClientOptions } from '#pulse/client';
import { decodeEntry, EventStore, type Drift } from '#pulse/event-store';
import { PulseStack, RedisServer } from '#pulse/stack';
import type { TopicLog } from './history.js';

/** `PULSE_CHAOS=long` (npm run test:chaos) runs the long versions; CI runs the short ones. */
export const LONG = process.env.PULSE_CHAOS === 'long';
export const scale = <T>(short: T, long: T): T => (LONG ? long : short);

/** What a process printed that means it crashed or lost track of a promise. */
export const UNHANDLED = /unhandled|uncaught|FATAL|ERR_UNHANDLED|TypeError|ReferenceError/i;

export interface ChaosStackOptions {
  gateways?: number;
  workers?: number;
  /** Redis keeps an AOF (fsync every write: a SIGTERM restart keeps every acknowledged append). @default false */
  appendOnly?: boolean;
  env?: Record<string, string>;
}

/** A Pulse on a Redis of its own, which the scenario may freeze, kill and restart on the same port. */
export class ChaosStack {
  private readonly admins: Redis[] = [];
  private readonly clients = new Set<{ close(): void }>();

  private constructor(
    public redis: RedisServer,
    readonly processes: PulseStack,
    readonly dir: string,
    private readonly appendOnly: boolean,
    /** Every line any process printed, with its name, for the no-crash checks. */
    readonly lines: { name: string; line: string }[],
  ) {}

  static async start(options: ChaosStackOptions = {}): Promise<ChaosStack> {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-chaos-'));
    const appendOnly = options.appendOnly ?? false;
    const redis = await RedisServer.start({ dir, appendOnly, args: appendOnly ? ['--appendfsync', 'always'] : [] });
    const lines: { name: string; line: string }[] = [];
    let processes: PulseStack;
    try {
      processes = await PulseStack.start({
        redisUrl: redis.url,
        gateways: options.gateways ?? 1,
        workers: options.workers ?? 1,
        env: { LOG_LEVEL: 'warn', PULSE_DEMO: '0', PULSE_TICK_MS: '3600000', ...options.env },
        onLine: (name, line) => {
          lines.push({ name, line });
          if (lines.length > 20_000) lines.splice(0, 10_000);
        },
      });
    } catch (error) {
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
    return new ChaosStack(redis, processes, dir, appendOnly, lines);
  }

  get urls(): string[] {
    return this.processes.gateways.filter((gateway) => gateway.running).map((gateway) => gateway.url);
  }

  /** A command connection to the stack's Redis (closed by stop()). */
  admin(): Redis {
    const redis = new Redis(this.redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    redis.on('error', () => undefined); // Redis is restarted on purpose; the commands themselves fail loudly.
    this.admins.push(redis);
    return redis;
  }

  /** Closes a connection from admin() before stop(). */
  release(redis: Redis): void {
    const i = this.admins.indexOf(redis);
    if (i >= 0) this.admins.splice(i, 1);
    redis.disconnect();
  }

  /** Stops Redis (SIGTERM: an AOF Redis writes everything first) and starts it again on the same port; `wipe` loses all data. */
  async restartRedis(options: { wipe: boolean }): Promise<void> {
    await this.redis.stop();
    if (options.wipe) {
      rmSync(this.dir, { recursive: true, force: true });
      mkdirSync(this.dir, { recursive: true });
    }
    this.redis = await RedisServer.start({
      dir: this.dir,
      appendOnly: this.appendOnly,
      port: this.redis.port,
      args: this.appendOnly ? ['--appendfsync', 'always'] : [],
    });
  }

  /** An SDK client over the running gateways; closed by stop(). */
  client(options: Partial<PulseClientOptions> = {}): PulseClient {
    const client = new PulseClient({ urls: this.urls, reconnectDelayMs: 50, maxReconnectDelayMs: 1000, ...options });
    this.clients.add(client);
    return client.connect();
  }

  track<T extends { close(): void }>(client: T): T {
    this.clients.add(client);
    return client;
  }

  /** The topic's current log, from XRANGE: the truth histories are held against. */
  async readLog(topic: string): Promise<TopicLog> {
    const redis = this.admin();
    try {
      const [epoch, head] = await redis.hmget(`pulse:{${topic}}:meta`, 'epoch', 'head');
      const entries: TopicLog['entries'] = new Map();
      let after = '-';
      for (;;) {
        const page = await redis.xrange(`pulse:{${topic}}:log`, after, '+', 'COUNT', 5000);
        for (const [id, fields] of page) {
          const event = decodeEntry(topic, id, fields);
          entries.set(event.seq, { type: event.type, data: event.data, ts: event.ts });
        }
        if (page.length < 5000) break;
        after = `(${page.at(-1)![0]}`;
      }
      return { topic, epoch: epoch ?? '', head: Number(head ?? 0), entries };
    } finally {
      this.release(redis);
    }
  }

  /** The topic's epoch and head, from its meta (an empty epoch and 0 before its first append). */
  async head(topic: string): Promise<{ epoch: string; head: number }> {
    const redis = this.admin();
    try {
      const [epoch, head] = await redis.hmget(`pulse:{${topic}}:meta`, 'epoch', 'head');
      return { epoch: epoch ?? '', head: Number(head ?? 0) };
    } finally {
      this.release(redis);
    }
  }

  /** Where the projections differ from the fold of the log (empty: they agree). */
  async foldDrift(topic: string): Promise<Drift[]> {
    const redis = this.admin();
    try {
      const result = await new EventStore(redis, { retention: 100_000_000, idempotencyWindowMs: 60_000 }).rebuild(
        topic,
      );
      if (!result) throw new Error(`topic ${topic} has no log`);
      return result.drift;
    } finally {
      this.release(redis);
    }
  }

  /** Lines that tell of a crash or an unhandled rejection, from any process. */
  unhandled(): string[] {
    return this.lines.filter(({ line }) => UNHANDLED.test(line)).map(({ name, line }) => `${name}: ${line}`);
  }

  async stop(): Promise<void> {
    for (const client of this.clients) client.close();
    this.clients.clear();
    for (const redis of this.admins.splice(0)) redis.disconnect();
    try {
      await this.processes.stop();
    } finally {
      await this.redis.stop();
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/** GET /readyz of one gateway: true for 200. */
export async function ready(url: string): Promise<boolean> {
  const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(3000) });
  return response.status === 200;
}

/** Resident memory of a process (bytes), from /proc. */
export function rss(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
}

/** A fresh topic name. */
let topicCount = 0;
export function uniqueTopic(name: string): string {
  topicCount += 1;
  return `${name}-${Date.now().toString(36)}-${process.pid}-${topicCount}`;
}
