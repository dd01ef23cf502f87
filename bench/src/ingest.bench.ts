// Ingest bench: events/s one gateway accepts through POST /api/v1/topics/:topic/events at p99 ≤ 50 ms, batches of 1 and 100, and CPU µs per event; EventStore.append called directly, and a bare node:http server, as floors.
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { PROJECT_ROOT, PulseStack, type PulseProcess } from '#pulse/stack';
import { ChildServer } from './child-server.js';
import { boundRun, Cleanup, elapsedSeconds, errorMessage, progress, startStack } from './common.js';
import type { IngestStep, IngestStepResult } from './ingest-client.js';
import type { Roles } from './proc-stats.js';

/** The goal's latency bound. */
const P99_BOUND_MS = 50;
/** A step passes when it sent at least this share of its schedule's events. */
const MIN_SENT_SHARE = 0.95;
/** Hard bound of a whole run. */
const BUDGET_MS = 190_000;

/** 'http': the gateway's REST ingest; 'direct': EventStore.append; 'floor': a bare node:http server (no Pulse, no Redis). */
type Via = 'http' | 'direct' | 'floor';
interface Series {
  via: Via;
  batch: number;
  /** Requests (or append calls) per second of the first step; each next step is `factor` times more. */
  startRate: number;
}
const SERIES: Series[] = [
  { via: 'http', batch: 1, startRate: 200 },
  { via: 'http', batch: 100, startRate: 40 },
  { via: 'direct', batch: 1, startRate: 1500 },
  { via: 'direct', batch: 100, startRate: 60 },
  // What any HTTP ingest costs here before it does anything: the REST figures' floor.
  { via: 'floor', batch: 1, startRate: 200 },
];

interface StepRow extends IngestStepResult {
  tree: 'A' | 'B';
  via: Via;
  batch: number;
  ratePerSec: number;
  /** Events per second the measured window carried. */
  eventsPerSec: number;
  /** CPU µs per event of the server side: gateway + Redis (http), or appender + Redis (direct). */
  serverUsPerEvent: number;
  pass: boolean;
  why: string;
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      rates: { type: 'string' },
      compare: { type: 'string' },
      keys: { type: 'boolean', default: true },
      'no-keys': { type: 'boolean', default: false },
      factor: { type: 'string', default: '1.6' },
      'max-steps': { type: 'string', default: '8' },
      out: { type: 'string' },
      profile: { type: 'string' },
    },
  });
  const only = values.only?.split(',').map((part) => part.trim());
  const series = SERIES.filter((s) => !only || only.includes(`${s.via}${s.batch}`) || only.includes(s.via));
  if (series.length === 0)
    throw new Error(
      `--only ${values.only}: expected http1, http100, direct1, direct100, floor1, http, direct or floor`,
    );
  const rates = values.rates?.split(',').map(Number);
  if (rates?.some((rate) => !(rate > 0))) throw new Error(`--rates ${values.rates}: expected positive numbers`);
  const focused = values.quick || !!rates || !!values.compare || !!only || !!values.profile;
  return {
    series,
    rates,
    compare: values.compare ? resolve(values.compare) : undefined,
    /** A folder for the gateways' CPU profiles (node --cpu-prof), written when they stop. */
    profile: values.profile ? resolve(values.profile) : undefined,
    keys: values.keys && !values['no-keys'],
    factor: Number(values.factor),
    maxSteps: Number(values['max-steps']),
    warmupS: values.quick ? 0.5 : 1,
    measureS: values.quick ? 2 : 3,
    // A focused run does not overwrite the committed results unless told where to write.
    out: values.out
      ? resolve(values.out)
      : focused
        ? join(tmpdir(), 'pulse-ingest-bench')
        : join(PROJECT_ROOT, 'bench/results'),
  };
}
type Options = ReturnType<typeof parseOptions>;

