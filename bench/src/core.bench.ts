// `npm run bench`: Pulse (A) next to the standard Socket.IO + redis-adapter/emitter recipe (B) and raw ceilings (C), in one bounded run.
import 'reflect-metadata';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { parseConfig } from '#pulse/config';
import { EventStore, createRedis, waitForReady } from '#pulse/event-store';
import { PROJECT_ROOT, PulseStack, within, type PulseProcess } from '#pulse/stack';
import { ChildServer, type MemoryUsage } from './child-server.js';
import { boundRun, Cleanup, elapsedSeconds, errorMessage, hrnow, progress, startStack } from './common.js';
import { Fleet } from './fleet.js';
import type { ClientKind, SubscribeOptions } from './fleet-worker.js';
import { MEMORY_LINE } from './mem-hook.js';
import { PROFILE_LINE, SAMPLING_INTERVAL_US } from './profile-hook.js';
import { renderProfile, summarizeProfile, type CpuProfile } from './profile-summary.js';
import type { ProducerStats } from './open-loop.js';
import { BENCH_EVENT, envelope } from './payload.js';
import type { ProducerRequest, PulseFeed } from './producer.js';
import { cpuMs, CpuMeter, type Roles } from './proc-stats.js';
import { redisBenchmark } from './redis-benchmark.js';
import {
  PARTS,
  bestHeld,
  median,
  serverUs,
  machineNow,
  renderMarkdown,
  writeResults,
  isVariant,
  variantLabel,
  variantOf,
  type BenchResults,
  type CatchUpRow,
  type ClientMode,
  type MemoryRow,
  type Part,
  type StepRow,
  type SystemId,
  type Variant,
} from './report.js';

const USAGE = `Usage: node dist/bench/src/core.bench.js [--quick | --smoke] [--out <folder>]
       node dist/bench/src/core.bench.js --rate <events/s> [--systems A,B,C] [--clients batch,plain]
             [--feed rest,append] [--repeat <n>] [--seconds <s>] [--clients-count <n>]
       node dist/bench/src/core.bench.js --profile [--rate <events/s>] [--seconds <s>] [--out <folder>]
       node dist/bench/src/core.bench.js --memory [--repeat <n>]
       (with the plans: --only redis,memory,light,ladders,gateways,catchup: some parts only, same report)

Starts its own redis-server, Pulse gateways (A), Socket.IO + redis-adapter servers fed by
@socket.io/redis-emitter (B) and a raw ws server (C), all on loopback, then measures: CPU per
delivered event and latency at 100, 300 and 1,000 ev/s (A with batch and plain clients, fed
through its REST ingest and by EventStore.append, next to B), three ladders of the highest
delivered events/s with p99 <= 100 ms and no loss (rate stepped up, variants alternating), the
same with 1 and 3 gateways, catch-up after 1,000 / 10,000 / 100,000 missed events, memory per
idle connection, and redis-benchmark PUBLISH / XADD. Writes a Markdown report, the raw JSON and
SVG plots to bench/results/ (or --out). At most 20 min (--quick: 90 s; --smoke: a tiny
configuration for CI, about 15 s, bounded at 45 s).

With --rate: only steps at that rate, 2 gateways, --repeat rounds; in each round every variant
once, in turn: A with each --clients mode (batch: subscribe { batch: true }, events frames;
plain: one message per event, as a plain socket.io-client) and each --feed (rest: POST
/api/v1/topics/:topic/events to the gateways, keep-alive, round robin; append:
EventStore.append from the producer process), then B, then C. Progress lines and a summary
(median of the rounds per variant) on stderr, no report: for measuring one change to the hot
path. Defaults: --systems A,B --clients batch,plain --feed rest --repeat 3 --seconds 3.

With --profile: a V8 CPU profile of gateway 1 (of 2) during one REST-fed run at --rate (300)
for --seconds (10), batch clients then plain; writes profile-batch.cpuprofile,
profile-plain.cpuprofile and profile.md (top self-time functions) to bench/results/ (or --out).

With --memory: only memory per idle connection, every row in turn, --repeat times (default 3),
progress lines only.`;

export interface Plan {
  mode: 'full' | 'quick' | 'smoke';
  /** What this run measures (--only; default every part). */
  parts: Part[];
  budgetMs: number;
  /** Load generator threads. */
  threads: number;
  /** Clients of every throughput and light-load measurement. */
  clients: number;
  /** Producer rates of the light-load table (events/s). */
  lightRates: number[];
  lightSeconds: number;
  /** Light-load runs per variant and rate, every variant in turn in each round; the report takes the medians. */
  lightRounds: number;
  /** What the light-load table compares: A (clients × feed) and B. */
  lightVariants: Variant[];
  warmupSeconds: number;
  stepSeconds: number;
  startRate: number;
  factor: number;
  maxSteps: number;
  /** Full ladders (every variant of `ladderVariants`, alternating at each rate), one after another: the report gives the median and range. */
  ladderRounds: number;
  ladderVariants: Variant[];
  /** The first this many ladders also climb C (the ceiling). */
  ceilingLadders: number;
  /** After a ladder's first failure, steps between the last rate that held and the failed one (each halves the gap, geometrically). */
  refineSteps: number;
  /** Gateway counts of the throughput-against-gateways series (the ladders above run on 2); A batch/rest and B. */
  gatewayCounts: number[];
  /** The series' ladders start this many steps below the 2-gateway best (halved again for 1 gateway), and go on until they fail. */
  seriesSteps: number;
  /** Ladders stop taking new steps when less than this is left of the budget (catch-up and the report need it). */
  reserveMs: number;
  /** A step that did not hold is tried once more before the system's ladder ends. */
  retryFailedStep: boolean;
  catchUpSizes: number[];
  catchUpClients: number;
  /** Tries per catch-up size up to 10,000 (A and B alternating). */
  catchUpRounds: number;
  idleClients: number;
  redisBenchmarkRequests: number;
  drainMs: number;
}

