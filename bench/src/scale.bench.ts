// `npm run bench:scale`: 10,000 socket.io connections over 2 Pulse gateways (A) and then over 2 recipe servers (B), steady load, then a reconnect storm; one bounded run.
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { parseConfig } from '#pulse/config';
import { EventStore, createRedis, waitForReady, type NewEvent } from '#pulse/event-store';
import { PROJECT_ROOT, PulseStack, within, type PulseProcess } from '#pulse/stack';
import { ChildServer, type MemoryUsage } from './child-server.js';
import { boundRun, Cleanup, elapsedSeconds, errorMessage, hrnow, progress, sleep, startStack } from './common.js';
import { MEMORY_LINE } from './mem-hook.js';
import { CpuMeter, rssBytes, type Roles } from './proc-stats.js';
import { machineNow } from './report.js';
import { percentiles, ScaleFleet } from './scale-fleet.js';
import type { ScaleProducerRequest, ScaleProducerStats, TopicRate } from './scale-producer.js';
import { renderScale, writeScale, type ScaleResults, type ScaleSystemResult } from './scale-report.js';
import type { ScaleClientSpec } from './scale-worker.js';

const USAGE = `Usage: npm run bench:scale -- [--connections N] [--systems A,B] [--seconds S] [--out <folder>]
       [--threads T] [--hot-rate R] [--cold-rate R] [--warmup S] [--storm-timeout S] [--budget S]

Starts its own redis-server (temporary folder, no AOF), 2 Pulse gateways and 1 worker (tick every
5 s), then N socket.io-client connections in worker threads: 5 hot topics with N/10 viewers each
and N/10 topics with 5 viewers each, alternating batch and plain subscribers, alternating over the
2 gateways. A producer process POSTs events to the REST ingest (--hot-rate ev/s per hot topic,
--cold-rate per other topic). It measures memory per connection, delivered events/s, latency and
CPU per delivery over --seconds, then a reconnect storm (all drop, all come back at once with
subscribe { since }) while ingest goes on, and checks every client for loss, duplicates and order.
Then the same with B (Socket.IO + redis-adapter, fed by @socket.io/redis-emitter, tick emulated).
Writes bench/results/scale.md and scale.json (or --out). Hard time bound: --budget (default 480 s).
Defaults: --connections 10000 --seconds 15 --warmup 5 --hot-rate 2 --cold-rate 0.1 --storm-timeout 120;
a quick run:
--connections 1000 --seconds 5.`;

const HOT_TOPICS = 5;
const COLD_VIEWERS = 5;
const TICK_MS = 5000;
const POST_STORM_SECONDS = 5;
const SETTLE_TIMEOUT_MS = 30_000;
/** Clients opening at once per load generator thread while connecting (the storm has no such bound). */
const CONNECT_CONCURRENCY = 32;
const DEFAULTS = parseConfig({});
const HOOK = pathToFileURL(join(PROJECT_ROOT, 'dist', 'bench', 'src', 'mem-hook.js')).href;
const SHOWN_LINE = /\bWARN\b|\bERROR\b|Error:/;

interface Options {
  connections: number;
  systems: ('A' | 'B')[];
  threads: number;
  steadySeconds: number;
  warmupSeconds: number;
  hotRate: number;
  coldRate: number;
  stormTimeoutSeconds: number;
  budgetSeconds: number;
  out: string;
}

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      connections: { type: 'string' },
      systems: { type: 'string' },
      threads: { type: 'string' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      'hot-rate': { type: 'string' },
      'cold-rate': { type: 'string' },
      'storm-timeout': { type: 'string' },
      budget: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const number = (name: string, raw: string | undefined, fallback: number, min: number, integer = false) => {
    const value = raw === undefined ? fallback : Number(raw);
    if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value)))
      fail(`--${name}: expected ${integer ? 'a whole number' : 'a number'} >= ${min}, got "${raw}"`);
    return value;
  };
  const connections = number('connections', values.connections, 10_000, 10, true);
  if (connections % 10 !== 0)
    fail(`--connections: expected a multiple of 10 (half on 5 hot topics, half 5 per topic), got ${connections}`);
  const systems = (values.systems ?? 'A,B').split(',').map((system) => system.trim().toUpperCase());
  const bad = systems.filter((system) => system !== 'A' && system !== 'B');
  if (bad.length || !systems.length) fail(`--systems: unknown ${bad.join(', ')} (A and/or B)`);
  return {
    connections,
    systems: systems as ('A' | 'B')[],
    threads: number('threads', values.threads, Math.min(8, Math.max(1, Math.ceil(connections / 2500))), 1, true),
    steadySeconds: number('seconds', values.seconds, 15, 1),
    warmupSeconds: number('warmup', values.warmup, 5, 0),
    hotRate: number('hot-rate', values['hot-rate'], 2, 0.01),
    coldRate: number('cold-rate', values['cold-rate'], 0.1, 0.001),
    stormTimeoutSeconds: number('storm-timeout', values['storm-timeout'], 120, 1),
    budgetSeconds: number('budget', values.budget, 480, 30),
    out: resolve(values.out ?? join(PROJECT_ROOT, 'bench', 'results')),
  };
}

