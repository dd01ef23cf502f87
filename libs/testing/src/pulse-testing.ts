// A throwaway Pulse for jest e2e suites: its own redis-server, built gateways and workers, and clients that all stop together.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mintToken, type MintOptions } from '#pulse/auth';
import { PulseClient, type PulseClientOptions } from '#pulse/client';
import { inheritedEnv, parseConfig } from '#pulse/config';
import type { IngestEvent, PulseEvent, TickSummary } from '#pulse/contracts';
import { createCluster, createRedis, EventStore, waitForReady, type RedisConnection } from '#pulse/event-store';
import { findRedisServer, PulseStack } from '#pulse/stack';

export interface StartPulseOptions {
  /** Gateway processes, each on a free port. @default 1 */
  gateways?: number;
  /** Worker processes (they run the monitor ticks; `tick()` needs one). @default 1 */
  workers?: number;
  /**
   * Extra environment for every process, on top of the one jest runs in, e.g. `{ PULSE_RETENTION: '10' }`.
   * Checked as the processes will see it before anything starts.
   * @default {} (plus LOG_LEVEL=warn, PULSE_DEMO=0, PULSE_DRAIN_MS=250)
   */
  env?: Record<string, string>;
  /** Run on a local Redis Cluster of this many masters (at least 3) instead of one redis-server. @default 0 */
  redisCluster?: number;
  /** Interval of the scheduled monitor tick (PULSE_TICK_MS). @default 3600000: in practice ticks happen when the test calls `tick()` */
  tickMs?: number;
  /**
   * Require tokens: `true` makes a random PULSE_AUTH_SECRET, `{ secret }` uses yours. Then
   * `token()` mints tokens, and `client()`, `publish()` and `tick()` use an admin token unless told otherwise.
   * Off, a PULSE_AUTH_SECRET or PULSE_AUTH_PUBLIC_KEY of the environment jest runs in is not passed
   * on (one given in `env` is: then the test mints its own tokens).
   * @default false (auth off)
   */
  auth?: boolean | { secret: string };
}

/** What a successful publish answers. */
export interface Published {
  /** The epoch of the topic's log. */
  epoch: string;
  /** The seq each event got, in order. */
  seqs: number[];
}

/** A running stack; `stop()` leaves no process, connection or file behind. */
export interface PulseTestStack {
  /** Gateway base URLs, in start order. */
  readonly urls: string[];
  /** The stack's own Redis (`redis://127.0.0.1:<port>`; on a cluster, its nodes comma-separated), e.g. to read the log with XRANGE. */
  readonly redisUrl: string;
  /** The temporary folder of Redis data; `stop()` removes it. */
  readonly dir: string;
  /** The processes themselves, for tests that crash or add some (`gateways[i].kill('SIGKILL')`, `addGateway()`). */
  readonly processes: PulseStack;
  /** The PULSE_AUTH_SECRET of the stack, or null when auth is off. */
  readonly authSecret: string | null;
  /** A new client over the running gateways (or `options.urls`), already connecting; `stop()` closes it. With auth on it uses an admin token unless `options` has `token`. */
  client(options?: Partial<PulseClientOptions>): PulseClient;
  /** A token signed with the stack's secret (auth on only): `{ sub, role, topics?, ttlSeconds? }`. */
  token(options: MintOptions): Promise<string>;
  /** Appends events through the REST API of a running gateway; rejects unless the answer is 201. `token` defaults to an admin one when auth is on. */
  publish(topic: string, events: IngestEvent[], token?: string): Promise<Published>;
  /** Runs one monitor tick now (POST /api/v1/admin/tick) and answers its summary; needs a running worker. */
  tick(): Promise<TickSummary>;
  /** The topic's retained log, in order, read from the stack's Redis: what every client of it must end up with. [] for a topic with no log. */
  log(topic: string): Promise<PulseEvent[]>;
  /** Closes every client, stops every process and removes `dir`. Safe to call twice. */
  stop(): Promise<void>;
}

