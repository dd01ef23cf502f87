// The bench report: targets met or not, then every table, as Markdown; the raw JSON; SVG plots.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import type { MemoryUsage } from './child-server.js';
import type { Plan } from './core.bench.js';
import type { Latency } from './fleet.js';
import type { ProducerStats } from './open-loop.js';
import type { PulseFeed } from './producer.js';
import type { RedisBenchmarkRow } from './redis-benchmark.js';
import { lineChart } from './svg.js';

export type SystemId = 'A' | 'B' | 'C';
/** How a client gets events: `batch` (Pulse `subscribe { batch: true }`: `events` frames) or `plain` (one message per event; B and C always). */
export type ClientMode = 'batch' | 'plain';
/** What feeds a run: A's REST ingest or EventStore.append, B's redis-emitter, C's server itself. */
export type Feed = PulseFeed | 'emitter' | 'inline';

/** One thing measured side by side: a system, its clients' mode, its feed. */
export interface Variant {
  system: SystemId;
  mode: ClientMode;
  feed: Feed;
}

export const variantOf = (system: SystemId, mode: ClientMode = 'plain', feed: PulseFeed = 'rest'): Variant =>
  system === 'A' ? { system, mode, feed } : { system, mode: 'plain', feed: system === 'B' ? 'emitter' : 'inline' };

/** `A batch/rest`, `A plain/append`, `B`, `C`. */
export const variantLabel = (v: Variant): string => (v.system === 'A' ? `A ${v.mode}/${v.feed}` : v.system);

/** Whether `row` is of `v` (fields `v` leaves out match anything). */
export const isVariant = (row: Variant, v: Partial<Variant>): boolean =>
  (v.system === undefined || row.system === v.system) &&
  (v.mode === undefined || row.mode === v.mode) &&
  (v.feed === undefined || row.feed === v.feed);

export const SYSTEM_NAMES: Record<SystemId, string> = {
  A: 'A: Pulse',
  B: 'B: Socket.IO + redis-adapter/emitter',
  C: 'C: raw ws, one pre-built frame',
};

const SHORT_NAMES: Record<SystemId, string> = { A: 'A: Pulse', B: 'B: Socket.IO recipe', C: 'C: raw ws' };

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  platform: string;
  /** 1, 5 and 15 minute load averages when the bench started and ended: how busy the machine was. */
  loadAtStart: number[];
  loadAtEnd: number[];
}

export function machineNow(): Machine {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    loadAtStart: loadavg(),
    loadAtEnd: [],
  };
}

export interface StepRow extends Variant {
  /** Gateways (servers) the clients are spread over. */
  servers: number;
  phase: 'warm-up' | 'light' | 'ladder' | 'gateways';
  /** Events produced per second. */
  rate: number;
  clients: number;
  seconds: number;
  /** Distinct events received per second, summed over clients. */
  deliveredPerSec: number;
  held: boolean;
  /** The second try at a rate whose first step did not hold. */
  retry: boolean;
  saturated: boolean;
  drained: boolean;
  latency: Latency | null;
  lost: number;
  duplicates: number;
  outOfOrder: number;
  disconnects: number;
  resyncs: number;
  /** Delivered events per frame the clients received (1 without batching). */
  eventsPerFrame: number;
  loadGeneratorElu: number;
  producer: ProducerStats;
  cpuMs: Record<string, number>;
  cpuUsPerDelivered: Record<string, number>;
}

export interface CatchUpRow {
  system: 'A' | 'B';
  missed: number;
  clients: number;
  /** How long appending (A) or emitting (B) the missed events took. */
  appendMs: number;
  /** Slowest client: ms from reconnecting until it had the last event; null if some never did. */
  currentMs: number | null;
  /** The answer was a snapshot (more missed than a resume replays). */
  snapshot: boolean;
  lost: number;
  duplicates: number;
  outOfOrder: number;
}

export interface MemoryRow {
  system: 'A' | 'B';
  connections: number;
  /** (heapUsed + external) growth per connection after a full GC (bytes). */
  heapPerConnection: number;
  rssPerConnection: number;
  before: MemoryUsage;
  after: MemoryUsage;
}