/** Machine-wide TCP counters (/proc/net/netstat) that tell a full accept queue: SYNs dropped, retransmitted. */
const TCP_COUNTERS = ['ListenOverflows', 'ListenDrops', 'TCPSynRetrans', 'TCPTimeouts'] as const;

function tcpCounters(): Record<string, number> {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('TcpExt:'));
    const names = lines[0]!.split(/\s+/);
    const values = lines[1]!.split(/\s+/).map(Number);
    return Object.fromEntries(TCP_COUNTERS.map((name) => [name, values[names.indexOf(name)] ?? 0]));
  } catch {
    return {};
  }
}

function tcpDelta(before: Record<string, number>): Record<string, number> {
  const after = tcpCounters();
  return Object.fromEntries(Object.keys(before).map((name) => [name, (after[name] ?? 0) - before[name]!]));
}

interface Topology {
  hot: string[];
  cold: string[];
  rates: TopicRate[];
  /** Client i: its topic and mode (the gateway is chosen per system). */
  clients: { topic: string; batch: boolean }[];
}

/** Half the clients on 5 hot topics, half on topics of 5 viewers; batch and plain alternate within every topic. */
function topology(options: Options): Topology {
  const hotViewers = options.connections / 10;
  const coldTopics = options.connections / 10;
  const hot = Array.from({ length: HOT_TOPICS }, (_, i) => `scale.hot.${i}`);
  const cold = Array.from({ length: coldTopics }, (_, i) => `scale.t.${String(i).padStart(5, '0')}`);
  const clients: Topology['clients'] = [];
  for (let v = 0; v < hotViewers; v++) for (const topic of hot) clients.push({ topic, batch: v % 2 === 0 });
  for (const topic of cold) for (let v = 0; v < COLD_VIEWERS; v++) clients.push({ topic, batch: v % 2 === 0 });
  // Hot and other topics interleaved, so that every thread and gateway gets both.
  const mixed = clients.map((client, i) => ({ client, key: (i * 7919) % clients.length }));
  mixed.sort((a, b) => a.key - b.key);
  return {
    hot,
    cold,
    rates: [
      ...hot.map((topic) => ({ topic, rate: options.hotRate })),
      ...cold.map((topic) => ({ topic, rate: options.coldRate })),
    ],
    clients: mixed.map((entry) => entry.client),
  };
}

class ScaleRun {
  stack!: PulseStack;
  store!: EventStore;
  redis!: ReturnType<typeof createRedis>;
  producer!: ChildServer;
  fleet!: ScaleFleet;
  readonly baselines: ChildServer[] = [];
  readonly problems: string[] = [];
  readonly clockBase = hrnow();
  private readonly memoryWaiters = new Map<string, (usage: MemoryUsage) => void>();

  constructor(
    readonly options: Options,
    readonly cleanup: Cleanup,
    readonly topo: Topology,
  ) {}

