// Scale run, the report: what one run measured, as Markdown (figures first) and JSON.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Latency } from './fleet.js';
import type { Machine } from './report.js';
import type { ScaleProducerStats } from './scale-producer.js';
import type { VerifyResult } from './scale-worker.js';

export interface ScaleSystemResult {
  system: 'A' | 'B';
  /** What stopped this system's run early, if anything. */
  stoppedAt: string | null;
  connections: {
    asked: number;
    connected: number;
    failed: number;
    firstError: string | null;
    seconds: number;
    /** Machine-wide TCP counter deltas while connecting (ListenOverflows: SYNs dropped at a full accept queue). */
    tcp: Record<string, number>;
    /** CPU ms per connected client (connect + subscribe or join), per role, while connecting. */
    cpuMsPerConnection: Record<string, number>;
  };
  memory: {
    /** Summed over the servers, after a forced full GC, before and after the clients connected. */
    rssBefore: number;
    rssAfter: number;
    heapBefore: number;
    heapAfter: number;
    rssPerConnection: number;
    /** heapUsed + external. */
    heapPerConnection: number;
    /** Servers' RSS at the end of the steady phase, no GC. */
    rssUnderLoad: number | null;
  } | null;
  steady: {
    seconds: number;
    deliveredPerSec: number;
    framesPerSec: number;
    latency: Latency | null;
    loadGeneratorElu: number;
    cpuMs: Record<string, number>;
    /** CPU µs per delivered event, per role, and `server` = servers + Redis. */
    cpuUsPerDelivered: Record<string, number>;
  } | null;
  storm: {
    dropSeconds: number;
    clients: number;
    /** ms from the reconnect until the client was current: every event up to its topic's head at that moment (B: any event past it). */
    currentP50Ms: number | null;
    currentP99Ms: number | null;
    allCurrentMs: number | null;
    notCurrent: number;
    failed: number;
    firstError: string | null;
    notRecovered: number;
    replayed: number;
    /** Events missing below what the clients had once the storm was over (B: lost while away). */
    gaps: number;
    retries: number;
    loadGeneratorElu: number;
    wallMs: number;
    /** CPU ms per role from the reconnect until all were current (or the bound). */
    cpuMs: Record<string, number>;
    /** Machine-wide TCP counter deltas over the storm. */
    tcp: Record<string, number>;
  } | null;
  verify: (VerifyResult & { settled: boolean }) | null;
  producer: ScaleProducerStats | null;
}

export interface ScaleResults {
  date: string;
  command: string;
  machine: Machine;
  redisVersion: string;
  config: {
    connections: number;
    threads: number;
    hotTopics: number;
    hotViewers: number;
    coldTopics: number;
    coldViewers: number;
    hotRate: number;
    coldRate: number;
    tickMs: number;
    warmupSeconds: number;
    steadySeconds: number;
    stormTimeoutSeconds: number;
    ingestPerSec: number;
    tickEventsPerSec: number;
  };
  systems: ScaleSystemResult[];
  problems: string[];
  seconds: number;
}

const int = (value: number) => Math.round(value).toLocaleString('en-US');
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const ms = (value: number | null | undefined) =>
  value === null || value === undefined ? '—' : `${value.toFixed(1)} ms`;
const NAMES = { A: 'A (Pulse)', B: 'B (recipe)' } as const;

