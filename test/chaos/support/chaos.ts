// What every chaos scenario needs: its own Redis and Pulse processes, subscribers that record histories, the log as truth, the summary table.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { io } from 'socket.io-client';
import { PulseClient, type PulseClientOptions } from '#pulse/client';
import { decodeEntry, EventStore, type Drift } from '#pulse/event-store';
import { EVENT_TYPES, type PulseEvent, type SubscribeAck } from '#pulse/contracts';
import { PROJECT_ROOT, PulseStack, RedisServer } from '#pulse/stack';
import { Changes, type PulseClientSocket } from '../../support/clients.js';
import { checkHistories, History, summaryLine, type CheckOptions, type CheckResult, type TopicLog } from './history.js';

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
    this.redis = await RedisServer.start({ dir: this.dir, appendOnly: this.appendOnly, port: this.redis.port, args: this.appendOnly ? ['--appendfsync', 'always'] : [] });
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
      const entries = new Map<number, { type: string; data: unknown }>();
      let after = '-';
      for (;;) {
        const page = await redis.xrange(`pulse:{${topic}}:log`, after, '+', 'COUNT', 5000);
        for (const [id, fields] of page) {
          const event = decodeEntry(topic, id, fields);
          entries.set(event.seq, { type: event.type, data: event.data });
        }
        if (page.length < 5000) break;
        after = `(${page.at(-1)![0]}`;
      }
      return { topic, epoch: epoch ?? '', head: Number(head ?? 0), entries };
    } finally {
      this.release(redis);
    }
  }

  /** Where the projections differ from the fold of the log (empty: they agree). */
  async foldDrift(topic: string): Promise<Drift[]> {
    const redis = this.admin();
    try {
      const result = await new EventStore(redis, { retention: 100_000_000, idempotencyWindowMs: 60_000 }).rebuild(topic);
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

/** A subscriber that records what it is handed: the SDK (its handlers) or the wire (every frame, unfiltered). */
export interface Subscriber {
  readonly history: History;
  readonly topic: string;
  /** Resumes answered `recovered: true`. */
  readonly recovered?: number;
  close(): void;
}

/** An SDK client following one topic; its handlers record the history. */
export class SdkSubscriber implements Subscriber {
  readonly history: History;
  readonly client: PulseClient;
  recovered = 0;

  constructor(
    stack: ChaosStack,
    readonly topic: string,
    name: string,
    changes: Changes,
    options: Partial<PulseClientOptions> = {},
  ) {
    this.history = new History(name);
    this.client = stack.client(options);
    this.client.subscribe(topic, {
      onEvent: (event) => {
        this.history.event(event);
        changes.changed();
      },
      onSnapshot: (snapshot, reason) => {
        this.history.snapshot(snapshot, reason);
        changes.changed();
      },
      onRecovered: () => {
        this.recovered += 1;
      },
    });
  }

  close(): void {
    this.client.close();
  }
}

/**
 * A plain socket.io-client that records every frame as it arrives (no dedupe, no hole filling: the
 * checker sees what the server sent). When the connection drops it resumes on the next gateway
 * with `since` = the last seq it recorded; on `resync` it subscribes again for a snapshot.
 */
export class WireSubscriber implements Subscriber {
  readonly history: History;
  socket: PulseClientSocket | null = null;
  /** The gateway it is connected to (or trying). */
  url = '';
  private index: number;
  private closed = false;
  reconnects = 0;
  recovered = 0;

  constructor(
    private readonly urls: () => string[],
    readonly topic: string,
    name: string,
    private readonly changes: Changes,
    private readonly options: { batch?: boolean; start?: number; from?: { epoch: string; seq: number } } = {},
  ) {
    this.history = new History(name);
    // A client coming back: it holds this position and resumes from it.
    if (options.from) this.history.snapshot({ topic, ...options.from }, 'held before');
    this.index = options.start ?? 0;
    this.open();
  }

  private open(): void {
    if (this.closed) return;
    const urls = this.urls();
    const url = urls[this.index % urls.length]!;
    this.url = url;
    const socket: PulseClientSocket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, timeout: 5000 });
    this.socket = socket;
    const record = (event: PulseEvent) => {
      if (event.topic === this.topic) this.history.event(event);
    };
    // A change is signalled after the frame is recorded: socket.io-client runs onAny listeners before
    // the named ones, so an onAny signal re-checked waits before the last event was in the history.
    if (this.options.batch)
      socket.on('events', (events) => {
        events.forEach(record);
        this.changes.changed();
      });
    else
      for (const name of EVENT_TYPES)
        socket.on(name, (event: PulseEvent) => {
          record(event);
          this.changes.changed();
        });
    socket.on('resync', ({ topic }) => {
      if (topic === this.topic) this.subscribe(socket, false);
    });
    socket.on('connect', () => this.subscribe(socket, true));
    const lost = () => {
      if (this.socket !== socket) return;
      socket.removeAllListeners();
      socket.disconnect();
      this.socket = null;
      this.reconnects += 1;
      this.index += 1;
      setTimeout(() => this.open(), 20 + Math.random() * 80);
    };
    socket.on('disconnect', lost);
    socket.on('connect_error', lost);
  }

  private subscribe(socket: PulseClientSocket, resume: boolean): void {
    // A retry scheduled before close() or a reconnect: that connection is gone.
    if (this.closed || socket !== this.socket) return;
    const position = resume ? this.history.position(this.topic) : null;
    const since = position?.epoch ? { seq: position.seq, epoch: position.epoch } : undefined;
    socket.timeout(10_000).emit('subscribe', { topic: this.topic, since, batch: this.options.batch ?? false }, (error: Error | null, ack: SubscribeAck) => {
      if (socket !== this.socket) return;
      if (error) return socket.disconnect();
      if (!ack.ok) {
        // NOT_FOUND / UNAVAILABLE while Redis is away or empty: ask again shortly.
        if (ack.code === 'BAD_REQUEST' && since) return setTimeout(() => this.subscribe(socket, false), 50);
        return setTimeout(() => this.subscribe(socket, resume), 200);
      }
      if (ack.recovered) {
        this.recovered += 1;
        for (const event of ack.events) this.history.event(event);
      } else this.history.snapshot(ack.snapshot!, since ? 'not_recovered' : 'initial');
      this.changes.changed();
    });
  }

  close(): void {
    this.closed = true;
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
    this.socket = null;
  }
}