function judge(row: Omit<StepRow, 'pass' | 'why'>, spec: IngestStep): { pass: boolean; why: string } {
  const expected = spec.ratePerSec * spec.measureS;
  if (row.failed > 0) return { pass: false, why: `${row.failed} failed: ${row.firstError}` };
  if (row.seqGaps > 0) return { pass: false, why: `${row.seqGaps} seq gaps` };
  if (row.requests < expected * MIN_SENT_SHARE)
    return { pass: false, why: `sent ${row.requests} of ${Math.round(expected)} (load generator behind)` };
  if (row.p99Ms > P99_BOUND_MS) return { pass: false, why: `p99 ${row.p99Ms.toFixed(1)} ms > ${P99_BOUND_MS}` };
  return { pass: true, why: '' };
}

const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

async function main(): Promise<void> {
  const options = parseOptions();
  const cleanup = new Cleanup();
  const disarm = boundRun(cleanup, BUDGET_MS);
  const rows: StepRow[] = [];
  try {
    await run(options, cleanup, rows);
  } finally {
    progress('stopping the gateway(s), the load generator and redis-server…');
    await cleanup.run();
    disarm();
  }
  const markdown = render(options, rows);
  mkdirSync(options.out, { recursive: true });
  const json = join(options.out, 'ingest.json');
  const md = join(options.out, 'ingest.md');
  writeFileSync(
    json,
    `${JSON.stringify({ date: new Date().toISOString(), options, rows, best: best(rows) }, null, 2)}\n`,
  );
  writeFileSync(md, markdown);
  process.stdout.write(markdown);
  progress(`done in ${elapsedSeconds().toFixed(1)} s; wrote ${json}, ${md}`);
}