/** Starts Redis (in a fresh temporary folder, no AOF), then the gateways and the workers; resolves once all are ready. */
export async function startPulse(options: StartPulseOptions = {}): Promise<PulseTestStack> {
  // Before anything starts: the generic message of RedisServer offers REDIS_URL, which a test stack does not use.
  if (!findRedisServer()) throw new Error(NO_REDIS_SERVER);
  const authSecret =
    options.auth === true ? randomBytes(32).toString('hex') : options.auth ? options.auth.secret : null;
  // A stopped gateway moves its sockets within 250 ms rather than 2 s: suites stop stacks often.
  // The auth keys are set either way: whatever the environment of jest holds, auth is as told.
  const env: Record<string, string> = {
    LOG_LEVEL: 'warn',
    PULSE_DEMO: '0',
    PULSE_TICK_MS: '3600000',
    PULSE_DRAIN_MS: '250',
    PULSE_AUTH_SECRET: authSecret ?? '',
    PULSE_AUTH_PUBLIC_KEY: '',
    ...options.env,
  };
  if (options.tickMs !== undefined) env.PULSE_TICK_MS = String(options.tickMs);
  if (authSecret) env.PULSE_AUTH_SECRET = authSecret;
  // What the processes will run with (the stack adds its own Redis), checked before any starts:
  // an invalid setting is one error here, not processes that exit (or start) on their own.
  const { PULSE_RETENTION, PULSE_IDEMPOTENCY_WINDOW_MS } = parseConfig(
    inheritedEnv({
      ...env,
      REDIS_URL: 'redis://127.0.0.1:6379',
      ...(options.redisCluster ? { REDIS_CLUSTER: '1' } : {}),
    }),
  );
  const storeOptions = { retention: PULSE_RETENTION, idempotencyWindowMs: PULSE_IDEMPOTENCY_WINDOW_MS };
  const dir = await mkdtemp(join(tmpdir(), 'pulse-testing-'));
  let processes: PulseStack | null = null;
  try {
    processes = await PulseStack.start({
      redisDir: dir,
      redisAppendOnly: false,
      redisCluster: options.redisCluster,
      gateways: options.gateways ?? 1,
      workers: options.workers ?? 1,
      env,
    });
    const adminToken = authSecret
      ? await mintToken({ secret: authSecret }, { sub: 'pulse-testing', role: 'admin', ttlSeconds: 86_400 })
      : undefined;
    return new TestStack(processes, dir, authSecret, storeOptions, adminToken);
  } catch (error) {
    // Nobody has a handle to stop what started: stop it here.
    try {
      await processes?.stop();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    throw error;
  }
}

const NO_REDIS_SERVER = [
  'startPulse() needs a redis-server on the PATH: each test stack starts its own Redis, and none was found. Install it:',
  '  Debian/Ubuntu (and CI on them): sudo apt-get install -y redis-server',
  '  macOS: brew install redis',
  '  or put a redis-server binary (Redis 7 or later) on the PATH of the process that runs jest.',
].join('\n');

class TestStack implements PulseTestStack {
  private readonly clients = new Set<PulseClient>();
  private stopping: Promise<void> | null = null;
  /** For log(): a connection of its own, opened on first use. */
  private reading: Promise<{ redis: RedisConnection; store: EventStore }> | null = null;

  constructor(
    readonly processes: PulseStack,
    readonly dir: string,
    readonly authSecret: string | null,
    private readonly storeOptions: ConstructorParameters<typeof EventStore>[1],
    private readonly adminToken: string | undefined,
  ) {}

  async token(options: MintOptions): Promise<string> {
    if (!this.authSecret)
      throw new Error('token(): this stack runs with auth off; start it with startPulse({ auth: true })');
    return mintToken({ secret: this.authSecret }, options);
  }

  private headers(token: string | undefined): Record<string, string> {
    return token ? { authorization: `Bearer ${token}` } : {};
  }

  get urls(): string[] {
    return this.processes.urls;
  }

  get redisUrl(): string {
    return this.processes.redisUrl;
  }

  client(options: Partial<PulseClientOptions> = {}): PulseClient {
    if (this.stopping) throw new Error('client(): this Pulse test stack is stopped');
    const token = 'token' in options ? options.token : this.adminToken;
    const client = new PulseClient({
      ...options,
      urls: options.urls ?? this.runningUrls(),
      ...(token ? { token } : {}),
    });
    this.clients.add(client);
    return client.connect();
  }

  async publish(topic: string, events: IngestEvent[], token = this.adminToken): Promise<Published> {
    const url = `${this.runningUrls()[0]}/api/v1/topics/${encodeURIComponent(topic)}/events`;
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...this.headers(token) },
      body: JSON.stringify({ events }),
    });
    const body = await response.text();
    if (response.status !== 201)
      throw new Error(`publish to ${topic}: POST ${url} answered ${response.status} ${body}`);
    return JSON.parse(body) as Published;
  }

  async tick(): Promise<TickSummary> {
    if (!this.processes.workers.some((worker) => worker.running)) {
      throw new Error('tick() needs a running worker: start the stack with startPulse({ workers: 1 }) (or more)');
    }
    const url = `${this.runningUrls()[0]}/api/v1/admin/tick`;
    const response = await fetch(url, { method: 'POST', headers: this.headers(this.adminToken) });
    const body = await response.text();
    if (response.status !== 200) throw new Error(`tick(): POST ${url} answered ${response.status} ${body}`);
    return JSON.parse(body) as TickSummary;
  }

  async log(topic: string): Promise<PulseEvent[]> {
    this.reading ??= (async () => {
      const options = { name: 'pulse-testing:log' };
      const redis = this.processes.cluster
        ? createCluster(this.redisUrl, options)
        : createRedis(this.redisUrl, options);
      await waitForReady(redis, this.redisUrl);
      return { redis, store: new EventStore(redis, this.storeOptions) };
    })();
    const { store } = await this.reading;
    const events: PulseEvent[] = [];
    for (;;) {
      const page = await store.readAfter(topic, events.at(-1)?.seq ?? 0, 1000);
      if (!page || page.events.length === 0) return events;
      events.push(...page.events);
    }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const client of this.clients) client.close();
      this.clients.clear();
      const reading = this.reading;
      this.reading = null;
      if (reading) (await reading.catch(() => null))?.redis.disconnect();
      try {
        await this.processes.stop();
      } finally {
        await rm(this.dir, { recursive: true, force: true });
      }
    })();
    return this.stopping;
  }

  private runningUrls(): string[] {
    const urls = this.processes.gateways.filter((gateway) => gateway.running).map((gateway) => gateway.url);
    if (urls.length === 0) throw new Error('no gateway of this Pulse test stack is running');
    return urls;
  }
}