export interface BenchResults {
  date: string;
  mode: Plan['mode'];
  machine: Machine;
  redisVersion: string;
  plan: Plan;
  bufferutil: boolean;
  steps: StepRow[];
  catchUp: CatchUpRow[];
  memory: MemoryRow[];
  redisBenchmark: RedisBenchmarkRow[];
  loadGeneratorCpuMs: number;
  problems: string[];
  seconds: number;
}

const P99_BOUND_MS = 100;
const int = (value: number) => Math.round(value).toLocaleString('en-US');
const ms = (value: number | undefined | null) =>
  value === undefined || value === null
    ? '–'
    : value < 10
      ? value.toFixed(2)
      : value < 1000
        ? value.toFixed(1)
        : int(value);
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

/** Server CPU per delivered event (µs): the system's gateways (B: servers; C: the ws server) and Redis. */
export const serverUs = (row: StepRow): number =>
  (row.cpuUsPerDelivered.gateways ?? 0) + (row.cpuUsPerDelivered.redis ?? 0);

/** The median of `values` (the mean of the middle two for an even count); NaN for none. */
export function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length / 2;
  if (!sorted.length) return Number.NaN;
  return sorted.length % 2 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The ladder step (of `servers` gateways) with the highest delivered events/s that held and was counted. */
export function bestHeld(steps: StepRow[], v: Partial<Variant>, servers: number): StepRow | null {
  return steps
    .filter(
      (row) =>
        isVariant(row, v) &&
        row.servers === servers &&
        (row.phase === 'ladder' || row.phase === 'gateways') &&
        row.held &&
        !row.saturated,
    )
    .reduce<StepRow | null>((top, row) => (!top || row.deliveredPerSec > top.deliveredPerSec ? row : top), null);
}

/** Why a ladder stopped: the first step that did not hold, or that the load generator could not carry. */
function stopReason(results: BenchResults, system: SystemId, servers: number): string {
  const rows = results.steps.filter(
    (row) => row.system === system && row.servers === servers && (row.phase === 'ladder' || row.phase === 'gateways'),
  );
  const last = rows.at(-1);
  if (!last) return 'not run';
  if (last.saturated)
    return `load generator saturated at ${int(last.rate)} ev/s (a lower bound, not the system's limit)`;
  if (!last.held) {
    const why = [
      last.latency && last.latency.p99 > P99_BOUND_MS ? `p99 ${ms(last.latency.p99)} ms` : '',
      last.lost ? `${int(last.lost)} lost` : '',
      last.duplicates ? `${int(last.duplicates)} duplicates` : '',
      last.outOfOrder ? `${int(last.outOfOrder)} out of order` : '',
      last.producer.failed ? `${int(last.producer.failed)} sends failed` : '',
      !last.drained ? 'not drained' : '',
    ].filter(Boolean);
    return `failed at ${int(last.rate)} ev/s: ${why.join(', ') || 'see table'}`;
  }
  return `held every step up to ${int(last.rate)} ev/s (the ladder's end)`;
}

/** The light-load run with the median p50 of a system (several alternating runs absorb one stall of a shared machine). */
function medianLight(results: BenchResults, system: SystemId): StepRow | undefined {
  const runs = results.steps
    .filter((row) => row.system === system && row.phase === 'light' && row.latency)
    .sort((x, y) => x.latency!.p50 - y.latency!.p50);
  return runs[Math.floor((runs.length - 1) / 2)];
}

/** Pulse's catch-up try with the median time for `missed` events (a try that never caught up counts as the slowest). */
function medianCatchUp(results: BenchResults, missed: number): CatchUpRow | undefined {
  const tries = results.catchUp
    .filter((row) => row.system === 'A' && row.missed === missed)
    .sort((x, y) => (x.currentMs ?? Infinity) - (y.currentMs ?? Infinity));
  return tries[Math.floor((tries.length - 1) / 2)];
}

