// `npm run bench`: Pulse's core costs (append throughput, delivery latency) next to baselines measured in the same run.
import 'reflect-metadata';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Redis } from 'ioredis';
import type { SubscribeAck } from '#pulse/contracts';
import { parseConfig } from '#pulse/config';
import { EventStore, createRedis, waitForReady } from '#pulse/event-store';
import { PROJECT_ROOT, PulseStack } from '#pulse/stack';
import { BaselineServer } from './baseline-cluster.js';
import { ClientFleet, type ClientSetup } from './client-fleet.js';
import { Cleanup, elapsedSeconds, errorMessage, now, progress } from './common.js';
import { checkDelivery } from './delivery.js';
import { BENCH_EVENT, appendCall, restCall, xaddCall } from './ingest-calls.js';
import { openLoop } from './open-loop.js';
import { machineNow, renderMarkdown, writeResults, type BenchResults, type LatencyRow, type ThroughputRow } from './report.js';
import { measureThroughput } from './throughput.js';

const USAGE = `Usage: node dist/bench/src/core.bench.js [--quick]

Starts its own redis-server (temporary folder, no AOF) and two Pulse gateways, measures append
throughput (Pulse vs raw XADD, REST ingest) and delivery latency to 200 socket.io clients (Pulse
batch and per-event mode vs a plain Socket.IO + redis-adapter cluster), prints a Markdown report
and writes bench/results/core-latest.{md,json}. Takes about 2.5 min (--quick: about 35 s).`;

interface Plan {
  mode: 'quick' | 'full';
  throughputMs: number;
  warmupMs: number;
  latencySeconds: number;
  /** Sent first at the same rate, checked for delivery but left out of the latency figures (JIT, first frames). */
  latencyWarmupSeconds: number;
  ratePerSec: number;
  clientsPerServer: number;
  /** How long the last event may take to reach every client after the producer is done. */
  drainMs: number;
  /** The whole run is stopped (everything it started is cleaned up) past this. */
  budgetMs: number;
}

const PLANS: Record<Plan['mode'], Plan> = {
  full: { mode: 'full', throughputMs: 4000, warmupMs: 500, latencySeconds: 25, latencyWarmupSeconds: 2, ratePerSec: 100, clientsPerServer: 100, drainMs: 5000, budgetMs: 180_000 },
  quick: { mode: 'quick', throughputMs: 800, warmupMs: 200, latencySeconds: 4, latencyWarmupSeconds: 1, ratePerSec: 100, clientsPerServer: 100, drainMs: 3000, budgetMs: 45_000 },
};

interface ThroughputSpec {
  path: ThroughputRow['path'];
  batch: number;
  concurrency: number;
}

const THROUGHPUT_SPECS: ThroughputSpec[] = [
  { path: 'EventStore.append', batch: 1, concurrency: 1 },
  { path: 'EventStore.append', batch: 1, concurrency: 16 },
  { path: 'EventStore.append', batch: 50, concurrency: 1 },
  { path: 'EventStore.append', batch: 500, concurrency: 1 },
  { path: 'REST POST', batch: 1, concurrency: 8 },
  { path: 'REST POST', batch: 100, concurrency: 8 },
];

/** Pulse processes show only warnings and errors during a run. */
const STACK_LOG_LEVEL = 'warn';
const SHOWN_LINE = /\bWARN\b|\bERROR\b|Error:/;

/** The gateways' defaults, so that the bench's own EventStore behaves like theirs. */
const DEFAULTS = parseConfig({});

interface Bench {
  plan: Plan;
  stack: PulseStack;
  store: EventStore;
  xaddRedis: Redis;
}