/** A fed through its REST ingest (as producers feed it), batch or plain clients; the same fed by EventStore.append; B; C. */
const V = {
  batchRest: variantOf('A', 'batch', 'rest'),
  plainRest: variantOf('A', 'plain', 'rest'),
  batchAppend: variantOf('A', 'batch', 'append'),
  plainAppend: variantOf('A', 'plain', 'append'),
  B: variantOf('B'),
  C: variantOf('C'),
};

const PLANS: Record<Plan['mode'], Plan> = {
  full: {
    mode: 'full',
    parts: [...PARTS],
    budgetMs: 1_200_000,
    threads: 4,
    clients: 200,
    lightRates: [100, 300, 1000],
    lightSeconds: 3,
    lightRounds: 3,
    lightVariants: [V.batchRest, V.plainRest, V.batchAppend, V.plainAppend, V.B],
    warmupSeconds: 2,
    stepSeconds: 3,
    startRate: 200,
    factor: Math.SQRT2,
    maxSteps: 14,
    ladderRounds: 3,
    ladderVariants: [V.batchRest, V.plainRest, V.B],
    ceilingLadders: 1,
    refineSteps: 2,
    gatewayCounts: [1, 2, 3],
    seriesSteps: 3,
    retryFailedStep: true,
    reserveMs: 60_000,
    catchUpSizes: [1000, 10_000, 100_000],
    catchUpClients: 1,
    catchUpRounds: 3,
    idleClients: 500,
    redisBenchmarkRequests: 200_000,
    drainMs: 3000,
  },
  quick: {
    mode: 'quick',
    parts: [...PARTS],
    budgetMs: 90_000,
    threads: 2,
    clients: 200,
    lightRates: [100, 300, 1000],
    lightSeconds: 1,
    lightRounds: 1,
    lightVariants: [V.batchRest, V.plainRest, V.batchAppend, V.B],
    warmupSeconds: 1,
    stepSeconds: 1,
    startRate: 200,
    factor: 2,
    maxSteps: 6,
    ladderRounds: 1,
    ladderVariants: [V.batchRest, V.plainRest, V.B],
    ceilingLadders: 1,
    refineSteps: 1,
    gatewayCounts: [2],
    seriesSteps: 2,
    retryFailedStep: false,
    reserveMs: 20_000,
    catchUpSizes: [1000, 10_000, 100_000],
    catchUpClients: 1,
    catchUpRounds: 1,
    idleClients: 200,
    redisBenchmarkRequests: 50_000,
    drainMs: 1500,
  },
  smoke: {
    mode: 'smoke',
    parts: [...PARTS],
    budgetMs: 45_000,
    threads: 1,
    clients: 10,
    lightRates: [100],
    lightSeconds: 0.5,
    lightRounds: 1,
    lightVariants: [V.batchRest, V.plainRest, V.batchAppend, V.B],
    warmupSeconds: 0.5,
    stepSeconds: 0.5,
    startRate: 100,
    factor: 2,
    maxSteps: 2,
    ladderRounds: 1,
    ladderVariants: [V.batchRest, V.plainRest, V.B],
    ceilingLadders: 1,
    refineSteps: 0,
    gatewayCounts: [2],
    seriesSteps: 0,
    retryFailedStep: false,
    reserveMs: 8_000,
    catchUpSizes: [100],
    catchUpClients: 1,
    catchUpRounds: 1,
    idleClients: 10,
    redisBenchmarkRequests: 2000,
    drainMs: 2000,
  },
};

/** A step holds when its p99 is at most this and nothing was lost, duplicated or reordered. */
export const P99_BOUND_MS = 100;
/** After a run that did not drain, how long its backlog may take to clear before the next run starts. */
const BACKLOG_WAIT_MS = 10_000;
/** A load generator thread busier than this during a run makes the run not count. */
export const SATURATED_ELU = 0.9;

const STACK_LOG_LEVEL = 'warn';
const SHOWN_LINE = /\bWARN\b|\bERROR\b|Error:/;
const DEFAULTS = parseConfig({});
const HOOK = pathToFileURL(join(PROJECT_ROOT, 'dist', 'bench', 'src', 'mem-hook.js')).href;
const PROFILE_HOOK = pathToFileURL(join(PROJECT_ROOT, 'dist', 'bench', 'src', 'profile-hook.js')).href;
/** --profile defaults: the issue's light load. */
const PROFILE_RATE = 300;
const PROFILE_SECONDS = 10;