/** `pulse tail <topic> --json` as a user runs it; stdout lines are its history. */
export class CliTail implements Subscriber {
  readonly history: History;
  readonly child: ChildProcess;
  readonly stderr: string[] = [];

  constructor(
    urls: string[],
    readonly topic: string,
    changes: Changes,
  ) {
    this.history = new History('cli-tail');
    this.child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin/pulse.js'), ...urls.flatMap((url) => ['--url', url]), 'tail', topic, '--json'], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const event = JSON.parse(line) as PulseEvent;
      // The tail prints from its first snapshot on: that position is where its history starts.
      if (this.history.deliveries.length === 0) this.history.snapshot({ topic, epoch: event.epoch, seq: event.seq - 1 }, 'initial');
      this.history.event(event);
      changes.changed();
    });
    createInterface({ input: this.child.stderr! }).on('line', (line) => this.stderr.push(line));
  }

  close(): void {
    this.child.kill('SIGKILL');
  }
}

/** Waits until every subscriber's position is its topic's head in `heads`, re-checked on each arrival. */
export async function untilCaughtUp(changes: Changes, subscribers: Subscriber[], heads: Map<string, { epoch: string; head: number }>, timeoutMs = 30_000): Promise<void> {
  const behind = () =>
    subscribers.filter((subscriber) => {
      const target = heads.get(subscriber.topic)!;
      const position = subscriber.history.position(subscriber.topic);
      return !position || position.epoch !== target.epoch || position.seq < target.head;
    });
  await changes.until(
    () => {
      const late = behind();
      return `${late.length} subscribers to reach the head (e.g. ${late.slice(0, 3).map((s) => `${s.history.client} at ${JSON.stringify(s.history.position(s.topic))} of ${JSON.stringify(heads.get(s.topic))}`).join(', ')})`;
    },
    () => behind().length === 0,
    timeoutMs,
  );
}