async function run(options: Options, cleanup: Cleanup, rows: StepRow[]): Promise<void> {
  const env: Record<string, string> = { LOG_LEVEL: 'warn', PULSE_DEMO: '0' };
  if (options.profile) {
    const hook = new URL('./cpu-profile-hook.js', import.meta.url);
    hook.searchParams.set('dir', options.profile);
    env.NODE_OPTIONS = `--import ${hook.href}`;
  }
  const onLine = (name: string, line: string) => {
    if (/error|warn/i.test(line)) progress(`[${name}] ${line}`);
  };
  const stack = await startStack(cleanup, 'ingest-bench', 'one Pulse gateway', {
    gateways: 1,
    workers: 0,
    env,
    onLine,
  });
  const gateways: Record<'A' | 'B', PulseProcess> = { A: stack.gateways[0]!, B: stack.gateways[0]! };
  if (options.compare) {
    // The other tree's gateway, started by its own stack module (its PROJECT_ROOT is that tree), on the same Redis.
    const other = (await import(pathToFileURL(join(options.compare, 'dist/libs/stack/src/index.js')).href)) as {
      PulseStack: typeof PulseStack;
    };
    const otherStarting = other.PulseStack.start({ redisUrl: stack.redisUrl, gateways: 1, workers: 0, env, onLine });
    let otherStack: PulseStack | null = null;
    cleanup.add(
      'the other tree’s gateway',
      async () => (await otherStarting.catch(() => null))?.stop(),
      () => otherStack?.gateways[0]?.kill('SIGKILL'),
    );
    otherStack = await otherStarting;
    gateways.B = otherStack.gateways[0]!;
    progress(`A/B: A is ${PROJECT_ROOT} (${gateways.A.url}), B is ${options.compare} (${gateways.B.url})`);
  }
  const redisPid = stack.redis!.pid;
  const floor = options.series.some((series) => series.via === 'floor')
    ? await ChildServer.start('http-floor-server.js', 'http-floor', [])
    : null;
  if (floor)
    cleanup.add(
      'the bare HTTP server',
      () => floor.stop(),
      () => floor.kill(),
    );
  const client = await ChildServer.start('ingest-client.js', 'ingest-client', [stack.redisUrl, options.compare ?? '']);
  cleanup.add(
    'load generator',
    () => client.stop(),
    () => client.kill(),
  );
  progress(`Pulse up: redis ${stack.redisUrl} (pid ${redisPid}), gateway ${gateways.A.url} (pid ${gateways.A.pid})`);
  const bothTrees: ('A' | 'B')[] = options.compare ? ['A', 'B'] : ['A'];
  let topicNo = 0;
  for (const series of options.series) {
    // The floor is no tree's: it runs once.
    const trees = series.via === 'floor' ? (['A'] as const) : bothTrees;
    const target = (tree: 'A' | 'B') => (series.via === 'floor' ? floor! : gateways[tree]);
    // The load generator POSTs to the floor as it does to a gateway.
    const clientVia = series.via === 'direct' ? 'direct' : 'http';
    const rates =
      options.rates ??
      Array.from({ length: options.maxSteps }, (_, i) => Math.round(series.startRate * options.factor ** i));
    const failing = new Set<'A' | 'B'>();
    // Unmeasured: a cold gateway (JIT, connections) answers its first seconds slowly.
    for (const tree of trees) {
      await client.request<IngestStepResult>(
        {
          via: clientVia,
          url: target(tree).url,
          tree,
          topic: `ingest-warmup-${++topicNo}`,
          ratePerSec: rates[0]!,
          batch: series.batch,
          warmupS: 0,
          measureS: options.warmupS * 2,
          keys: options.keys,
          roles: {},
        },
        60_000,
      );
    }
    for (const [i, rate] of rates.entries()) {
      // Alternate which tree goes first, so that neither always runs on the warmer machine.
      const order = i % 2 === 0 ? trees : [...trees].reverse();
      for (const tree of order) {
        if (failing.has(tree) && !options.rates) continue;
        cleanup.checkpoint();
        const server = target(tree);
        const roles: Roles =
          series.via === 'http'
            ? { gateway: [server.pid], redis: [redisPid], client: [client.pid] }
            : series.via === 'floor'
              ? { server: [server.pid], client: [client.pid] }
              : { appender: [client.pid], redis: [redisPid] };
        const spec: IngestStep = {
          via: clientVia,
          url: server.url,
          tree,
          topic: `ingest-${series.via}${series.batch}-${++topicNo}`,
          ratePerSec: rate,
          batch: series.batch,
          warmupS: options.warmupS,
          measureS: options.measureS,
          keys: options.keys,
          roles,
        };
        let result = await client.request<IngestStepResult>(spec, (spec.warmupS + spec.measureS) * 1000 + 60_000);
        // The machine is shared: a step that misses only its latency bound is tried once more before it counts as failed.
        if (result.failed === 0 && result.seqGaps === 0 && result.p99Ms > P99_BOUND_MS) {
          progress(
            `${tree} ${series.via} batch ${series.batch} at ${rate}/s: p99 ${result.p99Ms.toFixed(1)} ms, once more…`,
          );
          result = await client.request<IngestStepResult>(
            { ...spec, topic: `${spec.topic}-again` },
            (spec.warmupS + spec.measureS) * 1000 + 60_000,
          );
        }
        const serverMs =
          series.via === 'http'
            ? result.cpuMs.gateway! + result.cpuMs.redis!
            : series.via === 'floor'
              ? result.cpuMs.server!
              : result.cpuMs.appender! + result.cpuMs.redis!;
        const partial = {
          ...result,
          tree,
          via: series.via,
          batch: series.batch,
          ratePerSec: rate,
          eventsPerSec: round((result.events * 1000) / result.wallMs, 0),
          serverUsPerEvent: result.events ? round((serverMs * 1000) / result.events, 2) : 0,
        };
        const verdict = judge(partial, spec);
        const row: StepRow = { ...partial, ...verdict };
        rows.push(row);
        progress(
          `${options.compare ? `${tree} ` : ''}${series.via} batch ${series.batch} at ${rate} req/s: ${row.eventsPerSec} ev/s, ` +
            `p50 ${row.p50Ms.toFixed(1)} ms, p99 ${row.p99Ms.toFixed(1)} ms, ${row.serverUsPerEvent} µs/event ` +
            `(${Object.entries(row.cpuMs)
              .map(([role, ms]) => `${role} ${Math.round(ms)} ms`)
              .join(', ')})${row.pass ? '' : ` FAIL: ${row.why}`}`,
        );
        if (!row.pass) failing.add(tree);
      }
      if (!options.rates && trees.every((tree) => failing.has(tree))) break;
    }
  }
}