interface Options {
  plan: Plan;
  out: string;
  /** Focused mode: fixed-rate steps only, every variant in turn in each round. */
  focus: { rate: number; variants: Variant[]; repeat: number; seconds: number; clients: number } | null;
  /** --memory: only memory per idle connection, A then B, this many times. */
  memoryRepeat: number | null;
  /** --profile: CPU profiles of gateway 1 at this rate, for this long, batch then plain clients. */
  profile: { rate: number; seconds: number } | null;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      smoke: { type: 'boolean' },
      out: { type: 'string' },
      rate: { type: 'string' },
      systems: { type: 'string' },
      clients: { type: 'string' },
      'clients-count': { type: 'string' },
      feed: { type: 'string' },
      repeat: { type: 'string' },
      seconds: { type: 'string' },
      memory: { type: 'boolean' },
      profile: { type: 'boolean' },
      only: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const base = values.smoke ? PLANS.smoke : values.quick ? PLANS.quick : PLANS.full;
  const usageError = (message: string): never => {
    process.stderr.write(`${message}\n\n${USAGE}\n`);
    process.exit(2);
  };
  const list = <T extends string>(option: string, raw: string, allowed: readonly T[], upper = false): T[] => {
    const items = raw.split(',').map((item) => (upper ? item.trim().toUpperCase() : item.trim().toLowerCase()));
    const bad = items.filter((item) => !allowed.includes(item as T));
    if (bad.length || !items.length) usageError(`--${option}: unknown ${bad.join(', ')} (${allowed.join(', ')})`);
    return items as T[];
  };
  const positive = (option: string, raw: string | undefined, fallback: number, whole = false): number => {
    const value = raw === undefined ? fallback : Number(raw);
    if (!(value > 0) || (whole && !Number.isInteger(value)))
      usageError(`--${option}: ${raw} is not a positive ${whole ? 'whole ' : ''}number`);
    return value;
  };
  const plan = values.only === undefined ? base : { ...base, parts: list<Part>('only', values.only, PARTS) };
  const systems = list<SystemId>('systems', values.systems ?? 'A,B', ['A', 'B', 'C'], true);
  const modes = list<ClientMode>('clients', values.clients ?? 'batch,plain', ['batch', 'plain']);
  const feeds = list<PulseFeed>('feed', values.feed ?? 'rest', ['rest', 'append']);
  const rate = values.rate === undefined ? null : positive('rate', values.rate, 0);
  const focus =
    rate === null
      ? null
      : {
          rate,
          variants: systems.flatMap((system) =>
            system === 'A'
              ? modes.flatMap((mode) => feeds.map((feed) => variantOf('A', mode, feed)))
              : [variantOf(system)],
          ),
          repeat: positive('repeat', values.repeat, 3, true),
          seconds: positive('seconds', values.seconds, 3),
          clients: positive('clients-count', values['clients-count'], plan.clients, true),
        };
  const memoryRepeat = values.memory ? positive('repeat', values.repeat, 3, true) : null;
  const profile = values.profile
    ? {
        rate: positive('rate', values.rate, PROFILE_RATE),
        seconds: positive('seconds', values.seconds, PROFILE_SECONDS),
      }
    : null;
  return {
    plan,
    out: resolve(values.out ?? join(PROJECT_ROOT, 'bench', 'results')),
    focus: profile ? null : focus,
    memoryRepeat,
    profile,
  };
}

/** Everything a run talks to. */
class Bench {
  readonly baselines: ChildServer[] = [];
  ws!: ChildServer;
  producer!: ChildServer;
  store!: EventStore;
  fleet!: Fleet;
  stack!: PulseStack;
  /** What the report must say went short or wrong. */
  readonly problems: string[] = [];
  private readonly memoryWaiters = new Map<string, (usage: MemoryUsage) => void>();
  private readonly profileWaiters = new Map<string, (answer: string) => void>();
  /** NODE_OPTIONS of every gateway: the bench's preloads. */
  nodeOptions = `--import ${HOOK}`;
  /** Last seq sent per B or C topic (A's come from the log head). */
  private readonly sentSeq = new Map<string, number>();

  constructor(
    readonly plan: Plan,
    readonly cleanup: Cleanup,
  ) {}

  /** `profiled`: the gateways also load the profiler hook (SIGURG starts and stops a CPU profile). */
  async start(profiled = false): Promise<void> {
    this.nodeOptions = `--import ${HOOK}${profiled ? ` --import ${PROFILE_HOOK}` : ''}`;
    const { cleanup } = this;
    this.stack = await startStack(cleanup, 'bench', '2 Pulse gateways', {
      gateways: 2,
      workers: 0,
      env: {
        LOG_LEVEL: STACK_LOG_LEVEL,
        PULSE_DEMO: '0',
        PULSE_RETENTION: String(DEFAULTS.PULSE_RETENTION),
        NODE_OPTIONS: this.nodeOptions,
      },
      onLine: (name, line) => this.onLine(name, line),
    });
    progress(`Pulse up: redis ${this.stack.redisUrl}, gateways ${this.stack.urls.join(', ')}`);
    const redis = createRedis(this.stack.redisUrl, { name: 'bench:main' });
    cleanup.add('bench Redis connection', async () => void (await redis.quit()));
    await waitForReady(redis, this.stack.redisUrl);
    this.store = new EventStore(redis, {
      retention: DEFAULTS.PULSE_RETENTION,
      idempotencyWindowMs: DEFAULTS.PULSE_IDEMPOTENCY_WINDOW_MS,
    });
    this.producer = await this.child('producer.js', 'producer', [
      this.stack.redisUrl,
      String(DEFAULTS.PULSE_RETENTION),
      String(DEFAULTS.PULSE_IDEMPOTENCY_WINDOW_MS),
    ]);
    for (let i = 0; i < 2; i++) await this.addBaseline();
    this.ws = await this.child('ws-ceiling-server.js', 'ws-ceiling', []);
    progress(`baseline servers ${this.baselines.map((server) => server.url).join(', ')}; ws ceiling ${this.ws.url}`);
    this.fleet = Fleet.start(this.plan.threads);
    cleanup.add('load generator threads', () => this.fleet.stop());
  }

  private onLine(name: string, line: string): void {
    if (line.startsWith(PROFILE_LINE)) {
      this.profileWaiters.get(name)?.(line.slice(PROFILE_LINE.length));
      this.profileWaiters.delete(name);
    } else if (line.startsWith(MEMORY_LINE)) {
      this.memoryWaiters.get(name)?.(JSON.parse(line.slice(MEMORY_LINE.length)) as MemoryUsage);
      this.memoryWaiters.delete(name);
    } else if (SHOWN_LINE.test(line)) progress(`[${name}] ${line}`);
  }

  private async child(entry: string, name: string, args: string[]): Promise<ChildServer> {
    const server = await ChildServer.start(entry, name, args);
    this.cleanup.add(
      name,
      () => server.stop(),
      () => server.kill(),
    );
    return server;
  }

  async addBaseline(): Promise<void> {
    this.baselines.push(
      await this.child('baseline-server.js', `baseline-${this.baselines.length + 1}`, [this.stack.redisUrl]),
    );
  }

  /** A Pulse gateway's memory after a full GC (its memory hook answers SIGWINCH). */
  async gatewayMemory(gateway: PulseProcess): Promise<MemoryUsage> {
    const usage = new Promise<MemoryUsage>((resolve) => this.memoryWaiters.set(gateway.name, resolve));
    gateway.kill('SIGWINCH');
    return within(`${gateway.name} to report its memory`, usage, 10_000);
  }

