// What pulse prints: event lines, tables, the snapshot, series and instance history, the status report, the drift table and the progress bar (pure functions).
import type {
  AlertFiringData,
  AlertResolvedData,
  InstanceHistory,
  PulseEvent,
  Rule,
  SeriesResponse,
  Severity,
  Snapshot,
} from '#pulse/contracts';

/** ANSI styles, or plain text when colours are off. */
export interface Paint {
  dim: (text: string) => string;
  bold: (text: string) => string;
  red: (text: string) => string;
  green: (text: string) => string;
  yellow: (text: string) => string;
  cyan: (text: string) => string;
  magenta: (text: string) => string;
}

const style = (open: number, close: number) => (text: string) => `\x1b[${open}m${text}\x1b[${close}m`;
const identity = (text: string) => text;

export function paint(colors: boolean): Paint {
  if (!colors)
    return {
      dim: identity,
      bold: identity,
      red: identity,
      green: identity,
      yellow: identity,
      cyan: identity,
      magenta: identity,
    };
  return {
    dim: style(2, 22),
    bold: style(1, 22),
    red: style(31, 39),
    green: style(32, 39),
    yellow: style(33, 39),
    cyan: style(36, 39),
    magenta: style(35, 39),
  };
}

// eslint-disable-next-line no-control-regex -- ANSI styles start with ESC.
const ANSI = /\x1b\[[0-9;]*m/g;

/** `text` without its ANSI styles. */
export function unstyled(text: string): string {
  return text.replace(ANSI, '');
}

/** Width of `text` as shown (ANSI styles take no room). */
export function visibleLength(text: string): number {
  return unstyled(text).length;
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** `HH:MM:SS.mmm` in local time. */
export function clock(ms: number): string {
  const date = new Date(ms);
  return `${pad2(date.getHours())}:${pad2(date.getMinutes())}:${pad2(date.getSeconds())}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

/** `YYYY-MM-DD HH:MM:SS` in local time. */
export function dateTime(ms: number): string {
  const date = new Date(ms);
  return `${date.getFullYear()}-${pad2(date.getMonth() + 1)}-${pad2(date.getDate())} ${clock(ms).slice(0, 8)}`;
}

/** A span of milliseconds the way a person says it: `850 ms`, `4.2 s`, `3 min 5 s`. */
export function duration(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < 1000) return `${Math.round(ms)} ms`;
  if (abs < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(abs / 60_000);
  const seconds = Math.round((abs % 60_000) / 1000);
  return `${ms < 0 ? '-' : ''}${minutes} min${seconds ? ` ${seconds} s` : ''}`;
}

const TYPE_STYLE: Record<string, keyof Paint> = {
  'instance.heartbeat': 'green',
  'attempt.recorded': 'cyan',
  'instance.offline': 'red',
  status_update: 'magenta',
  statistics_update: 'yellow',
  instances_update: 'yellow',
};

/** Cuts `text` to `width` characters, marking the cut with `…`. */
export function truncate(text: string, width: number | undefined): string {
  if (width === undefined || width < 1 || text.length <= width) return text;
  return `${text.slice(0, Math.max(0, width - 1))}…`;
}

/**
 * One event on one line for a person: `12:00:01.234  #42  attempt.recorded  {"instanceId":"i-1",…}`.
 * With `columns`, the data is cut so the line fits the terminal.
 */
export function eventLine(event: PulseEvent, p: Paint, columns?: number): string {
  const head = `${clock(event.ts)}  #${event.seq}  ${event.type.padEnd(17)}`;
  const source = event.source ? ` [${event.source}]` : '';
  const data = JSON.stringify(event.data) ?? 'null';
  const room = columns === undefined ? undefined : Math.max(10, columns - head.length - source.length - 2);
  const typeStyle = p[TYPE_STYLE[event.type] ?? 'bold'];
  return `${p.dim(clock(event.ts))}  ${p.bold(`#${event.seq}`)}  ${typeStyle(event.type.padEnd(17))}${source ? p.dim(source) : ''}  ${truncate(data, room)}`;
}

/** An event for machines: the envelope as one JSON line. */
export function eventJson(event: PulseEvent): string {
  return JSON.stringify(event);
}

/** Left-aligned columns with a header row, two spaces apart. */
export function table(headers: string[], rows: string[][], p: Paint): string {
  const widths = headers.map((header, i) =>
    Math.max(visibleLength(header), ...rows.map((row) => visibleLength(row[i] ?? ''))),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell + ' '.repeat(widths[i]! - visibleLength(cell))))
      .join('  ')
      .trimEnd();
  return [p.dim(line(headers)), ...rows.map(line)].join('\n');
}

/** A value of a drift row or a table cell: strings as is, the rest as compact JSON. */
export function compact(value: unknown): string {
  if (value === undefined) return '-';
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? typeof value);
}

export function topicsTable(topics: { topic: string; head: number; epoch: string }[], p: Paint): string {
  if (topics.length === 0) return 'no topics yet: publish to one with "pulse publish <topic> <type> <json>"';
  const sorted = [...topics].sort((a, b) => a.topic.localeCompare(b.topic));
  return table(
    ['TOPIC', 'HEAD', 'EPOCH'],
    sorted.map((t) => [t.topic, String(t.head), t.epoch]),
    p,
  );
}

export function snapshotText(snapshot: Snapshot, p: Paint, now = Date.now()): string {
  const { statistics: s, status } = snapshot;
  const lines = [
    `${p.bold('topic')}       ${snapshot.topic}`,
    `${p.bold('seq')}         ${snapshot.seq} ${p.dim(snapshot.epoch === null ? '(no events yet)' : `(epoch ${snapshot.epoch})`)}`,
    `${p.bold('status')}      ${
      status
        ? `loop ${status.loop_count}, last tick ${dateTime(status.tick_at)}, next tick ${dateTime(status.next_tick_at)} (${relative(status.next_tick_at, now)})`
        : 'no monitor tick yet'
    }`,
    `${p.bold('statistics')}  ${s.total_attempts} attempts, ${s.successful} successful, ${s.failed} failed, ${s.success_rate}% success, ${s.active_instances} active instance(s)`,
    `${p.bold('instances')}   ${snapshot.instances.length}`,
  ];
  if (snapshot.instances.length > 0) {
    const rows = snapshot.instances.map((i) => [
      i.id,
      i.status === 'offline' ? p.red(i.status) : i.status,
      dateTime(i.last_seen),
      i.next_action_at === null ? '-' : dateTime(i.next_action_at),
      String(i.attempts),
      String(i.successes),
      String(i.failures),
    ]);
    lines.push('', table(['ID', 'STATUS', 'LAST SEEN', 'NEXT ACTION', 'ATTEMPTS', 'OK', 'FAILED'], rows, p));
  }
  return lines.join('\n');
}

/** A long span in its largest whole unit: `2 h`, `7 d`, else as `duration` says it. */
export function span(ms: number): string {
  if (ms >= 86_400_000 && ms % 86_400_000 === 0) return `${ms / 86_400_000} d`;
  if (ms >= 3_600_000 && ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  return duration(ms);
}

/** `in 4.2 s` or `3.0 s ago`. */
export function relative(at: number, now: number): string {
  return at >= now ? `in ${duration(at - now)}` : `${duration(now - at)} ago`;
}

export interface Drift {
  path: string;
  live: unknown;
  rebuilt: unknown;
}

export function driftTable(drift: Drift[], p: Paint): string {
  return table(
    ['PATH', 'LIVE', 'REBUILT'],
    drift.map((d) => [d.path, p.red(compact(d.live)), p.green(compact(d.rebuilt))]),
    p,
  );
}

/** `[██████░░░░░░]  48%  4800/10000 events` — the width of the bar is `width` cells. */
export function progressBar(done: number, total: number, width = 30): string {
  const ratio = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(ratio * width);
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${String(Math.floor(ratio * 100)).padStart(3)}%  ${done}/${total} events`;
}

/** What `pulse status` found out. */
export interface StatusReport {
  gateways: { url: string; state: 'up' | 'not ready' | 'down'; detail: string }[];
  /** Viewers per topic (null: no gateway answered). */
  presence: Record<string, number> | null;
  scheduler: {
    scheduler: string;
    everyMs: number | null;
    nextRunAt: number | null;
    lastRun: { tickAt: number; processedAt: number; finishedAt: number; delayMs: number; failed: boolean } | null;
  } | null;
  /** Why presence or the scheduler are missing. */
  problems: string[];
}

const indent = (text: string) => text.replace(/^/gm, '  ');

export function statusText(report: StatusReport, p: Paint, now = Date.now()): string {
  const state = (s: StatusReport['gateways'][number]['state']) =>
    s === 'up' ? p.green(s) : s === 'down' ? p.red(s) : p.yellow(s);
  const lines = [
    p.bold('gateways'),
    indent(
      table(
        ['URL', 'STATE', 'DETAIL'],
        report.gateways.map((g) => [g.url, state(g.state), g.detail]),
        p,
      ),
    ),
  ];
  lines.push('', p.bold('viewers'));
  if (report.presence === null) lines.push('  unknown');
  else if (Object.keys(report.presence).length === 0) lines.push('  nobody is following a topic');
  else {
    const entries = Object.entries(report.presence).sort(([a], [b]) => a.localeCompare(b));
    lines.push(
      indent(
        table(
          ['TOPIC', 'VIEWERS'],
          entries.map(([topic, viewers]) => [topic, String(viewers)]),
          p,
        ),
      ),
    );
  }
  const s = report.scheduler;
  lines.push('', p.bold(`tick scheduler${s ? ` ${s.scheduler}` : ''}`));
  if (!s) lines.push('  unknown');
  else {
    lines.push(
      `  every     ${s.everyMs === null ? 'not scheduled: no worker has started yet (npm run start:worker)' : duration(s.everyMs)}`,
    );
    lines.push(
      `  next run  ${s.nextRunAt === null ? '-' : `${dateTime(s.nextRunAt)} (${relative(s.nextRunAt, now)})`}`,
    );
    const last = s.lastRun;
    lines.push(
      `  last run  ${
        last
          ? `${dateTime(last.processedAt)} (${relative(last.processedAt, now)}), started ${duration(last.delayMs)} after it was due, took ${duration(last.finishedAt - last.processedAt)}, ${last.failed ? p.red('failed') : p.green('ok')}`
          : 'never'
      }`,
    );
  }
  for (const problem of report.problems) lines.push('', p.yellow(problem));
  return lines.join('\n');
}

/** A gauge, or `-` where no tick wrote it. */
const orDash = (value: number | null) => (value === null ? '-' : String(value));

/** One row per bucket, oldest first; buckets of a day show the date only. */
export function seriesTable(page: SeriesResponse, p: Paint): string {
  if (page.points.length === 0) return `no buckets between ${dateTime(page.from)} and ${dateTime(page.to)}`;
  const time = (t: number) => (page.step === '1d' ? dateTime(t).slice(0, 10) : dateTime(t).slice(0, 16));
  const rows = page.points.map((point) => [
    time(point.t),
    String(point.attempts),
    String(point.successes),
    point.failures > 0 ? p.red(String(point.failures)) : '0',
    point.attempts > 0 ? `${point.success_rate}%` : '-',
    // 0 with attempts: none of them gave a duration.
    point.duration_max > 0 ? String(Math.round(point.duration_avg)) : '-',
    point.duration_max > 0 ? String(Math.round(point.duration_max)) : '-',
    orDash(point.active_instances),
  ]);
  let attempts = 0;
  let failures = 0;
  for (const point of page.points) {
    attempts += point.attempts;
    failures += point.failures;
  }
  const total = `${page.points.length} buckets of ${page.step}: ${attempts} attempts, ${failures} failed`;
  return `${table([`TIME (${page.step})`, 'ATTEMPTS', 'OK', 'FAILED', 'SUCCESS', 'AVG MS', 'MAX MS', 'ACTIVE'], rows, p)}\n${p.dim(total)}`;
}

/** A bucket for machines: one JSON object per line, with the topic and step so lines stand alone. */
export function seriesLines(page: SeriesResponse): string {
  return page.points.map((point) => JSON.stringify({ topic: page.topic, step: page.step, ...point })).join('\n');
}

export function instanceText(history: InstanceHistory, p: Paint, now = Date.now()): string {
  const { uptime } = history;
  const i = history;
  const percent = (value: number) =>
    value >= 99.9 ? p.green(`${value}%`) : value < 99 ? p.red(`${value}%`) : p.yellow(`${value}%`);
  const lines = [
    `${p.bold('instance')}   ${i.id} ${p.dim(`(topic ${history.topic})`)}`,
    `${p.bold('status')}     ${i.status === 'offline' ? p.red(i.status) : i.status}, last seen ${i.last_seen > 0 ? `${dateTime(i.last_seen)} (${relative(i.last_seen, now)})` : 'never'}`,
    `${p.bold('attempts')}   ${i.attempts} (${i.successes} successful, ${i.failures} failed)`,
    `${p.bold('uptime')}     24 h ${percent(uptime['24h'])}   7 d ${percent(uptime['7d'])}   30 d ${percent(uptime['30d'])}`,
  ];
  const points = history.series.points;
  const active = points.filter((point) => point.attempts > 0 || point.offline_ms > 0);
  if (active.length > 0) {
    const rows = active.map((point) => [
      dateTime(point.t).slice(0, 16),
      String(point.attempts),
      point.failures > 0 ? p.red(String(point.failures)) : '0',
      duration(point.offline_ms),
    ]);
    lines.push('', table(['HOUR', 'ATTEMPTS', 'FAILED', 'OFFLINE'], rows, p));
    if (active.length < points.length) lines.push(p.dim(`(${points.length - active.length} quiet hours not shown)`));
  } else lines.push('', p.dim('no attempts and no offline time in the hours shown'));
  return lines.join('\n');
}

/** An alert as the snapshot lists the firing ones (`alert.firing`'s data) or `alert.resolved` states it. */
type AlertLine = AlertFiringData | AlertResolvedData;

const SEVERITY_RANK: Record<string, number> = { critical: 0, warning: 1, info: 2 };

/** Critical, warning, info; then the longest firing first. */
export function sortActive(alerts: readonly AlertFiringData[]): AlertFiringData[] {
  return [...alerts].sort(
    (a, b) =>
      (SEVERITY_RANK[a.severity ?? ''] ?? 3) - (SEVERITY_RANK[b.severity ?? ''] ?? 3) ||
      a.activeSince - b.activeSince ||
      a.alertId.localeCompare(b.alertId),
  );
}

const severityStyle = (p: Paint, severity: Severity | undefined) =>
  severity === 'critical' ? p.red : severity === 'warning' ? p.yellow : severity === 'info' ? p.cyan : p.dim;

/** The active alerts (firing first), then the recently resolved (newest first), as two tables. */
export function alertsText(
  topic: string,
  active: readonly AlertFiringData[],
  resolved: readonly AlertResolvedData[],
  p: Paint,
  now = Date.now(),
): string {
  const where = (a: AlertLine) => (a.instanceId ? `${a.ruleId} · ${a.instanceId}` : a.ruleId);
  const lines = [
    p.bold(`${topic}: ${active.length === 0 ? p.green('no alert firing') : p.red(`${active.length} firing`)}`),
  ];
  if (active.length > 0) {
    const rows = sortActive(active).map((a) => [
      severityStyle(p, a.severity)(a.severity),
      where(a),
      dateTime(a.activeSince),
      duration(Math.max(0, now - a.activeSince)),
      a.summary,
    ]);
    lines.push('', table(['SEVERITY', 'ALERT', 'SINCE', 'FOR', 'SUMMARY'], rows, p));
  }
  if (resolved.length > 0) {
    const rows = [...resolved]
      .sort((a, b) => b.resolvedAt - a.resolvedAt)
      .map((a) => [
        p.green('resolved'),
        where(a),
        dateTime(a.resolvedAt),
        duration(Math.max(0, a.resolvedAt - a.activeSince)),
        a.summary,
      ]);
    lines.push('', p.bold('recently resolved'), table(['STATE', 'ALERT', 'RESOLVED', 'AFTER', 'SUMMARY'], rows, p));
  }
  return lines.join('\n');
}

/** Alerts for machines: one JSON object per line, the active ones first, each with its topic and state. */
export function alertsLines(
  topic: string,
  active: readonly AlertFiringData[],
  resolved: readonly AlertResolvedData[],
): string {
  return [
    ...sortActive(active).map((a) => JSON.stringify({ topic, ...a, state: 'firing' })),
    ...resolved.map((a) => JSON.stringify({ topic, ...a, state: 'resolved' })),
  ].join('\n');
}

/** A rule's params for people: `window 5 min 0 s, threshold 20%, minAttempts 10`. */
export function ruleCondition(params: Record<string, unknown> | undefined): string {
  const parts = Object.entries(params ?? {}).map(([key, value]) => {
    if (typeof value === 'number' && key.endsWith('Ms')) return `${key.slice(0, -2)} ${duration(value)}`;
    if (typeof value === 'number' && key.endsWith('Pct')) return `${key.slice(0, -3)} ${value}%`;
    return `${key} ${compact(value)}`;
  });
  return parts.length > 0 ? parts.join(', ') : '-';
}

export function rulesTable(topic: string, rules: readonly Rule[], p: Paint): string {
  if (rules.length === 0)
    return `topic ${topic} has no alert rules: set one with PUT /api/v1/topics/${topic}/rules/<id> (see the README, "Alerts")`;
  const rows = [...rules]
    .sort((a, b) => a.ruleId.localeCompare(b.ruleId))
    .map((r) => [
      r.ruleId,
      r.kind,
      ruleCondition(r.params),
      r.forMs ? duration(r.forMs) : '-',
      severityStyle(p, r.severity)(r.severity),
      r.channels?.length ? r.channels.join(',') : '-',
      r.description ?? '',
    ]);
  return table(['RULE', 'KIND', 'CONDITION', 'FOR', 'SEVERITY', 'CHANNELS', 'DESCRIPTION'], rows, p);
}