/** The highest passing step per tree and series; `lowerBound` when none of the series failed (its ladder ended first). */
function best(rows: StepRow[]): (StepRow & { lowerBound: boolean })[] {
  const out = new Map<string, StepRow>();
  const failed = new Set<string>();
  for (const row of rows) {
    const key = `${row.tree}-${row.via}-${row.batch}`;
    if (!row.pass) failed.add(key);
    else if ((out.get(key)?.eventsPerSec ?? -1) < row.eventsPerSec) out.set(key, row);
  }
  return [...out].map(([key, row]) => ({ ...row, lowerBound: !failed.has(key) }));
}

function render(options: Options, rows: StepRow[]): string {
  const what = (row: StepRow) =>
    row.via === 'http' ? 'REST ingest' : row.via === 'floor' ? 'bare node:http (floor)' : 'EventStore.append';
  const ab = options.compare !== undefined;
  const lines = [
    '# Ingest bench',
    '',
    `Run ${new Date().toISOString()} with \`npm run bench:ingest\`${process.argv.length > 2 ? ` (\`${process.argv.slice(2).join(' ')}\`)` : ''}.`,
    ab ? `A: ${PROJECT_ROOT}; B: ${options.compare} (same Redis, steps alternated).` : '',
    '',
    `## Highest rate with p99 ≤ ${P99_BOUND_MS} ms, nothing failed or lost`,
    '',
    `| ${ab ? 'tree | ' : ''}path | events per call | events/s | calls/s | p50 | p99 | server CPU µs/event |`,
    `| ${ab ? '--- | ' : ''}--- | --: | --: | --: | --: | --: | --: |`,
    ...best(rows).map(
      (row) =>
        `| ${ab ? `${row.tree} | ` : ''}${what(row)} | ${row.batch} | ${row.lowerBound ? '≥ ' : ''}${row.eventsPerSec} | ${row.ratePerSec} | ${row.p50Ms.toFixed(1)} ms | ${row.p99Ms.toFixed(1)} ms | ${row.serverUsPerEvent} |`,
    ),
    '',
    '≥: the ladder ended before a step failed.',
    '',
    '## Every step',
    '',
    `| ${ab ? 'tree | ' : ''}path | batch | calls/s | events/s | p50 ms | p99 ms | max ms | server µs/event | CPU ms by role | verdict |`,
    `| ${ab ? '--- | ' : ''}--- | --: | --: | --: | --: | --: | --: | --: | --- | --- |`,
    ...rows.map(
      (row) =>
        `| ${ab ? `${row.tree} | ` : ''}${what(row)} | ${row.batch} | ${row.ratePerSec} | ${row.eventsPerSec} | ${row.p50Ms.toFixed(1)} | ${row.p99Ms.toFixed(1)} | ${row.maxMs.toFixed(1)} | ${row.serverUsPerEvent} | ${Object.entries(
          row.cpuMs,
        )
          .map(([role, ms]) => `${role} ${Math.round(ms)}`)
          .join(', ')} | ${row.pass ? 'pass' : row.why} |`,
    ),
    '',
    `Method: one gateway (auth off, defaults otherwise) and one redis-server (no AOF) on this machine; the load generator is one child process (keep-alive HTTP, up to 64 connections) sending open-loop: each request is due at a fixed time whatever earlier ones do, and its latency counts from that time. Steps go up by ×${options.factor} from a low rate until one fails (p99 over ${P99_BOUND_MS} ms twice in a row, a failed request, a seq gap, or under ${MIN_SENT_SHARE * 100} % of the schedule sent). Each step: ${options.warmupS} s warm-up on a new topic, then ${options.measureS} s measured. Events: attempt.recorded over 50 instances (a heartbeat every 5th)${options.keys ? ', each with an idempotency key' : ''}. Server CPU from /proc over the measured window: gateway + Redis for REST ingest, the appending process + Redis for EventStore.append, the server alone for the floor: a bare node:http server that reads and parses each body and answers 201 with seqs, no framework, no validation, no Redis (what any HTTP ingest costs on this machine before it does anything). The machine has 2 cores shared by the gateway, Redis and the load generator.`,
    '',
  ];
  return lines.filter((line, i) => line !== '' || lines[i - 1] !== '').join('\n');
}

main().catch((error: unknown) => {
  progress(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : errorMessage(error)}`);
  process.exitCode = 1;
});