interface Target {
  name: string;
  a: string;
  b: string;
  met: boolean | null;
}

function targets(results: BenchResults): Target[] {
  const a = bestHeld(results.steps, { system: 'A' }, 2);
  const b = bestHeld(results.steps, { system: 'B' }, 2);
  const light = (system: SystemId) => medianLight(results, system);
  const la = light('A');
  const lb = light('B');
  const catchUp = medianCatchUp(results, 10_000);
  const memA = results.memory.find((row) => row.system === 'A');
  const memB = results.memory.find((row) => row.system === 'B');
  const aRuns = results.steps.filter((row) => row.system === 'A');
  const broken =
    aRuns.filter((row) => row.lost || row.duplicates || row.outOfOrder).length +
    results.catchUp.filter((row) => row.system === 'A' && (row.lost || row.duplicates || row.outOfOrder)).length;
  const ratio = a && b ? a.deliveredPerSec / b.deliveredPerSec : null;
  return [
    {
      name: `Highest delivered events/s at p99 ≤ ${P99_BOUND_MS} ms, no loss (2 gateways): A ≥ 3 × B`,
      a: a ? `${int(a.deliveredPerSec)}/s` : 'none held',
      b: b ? `${int(b.deliveredPerSec)}/s (A/B = ${ratio?.toFixed(2) ?? '–'})` : 'none held',
      met: ratio === null ? null : ratio >= 3,
    },
    {
      name: `p50 at light load (${results.plan.lightRate} events/s, ${results.plan.clients} clients; median of ${results.plan.lightRounds} runs each): A ≤ B + 2 ms`,
      a: `${ms(la?.latency?.p50)} ms`,
      b: `${ms(lb?.latency?.p50)} ms`,
      met: la?.latency && lb?.latency ? la.latency.p50 <= lb.latency.p50 + 2 : null,
    },
    {
      name: `10,000 missed events caught up in under 250 ms (median of ${results.plan.catchUpRounds} tries)`,
      a: catchUp ? `${ms(catchUp.currentMs)} ms` : 'not measured',
      b: (() => {
        const row = results.catchUp.find((r) => r.system === 'B' && r.missed === 10_000);
        return row ? `no recovery: ${int(row.lost)} lost per run` : 'not measured';
      })(),
      met: catchUp ? catchUp.currentMs !== null && catchUp.currentMs < 250 && !catchUp.lost : null,
    },
    {
      name: 'Memory per idle connection (heap + external after GC): A ≤ B + 10 %',
      a: memA ? kib(memA.heapPerConnection) : '–',
      b: memB ? kib(memB.heapPerConnection) : '–',
      met: memA && memB ? memA.heapPerConnection <= memB.heapPerConnection * 1.1 : null,
    },
    {
      name: 'Zero loss, zero duplicates (and in order) in every A run',
      a: `${aRuns.length + results.catchUp.filter((row) => row.system === 'A').length - broken} of ${aRuns.length + results.catchUp.filter((row) => row.system === 'A').length} runs clean`,
      b: `${results.steps.filter((row) => row.system === 'B' && (row.lost || row.duplicates)).length} B runs with loss or duplicates`,
      met: broken === 0,
    },
  ];
}

const verdict = (met: boolean | null) => (met === null ? 'not measured' : met ? '**met**' : '**NOT met**');