  /** Starts (`started`) or stops a gateway's CPU profiler; stopping answers the written profile's path. */
  async toggleProfiler(gateway: PulseProcess): Promise<string> {
    const answer = new Promise<string>((resolve) => this.profileWaiters.set(gateway.name, resolve));
    gateway.kill('SIGURG');
    const said = await within(`${gateway.name}'s profiler to answer`, answer, 30_000);
    if (said.startsWith('failed')) throw new Error(`${gateway.name}'s profiler ${said}`);
    return said;
  }

  /** The processes each system's figures are charged to. */
  roles(system: SystemId, servers: number): Roles {
    const redis = this.stack.redis ? [this.stack.redis.pid] : [];
    const loadGenerator = [process.pid];
    if (system === 'A')
      return {
        gateways: this.stack.gateways.slice(0, servers).map((g) => g.pid),
        redis,
        producer: [this.producer.pid],
        'load generator': loadGenerator,
      };
    if (system === 'B')
      return {
        gateways: this.baselines.slice(0, servers).map((s) => s.pid),
        redis,
        producer: [this.producer.pid],
        'load generator': loadGenerator,
      };
    return { gateways: [this.ws.pid], 'load generator': loadGenerator };
  }

  urls(system: SystemId, servers: number): string[] {
    if (system === 'A') return this.stack.urls.slice(0, servers);
    if (system === 'B') return this.baselines.slice(0, servers).map((server) => server.url);
    return [this.ws.url];
  }

  /** Seq before the next run's first event. */
  async base(system: SystemId, topic: string): Promise<number> {
    if (system === 'A') return (await this.store.head(topic))?.head ?? 0;
    return this.sentSeq.get(topic) ?? 0;
  }

  async produce(
    variant: Variant,
    servers: number,
    topic: string,
    t0: number,
    rate: number,
    count: number,
    base: number,
  ): Promise<ProducerStats> {
    const { system, feed } = variant;
    const spec = { topic, t0, ratePerSec: rate, count, base };
    const timeout = (count / rate) * 1000 + 60_000;
    if (system !== 'A') this.sentSeq.set(topic, base + count);
    if (system === 'C') return this.ws.request<ProducerStats>(spec, timeout);
    const request: ProducerRequest = {
      op: 'run',
      system: system === 'A' ? 'pulse' : 'baseline',
      feed: feed === 'append' ? 'append' : 'rest',
      // REST events go round robin to the gateways the clients are on.
      urls: system === 'A' ? this.urls('A', servers) : [],
      ...spec,
    };
    return this.producer.request<ProducerStats>(request, timeout);
  }

  async burst(system: 'A' | 'B', topic: string, count: number, base: number): Promise<number> {
    const request: ProducerRequest = { op: 'burst', system: system === 'A' ? 'pulse' : 'baseline', topic, count, base };
    if (system === 'B') this.sentSeq.set(topic, base + count);
    return (await this.producer.request<{ ms: number }>(request, 120_000)).ms;
  }
}

const KIND: Record<SystemId, ClientKind> = { A: 'pulse', B: 'baseline', C: 'ws' };
/** What a Pulse client of each mode adds to its subscribe request. */
export const SUBSCRIBE: Record<ClientMode, SubscribeOptions> = { batch: { batch: true }, plain: {} };
/** One client group (and topic) per system, gateway count and client mode; A's feeds share it. */
const groupKey = (v: Variant, servers: number) =>
  `${v.system.toLowerCase()}.g${servers}${v.system === 'A' ? `.${v.mode}` : ''}`;
const topicOf = (v: Variant, servers: number) => `bench.${groupKey(v, servers)}`;
const groupOf = (v: Variant, servers: number) => groupKey(v, servers);
/** C has one server whatever the gateway count. */
const serversOf = (v: Variant, servers: number) => (v.system === 'C' ? 1 : servers);

async function connectFleet(bench: Bench, v: Variant, gateways: number, clients: number): Promise<void> {
  const servers = serversOf(v, gateways);
  const topic = topicOf(v, servers);
  // A topic's first event creates its log (clients then get it in their snapshot).
  if (v.system === 'A' && !(await bench.store.head(topic))) await bench.store.append(topic, [BENCH_EVENT]);
  await bench.fleet.connect(
    groupOf(v, servers),
    KIND[v.system],
    bench.urls(v.system, servers),
    clients,
    topic,
    SUBSCRIBE[v.mode],
  );
}

/** The distinct client groups of `variants` (A's feeds share one). */
const distinctGroups = (variants: Variant[]) => [
  ...new Map(variants.map((v) => [`${v.system}${v.system === 'A' ? v.mode : ''}`, v])).values(),
];
const distinctVariants = (variants: Variant[]) => [...new Map(variants.map((v) => [variantLabel(v), v])).values()];
/** `list` starting at its `by`-th element: each round puts another variant first, so that none always runs right after another. */
const rotate = <T>(list: T[], by: number): T[] => list.map((_, i) => list[(i + by) % list.length]!);

