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
/** The parts of a run, in the order they run; --only picks some. */
export const PARTS = ['redis', 'memory', 'light', 'ladders', 'gateways', 'catchup'] as const;
export type Part = (typeof PARTS)[number];
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
  /** Light load: the round; ladders: which ladder (0-based). */
  round: number;
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
  /** Times each role's main threads went to sleep, per event produced (each a wake to come); absent from older runs' JSON. */
  wakesPerEvent?: Record<string, number>;
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
  /** `A` (plain subscribers), `B`, or A with other subscribe options (e.g. `A presence`). */
  label: string;
  /** What A's idle clients sent with `subscribe` (besides the topic). */
  subscribe: Record<string, unknown>;
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

/** The ladder step (of `servers` gateways; of ladder `round`, or of any) with the highest delivered events/s that held and was counted. */
export function bestHeld(steps: StepRow[], v: Partial<Variant>, servers: number, round?: number): StepRow | null {
  return steps
    .filter(
      (row) =>
        isVariant(row, v) &&
        row.servers === servers &&
        (round === undefined || row.round === round) &&
        (row.phase === 'ladder' || row.phase === 'gateways') &&
        row.held &&
        !row.saturated,
    )
    .reduce<StepRow | null>((top, row) => (!top || row.deliveredPerSec > top.deliveredPerSec ? row : top), null);
}

/** Why a ladder stopped: the first step that did not hold, or that the load generator could not carry. */
function stopReason(results: BenchResults, v: Variant, servers: number, round: number): string {
  const rows = results.steps.filter(
    (row) =>
      isVariant(row, v) &&
      row.servers === servers &&
      row.round === round &&
      (row.phase === 'ladder' || row.phase === 'gateways'),
  );
  if (!rows.length) return 'not run';
  const saturated = rows.find((row) => row.saturated);
  if (saturated)
    return `load generator saturated at ${int(saturated.rate)} ev/s (a lower bound, not the system's limit)`;
  // A rate failed when no try at it held; the lowest such rate is where the ladder stopped.
  const failed = rows
    .filter((row) => !row.held && !rows.some((other) => other.held && other.rate === row.rate))
    .sort((x, y) => x.rate - y.rate || Number(y.retry) - Number(x.retry))[0];
  if (failed) {
    const why = [
      failed.latency && failed.latency.p99 > P99_BOUND_MS ? `p99 ${ms(failed.latency.p99)} ms` : '',
      failed.lost ? `${int(failed.lost)} lost` : '',
      failed.duplicates ? `${int(failed.duplicates)} duplicates` : '',
      failed.outOfOrder ? `${int(failed.outOfOrder)} out of order` : '',
      failed.producer.failed ? `${int(failed.producer.failed)} sends failed` : '',
      !failed.drained ? 'not drained' : '',
    ].filter(Boolean);
    return `failed at ${int(failed.rate)} ev/s: ${why.join(', ') || 'see table'}`;
  }
  return `held every step up to ${int(Math.max(...rows.map((row) => row.rate)))} ev/s (the ladder's end)`;
}

/** A variant at one light-load rate: medians of its rounds, and what went wrong in any of them. */
export interface LightCell {
  runs: number;
  held: number;
  serverUs: number;
  gatewaysUs: number;
  redisUs: number;
  producerUs: number;
  /** Wakes per event of the gateways' (B: servers') main threads together, and of Redis's. */
  gatewayWakes: number;
  redisWakes: number;
  p50: number;
  p99: number;
  deliveredPerSec: number;
  eventsPerFrame: number;
  lost: number;
  duplicates: number;
  outOfOrder: number;
  failed: number;
}