function stepTable(rows: StepRow[]): string[] {
  const roles = [...new Set(rows.flatMap((row) => Object.keys(row.cpuUsPerDelivered)))];
  const lines = [
    `| System | Gateways | Phase | Rate ev/s | Clients | Delivered/s | Ev/frame | p50 | p90 | p99 | p99.9 | max ms | Lost | Dup | Order | Load gen busy | ${roles.map((role) => `CPU µs/ev ${role}`).join(' | ')} | Held |`,
    `|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|${roles.map(() => '--:').join('|')}|---|`,
  ];
  for (const row of rows) {
    const l = row.latency;
    lines.push(
      `| ${row.system} | ${row.servers} | ${row.phase}${row.retry ? ' (again)' : ''} | ${int(row.rate)} | ${row.clients} | ${int(row.deliveredPerSec)} | ${row.eventsPerFrame.toFixed(1)} | ${ms(l?.p50)} | ${ms(l?.p90)} | ${ms(l?.p99)} | ${ms(l?.p999)} | ${ms(l?.max)} | ${int(row.lost)} | ${int(row.duplicates)} | ${int(row.outOfOrder)} | ${(row.loadGeneratorElu * 100).toFixed(0)} % | ` +
        `${roles.map((role) => (row.cpuUsPerDelivered[role] === undefined ? '–' : row.cpuUsPerDelivered[role].toFixed(2))).join(' | ')} | ${row.saturated ? 'load gen saturated: not counted' : row.held ? 'yes' : '**no**'} |`,
    );
  }
  return lines;
}