  async start(): Promise<void> {
    const { cleanup } = this;
    this.stack = await startStack(cleanup, 'scale', `2 Pulse gateways, 1 worker (tick ${TICK_MS} ms)`, {
      gateways: 2,
      workers: 1,
      env: {
        LOG_LEVEL: 'warn',
        PULSE_DEMO: '0',
        PULSE_TICK_MS: String(TICK_MS),
        PULSE_MAX_TOPICS: String(Math.max(DEFAULTS.PULSE_MAX_TOPICS, this.topo.rates.length * 2)),
        NODE_OPTIONS: `--import ${HOOK}`,
      },
      onLine: (name, line) => this.onLine(name, line),
    });
    progress(`Pulse up: redis ${this.stack.redisUrl}, gateways ${this.stack.urls.join(', ')}`);
    const redis = createRedis(this.stack.redisUrl, { name: 'bench:scale' });
    cleanup.add('bench Redis connection', async () => void (await redis.quit()));
    await waitForReady(redis, this.stack.redisUrl);
    this.redis = redis;
    this.store = new EventStore(redis, {
      retention: DEFAULTS.PULSE_RETENTION,
      idempotencyWindowMs: DEFAULTS.PULSE_IDEMPOTENCY_WINDOW_MS,
    });
    this.producer = await this.child('scale-producer.js', 'producer', [this.stack.redisUrl]);
    this.fleet = ScaleFleet.start(this.options.threads);
    cleanup.add('load generator threads', () => this.fleet.stop());
  }

  private onLine(name: string, line: string): void {
    if (line.startsWith(MEMORY_LINE)) {
      this.memoryWaiters.get(name)?.(JSON.parse(line.slice(MEMORY_LINE.length)) as MemoryUsage);
      this.memoryWaiters.delete(name);
    } else if (SHOWN_LINE.test(line)) progress(`[${name}] ${line}`);
  }

  async child(entry: string, name: string, args: string[]): Promise<ChildServer> {
    const server = await ChildServer.start(entry, name, args);
    this.cleanup.add(
      name,
      () => server.stop(),
      () => server.kill(),
    );
    return server;
  }

  async gatewayMemory(gateway: PulseProcess): Promise<MemoryUsage> {
    const usage = new Promise<MemoryUsage>((resolve) => this.memoryWaiters.set(gateway.name, resolve));
    gateway.kill('SIGWINCH');
    return within(`${gateway.name} to report its memory`, usage, 30_000);
  }

  /** Summed memory of a system's servers after a full GC each. */
  async serverMemory(system: 'A' | 'B'): Promise<MemoryUsage> {
    const parts =
      system === 'A'
        ? await Promise.all(this.stack.gateways.map((gateway) => this.gatewayMemory(gateway)))
        : await Promise.all(this.baselines.map((server) => server.memory()));
    const sum = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0, sockets: 0 };
    for (const part of parts) for (const key of Object.keys(sum) as (keyof MemoryUsage)[]) sum[key] += part[key];
    return sum;
  }

  serverPids(system: 'A' | 'B'): number[] {
    return system === 'A' ? this.stack.gateways.map((g) => g.pid) : this.baselines.map((s) => s.pid);
  }

  urls(system: 'A' | 'B'): string[] {
    return system === 'A' ? this.stack.urls : this.baselines.map((server) => server.url);
  }

  roles(system: 'A' | 'B'): Roles {
    return {
      servers: this.serverPids(system),
      redis: this.stack.redis ? [this.stack.redis.pid] : [],
      ...(system === 'A' ? { worker: this.stack.workers.map((w) => w.pid) } : {}),
      producer: [this.producer.pid],
      'load generator': [process.pid],
    };
  }

  /** Each topic's last seq: A from the log, B from its producer. */
  async heads(system: 'A' | 'B'): Promise<Record<string, number>> {
    if (system === 'B') return this.producer.request<Record<string, number>>({ op: 'seqs' }, 30_000);
    const topics = this.topo.rates.map((rate) => rate.topic);
    const heads = await Promise.all(topics.map((topic) => this.store.head(topic)));
    return Object.fromEntries(topics.map((topic, i) => [topic, heads[i]?.head ?? 0]));
  }

  async produce(request: ScaleProducerRequest): Promise<ScaleProducerStats> {
    return this.producer.request<ScaleProducerStats>(request, 60_000);
  }
}

/** Every topic gets its first events (two heartbeats) before anyone subscribes: the tick then ticks it. */
async function seed(run: ScaleRun): Promise<void> {
  const events: NewEvent[] = [
    { type: 'instance.heartbeat', data: { instanceId: 'i-0', status: 'running' } },
    { type: 'instance.heartbeat', data: { instanceId: 'i-1', status: 'running' } },
  ];
  const topics = run.topo.rates.map((rate) => rate.topic);
  for (let i = 0; i < topics.length; i += 100)
    await Promise.all(topics.slice(i, i + 100).map((topic) => run.store.append(topic, events)));
}