/** Waits until every subscriber stands at its topic's head and the head stays there (ticks may still append), within `timeoutMs`. */
export async function settle(stack: ChaosStack, changes: Changes, subscribers: Subscriber[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const topics = [...new Set(subscribers.map((subscriber) => subscriber.topic))];
  const heads = async () => new Map(await Promise.all(topics.map(async (topic) => [topic, await headOf(stack, topic)] as const)));
  for (;;) {
    const before = await heads();
    await untilCaughtUp(changes, subscribers, before, Math.max(1000, deadline - Date.now()));
    const after = await heads();
    if (topics.every((topic) => after.get(topic)!.head === before.get(topic)!.head && after.get(topic)!.epoch === before.get(topic)!.epoch)) return;
  }
}

async function headOf(stack: ChaosStack, topic: string): Promise<{ epoch: string; head: number }> {
  const redis = stack.admin();
  try {
    const [epoch, head] = await redis.hmget(`pulse:{${topic}}:meta`, 'epoch', 'head');
    return { epoch: epoch ?? '', head: Number(head ?? 0) };
  } finally {
    stack.release(redis);
  }
}

/** Checks the histories against the logs, prints the scenario's summary line and records it in the table. */
export async function verdict(scenario: string, stack: ChaosStack, subscribers: Subscriber[], options: CheckOptions & { extra?: string } = {}): Promise<CheckResult> {
  const topics = [...new Set(subscribers.map((subscriber) => subscriber.topic))];
  const logs = await Promise.all(topics.map((topic) => stack.readLog(topic)));
  const result = checkHistories(subscribers.map((subscriber) => subscriber.history), logs, options);
  report(scenario, result, options.extra);
  return result;
}

const ARTIFACTS = join(PROJECT_ROOT, 'test', 'artifacts');

/** Prints the summary line (jest may swallow console) and rewrites test/artifacts/chaos-summary.md from every scenario's last row. */
export function report(scenario: string, result: CheckResult, extra = ''): void {
  process.stdout.write(`${summaryLine(scenario, result.summary, extra)}\n`);
  const rows = join(ARTIFACTS, 'chaos');
  mkdirSync(rows, { recursive: true });
  const s = result.summary;
  const cells = [scenario, LONG ? 'long' : 'short', s.clients, s.events, s.gaps, s.duplicates, s.reorders, s.resyncs, s.missingSnapshots, s.mismatches, s.p50, s.p99, extra];
  writeFileSync(join(rows, `${scenario.replace(/[^a-z0-9-]+/gi, '_')}.md`), `| ${cells.join(' | ')} |\n`);
  const table = readdirSync(rows)
    .filter((file) => file.endsWith('.md'))
    .sort()
    .map((file) => readFileSync(join(rows, file), 'utf8'))
    .join('');
  const header = '| scenario | run | clients | events | gaps | duplicates | reorders | resyncs | missing snapshots | mismatches | p50 ms | p99 ms | notes |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n';
  writeFileSync(join(ARTIFACTS, 'chaos-summary.md'), `# Chaos suite summary\n\n${header}${table}`);
}

/** Posts events and answers the status and body (never throws on an HTTP status). */
export async function postEvents(url: string, topic: string, events: unknown[]): Promise<{ status: number; seqs?: number[]; epoch?: string; error?: string }> {
  try {
    const response = await fetch(`${url}/api/v1/topics/${topic}/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ events }), signal: AbortSignal.timeout(10_000) });
    const body = (await response.json().catch(() => null)) as { seqs?: number[]; epoch?: string } | null;
    return { status: response.status, seqs: body?.seqs, epoch: body?.epoch };
  } catch (error) {
    // No answer: say why (ECONNREFUSED: never sent; ECONNRESET or a timeout: cut in flight).
    const cause = (error as { cause?: { code?: string } }).cause;
    return { status: 0, error: cause?.code ?? (error as Error).name };
  }
}

/**
 * Producers posting `rate` events a second to `topics`, spread over the running gateways, until
 * stopped. Every answer is kept: a 201's seqs must be in the log, anything else must not be.
 */
export class Load {
  readonly accepted: { topic: string; epoch: string; seqs: number[] }[] = [];
  readonly refused: { status: number; topic: string; error?: string }[] = [];
  /** Batches cut in flight and sent again. */
  retried = 0;
  /** Keeps this producer's idempotency keys apart from another's on the same topic. */
  private readonly id = Math.random().toString(36).slice(2, 8);
  private timer: ReturnType<typeof setInterval> | null = null;
  private inFlight = new Set<Promise<void>>();
  private n = 0;

  constructor(
    private readonly urls: () => string[],
    private readonly topics: string[],
    private readonly ratePerSecond: number,
  ) {}

  /**
   * Posts a batch; one cut in flight (ECONNRESET: a draining gateway closed the kept-alive
   * connection as the request went out) is sent again, with the same keys, to the next gateway.
   */
  private async post(url: string, topic: string, events: unknown[]): ReturnType<typeof postEvents> {
    const answer = await postEvents(url, topic, events);
    if (answer.status !== 0 || (answer.error !== 'ECONNRESET' && answer.error !== 'UND_ERR_SOCKET')) return answer;
    this.retried += 1;
    const urls = this.urls();
    return postEvents(urls[(urls.indexOf(url) + 1) % urls.length] ?? url, topic, events);
  }

  start(): this {
    const everyMs = 50;
    const perTick = Math.max(1, Math.round((this.ratePerSecond * everyMs) / 1000));
    this.timer = setInterval(() => {
      const urls = this.urls();
      if (urls.length === 0) return;
      for (const topic of this.topics) {
        const n = (this.n += 1);
        const url = urls[n % urls.length]!;
        // Keyed, as a producer that retries keys its events: the log appends each key at most once.
        const events = Array.from({ length: Math.max(1, Math.round(perTick / this.topics.length)) }, (_, i) => ({
          ...(i % 3 === 2 ? { type: 'attempt.recorded', data: { instanceId: `i-${(n + i) % 9}`, outcome: (n + i) % 5 ? 'success' : 'failure' } } : { type: 'instance.heartbeat', data: { instanceId: `i-${(n + i) % 9}` } }),
          idempotencyKey: `load-${this.id}-${n}-${i}`,
        }));
        const request = this.post(url, topic, events).then((answer) => {
          if (answer.status === 201) this.accepted.push({ topic, epoch: answer.epoch!, seqs: answer.seqs! });
          else this.refused.push({ status: answer.status, topic, ...(answer.error ? { error: answer.error } : {}) });
        });
        this.inFlight.add(request);
        void request.finally(() => this.inFlight.delete(request));
      }
    }, everyMs);
    return this;
  }

  /** Resolves once a post was accepted (the topic exists). */
  async firstAccepted(timeoutMs = 10_000): Promise<void> {
    await poll('a first accepted post', () => Promise.resolve(this.accepted.length > 0), timeoutMs, 20);
  }

  /** Stops posting and waits for the answers in flight. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.all([...this.inFlight]);
  }

  get count(): number {
    return this.accepted.reduce((sum, batch) => sum + batch.seqs.length, 0);
  }
}

const INGEST_TYPES = new Set(['instance.heartbeat', 'attempt.recorded']);

/**
 * Ingest events of the log's epoch that no producer was answered 201 for, and acknowledged seqs
 * missing from the log: both must be empty (a refused or cut request appended nothing).
 */
export async function unacknowledged(stack: ChaosStack, topic: string, load: Load, epochs: (epoch: string, log: TopicLog) => boolean = (epoch, log) => epoch === log.epoch): Promise<{ appendedWithoutAck: number[]; ackedButMissing: number[] }> {
  const log = await stack.readLog(topic);
  const inLog = new Set([...log.entries].filter(([, entry]) => INGEST_TYPES.has(entry.type)).map(([seq]) => seq));
  const acked = new Set(load.accepted.filter((batch) => batch.topic === topic && epochs(batch.epoch, log)).flatMap((batch) => batch.seqs));
  return { appendedWithoutAck: [...inLog].filter((seq) => !acked.has(seq)).sort((a, b) => a - b), ackedButMissing: [...acked].filter((seq) => !inLog.has(seq)).sort((a, b) => a - b) };
}

/** Asks until `check` answers true, every `intervalMs` (for state only observable by asking: /readyz, Redis). */
export async function poll(what: string, check: () => Promise<boolean>, timeoutMs = 20_000, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
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