export function renderMarkdown(results: BenchResults): string {
  const { machine, plan } = results;
  const a = bestHeld(results.steps, { system: 'A' }, 2);
  const b = bestHeld(results.steps, { system: 'B' }, 2);
  const c =
    bestHeld(results.steps, { system: 'C' }, 2) ??
    results.steps.filter((row) => row.system === 'C' && row.held && !row.saturated).at(-1) ??
    null;
  const out: string[] = [
    `# Pulse benchmark (${results.mode})`,
    '',
    `- Date: ${results.date}, took ${Math.round(results.seconds)} s`,
    `- Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.platform}, Node ${machine.node}, redis-server ${results.redisVersion}, bufferutil ${results.bufferutil ? 'loaded' : 'absent'}`,
    `- Load average (1 / 5 / 15 min): ${machine.loadAtStart.map((v) => v.toFixed(2)).join(' / ')} at start, ${machine.loadAtEnd.map((v) => v.toFixed(2)).join(' / ')} at end${machine.loadAtStart[0]! > machine.cores / 2 ? ' — **a busy machine: figures are noisy**' : ''}`,
    ...(results.mode === 'full'
      ? []
      : [`- **${results.mode} mode: short runs, indicative only.** Run \`npm run bench\` for the figures to quote.`]),
    ...results.problems.map((problem) => `- **${problem}**`),
    '',
    '## Targets',
    '',
    '| Target | A: Pulse | B: standard recipe | Verdict |',
    '|---|---|---|---|',
    ...targets(results).map((t) => `| ${t.name} | ${t.a} | ${t.b} | ${verdict(t.met)} |`),
    '',
    `## Highest delivered events/s with p99 ≤ ${P99_BOUND_MS} ms and nothing lost (${plan.clients} clients, 2 gateways)`,
    '',
    '| System | Delivered events/s | Producer rate ev/s | p50 / p99 ms there | Ladder stopped |',
    '|---|--:|--:|--:|---|',
    ...(['A', 'B', 'C'] as const).map((system) => {
      const row = system === 'C' ? c : system === 'A' ? a : b;
      return `| ${SYSTEM_NAMES[system]} | ${row ? int(row.deliveredPerSec) : '–'} | ${row ? int(row.rate) : '–'} | ${row?.latency ? `${ms(row.latency.p50)} / ${ms(row.latency.p99)}` : '–'} | ${stopReason(results, system, system === 'C' ? 1 : 2)} |`;
    }),
    '',
    a && b ? `A / B = **${(a.deliveredPerSec / b.deliveredPerSec).toFixed(2)}**.` : 'A / B: not both measured.',
    '',
    '![latency against rate](latency-vs-rate.svg)',
    '',
    '## Throughput against gateway count',
    '',
    `Highest delivered events/s that held, ${plan.clients} clients spread over 1, 2 or 3 gateways (B: servers).`,
    '',
    '| Gateways | A: Pulse | B: standard recipe | A / B |',
    '|--:|--:|--:|--:|',
    ...plan.gatewayCounts.map((servers) => {
      const ra = bestHeld(results.steps, { system: 'A' }, servers);
      const rb = bestHeld(results.steps, { system: 'B' }, servers);
      return `| ${servers} | ${ra ? int(ra.deliveredPerSec) : '–'} | ${rb ? int(rb.deliveredPerSec) : '–'} | ${ra && rb ? (ra.deliveredPerSec / rb.deliveredPerSec).toFixed(2) : '–'} |`;
    }),
    '',
    '![throughput against gateway count](throughput-vs-gateways.svg)',
    '',
    '## Catch-up: clients away while events are appended, then back',
    '',
    `${plan.catchUpClients} client(s) on gateway 1 disconnect; the producer appends (A, 500 per call) or emits (B) the events; the clients come back (A: \`subscribe\` with \`since\`; B: reconnect and join the room, then one more event). Time: from reconnecting until the slowest client had the last event.`,
    '',
    '| System | Missed | Append / emit took ms | Current after ms | Answer | Lost | Dup | Order |',
    '|---|--:|--:|--:|---|--:|--:|--:|',
    ...results.catchUp.map(
      (row) =>
        `| ${SYSTEM_NAMES[row.system]} | ${int(row.missed)} | ${ms(row.appendMs)} | ${ms(row.currentMs)} | ${row.system === 'B' ? 'no recovery' : row.snapshot ? 'snapshot (past the 10,000-event resume bound)' : 'replay'} | ${int(row.lost)} | ${int(row.duplicates)} | ${int(row.outOfOrder)} |`,
    ),
    '',
    '## Memory per idle connection (after a full GC)',
    '',
    '| System | Connections | heap + external per connection | RSS per connection | heap before → after |',
    '|---|--:|--:|--:|--:|',
    ...results.memory.map(
      (row) =>
        `| ${SYSTEM_NAMES[row.system]} | ${row.connections} | ${kib(row.heapPerConnection)} | ${kib(row.rssPerConnection)} | ${(row.before.heapUsed / 2 ** 20).toFixed(1)} → ${(row.after.heapUsed / 2 ** 20).toFixed(1)} MiB |`,
    ),
    '',
    '## Redis ceilings (redis-benchmark, 50 connections, the bench payload)',
    '',
    '| Command | Pipeline | Requests | Per second | p50 / p99 ms |',
    '|---|--:|--:|--:|--:|',
    ...results.redisBenchmark.map(
      (row) =>
        `| ${row.command} | ${row.pipeline} | ${int(row.requests)} | ${int(row.perSec)} | ${row.p50Ms} / ${row.p99Ms} |`,
    ),
    '',
    '## Every run',
    '',
    'CPU µs/ev: CPU time (user + system, from /proc/<pid>/stat) each part used during the run, per delivered event. "Load gen busy": the busiest load generator thread\'s event loop utilisation; above 90 % the run does not count.',
    '',
    ...stepTable(results.steps),
    '',
    '## How it is measured',
    '',
    `- One run, one machine, everything on loopback. A, B and C run alternately at each rate of the ladder (×${plan.factor.toFixed(2)} per step, ${plan.stepSeconds} s each), so all three see the same machine conditions.${plan.retryFailedStep ? ' A step that does not hold is run once more ("again") before that system\'s ladder ends.' : ''}`,
    "- **A**: the built Pulse gateways (`node dist/apps/gateway/src/main.js`, no worker), clients subscribed in batch mode (`events` frames, as the SDK does). The producer (a child process) calls `EventStore.append` once per event: the Lua append → each gateway's XREAD BLOCK tail → its sockets.",
    "- **B**: the recipe the NestJS and Socket.IO documentation suggest: Socket.IO servers with `createAdapter` from `@socket.io/redis-adapter`, clients joining a room, the producer (the same child process) calling `new Emitter(redis).to(room).emit(type, envelope)` from `@socket.io/redis-emitter`: one PUBLISH per event, at most once, no replay. Same envelope bytes as A's.",
    '- **C**: ceilings. A raw `ws` server that frames each event once and writes that frame to every socket (producer inside the server, no Redis); `redis-benchmark` PUBLISH and XADD. C is the ceiling of one frame per event and per client: A, which batches under load (see "Ev/frame"), can pass it.',
    '- Both servers: websocket transport only, permessage-deflate off; clients: `socket.io-client` (A, B) or `ws` (C), websocket only.',
    `- Load: ${plan.threads} load generator worker threads; open-loop producer at a fixed rate (event i is due at t0 + i / rate, sent then whatever earlier sends are doing). Latency: from the scheduled send time to receipt, both on the machine's monotonic clock (\`process.hrtime\`), into HdrHistograms (3 significant digits) merged across threads.`,
    '- Every client checks every event of every run: lost (never arrived before the drain timeout), duplicated, out of order.',
    `- A step holds when p99 ≤ ${P99_BOUND_MS} ms and nothing was lost, duplicated or reordered; a step where a load generator thread was busier than 90 % does not count (neither held nor failed) and ends that system's ladder.`,
    '- Memory: the gateway (A) or server (B) reports `process.memoryUsage()` after two forced GCs (a bench-only preload hook, `--import mem-hook.js`, on SIGWINCH) before and after the idle clients connect (A: subscribed; B: joined). Before that, a round of as many clients connects and closes (for both), so that one-time costs (code compiled on first use, modules loaded lazily) are not charged to connections; "before" is taken once the server has let go of all of them (its open TCP sockets are back to the count before the round).',
    `- Pulse processes log at LOG_LEVEL=${STACK_LOG_LEVEL}.`,
  ];
  return `${out.join('\n')}\n`;
}