async function measureSystem(run: ScaleRun, system: 'A' | 'B'): Promise<ScaleSystemResult> {
  const { options, fleet, topo } = run;
  const result: ScaleSystemResult = {
    system,
    stoppedAt: null,
    connections: {
      asked: options.connections,
      connected: 0,
      failed: 0,
      firstError: null,
      seconds: 0,
      tcp: {},
      cpuMsPerConnection: {},
    },
    memory: null,
    steady: null,
    storm: null,
    verify: null,
    producer: null,
  };
  const urls = run.urls(system);
  const specs: ScaleClientSpec[] = topo.clients.map((client, i) => ({
    url: urls[i % urls.length]!,
    topic: client.topic,
    mode: system === 'B' ? 'baseline' : client.batch ? 'batch' : 'plain',
  }));
  let producing = false;
  try {
    const before = await run.serverMemory(system);
    progress(
      `${system}: connecting ${options.connections.toLocaleString('en-US')} clients over ${urls.length} servers…`,
    );
    const connectTcp = tcpCounters();
    const connectMeter = new CpuMeter(run.roles(system));
    const connected = await fleet.connect(specs, CONNECT_CONCURRENCY, run.clockBase, run.options.budgetSeconds * 1000);
    result.connections = {
      asked: options.connections,
      connected: connected.connected,
      failed: connected.failed,
      firstError: connected.firstError,
      seconds: connected.ms / 1000,
      tcp: tcpDelta(connectTcp),
      cpuMsPerConnection: Object.fromEntries(
        Object.entries(connectMeter.delta().cpuMs).map(([role, used]) => [
          role,
          used / Math.max(1, connected.connected),
        ]),
      ),
    };
    progress(
      `${system}: ${connected.connected.toLocaleString('en-US')} connected, ${connected.failed} failed in ${(connected.ms / 1000).toFixed(1)} s` +
        `${connected.firstError ? ` (first error: ${connected.firstError})` : ''}; CPU ms per connection: ${Object.entries(
          result.connections.cpuMsPerConnection,
        )
          .map(([role, used]) => `${role} ${used.toFixed(2)}`)
          .join(' ')}`,
    );
    if (connected.failed)
      run.problems.push(
        `${system}: ${connected.failed} of ${options.connections} clients could not connect: ${connected.firstError}`,
      );
    const after = await run.serverMemory(system);
    const n = Math.max(1, connected.connected);
    result.memory = {
      rssBefore: before.rss,
      rssAfter: after.rss,
      heapBefore: before.heapUsed + before.external,
      heapAfter: after.heapUsed + after.external,
      rssPerConnection: (after.rss - before.rss) / n,
      heapPerConnection: (after.heapUsed + after.external - before.heapUsed - before.external) / n,
      rssUnderLoad: null,
    };
    progress(
      `${system}: memory per connection ${(result.memory.rssPerConnection / 1024).toFixed(1)} KiB RSS, ${(result.memory.heapPerConnection / 1024).toFixed(1)} KiB heap+external (after GC, both servers)`,
    );

    run.cleanup.checkpoint();
    await run.produce({
      op: 'start',
      system,
      urls,
      topics: topo.rates,
      clockBase: run.clockBase,
      tickMs: TICK_MS,
    });
    producing = true;
    progress(`${system}: ingest started; warm-up ${options.warmupSeconds} s…`);
    await sleep(options.warmupSeconds * 1000);
    await fleet.mark();
    const meter = new CpuMeter(run.roles(system));
    await sleep(options.steadySeconds * 1000);
    const window = await fleet.window();
    const cpu = meter.delta();
    const seconds = cpu.wallMs / 1000;
    const perDelivery = Object.fromEntries(
      Object.entries(cpu.cpuMs).map(([role, used]) => [role, window.delivered ? (used * 1000) / window.delivered : 0]),
    );
    perDelivery.server = perDelivery.servers! + perDelivery.redis!;
    result.steady = {
      seconds,
      deliveredPerSec: window.delivered / seconds,
      framesPerSec: window.frames / seconds,
      latency: window.latency,
      loadGeneratorElu: window.maxElu,
      cpuMs: cpu.cpuMs,
      cpuUsPerDelivered: perDelivery,
    };
    result.memory.rssUnderLoad = run.serverPids(system).reduce((sum, pid) => sum + (rssBytes(pid) ?? 0), 0);
    const l = window.latency;
    progress(
      `${system}: steady ${seconds.toFixed(1)} s: ${Math.round(result.steady.deliveredPerSec).toLocaleString('en-US')} delivered/s ` +
        `(${Math.round(result.steady.framesPerSec).toLocaleString('en-US')} messages/s), p50 ${l?.p50.toFixed(1)} p99 ${l?.p99.toFixed(1)} max ${l?.max.toFixed(0)} ms, ` +
        `CPU µs/delivery servers+redis ${perDelivery.server.toFixed(1)}, load generator busiest thread ${(window.maxElu * 100).toFixed(0)} %`,
    );

    // The storm: everyone drops, then everyone comes back at once while ingest goes on.
    run.cleanup.checkpoint();
    progress(`${system}: storm: all ${connected.connected.toLocaleString('en-US')} clients drop…`);
    const dropStarted = hrnow();
    await fleet.drop(60_000);
    const dropSeconds = (hrnow() - dropStarted) / 1000;
    const targets = await run.heads(system);
    progress(
      `${system}: dropped in ${dropSeconds.toFixed(1)} s; all reconnect at once${system === 'A' ? ' with since' : ''}…`,
    );
    const stormTcp = tcpCounters();
    const stormMeter = new CpuMeter(run.roles(system));
    const storm = await fleet.rejoin(targets, options.stormTimeoutSeconds * 1000, system === 'B');
    const stormCpu = stormMeter.delta();
    const reached = storm.currentMs.filter((value): value is number => value !== null);
    const spread = percentiles(reached);
    result.storm = {
      dropSeconds,
      clients: storm.clients,
      currentP50Ms: spread?.p50 ?? null,
      currentP99Ms: spread?.p99 ?? null,
      allCurrentMs: reached.length === storm.clients ? (spread?.max ?? null) : null,
      notCurrent: storm.clients - reached.length,
      failed: storm.failed,
      firstError: storm.firstError,
      notRecovered: storm.notRecovered,
      replayed: storm.replayed,
      gaps: storm.gaps,
      retries: storm.retries,
      loadGeneratorElu: storm.elu,
      wallMs: stormCpu.wallMs,
      cpuMs: stormCpu.cpuMs,
      tcp: tcpDelta(stormTcp),
    };
    progress(
      `${system}: storm: current p50 ${spread?.p50.toFixed(0)} p99 ${spread?.p99.toFixed(0)} ms, all ${result.storm.allCurrentMs?.toFixed(0) ?? 'not'} ` +
        `(${result.storm.notCurrent} not current, ${storm.failed} failed${storm.firstError ? `: ${storm.firstError}` : ''}, ${storm.notRecovered} not recovered, ${storm.replayed} replayed, ${storm.gaps} missing, ${storm.retries} retries); ` +
        `load generator busiest thread ${(storm.elu * 100).toFixed(0)} %, CPU s ${Object.entries(stormCpu.cpuMs)
          .map(([role, used]) => `${role} ${(used / 1000).toFixed(1)}`)
          .join(' ')} over ${(stormCpu.wallMs / 1000).toFixed(1)} s; TCP ${JSON.stringify(result.storm.tcp)}`,
    );
    if (storm.failed)
      run.problems.push(`${system}: ${storm.failed} reconnects failed in the storm: ${storm.firstError}`);
    if (result.storm.notCurrent)
      run.problems.push(
        `${system}: ${result.storm.notCurrent} clients were not current ${options.stormTimeoutSeconds} s after the storm`,
      );

    await sleep(POST_STORM_SECONDS * 1000);
    result.producer = await run.produce({ op: 'stop' });
    producing = false;
    const heads = await run.heads(system);
    progress(
      `${system}: ingest stopped (${result.producer.sent} sent, ${result.producer.failed} failed); waiting until every client has its topic's head…`,
    );
    const settled = await fleet.settle(heads, SETTLE_TIMEOUT_MS, system === 'B');
    result.verify = { ...(await fleet.verify(heads)), settled };
    const v = result.verify;
    progress(
      `${system}: whole run: ${v.delivered.toLocaleString('en-US')} delivered, lost ${v.lost} (${v.clientsWithLoss} clients), dup ${v.duplicates}, ooo ${v.outOfOrder}, ` +
        `disconnects ${v.disconnects}, resyncs ${v.resyncs}${settled ? '' : ' — not every client reached its head'}`,
    );
    if (result.producer.failed)
      run.problems.push(`${system}: ${result.producer.failed} ingest requests failed: ${result.producer.firstError}`);
  } catch (error) {
    result.stoppedAt = errorMessage(error);
    run.problems.push(`${system} stopped early: ${errorMessage(error)}`);
    progress(`${system} stopped early: ${errorMessage(error)}`);
    if (producing) result.producer = await run.produce({ op: 'stop' }).catch(() => null);
  }
  progress(`${system}: closing its clients…`);
  await fleet
    .close(120_000)
    .catch((error: unknown) => run.problems.push(`${system}: closing clients: ${errorMessage(error)}`));
  return result;
}