export function lightCell(results: BenchResults, v: Variant, rate: number): LightCell | null {
  const runs = results.steps.filter(
    (row) => row.phase === 'light' && row.rate === rate && row.servers === 2 && isVariant(row, v),
  );
  if (!runs.length) return null;
  const med = (pick: (row: StepRow) => number) => median(runs.map(pick));
  const sum = (pick: (row: StepRow) => number) => runs.reduce((total, row) => total + pick(row), 0);
  return {
    runs: runs.length,
    held: runs.filter((row) => row.held).length,
    serverUs: med(serverUs),
    gatewaysUs: med((row) => row.cpuUsPerDelivered.gateways ?? 0),
    redisUs: med((row) => row.cpuUsPerDelivered.redis ?? 0),
    producerUs: med((row) => row.cpuUsPerDelivered.producer ?? 0),
    gatewayWakes: med((row) => row.wakesPerEvent?.gateways ?? NaN),
    redisWakes: med((row) => row.wakesPerEvent?.redis ?? NaN),
    p50: med((row) => row.latency?.p50 ?? Infinity),
    p99: med((row) => row.latency?.p99 ?? Infinity),
    deliveredPerSec: med((row) => row.deliveredPerSec),
    eventsPerFrame: med((row) => row.eventsPerFrame),
    lost: sum((row) => row.lost),
    duplicates: sum((row) => row.duplicates),
    outOfOrder: sum((row) => row.outOfOrder),
    failed: sum((row) => row.producer.failed),
  };
}

/** Per ladder: A's best / B's best of the same ladder, with their median and range. */
export interface LadderRatios {
  perLadder: (number | null)[];
  median: number | null;
  min: number | null;
  max: number | null;
}