function parseOptions(): Plan {
  const { values } = parseArgs({ options: { quick: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  return values.quick ? PLANS.quick : PLANS.full;
}

async function connect(url: string, name: string, cleanup: Cleanup): Promise<Redis> {
  const redis = createRedis(url, { name });
  let reported = false;
  redis.on('error', (error: Error) => {
    // ioredis retries by itself; a failing call reports the error where it matters.
    if (!reported) progress(`${name}: ${error.message}`);
    reported = true;
  });
  cleanup.add(name, async () => {
    await redis.quit();
  });
  await waitForReady(redis, url);
  return redis;
}

async function startBench(plan: Plan, cleanup: Cleanup): Promise<Bench> {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-bench-'));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  cleanup.add('temporary folder', removeDir, removeDir);
  progress(`starting redis-server (in ${dir}, no AOF) and 2 gateways…`);
  const starting = PulseStack.start({
    redisDir: dir,
    redisAppendOnly: false,
    gateways: 2,
    workers: 0,
    env: { LOG_LEVEL: STACK_LOG_LEVEL, PULSE_DEMO: '0', PULSE_RETENTION: String(DEFAULTS.PULSE_RETENTION) },
    onLine: (name, line) => {
      if (SHOWN_LINE.test(line)) progress(`[${name}] ${line}`);
    },
  });
  let started: PulseStack | null = null;
  // Registered before it is up: a stop requested during the start waits for it (a failed start stops itself).
  cleanup.add(
    'Pulse stack',
    async () => (await starting.catch(() => null))?.stop(),
    () => {
      for (const gateway of started?.gateways ?? []) gateway.kill('SIGKILL');
      started?.redis?.signal('SIGKILL');
    },
  );
  const stack = await starting;
  started = stack;
  progress(`stack up: redis ${stack.redisUrl}, gateways ${stack.urls.join(', ')}`);
  const appendRedis = await connect(stack.redisUrl, 'pulse-bench:append', cleanup);
  const xaddRedis = await connect(stack.redisUrl, 'pulse-bench:xadd', cleanup);
  const store = new EventStore(appendRedis, { retention: DEFAULTS.PULSE_RETENTION, idempotencyWindowMs: DEFAULTS.PULSE_IDEMPOTENCY_WINDOW_MS });
  return { plan, stack, store, xaddRedis };
}

async function redisVersion(redis: Redis): Promise<string> {
  const info = await redis.info('server');
  return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
}

// ---- 1. throughput ----

async function throughputRow(bench: Bench, spec: ThroughputSpec): Promise<ThroughputRow> {
  const { plan, stack, store, xaddRedis } = bench;
  const topic = `bench.${spec.path === 'REST POST' ? 'rest' : 'append'}.b${spec.batch}.c${spec.concurrency}`;
  const options = { batch: spec.batch, concurrency: spec.concurrency, durationMs: plan.throughputMs, warmupMs: plan.warmupMs };
  const pulseCall = spec.path === 'REST POST' ? restCall(stack.urls[0]!, topic, spec.batch) : appendCall(store, topic, spec.batch);
  const xadd = await measureThroughput(xaddCall(xaddRedis, `bench:xadd:${topic}`, spec.batch, DEFAULTS.PULSE_RETENTION), options);
  const pulse = await measureThroughput(pulseCall, options);
  const failed = [pulse, xadd].find((result) => result.errors > 0);
  progress(
    `throughput: ${spec.path}, ${spec.batch} event(s)/call × ${spec.concurrency} caller(s): ` +
      `Pulse ${Math.round(pulse.eventsPerSec)} ev/s, raw XADD ${Math.round(xadd.eventsPerSec)} ev/s${failed ? ` — FAILED CALLS: ${failed.firstError}` : ''}`,
  );
  return { path: spec.path, batch: spec.batch, concurrency: spec.concurrency, pulse, xadd };
}

// ---- 2. latency ----

/** Pulse clients: subscribe with ack, then record `events` frames (batch) or each `attempt.recorded` event. */
function pulseClients(topic: string, batch: boolean): ClientSetup {
  return {
    listen: (socket, record) => {
      if (batch) socket.on('events', (events) => record(events));
      else socket.on('attempt.recorded', (event) => record([event]));
    },
    ready: async (socket) => {
      const ack = (await socket.timeout(10_000).emitWithAck('subscribe', { topic, batch })) as SubscribeAck;
      if (!ack.ok) throw new Error(`subscribe to ${topic} failed: ${ack.code} ${ack.message}`);
    },
  };
}

/** Baseline clients: every socket gets every `io.emit`; nothing to subscribe to. */
const baselineClients: ClientSetup = {
  listen: (socket, record) => {
    socket.on('attempt.recorded', (event) => record([event]));
  },
  ready: () => Promise.resolve(),
};

/** Sends event `index` and says which seq it became and when it was sent. */
type Send = (index: number) => Promise<{ seq: number; sentAt: number }>;

/** Connects the clients, produces at the plan's rate, waits until the last event is everywhere (bounded), then checks delivery. */
async function deliveryRun(bench: Bench, system: string, mode: string, urls: string[], setup: ClientSetup, send: Send): Promise<LatencyRow> {
  const { plan } = bench;
  const label = `${system}, ${mode}`;
  progress(`latency: ${label}: connecting ${urls.length * plan.clientsPerServer} clients…`);
  const fleet = await ClientFleet.connect(urls, plan.clientsPerServer, setup);
  try {
    const warmupCount = plan.ratePerSec * plan.latencyWarmupSeconds;
    const count = warmupCount + plan.ratePerSec * plan.latencySeconds;
    progress(`latency: ${label}: sending ${count} events at ${plan.ratePerSec}/s (the first ${warmupCount} as warm-up)…`);
    const sentAt = new Map<number, number>();
    const warmup = new Set<number>();
    const producer = await openLoop({
      count,
      ratePerSec: plan.ratePerSec,
      send: async (index) => {
        const sent = await send(index);
        sentAt.set(sent.seq, sent.sentAt);
        if (index < warmupCount) warmup.add(sent.seq);
      },
      onProgress: (started) => progress(`latency: ${label}: ${started}/${count} sent`),
    });
    const drained = await fleet.allReached(Math.max(0, ...sentAt.keys()), plan.drainMs);
    const delivery = checkDelivery(fleet.logs, sentAt, urls.length, warmup);
    const l = delivery.latency;
    progress(
      `latency: ${label}: p50 ${l?.p50.toFixed(2)} ms, p99 ${l?.p99.toFixed(2)} ms, max ${l?.max.toFixed(1)} ms; ` +
        `delivered ${delivery.delivered}/${delivery.expected}, lost ${delivery.lost}, duplicates ${delivery.duplicates}, out of order ${delivery.outOfOrder}` +
        `${producer.failed ? `, ${producer.failed} SENDS FAILED (${producer.firstError})` : ''}${drained ? '' : ', DRAIN TIMED OUT'}`,
    );
    return { system, mode, delivery, producer, drained };
  } finally {
    fleet.close();
  }
}

async function pulseLatency(bench: Bench, batch: boolean): Promise<LatencyRow> {
  const topic = `bench.latency.${batch ? 'batch' : 'single'}`;
  // Subscribe answers NOT_FOUND for a topic without a log: the first event creates it (clients get it in their snapshot).
  await bench.store.append(topic, [BENCH_EVENT]);
  const mode = batch ? 'batch (`events` frames)' : 'per event';
  return deliveryRun(bench, 'Pulse', mode, bench.stack.urls, pulseClients(topic, batch), async () => {
    const sentAt = now();
    const { seqs } = await bench.store.append(topic, [BENCH_EVENT]);
    return { seq: seqs[0]!, sentAt };
  });
}

async function baselineLatency(bench: Bench, cleanup: Cleanup): Promise<LatencyRow> {
  progress('latency: starting 2 baseline Socket.IO servers (redis-adapter)…');
  const servers = await Promise.all([BaselineServer.start(bench.stack.redisUrl), BaselineServer.start(bench.stack.redisUrl)]);
  servers.forEach((server, i) =>
    cleanup.add(
      `baseline server ${i + 1}`,
      () => server.stop(),
      () => server.kill(),
    ),
  );
  const [first] = servers;
  try {
    return await deliveryRun(bench, 'Socket.IO + redis-adapter', 'per event (io.emit on server 1)', servers.map((server) => server.url), baselineClients, async (index) => {
      const seq = index + 1;
      const sentAt = now();
      await first.emit({ topic: 'bench.baseline', seq, epoch: 'baseline', type: BENCH_EVENT.type, ts: Date.now(), data: BENCH_EVENT.data });
      return { seq, sentAt };
    });
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
}

// ---- report ----

function notes(plan: Plan): string[] {
  const emitterInstalled = existsSync(join(PROJECT_ROOT, 'node_modules', '@socket.io', 'redis-emitter'));
  return [
    ...(plan.mode === 'quick' ? ['Quick mode: short measurements, indicative only. Run without --quick for the figures to quote.'] : []),
    'Everything runs on this one machine over loopback, next to whatever else it is doing (see the load average).',
    'Raw XADD: its own connection (same ioredis settings as Pulse\'s), `XADD key MAXLEN ~ <retention> * t ts d e` with the fields and JSON Pulse stores; a batch is N XADDs pipelined in one round trip (no MULTI). On top of that, `EventStore.append` assigns contiguous seqs, checks idempotency, folds the projections and trims, in one Lua call; the topic registry ZADD goes alongside it at most once a second per topic.',
    `REST POST goes to gateway 1 (Express JSON body, zod validation, then the same append). Retention is ${DEFAULTS.PULSE_RETENTION.toLocaleString('en-US')} events per topic: a measurement that fills a topic past it includes trimming.`,
    'Latency: send time is taken just before `EventStore.append` (Pulse) or before the IPC message to baseline server 1; receipt time when socket.io-client hands the event to the listener. Both on one clock (performance.timeOrigin + performance.now()) in the bench process, which also runs the clients and the producer. Pulse runs with no worker, so only the producer appends to the measured topics.',
    `Baseline: ${emitterInstalled ? '@socket.io/redis-emitter is installed but not used here' : '@socket.io/redis-emitter is not installed'}, so the producer hands each event over IPC to baseline server 1 (a child process), which calls io.emit: its own sockets get it directly, server 2's through the adapter's Redis PUBLISH. That path is at-most-once and cannot replay; Pulse's path is Lua append → each gateway's XREAD BLOCK tail → its sockets.`,
    `Pulse processes log at LOG_LEVEL=${STACK_LOG_LEVEL}.`,
    'Percentiles are exact (sorted samples, nearest rank).',
  ];
}

async function run(plan: Plan, cleanup: Cleanup): Promise<BenchResults> {
  const machine = machineNow();
  progress(`${plan.mode} run on ${machine.cpu} × ${machine.cores}, Node ${machine.node}, load ${machine.loadAtStart.map((v) => v.toFixed(2)).join(' ')}`);
  const bench = await startBench(plan, cleanup);
  const version = await redisVersion(bench.xaddRedis);
  const throughput: ThroughputRow[] = [];
  for (const spec of THROUGHPUT_SPECS) {
    cleanup.checkpoint();
    throughput.push(await throughputRow(bench, spec));
  }
  const latency: LatencyRow[] = [];
  for (const measure of [() => pulseLatency(bench, true), () => pulseLatency(bench, false), () => baselineLatency(bench, cleanup)]) {
    cleanup.checkpoint();
    latency.push(await measure());
  }
  const alive = bench.stack.gateways.filter((gateway) => !gateway.running).map((gateway) => gateway.name);
  machine.loadAtEnd = machineNow().loadAtStart;
  return {
    date: new Date().toISOString(),
    mode: plan.mode,
    machine,
    redisVersion: version,
    settings: {
      throughputSeconds: plan.throughputMs / 1000,
      warmupSeconds: plan.warmupMs / 1000,
      latencySeconds: plan.latencySeconds,
      latencyWarmupSeconds: plan.latencyWarmupSeconds,
      rate: plan.ratePerSec,
      clients: plan.clientsPerServer * 2,
      clientsPerServer: plan.clientsPerServer,
      retention: DEFAULTS.PULSE_RETENTION,
    },
    throughput,
    latency,
    notes: [...notes(plan), ...(alive.length ? [`**${alive.join(', ')} exited during the run.**`] : [])],
    seconds: elapsedSeconds(),
  };
}

async function main(): Promise<void> {
  const plan = parseOptions();
  const cleanup = new Cleanup();
  const abort = (why: string, code: number) => {
    progress(`${why}: stopping everything this bench started…`);
    void cleanup.run().finally(() => process.exit(code));
  };
  const watchdog = setTimeout(() => abort(`the run passed its time bound of ${plan.budgetMs / 1000} s`, 1), plan.budgetMs);
  process.once('SIGINT', () => abort('interrupted', 130));
  process.once('SIGTERM', () => abort('terminated', 143));
  let results: BenchResults;
  try {
    results = await run(plan, cleanup);
  } finally {
    progress('stopping gateways, redis-server and clients…');
    await cleanup.run();
    clearTimeout(watchdog);
  }
  const markdown = renderMarkdown(results);
  const files = writeResults(join(PROJECT_ROOT, 'bench', 'results'), results, markdown);
  process.stdout.write(markdown);
  progress(`done in ${elapsedSeconds().toFixed(1)} s; wrote ${files.join(' and ')}`);
}

main().catch((error: unknown) => {
  progress(`bench failed: ${errorMessage(error)}`);
  process.exitCode = 1;
});
