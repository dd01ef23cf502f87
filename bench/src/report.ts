// The bench report: the machine, then tables of Pulse next to its baselines, as Markdown and as raw JSON.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import type { DeliveryReport } from './delivery.js';
import type { ProducerStats } from './open-loop.js';
import type { Summary } from './stats.js';
import type { ThroughputResult } from './throughput.js';

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

export interface ThroughputRow {
  path: 'EventStore.append' | 'REST POST';
  batch: number;
  concurrency: number;
  pulse: ThroughputResult;
  /** Raw XADD of the same payload, batch and concurrency. */
  xadd: ThroughputResult;
}

export interface LatencyRow {
  system: string;
  mode: string;
  delivery: DeliveryReport;
  producer: ProducerStats;
  /** False when some client still missed the last event when the drain wait ended. */
  drained: boolean;
}

export interface BenchResults {
  date: string;
  mode: 'quick' | 'full';
  machine: Machine;
  redisVersion: string;
  settings: Record<string, number | string>;
  throughput: ThroughputRow[];
  latency: LatencyRow[];
  notes: string[];
  seconds: number;
}

const rate = (value: number) => Math.round(value).toLocaleString('en-US');
const ms = (value: number | undefined) => (value === undefined ? '–' : value < 10 ? value.toFixed(2) : value.toFixed(1));
const count = (value: number) => value.toLocaleString('en-US');

function throughputCell(result: ThroughputResult): string {
  return result.errors > 0 ? `${rate(result.eventsPerSec)} (${result.errors} failed: ${result.firstError ?? ''})` : rate(result.eventsPerSec);
}

function ratio(pulse: ThroughputResult, xadd: ThroughputResult): string {
  return xadd.eventsPerSec > 0 ? `${((pulse.eventsPerSec / xadd.eventsPerSec) * 100).toFixed(0)} %` : '–';
}

function callLatency(call: Summary | null): string {
  return call ? `${ms(call.p50)} / ${ms(call.p99)}` : '–';
}

function throughputTable(rows: ThroughputRow[]): string[] {
  return [
    '| Path | Events per call | Concurrent callers | Pulse events/s | Raw XADD events/s | Pulse / XADD | Pulse call p50 / p99 ms | XADD call p50 / p99 ms |',
    '|---|--:|--:|--:|--:|--:|--:|--:|',
    ...rows.map((row) =>
      [row.path, row.batch, row.concurrency, throughputCell(row.pulse), throughputCell(row.xadd), ratio(row.pulse, row.xadd), callLatency(row.pulse.call), callLatency(row.xadd.call)].join(' | '),
    ).map((line) => `| ${line} |`),
  ];
}

function verdict(row: LatencyRow): string {
  const d = row.delivery;
  const problems = [
    d.lost > 0 ? `**LOSS: ${count(d.lost)} events missing at ${d.clientsWithLoss} clients**` : '',
    d.duplicates > 0 ? `**${count(d.duplicates)} duplicates**` : '',
    d.outOfOrder > 0 ? `**${count(d.outOfOrder)} out of order**` : '',
    d.unexpected > 0 ? `${count(d.unexpected)} unexpected` : '',
    d.disconnects > 0 ? `**${d.disconnects} disconnects**` : '',
    row.producer.failed > 0 ? `**${row.producer.failed} sends failed**` : '',
    row.drained ? '' : 'drain timed out',
  ].filter(Boolean);
  return problems.length ? problems.join(', ') : 'ok: no loss, no duplicate, in order';
}

function latencyTable(rows: LatencyRow[]): string[] {
  return [
    '| System | Mode | p50 ms | p90 ms | p99 ms | max ms | Delivered / expected | Lost | Dup | Out of order | Check |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|',
    ...rows.map((row) => {
      const d = row.delivery;
      const l = d.latency;
      return `| ${row.system} | ${row.mode} | ${ms(l?.p50)} | ${ms(l?.p90)} | ${ms(l?.p99)} | ${ms(l?.max)} | ${count(d.delivered)} / ${count(d.expected)} | ${count(d.lost)} | ${count(d.duplicates)} | ${count(d.outOfOrder)} | ${verdict(row)} |`;
    }),
  ];
}

function perServerTable(rows: LatencyRow[]): string[] {
  const servers = Math.max(0, ...rows.map((row) => row.delivery.latencyPerServer.length));
  const header = Array.from({ length: servers }, (_, i) => `Server ${i + 1} p50 / p99 ms`);
  return [
    `| System | Mode | ${header.join(' | ')} | Warm-up p50 / p99 ms | Producer max lag ms |`,
    `|---|---|${'--:|'.repeat(servers)}--:|--:|`,
    ...rows.map((row) => {
      const cells = row.delivery.latencyPerServer.map((summary) => (summary ? `${ms(summary.p50)} / ${ms(summary.p99)}` : '–'));
      const warmup = row.delivery.warmupLatency;
      return `| ${row.system} | ${row.mode} | ${cells.join(' | ')} | ${warmup ? `${ms(warmup.p50)} / ${ms(warmup.p99)}` : '–'} | ${ms(row.producer.maxLagMs)} |`;
    }),
  ];
}

export function renderMarkdown(results: BenchResults): string {
  const m = results.machine;
  const load = (values: number[]) => values.map((value) => value.toFixed(2)).join(' / ');
  const s = results.settings;
  return [
    `# Pulse core benchmark (${results.mode})`,
    '',
    `- Date: ${results.date}, took ${results.seconds.toFixed(0)} s`,
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.platform}, Node ${m.node}, redis-server ${results.redisVersion}`,
    `- Load average (1 / 5 / 15 min): ${load(m.loadAtStart)} at start, ${load(m.loadAtEnd)} at end`,
    '',
    `## 1. Append throughput (events/s, higher is better; ${s.throughputSeconds} s per measurement after ${s.warmupSeconds} s warm-up)`,
    '',
    ...throughputTable(results.throughput),
    '',
    `## 2. Delivery latency: append → client receipt (ms, lower is better)`,
    '',
    `${s.rate} events/s for ${s.latencySeconds} s after a ${s.latencyWarmupSeconds} s warm-up (checked for loss, not timed), ${s.clients} socket.io clients (${s.clientsPerServer} per server, websocket), two servers. Delivered / expected counts every event, warm-up included.`,
    '',
    ...latencyTable(results.latency),
    '',
    'Per server (server 1 is the one the baseline producer emits on), the warm-up on its own, and how late the producer itself ran:',
    '',
    ...perServerTable(results.latency),
    '',
    '## Notes',
    '',
    ...results.notes.map((note) => `- ${note}`),
    '',
  ].join('\n');
}

/** Writes `core-latest.md` and `core-latest.json` into `dir`; returns their paths. */
export function writeResults(dir: string, results: BenchResults, markdown: string): string[] {
  mkdirSync(dir, { recursive: true });
  const files = [join(dir, 'core-latest.md'), join(dir, 'core-latest.json')];
  writeFileSync(files[0]!, markdown);
  writeFileSync(files[1]!, `${JSON.stringify(results, null, 2)}\n`);
  return files;
}