/** One open-loop run of `system` at `rate`, checked and timed at every client. */
async function step(
  bench: Bench,
  variant: Variant,
  gateways: number,
  rate: number,
  seconds: number,
  phase: StepRow['phase'],
  round = 0,
): Promise<StepRow> {
  const { plan, fleet } = bench;
  const { system } = variant;
  const servers = serversOf(variant, gateways);
  bench.cleanup.checkpoint();
  const topic = topicOf(variant, servers);
  const group = groupOf(variant, servers);
  const count = Math.max(1, Math.round(rate * seconds));
  const base = await bench.base(system, topic);
  const t0 = hrnow() + 250;
  await fleet.arm(group, t0, 1000 / rate, base, count);
  const meter = new CpuMeter(bench.roles(system, servers));
  const producer = await bench.produce(variant, servers, topic, t0, rate, count, base);
  const drained = await fleet.drain(group, plan.drainMs + P99_BOUND_MS);
  const cpu = meter.delta();
  // A backlog left behind would load the next variant's run: let it drain first (not measured).
  if (!drained && !(await fleet.drain(group, BACKLOG_WAIT_MS)))
    progress(`${variantLabel(variant)}: clients still behind ${BACKLOG_WAIT_MS / 1000} s after the run; going on`);
  const result = await fleet.collect(group, producer.order ?? null);
  delete producer.order; // used up: the report keeps the counts
  const runSeconds = count / rate;
  const broken = result.lost + result.duplicates + result.outOfOrder + producer.failed + producer.seqMismatches;
  const saturated = result.maxElu > SATURATED_ELU;
  const held = drained && broken === 0 && result.latency !== null && result.latency.p99 <= P99_BOUND_MS;
  const row: StepRow = {
    ...variant,
    servers,
    phase,
    round,
    rate,
    clients: result.clients,
    seconds: runSeconds,
    deliveredPerSec: result.delivered / runSeconds,
    held,
    retry: false,
    saturated,
    drained,
    latency: result.latency,
    lost: result.lost,
    duplicates: result.duplicates,
    outOfOrder: result.outOfOrder,
    disconnects: result.disconnects,
    resyncs: result.resyncs,
    eventsPerFrame: result.frames ? result.delivered / result.frames : 0,
    loadGeneratorElu: result.maxElu,
    producer,
    cpuMs: cpu.cpuMs,
    cpuUsPerDelivered: Object.fromEntries(
      Object.entries(cpu.cpuMs).map(([role, used]) => [role, result.delivered ? (used * 1000) / result.delivered : 0]),
    ),
    wakesPerEvent: Object.fromEntries(Object.entries(cpu.sleeps).map(([role, slept]) => [role, slept / count])),
  };
  const l = result.latency;
  progress(
    `${phase} ${variantLabel(variant)}${servers === 1 ? '' : ` ×${servers}`} @ ${Math.round(rate)} ev/s → ${Math.round(row.deliveredPerSec).toLocaleString('en-US')} delivered/s, ` +
      `p50 ${l?.p50.toFixed(2)} p99 ${l?.p99.toFixed(2)} max ${l?.max.toFixed(1)} ms, lost ${result.lost}, dup ${result.duplicates}, ooo ${result.outOfOrder}, ${row.eventsPerFrame.toFixed(1)} ev/frame, ` +
      `load gen ${(result.maxElu * 100).toFixed(0)} %, CPU µs/ev server ${serverUs(row).toFixed(1)} (${Object.entries(
        row.cpuUsPerDelivered,
      )
        .map(([role, us]) => `${role} ${us.toFixed(1)}`)
        .join(' ')})` +
      `, wakes/ev gateways ${row.wakesPerEvent!.gateways!.toFixed(2)} redis ${(row.wakesPerEvent!.redis ?? 0).toFixed(2)}` +
      `${producer.failed ? `, ${producer.failed} sends failed (${producer.firstError})` : ''}` +
      `${producer.displaced ? `, ${producer.displaced} appended out of schedule (≤ ${producer.maxDisplacement} apart)` : ''}` +
      `${held ? '' : ' — did not hold'}${saturated ? ' (load generator saturated: does not count)' : ''}`,
  );
  return row;
}

/** Where one variant's ladder stands: the rate of its next step, the highest rate that held and the lowest that failed. */
interface Rung {
  rate: number;
  climbs: number;
  held: number | null;
  failed: number | null;
  refinesLeft: number;
  /** Steps down (÷ factor²) taken because nothing had held yet. */
  descents: number;
}

/** A ladder whose first step fails steps down (÷ factor² each time) at most this often before it gives up. */
const MAX_DESCENTS = 3;

/**
 * Steps every variant's rate up (×factor, alternating between them at each rate) until p99 passes
 * the bound or anything is lost; then narrows the gap between the last rate that held and the first
 * that did not (`refineSteps` steps at their geometric middle), so that the figure's resolution is
 * finer than one factor. A variant whose first steps fail steps down first.
 */
async function ladder(
  bench: Bench,
  variants: Variant[],
  servers: number,
  startRate: (v: Variant) => number,
  steps: number,
  phase: StepRow['phase'],
  round: number,
): Promise<StepRow[]> {
  const { plan } = bench;
  const rows: StepRow[] = [];
  const rungs = new Map<Variant, Rung>(
    variants.map((v) => [
      v,
      { rate: startRate(v), climbs: 0, held: null, failed: null, refinesLeft: plan.refineSteps, descents: 0 },
    ]),
  );
  while (rungs.size) {
    for (const variant of variants) {
      const rung = rungs.get(variant);
      if (!rung) continue;
      if (elapsedSeconds() * 1000 > plan.budgetMs - plan.reserveMs) {
        bench.problems.push(
          `the ${phase} ${[...rungs.keys()].map(variantLabel).join(', ')} (${servers} gateway(s)) stopped at the time bound, before failing`,
        );
        return rows;
      }
      let row = await step(bench, variant, servers, rung.rate, plan.stepSeconds, phase, round);
      rows.push(row);
      if (!row.held && !row.saturated && plan.retryFailedStep) {
        // One more try at the same rate: a single stall of a shared machine should not end a ladder.
        row = await step(bench, variant, servers, rung.rate, plan.stepSeconds, phase, round);
        row.retry = true;
        rows.push(row);
      }
      if (row.saturated) {
        rungs.delete(variant);
        continue;
      }
      if (row.held) rung.held = rung.rate;
      else rung.failed = rung.rate;
      const refining = rung.failed !== null;
      if (rung.held === null && rung.descents < MAX_DESCENTS) {
        // Nothing held yet (a start rate set too high, e.g. from another gateway count): look lower.
        rung.descents += 1;
        rung.rate /= plan.factor ** 2;
      } else if (refining && (rung.held === null || rung.refinesLeft-- <= 0)) rungs.delete(variant);
      else if (refining) rung.rate = Math.sqrt(rung.held! * rung.failed!);
      else if (++rung.climbs >= steps) rungs.delete(variant);
      else rung.rate *= plan.factor;
    }
  }
  return rows;
}