export function ladderRatios(results: BenchResults, v: Variant): LadderRatios {
  const perLadder = Array.from({ length: results.plan.ladderRounds }, (_, round) => {
    const a = bestHeld(results.steps, v, 2, round);
    const b = bestHeld(results.steps, { system: 'B' }, 2, round);
    return a && b ? a.deliveredPerSec / b.deliveredPerSec : null;
  });
  const known = perLadder.filter((ratio): ratio is number => ratio !== null);
  return known.length
    ? { perLadder, median: median(known), min: Math.min(...known), max: Math.max(...known) }
    : { perLadder, median: null, min: null, max: null };
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

/** A through its REST ingest, batch and plain clients: the two the issue's goals are about. */
const REST_MODES: Variant[] = [
  { system: 'A', mode: 'batch', feed: 'rest' },
  { system: 'A', mode: 'plain', feed: 'rest' },
];
/** Sustainable delivered events/s against B's, median of the ladders: what each client mode must reach. */
const THROUGHPUT_GOAL: Record<ClientMode, number> = { batch: 5, plain: 1.5 };
const P50_SLACK_MS = 1;
/** The p50 goal holds at these light-load rates (at 1,000 ev/s B is backlogged). */
const P50_RATES = [100, 300];
const ratioText = (r: LadderRatios) =>
  r.median === null
    ? 'not measured'
    : `${r.median.toFixed(2)}× (range ${r.min!.toFixed(2)}–${r.max!.toFixed(2)}, ${r.perLadder.filter((x) => x !== null).length} ladders)`;

function targets(results: BenchResults): Target[] {
  const { plan } = results;
  const B = variantOf('B');
  const cells = (v: Variant, rates: number[]) => rates.map((rate) => lightCell(results, v, rate));
  const list = (values: (number | null | undefined)[], digits = 1) =>
    values.map((value) => (value === null || value === undefined ? '–' : value.toFixed(digits))).join(' / ');
  const compare = (a: (LightCell | null)[], b: (LightCell | null)[], ok: (x: LightCell, y: LightCell) => boolean) =>
    a.length && a.every((x, i) => x && b[i]) ? a.every((x, i) => ok(x!, b[i]!)) : null;
  const stretchRates = plan.lightRates.filter((rate) => rate >= 300);
  const p50Rates = plan.lightRates.filter((rate) => P50_RATES.includes(rate));
  const catchUp = medianCatchUp(results, 10_000);
  const memA = results.memory.find((row) => row.label === 'A');
  const memB = results.memory.find((row) => row.label === 'B');
  const aRuns = results.steps.filter((row) => row.system === 'A');
  const aCatchUps = results.catchUp.filter((row) => row.system === 'A');
  const broken =
    aRuns.filter((row) => row.lost || row.duplicates || row.outOfOrder || row.producer.failed).length +
    aCatchUps.filter((row) => row.lost || row.duplicates || row.outOfOrder).length;
  const rates = plan.lightRates.join(' / ');
  return [
    ...REST_MODES.map((v) => {
      const a = cells(v, plan.lightRates);
      const b = cells(B, plan.lightRates);
      return {
        name: `CPU µs per delivered event (gateways + Redis; median of ${plan.lightRounds}) at ${rates} ev/s, ${plan.clients} ${v.mode} clients, A fed through REST: A ≤ B`,
        a: list(a.map((c) => c?.serverUs)),
        b: list(b.map((c) => c?.serverUs)),
        met: compare(a, b, (x, y) => x.serverUs <= y.serverUs),
      };
    }),
    ...(stretchRates.length ? REST_MODES : []).map((v) => {
      const a = cells(v, stretchRates);
      const b = cells(B, stretchRates);
      return {
        name: `(stretch) CPU µs per delivered event at ${stretchRates.join(' / ')} ev/s, ${v.mode} clients: A ≤ B / 2`,
        a: list(a.map((c) => c?.serverUs)),
        b: list(b.map((c) => (c ? c.serverUs / 2 : null))) + ' (half of B)',
        met: compare(a, b, (x, y) => x.serverUs <= y.serverUs / 2),
      };
    }),
    ...REST_MODES.map((v) => {
      const a = cells(v, p50Rates);
      const b = cells(B, p50Rates);
      return {
        name: `p50 at ${p50Rates.join(' / ')} ev/s (median of ${plan.lightRounds}), ${v.mode} clients: A ≤ B + ${P50_SLACK_MS} ms`,
        a: list(
          a.map((c) => c?.p50),
          2,
        ),
        b: list(
          b.map((c) => c?.p50),
          2,
        ),
        met: compare(a, b, (x, y) => x.p50 <= y.p50 + P50_SLACK_MS),
      };
    }),
    ...REST_MODES.map((v) => {
      const ratios = ladderRatios(results, v);
      const best = (variant: Partial<Variant>) =>
        median(
          Array.from({ length: plan.ladderRounds }, (_, round) => bestHeld(results.steps, variant, 2, round))
            .filter((row): row is StepRow => row !== null)
            .map((row) => row.deliveredPerSec),
        );
      const goal = THROUGHPUT_GOAL[v.mode];
      return {
        name: `Highest delivered events/s at p99 ≤ ${P99_BOUND_MS} ms, no loss (2 gateways), ${v.mode} clients: A / B ≥ ${goal} (median of ${plan.ladderRounds} ladders)`,
        a: `${Number.isNaN(best(v)) ? '–' : `${int(best(v))}/s`}; A / B = ${ratioText(ratios)}`,
        b: Number.isNaN(best({ system: 'B' })) ? 'none held' : `${int(best({ system: 'B' }))}/s`,
        met: ratios.median === null ? null : ratios.median >= goal,
      };
    }),
    {
      name: 'Memory per idle connection (heap + external after GC; A: plain subscribers): A ≤ B',
      a: memA ? kib(memA.heapPerConnection) : '–',
      b: memB ? kib(memB.heapPerConnection) : '–',
      met: memA && memB ? memA.heapPerConnection <= memB.heapPerConnection : null,
    },
    {
      name: `10,000 missed events caught up in under 250 ms (median of ${plan.catchUpRounds} tries)`,
      a: catchUp ? `${ms(catchUp.currentMs)} ms` : 'not measured',
      b: (() => {
        const row = results.catchUp.find((r) => r.system === 'B' && r.missed === 10_000);
        return row ? `no recovery: ${int(row.lost)} lost per run` : 'not measured';
      })(),
      met: catchUp ? catchUp.currentMs !== null && catchUp.currentMs < 250 && !catchUp.lost : null,
    },
    {
      name: 'Zero loss, zero duplicates, in order, no failed send in every A run',
      a: `${aRuns.length + aCatchUps.length - broken} of ${aRuns.length + aCatchUps.length} runs clean`,
      b: `${results.steps.filter((row) => row.system === 'B' && (row.lost || row.duplicates)).length} B runs with loss or duplicates`,
      met: broken === 0,
    },
  ];
}

const verdict = (met: boolean | null) => (met === null ? 'not measured' : met ? '**met**' : '**NOT met**');

function stepTable(rows: StepRow[]): string[] {
  const roles = [...new Set(rows.flatMap((row) => Object.keys(row.cpuUsPerDelivered)))];
  const lines = [
    `| Variant | Gateways | Phase | Rate ev/s | Clients | Delivered/s | Ev/frame | p50 | p90 | p99 | p99.9 | max ms | Lost | Dup | Order | Load gen busy | ${roles.map((role) => `CPU µs/ev ${role}`).join(' | ')} | Held |`,
    `|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|${roles.map(() => '--:').join('|')}|---|`,
  ];
  for (const row of rows) {
    const l = row.latency;
    lines.push(
      `| ${variantLabel(row)} | ${row.servers} | ${row.phase}${row.phase === 'ladder' ? ` ${row.round + 1}` : ''}${row.retry ? ' (again)' : ''} | ${int(row.rate)} | ${row.clients} | ${int(row.deliveredPerSec)} | ${row.eventsPerFrame.toFixed(1)} | ${ms(l?.p50)} | ${ms(l?.p90)} | ${ms(l?.p99)} | ${ms(l?.p999)} | ${ms(l?.max)} | ${int(row.lost)} | ${int(row.duplicates)} | ${int(row.outOfOrder)} | ${(row.loadGeneratorElu * 100).toFixed(0)} % | ` +
        `${roles.map((role) => (row.cpuUsPerDelivered[role] === undefined ? '–' : row.cpuUsPerDelivered[role].toFixed(2))).join(' | ')} | ${row.saturated ? 'load gen saturated: not counted' : row.held ? 'yes' : '**no**'} |`,
    );
  }
  return lines;
}

const wakes = (perEvent: number) => (Number.isFinite(perEvent) ? perEvent.toFixed(2) : '–');

/** The light-load table: per rate, every variant (medians of the rounds). */
function lightTable(results: BenchResults): string[] {
  const { plan } = results;
  const lines = [
    '| ev/s | Variant | Server CPU µs/ev | gateways | Redis | producer µs/ev | Wakes per event: gateways · Redis | p50 ms | p99 ms | Delivered/s | Ev/frame | Lost | Dup | Order | Failed sends | Held |',
    '|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const rate of plan.lightRates)
    for (const v of plan.lightVariants) {
      const c = lightCell(results, v, rate);
      if (!c) continue;
      lines.push(
        `| ${int(rate)} | ${variantLabel(v)} | **${c.serverUs.toFixed(1)}** | ${c.gatewaysUs.toFixed(1)} | ${c.redisUs.toFixed(1)} | ${c.producerUs.toFixed(1)} | ${wakes(c.gatewayWakes)} · ${wakes(c.redisWakes)} | ${ms(c.p50)} | ${ms(c.p99)} | ${int(c.deliveredPerSec)} | ${c.eventsPerFrame.toFixed(1)} | ${int(c.lost)} | ${int(c.duplicates)} | ${int(c.outOfOrder)} | ${int(c.failed)} | ${c.held} of ${c.runs} |`,
      );
    }
  return lines;
}

/** The ladders: each variant's best per ladder, A / B per ladder, their median and range; then why each ladder stopped. */
function ladderTables(results: BenchResults): string[] {
  const { plan } = results;
  const rounds = Array.from({ length: plan.ladderRounds }, (_, round) => round);
  const variants = [...plan.ladderVariants, ...(plan.ceilingLadders ? [variantOf('C')] : [])];
  const aModes = plan.ladderVariants.filter((v) => v.system === 'A');
  const best = (v: Variant, round: number) => bestHeld(results.steps, v, v.system === 'C' ? 1 : 2, round);
  const ratios = aModes.map((v) => ladderRatios(results, v));
  const figures = (v: Variant) =>
    rounds.map((round) => best(v, round)?.deliveredPerSec).filter((x): x is number => x !== undefined);
  const lines = [
    `| Ladder | ${variants.map(variantLabel).join(' | ')} | ${aModes.map((v) => `${variantLabel(v)} / B`).join(' | ')} |`,
    `|---|${variants.map(() => '--:').join('|')}|${aModes.map(() => '--:').join('|')}|`,
    ...rounds.map(
      (round) =>
        `| ${round + 1} | ${variants.map((v) => (best(v, round) ? int(best(v, round)!.deliveredPerSec) : '–')).join(' | ')} | ${ratios.map((r) => (r.perLadder[round] === null ? '–' : r.perLadder[round]!.toFixed(2))).join(' | ')} |`,
    ),
    `| **median** | ${variants.map((v) => (figures(v).length ? int(median(figures(v))) : '–')).join(' | ')} | ${ratios.map((r) => (r.median === null ? '–' : `**${r.median.toFixed(2)}**`)).join(' | ')} |`,
    `| range | ${variants.map((v) => (figures(v).length ? `${int(Math.min(...figures(v)))}–${int(Math.max(...figures(v)))}` : '–')).join(' | ')} | ${ratios.map((r) => (r.min === null ? '–' : `${r.min.toFixed(2)}–${r.max!.toFixed(2)}`)).join(' | ')} |`,
    '',
    '| Ladder | Variant | Best delivered/s | Producer rate ev/s | p50 / p99 ms there | Ladder stopped |',
    '|--:|---|--:|--:|--:|---|',
  ];
  for (const round of rounds)
    for (const v of variants) {
      const row = best(v, round);
      if (!row && !results.steps.some((r) => r.phase === 'ladder' && r.round === round && isVariant(r, v))) continue;
      lines.push(
        `| ${round + 1} | ${variantLabel(v)} | ${row ? int(row.deliveredPerSec) : '–'} | ${row ? int(row.rate) : '–'} | ${row?.latency ? `${ms(row.latency.p50)} / ${ms(row.latency.p99)}` : '–'} | ${stopReason(results, v, v.system === 'C' ? 1 : 2, round)} |`,
      );
    }
  return lines;
}

export function renderMarkdown(results: BenchResults): string {
  const { machine, plan } = results;
  const seriesA = variantOf('A', 'batch', 'rest');
  const out: string[] = [
    `# Pulse benchmark (${results.mode})`,
    '',
    `- Date: ${results.date}, took ${Math.round(results.seconds)} s`,
    `- Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.platform}, Node ${machine.node}, redis-server ${results.redisVersion}, bufferutil ${results.bufferutil ? 'loaded' : 'absent'}`,
    `- Load average (1 / 5 / 15 min): ${machine.loadAtStart.map((v) => v.toFixed(2)).join(' / ')} at start, ${machine.loadAtEnd.map((v) => v.toFixed(2)).join(' / ')} at end${machine.loadAtStart[0]! > machine.cores / 2 ? ' — **a busy machine: figures are noisy**' : ''}`,
    ...(results.mode === 'full'
      ? []
      : [`- **${results.mode} mode: short runs, indicative only.** Run \`npm run bench\` for the figures to quote.`]),
    ...(plan.parts.length < PARTS.length ? [`- **Only ${plan.parts.join(', ')}**: the other parts were not run.`] : []),
    ...results.problems.map((problem) => `- **${problem}**`),
    '',
    '## Targets',
    '',
    '| Target | A: Pulse | B: standard recipe | Verdict |',
    '|---|---|---|---|',
    ...targets(results).map((t) => `| ${t.name} | ${t.a} | ${t.b} | ${verdict(t.met)} |`),
    '',
    `## Light load: CPU per delivered event and latency (${plan.clients} clients, 2 gateways; median of ${plan.lightRounds} rounds of ${plan.lightSeconds} s)`,
    '',
    "Variants: `A batch/rest` = Pulse, clients `subscribe { batch: true }` (`events` frames), fed one `POST /api/v1/topics/:topic/events` per event; `plain` = clients without `batch` (one message per event, a plain socket.io-client); `/append` = fed by `EventStore.append` directly. Server CPU = gateways (B: servers) + Redis, per delivered event; the producer's is beside it. Within each round every variant runs once, in turn (the order rotates by round).",
    '',
    ...lightTable(results),
    '',
    `## Highest delivered events/s with p99 ≤ ${P99_BOUND_MS} ms and nothing lost (${plan.clients} clients, 2 gateways; ${plan.ladderRounds} ladders)`,
    '',
    ...ladderTables(results),
    '',
    '![latency against rate](latency-vs-rate.svg)',
    '',
    '## Throughput against gateway count',
    '',
    `Highest delivered events/s that held, ${plan.clients} clients spread over 1, 2 or 3 gateways (B: servers); 2 is the first ladder's figure.`,
    '',
    '| Gateways | A batch/rest | B: standard recipe | A / B |',
    '|--:|--:|--:|--:|',
    ...plan.gatewayCounts.map((servers) => {
      const ra = bestHeld(results.steps, seriesA, servers, 0);
      const rb = bestHeld(results.steps, { system: 'B' }, servers, 0);
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
        `| ${row.system === 'A' ? `${SYSTEM_NAMES.A} (${row.label}: subscribe ${JSON.stringify(row.subscribe)})` : SYSTEM_NAMES.B} | ${row.connections} | ${kib(row.heapPerConnection)} | ${kib(row.rssPerConnection)} | ${(row.before.heapUsed / 2 ** 20).toFixed(1)} → ${(row.after.heapUsed / 2 ** 20).toFixed(1)} MiB |`,
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
    `- One run, one machine, everything on loopback. The variants run alternately at each light-load rate (every variant once per round) and at each rate of a ladder (×${plan.factor.toFixed(2)} per step, ${plan.stepSeconds} s each), so all see the same machine conditions; the ${plan.ladderRounds} ladders run one after another.${plan.retryFailedStep ? ' A step that does not hold is run once more ("again") before that variant\'s ladder ends.' : ''} A run that left clients behind is let drain before the next one starts.`,
    "- **A**: the built Pulse gateways (`node dist/apps/gateway/src/main.js`, no worker). Clients subscribe in batch mode (`batch`: `events` frames, as the SDK does) or without it (`plain`: one message per event under its type, as a plain socket.io-client). Feeds: `rest` = the producer (a child process) POSTs each event to `/api/v1/topics/:topic/events` of the gateways in turn (keep-alive HTTP, up to 32 connections per gateway; a non-2xx answer is a failed send and fails the step), as instances feed Pulse; `append` = it calls `EventStore.append` once per event. Either way: the Lua append, which rings the topic's bell with the entries → each gateway's tail (subscribed to the bells) → its sockets. Concurrent REST requests may append events out of schedule: each event's latency is still taken from its own scheduled send time (the producer reports which seq each send got).",
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
  const series = (v: Variant, pick: (row: StepRow) => number | undefined) => {
    // The first ladder, one point per rate: a second try replaces the first.
    const byRate = new Map<number, StepRow>();
    for (const row of results.steps)
      if (isVariant(row, v) && row.round === 0 && row.phase === 'ladder' && !row.saturated) byRate.set(row.rate, row);
    return [...byRate.values()]
      .map((row): [number, number] => [row.deliveredPerSec, pick(row) ?? Number.NaN])
      .filter(([, y]) => Number.isFinite(y));
  };
  const latency = lineChart({
    title: 'Latency against delivered events/s (2 gateways, first ladder)',
    xLabel: 'delivered events/s',
    yLabel: 'latency ms (log)',
    logX: true,
    logY: true,
    hLines: [{ y: P99_BOUND_MS, label: `p99 bound ${P99_BOUND_MS} ms` }],
    series: [
      ...[...results.plan.ladderVariants, variantOf('C')].flatMap((v) => [
        { name: `${variantLabel(v)} p99`, points: series(v, (row) => row.latency?.p99) },
        { name: `${variantLabel(v)} p50`, points: series(v, (row) => row.latency?.p50), dashed: true },
      ]),
    ],
  });
  const gateways = lineChart({
    title: 'Highest delivered events/s that held, by gateway count',
    xLabel: 'gateways (servers)',
    yLabel: 'delivered events/s',
    xDomain: [Math.min(...results.plan.gatewayCounts) - 0.25, Math.max(...results.plan.gatewayCounts) + 0.25],
    series: [variantOf('A', 'batch', 'rest'), variantOf('B')].map((v) => ({
      name: v.system === 'A' ? `A: Pulse (${v.mode}/${v.feed})` : SHORT_NAMES.B,
      points: results.plan.gatewayCounts
        .map((servers): [number, number] => [
          servers,
          bestHeld(results.steps, v, servers, 0)?.deliveredPerSec ?? Number.NaN,
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