async function redisVersion(run: ScaleRun): Promise<string> {
  return /redis_version:(\S+)/.exec(await run.redis.info('server'))?.[1] ?? 'unknown';
}

async function main(): Promise<void> {
  const options = parseOptions();
  const cleanup = new Cleanup();
  const disarm = boundRun(cleanup, options.budgetSeconds * 1000);
  const machine = machineNow();
  progress(
    `scale run: ${options.connections.toLocaleString('en-US')} connections, ${options.threads} threads, systems ${options.systems.join(',')}; ` +
      `load ${machine.loadAtStart.map((v) => v.toFixed(2)).join(' ')}, open files limit per process: see ulimit -n`,
  );
  const topo = topology(options);
  const run = new ScaleRun(options, cleanup, topo);
  let results: ScaleResults;
  try {
    await run.start();
    progress(`seeding ${topo.rates.length} topics…`);
    await seed(run);
    const systems: ScaleSystemResult[] = [];
    for (const system of options.systems) {
      if (system === 'B') {
        for (let i = 0; i < 2; i++)
          run.baselines.push(await run.child('baseline-server.js', `baseline-${i + 1}`, [run.stack.redisUrl]));
      }
      systems.push(await measureSystem(run, system));
      cleanup.checkpoint();
    }
    machine.loadAtEnd = machineNow().loadAtStart;
    const ingestPerSec = topo.rates.reduce((sum, rate) => sum + rate.rate, 0);
    results = {
      date: new Date().toISOString(),
      command: `npm run bench:scale -- ${process.argv.slice(2).join(' ')}`.trim(),
      machine,
      redisVersion: await redisVersion(run),
      config: {
        connections: options.connections,
        threads: options.threads,
        hotTopics: topo.hot.length,
        hotViewers: options.connections / 10,
        coldTopics: topo.cold.length,
        coldViewers: COLD_VIEWERS,
        hotRate: options.hotRate,
        coldRate: options.coldRate,
        tickMs: TICK_MS,
        warmupSeconds: options.warmupSeconds,
        steadySeconds: options.steadySeconds,
        stormTimeoutSeconds: options.stormTimeoutSeconds,
        ingestPerSec,
        tickEventsPerSec: (topo.rates.length * 3 * 1000) / TICK_MS,
      },
      systems,
      problems: [
        ...run.problems,
        ...run.stack.gateways.filter((g) => !g.running).map((g) => `${g.name} exited during the run`),
      ],
      seconds: elapsedSeconds(),
    };
  } finally {
    progress('stopping gateways, worker, servers, producer, redis-server and clients…');
    await cleanup.run();
    disarm();
  }
  const markdown = renderScale(results);
  const files = writeScale(options.out, results, markdown);
  process.stdout.write(markdown);
  progress(`done in ${elapsedSeconds().toFixed(1)} s; wrote ${files.join(', ')}`);
}

main().catch((error: unknown) => {
  progress(`scale run failed: ${error instanceof Error ? (error.stack ?? error.message) : errorMessage(error)}`);
  process.exitCode = 1;
});