/**
 * The rows of memory per idle connection, measured in this order. A's subscribers are plain (no
 * presence): the target compares row `A` with `B`. Once `subscribe { presence: true }` exists, a row
 * `{ system: 'A', subscribe: { presence: true }, label: 'A presence' }` measures what the
 * dashboard's kind of subscriber holds.
 */
const MEMORY_ROWS: { system: 'A' | 'B'; subscribe: SubscribeOptions; label: string }[] = [
  { system: 'A', subscribe: {}, label: 'A' },
  { system: 'A', subscribe: { presence: true }, label: 'A presence' },
  { system: 'B', subscribe: {}, label: 'B' },
];

/** Memory per idle connection of `system`; A's clients subscribe with `subscribe` (e.g. `{ presence: true }` for a row of presence subscribers), and the row is called `label`. */
async function memoryRow(
  bench: Bench,
  system: 'A' | 'B',
  subscribe: SubscribeOptions = {},
  label: string = system,
): Promise<MemoryRow> {
  const measure = () => (system === 'A' ? bench.gatewayMemory(bench.stack.gateways[0]!) : bench.baselines[0]!.memory());
  const group = `idle-${label}`;
  const topic = `bench.idle.${label.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  if (system === 'A' && !(await bench.store.head(topic))) await bench.store.append(topic, [BENCH_EVENT]);
  // A first round of as many connections, closed before measuring, so that one-time costs (code
  // compiled on first use, modules loaded lazily) are not charged to the connections: the figure is
  // what one more idle connection holds. Both systems get the same round.
  const open = (await measure()).sockets;
  await bench.fleet.connect(
    `${group}-warm-up`,
    KIND[system],
    bench.urls(system, 1),
    bench.plan.idleClients,
    topic,
    subscribe,
  );
  await bench.fleet.close(`${group}-warm-up`);
  // The server lets go of closed sockets as their closes arrive: measure once all are gone.
  const settled = async (what: string) => {
    let usage = await measure();
    for (let tries = 0; usage.sockets > open && tries < 50; tries++) {
      await sleep(100);
      usage = await measure();
    }
    if (usage.sockets > open)
      progress(`memory ${label}: ${usage.sockets - open} ${what} sockets still open after 5 s; going on anyway`);
    return usage;
  };
  const before = await settled('warm-up');
  await bench.fleet.connect(group, KIND[system], bench.urls(system, 1), bench.plan.idleClients, topic, subscribe);
  const after = await measure();
  await bench.fleet.close(group);
  // The next row starts from a server that holds none of these (their memory is not yet freed
  // when the close returns: a row measured then was charged with their release).
  await settled('measured');
  const per = (field: keyof MemoryUsage) => (after[field] - before[field]) / bench.plan.idleClients;
  const row: MemoryRow = {
    system,
    label,
    subscribe: system === 'A' ? subscribe : {},
    connections: bench.plan.idleClients,
    heapPerConnection: per('heapUsed') + per('external'),
    rssPerConnection: per('rss'),
    before,
    after,
  };
  progress(
    `memory ${label}: ${row.connections} idle connections: ${(row.heapPerConnection / 1024).toFixed(1)} KiB heap+external, ${(row.rssPerConnection / 1024).toFixed(1)} KiB RSS each (after GC)`,
  );
  return row;
}

async function catchUpRow(bench: Bench, system: 'A' | 'B', missed: number, round: number): Promise<CatchUpRow> {
  const { fleet, plan } = bench;
  bench.cleanup.checkpoint();
  const topic = `bench.catchup.${system.toLowerCase()}.${missed}.${round}`;
  const group = `catchup-${system}-${missed}-${round}`;
  if (system === 'A') await bench.store.append(topic, [BENCH_EVENT]);
  await fleet.connect(group, KIND[system], bench.urls(system, 1), plan.catchUpClients, topic, SUBSCRIBE.batch);
  const base = await bench.base(system, topic);
  await fleet.away(group);
  const appendMs = await bench.burst(system, topic, missed, base);
  // B has no recovery: a marker event after the clients are back shows when they are current again, and what they lost.
  const target = system === 'A' ? base + missed : base + missed + 1;
  await fleet.back(group, base, target);
  if (system === 'B') await bench.burst('B', topic, 1, base + missed);
  await fleet.drain(group, 30_000);
  const result = await fleet.collect(group);
  await fleet.close(group);
  const times = result.catchUp.map((client) => client.ms).filter((ms): ms is number => ms !== null);
  const row: CatchUpRow = {
    system,
    missed,
    clients: result.clients,
    appendMs,
    currentMs: times.length === result.clients ? Math.max(...times) : null,
    snapshot: result.catchUp.some((client) => client.snapshot),
    // B's marker is not a missed event: what it lost is what it did not get of the burst.
    lost: system === 'A' ? result.lost : result.lost,
    duplicates: result.duplicates,
    outOfOrder: result.outOfOrder,
  };
  progress(
    `catch-up ${system}: ${missed.toLocaleString('en-US')} missed → current after ${row.currentMs?.toFixed(1) ?? 'never'} ms` +
      `${row.snapshot ? ' (snapshot: past the resumable bound)' : ''}, lost ${row.lost}, dup ${row.duplicates}`,
  );
  return row;
}

async function run(bench: Bench): Promise<BenchResults> {
  const { plan } = bench;
  const machine = machineNow();
  progress(
    `${plan.mode} run on ${machine.cpu} × ${machine.cores}, Node ${machine.node}, load ${machine.loadAtStart.map((v) => v.toFixed(2)).join(' ')}`,
  );
  await bench.start();
  const redisPort = Number(new URL(bench.stack.redisUrl).port);
  const want = (part: Part) => plan.parts.includes(part);

  // C: Redis's own ceilings.
  const payload = JSON.stringify(envelope('bench.redis', 1));
  const redisRows = [];
  for (const command of want('redis') ? (['PUBLISH', 'XADD'] as const) : []) {
    for (const pipeline of [1, 16]) {
      bench.cleanup.checkpoint();
      const row = await redisBenchmark(redisPort, command, payload, plan.redisBenchmarkRequests, pipeline);
      progress(
        `redis-benchmark ${command} -P ${pipeline}: ${Math.round(row.perSec).toLocaleString('en-US')}/s, p50 ${row.p50Ms} ms`,
      );
      redisRows.push(row);
    }
  }

  // Memory per idle connection, before any traffic.
  const memory: MemoryRow[] = [];
  for (const spec of want('memory') ? MEMORY_ROWS : [])
    memory.push(await memoryRow(bench, spec.system, spec.subscribe, spec.label));

  // Light load, then the ladders, on 2 gateways: every variant in turn within each round.
  const lightVariants = want('light') ? plan.lightVariants : [];
  const ladderRounds = want('ladders') ? plan.ladderRounds : 0;
  const all = [
    ...lightVariants,
    ...(ladderRounds ? [...plan.ladderVariants, ...(plan.ceilingLadders ? [V.C] : [])] : []),
  ];
  const groups = distinctGroups(all);
  progress(
    `connecting ${plan.clients} clients each: ${groups.map((v) => (v.system === 'A' ? `A ${v.mode}` : v.system)).join(', ')}…`,
  );
  for (const v of groups) await connectFleet(bench, v, 2, plan.clients);
  const steps: StepRow[] = [];
  const warmUps = distinctVariants(all.filter((v) => v.system !== 'C'));
  for (const v of warmUps) steps.push(await step(bench, v, 2, plan.lightRates[0]!, plan.warmupSeconds, 'warm-up'));
  for (const rate of lightVariants.length ? plan.lightRates : [])
    for (let round = 0; round < plan.lightRounds; round++)
      for (const v of rotate(lightVariants, round))
        steps.push(await step(bench, v, 2, rate, plan.lightSeconds, 'light', round));
  for (let round = 0; round < ladderRounds; round++) {
    const variants = [...plan.ladderVariants, ...(round < plan.ceilingLadders ? [V.C] : [])];
    progress(`ladder ${round + 1} of ${plan.ladderRounds}: ${variants.map(variantLabel).join(', ')}`);
    steps.push(...(await ladder(bench, variants, 2, () => plan.startRate, plan.maxSteps, 'ladder', round)));
  }
  for (const v of groups) await bench.fleet.close(groupOf(v, serversOf(v, 2)));

  // Throughput against gateway count (the 2-gateway figure is the first ladder's): each starts below the 2-gateway best.
  for (const servers of want('gateways') ? plan.gatewayCounts.filter((count) => count !== 2) : []) {
    const series = [V.batchRest, V.B];
    while (bench.stack.gateways.length < servers) await bench.stack.addGateway(0, { NODE_OPTIONS: bench.nodeOptions });
    while (bench.baselines.length < servers) await bench.addBaseline();
    for (const v of series) await connectFleet(bench, v, servers, plan.clients);
    const start = (v: Variant) =>
      Math.max(
        plan.startRate / 2,
        ((bestHeld(steps, v, 2, 0)?.rate ?? plan.startRate) / plan.factor ** (plan.seriesSteps - 1)) *
          (servers === 1 ? 0.5 : 1),
      );
    steps.push(...(await ladder(bench, series, servers, start, plan.maxSteps, 'gateways', 0)));
    for (const v of series) await bench.fleet.close(groupOf(v, servers));
  }

  const catchUp: CatchUpRow[] = [];
  for (const missed of want('catchup') ? plan.catchUpSizes : []) {
    // Up to 10,000 missed events, several alternating tries: the target reads the median one.
    const rounds = missed <= 10_000 ? plan.catchUpRounds : 1;
    if (elapsedSeconds() * 1000 > plan.budgetMs - plan.reserveMs / 2) {
      bench.problems.push(
        `catch-up from ${missed.toLocaleString('en-US')} missed events on skipped: the run was near its time bound`,
      );
      break;
    }
    for (let round = 0; round < rounds; round++)
      for (const system of ['A', 'B'] as const) catchUp.push(await catchUpRow(bench, system, missed, round));
  }

  machine.loadAtEnd = machineNow().loadAtStart;
  const exited = bench.stack.gateways.filter((gateway) => !gateway.running).map((gateway) => gateway.name);
  return {
    date: new Date().toISOString(),
    mode: plan.mode,
    machine,
    redisVersion: await redisVersionOf(bench),
    plan,
    bufferutil: hasBufferutil(),
    steps,
    catchUp,
    memory,
    redisBenchmark: redisRows,
    loadGeneratorCpuMs: cpuMs(process.pid) ?? 0,
    problems: [...bench.problems, ...exited.map((name) => `${name} exited during the run`)],
    seconds: elapsedSeconds(),
  };
}

/** --rate: the same fixed-rate step, repeated, every variant in turn in each round; progress lines and a summary of medians. */
async function focused(bench: Bench, focus: NonNullable<Options['focus']>): Promise<void> {
  await bench.start();
  progress(
    `focused: ${focus.variants.map(variantLabel).join(', ')} @ ${focus.rate} ev/s, ${focus.clients} clients each, ${focus.repeat} rounds of ${focus.seconds} s`,
  );
  for (const v of distinctGroups(focus.variants)) await connectFleet(bench, v, 2, focus.clients);
  for (const v of focus.variants) await step(bench, v, 2, bench.plan.lightRates[0]!, 1, 'warm-up');
  const rows: StepRow[] = [];
  for (let i = 0; i < focus.repeat; i++)
    for (const v of rotate(focus.variants, i))
      rows.push(await step(bench, v, 2, focus.rate, focus.seconds, 'light', i));
  progress(`summary, median of ${focus.repeat} rounds (server CPU = gateways + redis):`);
  for (const v of focus.variants) {
    const mine = rows.filter((row) => isVariant(row, v));
    const med = (pick: (row: StepRow) => number) => median(mine.map(pick));
    const broken = mine.reduce((sum, row) => sum + row.lost + row.duplicates + row.outOfOrder + row.producer.failed, 0);
    progress(
      `  ${variantLabel(v).padEnd(14)} server ${med(serverUs).toFixed(1)} µs/ev, producer ${med((row) => row.cpuUsPerDelivered.producer ?? 0).toFixed(1)} µs/ev, ` +
        `wakes/ev gateways ${med((row) => row.wakesPerEvent!.gateways!).toFixed(2)} redis ${med((row) => row.wakesPerEvent!.redis ?? 0).toFixed(2)}, ` +
        `p50 ${med((row) => row.latency?.p50 ?? Infinity).toFixed(2)} ms, p99 ${med((row) => row.latency?.p99 ?? Infinity).toFixed(2)} ms, ` +
        `${Math.round(med((row) => row.deliveredPerSec)).toLocaleString('en-US')} delivered/s, lost+dup+order+failed ${broken}, held ${mine.filter((row) => row.held).length}/${mine.length}`,
    );
  }
}

/**
 * --profile: a CPU profile of gateway 1 (of 2; the clients and the REST requests are spread over
 * both) during one open-loop run, REST-fed, for batch then plain clients. Writes
 * profile-<mode>.cpuprofile (open in Chrome DevTools or VS Code) and profile.md (top self time).
 */
async function profileRun(bench: Bench, options: NonNullable<Options['profile']>, out: string): Promise<string[]> {
  await bench.start(true);
  const gateway = bench.stack.gateways[0]!;
  mkdirSync(out, { recursive: true });
  const files: string[] = [];
  const sections: string[] = [];
  for (const mode of ['batch', 'plain'] as const) {
    const v = variantOf('A', mode, 'rest');
    await connectFleet(bench, v, 2, bench.plan.clients);
    await step(bench, v, 2, bench.plan.lightRates[0]!, 2, 'warm-up');
    await bench.toggleProfiler(gateway);
    const row = await step(bench, v, 2, options.rate, options.seconds, 'light');
    const written = await bench.toggleProfiler(gateway);
    const file = join(out, `profile-${mode}.cpuprofile`);
    copyFileSync(written, file);
    rmSync(written, { force: true });
    files.push(file);
    const summary = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, PROJECT_ROOT);
    sections.push(
      '',
      ...renderProfile(
        `${mode} clients (${variantLabel(v)}): ${row.clients} clients, ${options.rate} ev/s for ${options.seconds} s → ${Math.round(row.deliveredPerSec).toLocaleString('en-US')} delivered/s, p50 ${row.latency?.p50.toFixed(2)} ms, server CPU ${serverUs(row).toFixed(1)} µs/ev (under the profiler)`,
        summary,
      ),
    );
    await bench.fleet.close(groupOf(v, 2));
  }
  const markdown = [
    `# CPU profile of one gateway (${new Date().toISOString()})`,
    '',
    `Gateway 1 of 2, ${bench.plan.clients} clients spread over both, fed one \`POST /api/v1/topics/:topic/events\` per event (round robin over both gateways), ${options.rate} ev/s for ${options.seconds} s; V8's sampling profiler in the gateway's process (\`node:inspector\`, started and stopped by the bench-only preload \`profile-hook.js\` on SIGURG; ${SAMPLING_INTERVAL_US} µs sampling). Self time per function from the profile's samples and time deltas; file:line mapped to the TypeScript sources through dist's source maps. The profiler itself costs some CPU: compare the shares, not the absolute CPU. Files: ${files.map((f) => `\`${basename(f)}\``).join(', ')}. Machine load at the end: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' / ')}.`,
    ...sections,
    '',
  ].join('\n');
  const summaryFile = join(out, 'profile.md');
  writeFileSync(summaryFile, markdown);
  process.stdout.write(markdown);
  return [...files, summaryFile];
}

async function redisVersionOf(bench: Bench): Promise<string> {
  const redis = createRedis(bench.stack.redisUrl, { name: 'bench:info' });
  try {
    await waitForReady(redis, bench.stack.redisUrl);
    return /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
  } finally {
    await redis.quit();
  }
}

/** Whether ws can load bufferutil (it does unless WS_NO_BUFFER_UTIL is set). */
function hasBufferutil(): boolean {
  try {
    createRequire(import.meta.url).resolve('bufferutil');
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const { plan, out, focus, memoryRepeat, profile } = parseOptions();
  const cleanup = new Cleanup();
  const disarm = boundRun(cleanup, focus || memoryRepeat !== null || profile ? 600_000 : plan.budgetMs);
  let results: BenchResults;
  try {
    if (focus) {
      await focused(new Bench({ ...plan, budgetMs: Infinity }, cleanup), focus);
      return;
    }
    if (profile) {
      const files = await profileRun(new Bench({ ...plan, budgetMs: Infinity }, cleanup), profile, out);
      progress(`wrote ${files.join(', ')}`);
      return;
    }
    if (memoryRepeat !== null) {
      const bench = new Bench({ ...plan, budgetMs: Infinity }, cleanup);
      await bench.start();
      for (let i = 0; i < memoryRepeat; i++)
        for (const spec of MEMORY_ROWS) await memoryRow(bench, spec.system, spec.subscribe, spec.label);
      return;
    }
    results = await run(new Bench(plan, cleanup));
  } finally {
    progress('stopping gateways, servers, redis-server and clients…');
    await cleanup.run();
    disarm();
  }
  const markdown = renderMarkdown(results);
  const files = writeResults(out, results, markdown);
  process.stdout.write(markdown);
  progress(`done in ${elapsedSeconds().toFixed(1)} s; wrote ${files.join(', ')}`);
}

main().catch((error: unknown) => {
  progress(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : errorMessage(error)}`);
  process.exitCode = 1;
});