const STACK_LOG_LEVEL = 'warn';

function charts(results: BenchResults): Record<string, string> {
  const series = (system: SystemId, servers: number, pick: (row: StepRow) => number | undefined) => {
    // One point per rate: a second try replaces the first.
    const byRate = new Map<number, StepRow>();
    for (const row of results.steps)
      if (row.system === system && row.servers === servers && row.phase === 'ladder' && !row.saturated)
        byRate.set(row.rate, row);
    return [...byRate.values()]
      .map((row): [number, number] => [row.deliveredPerSec, pick(row) ?? Number.NaN])
      .filter(([, y]) => Number.isFinite(y));
  };
  const latency = lineChart({
    title: 'Latency against delivered events/s (2 gateways)',
    xLabel: 'delivered events/s',
    yLabel: 'latency ms (log)',
    logX: true,
    logY: true,
    hLines: [{ y: P99_BOUND_MS, label: `p99 bound ${P99_BOUND_MS} ms` }],
    series: [
      ...(['A', 'B', 'C'] as const).flatMap((system) => [
        { name: `${system} p99`, points: series(system, system === 'C' ? 1 : 2, (row) => row.latency?.p99) },
        {
          name: `${system} p50`,
          points: series(system, system === 'C' ? 1 : 2, (row) => row.latency?.p50),
          dashed: true,
        },
      ]),
    ],
  });
  const gateways = lineChart({
    title: 'Highest delivered events/s that held, by gateway count',
    xLabel: 'gateways (servers)',
    yLabel: 'delivered events/s',
    xDomain: [Math.min(...results.plan.gatewayCounts) - 0.25, Math.max(...results.plan.gatewayCounts) + 0.25],
    series: (['A', 'B'] as const).map((system) => ({
      name: SHORT_NAMES[system],
      points: results.plan.gatewayCounts
        .map((servers): [number, number] => [
          servers,
          bestHeld(results.steps, { system }, servers)?.deliveredPerSec ?? Number.NaN,
        ])
        .filter(([, y]) => Number.isFinite(y)),
    })),
  });
  return { 'latency-vs-rate.svg': latency, 'throughput-vs-gateways.svg': gateways };
}

/** Writes latest.md, latest.json and the plots into `dir`; returns their paths. */
export function writeResults(dir: string, results: BenchResults, markdown: string): string[] {
  mkdirSync(dir, { recursive: true });
  const files: Record<string, string> = {
    'latest.md': markdown,
    'latest.json': `${JSON.stringify(results, null, 2)}\n`,
    ...charts(results),
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return Object.keys(files).map((name) => join(dir, name));
}