export function renderScale(results: ScaleResults): string {
  const { config: c, machine } = results;
  const lines: string[] = [];
  const row = (cells: (string | number)[]) => lines.push(`| ${cells.join(' | ')} |`);
  const load = (values: number[]) => values.map((v) => v.toFixed(2)).join(' / ');
  lines.push(
    `# Pulse scale run: ${int(c.connections)} connections`,
    '',
    `${results.date}, \`${results.command}\`, ${results.seconds.toFixed(0)} s. ${machine.cpu} × ${machine.cores}, ` +
      `${machine.memoryGiB} GiB, Node ${machine.node}, Redis ${results.redisVersion}. **Machine load (1/5/15 min) ` +
      `at start ${load(machine.loadAtStart)}, at end ${load(machine.loadAtEnd)}** on ${machine.cores} cores: the ` +
      `load generator, both systems, Redis and other engineers' test runs shared them.`,
    '',
    `Topology: ${c.hotTopics} hot topics × ${int(c.hotViewers)} viewers and ${int(c.coldTopics)} topics × ${c.coldViewers} viewers, ` +
      `clients alternating over 2 gateways (A) or 2 Socket.IO servers (B), in ${c.threads} load generator threads. ` +
      `A's clients alternate batch (\`events\` frames) and plain (one \`event\` message per event); B's are all plain. ` +
      `Ingest: ${c.hotRate} ev/s per hot topic, ${c.coldRate} ev/s per other topic (${c.ingestPerSec.toFixed(0)} POST/s in all, ` +
      `one event each, to A's REST ingest; B's producer emits the same through @socket.io/redis-emitter), plus the ` +
      `monitor tick every ${c.tickMs / 1000} s: three events per topic (${c.tickEventsPerSec.toFixed(0)} ev/s; A's worker, ` +
      `B emulated by its producer). Steady phase ${c.steadySeconds} s after ${c.warmupSeconds} s of warm-up. ` +
      "Accept queue (listen backlog): A's gateways 4,096 (their own), B's servers Node's default 511.",
    '',
    '| | ' + results.systems.map((s) => NAMES[s.system]).join(' | ') + ' |',
    '|---|' + results.systems.map(() => '--:').join('|') + '|',
  );
  const each = (label: string, cell: (s: ScaleSystemResult) => string) => row([label, ...results.systems.map(cell)]);
  each(
    'connections held',
    (s) =>
      `${int(s.connections.connected)} of ${int(s.connections.asked)} (${s.connections.seconds.toFixed(1)} s to connect)`,
  );
  each('CPU ms per connect + subscribe (B: join): servers / Redis / load generator', (s) =>
    s.connections.cpuMsPerConnection.servers === undefined
      ? '—'
      : `${s.connections.cpuMsPerConnection.servers.toFixed(2)} / ${s.connections.cpuMsPerConnection.redis!.toFixed(2)} / ${s.connections.cpuMsPerConnection['load generator']!.toFixed(2)}`,
  );
  each('server RSS per connection (after GC)', (s) => (s.memory ? kib(s.memory.rssPerConnection) : '—'));
  each('server heap+external per connection', (s) => (s.memory ? kib(s.memory.heapPerConnection) : '—'));
  each('server RSS, idle → connected → under load', (s) =>
    s.memory
      ? `${mib(s.memory.rssBefore)} → ${mib(s.memory.rssAfter)} → ${s.memory.rssUnderLoad === null ? '—' : mib(s.memory.rssUnderLoad)}`
      : '—',
  );
  each('delivered events/s (steady)', (s) => (s.steady ? int(s.steady.deliveredPerSec) : '—'));
  each('messages/s to clients', (s) => (s.steady ? int(s.steady.framesPerSec) : '—'));
  each('latency p50 / p99 / max (producer events)', (s) =>
    s.steady?.latency ? `${ms(s.steady.latency.p50)} / ${ms(s.steady.latency.p99)} / ${ms(s.steady.latency.max)}` : '—',
  );
  each('CPU µs per delivery: servers + Redis', (s) => (s.steady ? s.steady.cpuUsPerDelivered.server!.toFixed(1) : '—'));
  each('… of which servers / Redis', (s) =>
    s.steady
      ? `${s.steady.cpuUsPerDelivered.servers!.toFixed(1)} / ${s.steady.cpuUsPerDelivered.redis!.toFixed(1)}`
      : '—',
  );
  each('… worker (tick) / producer / load generator', (s) =>
    s.steady
      ? `${(s.steady.cpuUsPerDelivered.worker ?? 0).toFixed(1)} / ${s.steady.cpuUsPerDelivered.producer!.toFixed(1)} / ${s.steady.cpuUsPerDelivered['load generator']!.toFixed(1)}`
      : '—',
  );
  each('busiest load generator thread', (s) => (s.steady ? `${(s.steady.loadGeneratorElu * 100).toFixed(0)} %` : '—'));
  each('storm: all drop, then all reconnect at once', (s) =>
    s.storm ? `${int(s.storm.clients)} (drop took ${s.storm.dropSeconds.toFixed(1)} s)` : '—',
  );
  each('… time until current: p50 / p99 / all', (s) =>
    s.storm ? `${ms(s.storm.currentP50Ms)} / ${ms(s.storm.currentP99Ms)} / ${ms(s.storm.allCurrentMs)}` : '—',
  );
  each('… not current within the bound / gave up / retried attempts', (s) =>
    s.storm ? `${int(s.storm.notCurrent)} / ${int(s.storm.failed)} / ${int(s.storm.retries)}` : '—',
  );
  each('… first error of an attempt', (s) => (s.storm?.firstError ? `\`${s.storm.firstError}\`` : '—'));
  each('… SYNs dropped at a full accept queue / SYN retransmits (machine-wide)', (s) =>
    s.storm ? `${int(s.storm.tcp.ListenOverflows ?? 0)} / ${int(s.storm.tcp.TCPSynRetrans ?? 0)}` : '—',
  );
  each('… CPU s servers / Redis / load generator; busiest thread', (s) =>
    s.storm
      ? `${(s.storm.cpuMs.servers! / 1000).toFixed(1)} / ${(s.storm.cpuMs.redis! / 1000).toFixed(1)} / ${(s.storm.cpuMs['load generator']! / 1000).toFixed(1)} over ${(s.storm.wallMs / 1000).toFixed(1)} s; ${(s.storm.loadGeneratorElu * 100).toFixed(0)} %`
      : '—',
  );
  each('… missed events replayed in subscribe answers', (s) => (s.storm ? int(s.storm.replayed) : '—'));
  each('… events missing once current (lost in the storm)', (s) => (s.storm ? `**${int(s.storm.gaps)}**` : '—'));
  each('whole run: lost / duplicated / out of order', (s) =>
    s.verify ? `**${int(s.verify.lost)}** / ${int(s.verify.duplicates)} / ${int(s.verify.outOfOrder)}` : '—',
  );
  each('… clients that lost events', (s) => (s.verify ? int(s.verify.clientsWithLoss) : '—'));
  each('… every client had its topic head at the end', (s) => (s.verify ? (s.verify.settled ? 'yes' : '**no**') : '—'));
  each('unasked disconnects / resyncs', (s) =>
    s.verify ? `${int(s.verify.disconnects)} / ${int(s.verify.resyncs)}` : '—',
  );
  each('producer: sent / failed / worst lag', (s) =>
    s.producer ? `${int(s.producer.sent)} / ${int(s.producer.failed)} / ${ms(s.producer.maxLagMs)}` : '—',
  );
  lines.push(
    '',
    "How to read it: memory is the servers' `process.memoryUsage()` summed over both, after a forced full GC, " +
      'before and after the clients connected (and subscribed or joined), divided by the connections; it includes ' +
      'the one-time costs of the first connections (negligible at this count). Delivered = distinct events received ' +
      "per second, summed over clients. Latency: an attempt's scheduled send time (carried in its `durationMs`, " +
      'on `process.hrtime`) → receipt, HdrHistogram over all threads; tick events are delivered and checked but not ' +
      'timed. CPU: `utime + stime` from /proc over the steady phase, divided by the deliveries. The storm: every ' +
      'client closes its socket, then all open new ones at once (no pacing), A with `subscribe { since }` of the last ' +
      'seq they had, while ingest goes on; "current" = it has every event up to its topic\'s head as read when the ' +
      'reconnect began (A) — B has no resume, so "current" is its first live event past that head, and every event ' +
      "emitted while it was away is lost. Loss counts every seq up to each topic's head at the end that a client never " +
      'got, from its first subscribe on.',
  );
  const stormed = results.systems.filter((s) => s.storm);
  if (stormed.length) {
    lines.push('', "## Where the storm's time goes", '');
    for (const s of stormed) {
      const storm = s.storm!;
      const total = Object.values(storm.cpuMs).reduce((sum, used) => sum + used, 0);
      const share = total / storm.wallMs / machine.cores;
      lines.push(
        `- ${NAMES[s.system]}: over the ${(storm.wallMs / 1000).toFixed(1)} s from the reconnect to ${storm.allCurrentMs === null ? 'the bound' : 'the last client current'}, ` +
          `this run's processes used ${(total / 1000).toFixed(1)} CPU s (${(share * 100).toFixed(0)} % of the ${machine.cores} cores): ` +
          `servers ${(storm.cpuMs.servers! / storm.clients).toFixed(2)} ms and load generator ${(storm.cpuMs['load generator']! / storm.clients).toFixed(2)} ms per reconnecting client ` +
          `(deliveries to those already back included). ${int(storm.tcp.ListenOverflows ?? 0)} SYNs were dropped at a full accept queue ` +
          `(machine-wide counter), each costing its client a TCP retransmit wait (1 s, then 2, 4, 8 … s); ${int(storm.retries)} attempts ` +
          `timed out or failed and were tried again after socket.io-client's backoff.`,
      );
    }
  }
  if (results.problems.length) {
    lines.push('', '## What went short', '');
    for (const problem of results.problems) lines.push(`- ${problem}`);
  }
  lines.push('');
  return lines.join('\n');
}

export function writeScale(dir: string, results: ScaleResults, markdown: string): string[] {
  mkdirSync(dir, { recursive: true });
  const md = join(dir, 'scale.md');
  const json = join(dir, 'scale.json');
  writeFileSync(md, markdown);
  writeFileSync(json, `${JSON.stringify(results, null, 2)}\n`);
  return [md, json];
}
