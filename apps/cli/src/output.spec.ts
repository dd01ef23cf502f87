// What pulse prints: event lines with and without colour, tables, the snapshot, status and drift reports, the progress bar.
import { describe, expect, it } from '@jest/globals';
import type { AlertFiringData, PulseEvent, SeriesResponse, Snapshot } from '#pulse/contracts';
import {
  alertsLines,
  alertsText,
  clock,
  compact,
  driftTable,
  duration,
  ruleCondition,
  rulesTable,
  span,
  eventJson,
  eventLine,
  instanceText,
  paint,
  progressBar,
  relative,
  seriesLines,
  seriesTable,
  snapshotText,
  statusText,
  table,
  topicsTable,
  truncate,
  unstyled,
  visibleLength,
  type StatusReport,
} from './output.js';

const plain = paint(false);
const coloured = paint(true);
/** A local time, so the expectations hold in any time zone. */
const at = (h: number, m: number, s: number, ms = 0) => new Date(2030, 0, 2, h, m, s, ms).getTime();

const event: PulseEvent = {
  topic: 'demo',
  seq: 42,
  epoch: 'e1',
  type: 'attempt.recorded',
  ts: at(3, 4, 5, 6),
  data: { instanceId: 'i-1', outcome: 'success' },
  source: 'cli',
};

describe('eventLine', () => {
  it('shows time, seq, type, source and compact data on one line', () => {
    expect(eventLine(event, plain)).toBe(
      '03:04:05.006  #42  attempt.recorded  [cli]  {"instanceId":"i-1","outcome":"success"}',
    );
  });

  it('cuts the data to fit the terminal width', () => {
    const line = eventLine(
      { ...event, type: 'attempt.recorded', data: { instanceId: 'i-1', outcome: 'failure', error: 'x'.repeat(500) } },
      plain,
      80,
    );
    expect(line.length).toBeLessThanOrEqual(80);
    expect(line.endsWith('…')).toBe(true);
  });

  it('colours only when asked, with the same visible text', () => {
    const line = eventLine(event, coloured);
    expect(line).toContain('\x1b[');
    expect(unstyled(line)).toBe(eventLine(event, plain));
    expect(eventLine(event, plain)).not.toContain('\x1b[');
  });

  it('prints the envelope as is for machines', () => {
    expect(JSON.parse(eventJson(event))).toEqual(event);
  });
});

describe('small formats', () => {
  it('formats clocks, durations and relative times', () => {
    expect(clock(at(23, 59, 58, 7))).toBe('23:59:58.007');
    expect(duration(850)).toBe('850 ms');
    expect(duration(4200)).toBe('4.2 s');
    expect(duration(185_000)).toBe('3 min 5 s');
    expect(relative(2000, 1000)).toBe('in 1.0 s');
    expect(relative(1000, 1250)).toBe('250 ms ago');
  });

  it('truncates with an ellipsis and measures text without its styles', () => {
    expect(truncate('abcdef', 4)).toBe('abc…');
    expect(truncate('abc', 4)).toBe('abc');
    expect(truncate('abc', undefined)).toBe('abc');
    expect(visibleLength(coloured.red('abc'))).toBe(3);
  });

  it('shows strings as they are and other values as JSON', () => {
    expect(compact('online')).toBe('online');
    expect(compact(5)).toBe('5');
    expect(compact(null)).toBe('null');
    expect(compact({ a: 1 })).toBe('{"a":1}');
    expect(compact(undefined)).toBe('-');
  });
});

describe('table', () => {
  it('aligns columns whatever the colours', () => {
    expect(
      unstyled(
        table(
          ['A', 'LONGER'],
          [
            [coloured.red('xyz'), '1'],
            ['q', '22'],
          ],
          plain,
        ),
      ),
    ).toBe(['A    LONGER', 'xyz  1', 'q    22'].join('\n'));
  });

  it('lists topics by name, or says how to make one', () => {
    expect(
      topicsTable(
        [
          { topic: 'b', head: 2, epoch: 'e2' },
          { topic: 'a', head: 10, epoch: 'e1' },
        ],
        plain,
      ),
    ).toBe(['TOPIC  HEAD  EPOCH', 'a      10    e1', 'b      2     e2'].join('\n'));
    expect(topicsTable([], plain)).toContain('pulse publish');
  });
});

describe('reports', () => {
  it('shows a snapshot: position, status, statistics and the instance table', () => {
    const snapshot: Snapshot = {
      topic: 'demo',
      epoch: 'e1',
      seq: 9,
      status: { monitoring_active: true, loop_count: 3, tick_at: at(1, 0, 0), next_tick_at: at(1, 0, 5) },
      statistics: { total_attempts: 4, successful: 3, failed: 1, success_rate: 75, active_instances: 1 },
      instances: [
        {
          id: 'i-1',
          status: 'online',
          last_seen: at(1, 0, 0),
          next_action_at: null,
          attempts: 4,
          successes: 3,
          failures: 1,
        },
      ],
    };
    const text = snapshotText(snapshot, plain, at(1, 0, 1));
    expect(text).toContain('seq         9 (epoch e1)');
    expect(text).toContain('loop 3');
    expect(text).toContain('(in 4.0 s)');
    expect(text).toContain('4 attempts, 3 successful, 1 failed, 75% success, 1 active instance(s)');
    expect(text).toMatch(/i-1\s+online\s+2030-01-02 01:00:00\s+-\s+4\s+3\s+1/);
    expect(snapshotText({ ...snapshot, status: null, instances: [] }, plain)).toContain('no monitor tick yet');
  });

  it('shows the drift as path, live and rebuilt', () => {
    expect(driftTable([{ path: 'statistics.failed', live: 6, rebuilt: 1 }], plain)).toBe(
      ['PATH               LIVE  REBUILT', 'statistics.failed  6     1'].join('\n'),
    );
  });

  it('shows gateways, viewers and the scheduler', () => {
    const report: StatusReport = {
      gateways: [
        { url: 'http://a', state: 'up', detail: 'redis ready' },
        { url: 'http://b', state: 'down', detail: 'connection refused' },
      ],
      presence: { demo: 2 },
      scheduler: {
        scheduler: 'monitor-tick',
        everyMs: 5000,
        nextRunAt: at(1, 0, 5),
        lastRun: {
          tickAt: at(1, 0, 0),
          processedAt: at(1, 0, 0, 12),
          finishedAt: at(1, 0, 0, 40),
          delayMs: 12,
          failed: false,
        },
      },
      problems: [],
    };
    const text = statusText(report, plain, at(1, 0, 1));
    expect(text).toMatch(/http:\/\/a\s+up\s+redis ready/);
    expect(text).toMatch(/http:\/\/b\s+down\s+connection refused/);
    expect(text).toMatch(/demo\s+2/);
    expect(text).toContain('every     5.0 s');
    expect(text).toContain('(in 4.0 s)');
    expect(text).toContain('started 12 ms after it was due, took 28 ms, ok');
    const idle = statusText(
      {
        ...report,
        presence: {},
        scheduler: { scheduler: 'monitor-tick', everyMs: null, nextRunAt: null, lastRun: null },
      },
      plain,
    );
    expect(idle).toContain('nobody is following a topic');
    expect(idle).toContain('no worker has started yet');
    expect(idle).toContain('last run  never');
  });

  it('draws a progress bar of a fixed width', () => {
    expect(progressBar(0, 10, 10)).toBe('[░░░░░░░░░░]   0%  0/10 events');
    expect(progressBar(5, 10, 10)).toBe('[█████░░░░░]  50%  5/10 events');
    expect(progressBar(10, 10, 10)).toBe('[██████████] 100%  10/10 events');
    expect(progressBar(0, 0, 4)).toBe('[████] 100%  0/0 events');
  });
});

describe('history', () => {
  const hour = 3_600_000;
  const t0 = at(10, 0, 0);
  const page: SeriesResponse = {
    topic: 'demo',
    step: '1h',
    seq: 0,
    from: t0,
    to: t0 + 2 * hour,
    points: [
      {
        t: t0,
        attempts: 4,
        successes: 3,
        failures: 1,
        success_rate: 75,
        duration_avg: 120.4,
        duration_count: 3,
        duration_max: 300,
        active_instances: 2,
        known_instances: 3,
      },
      {
        t: t0 + hour,
        attempts: 0,
        successes: 0,
        failures: 0,
        success_rate: 0,
        duration_avg: 0,
        duration_count: 0,
        duration_max: 0,
        active_instances: null,
        known_instances: null,
      },
    ],
  };

  it('shows a series as one row per bucket, unknown values as -, and the totals', () => {
    expect(seriesTable(page, plain).split('\n')).toEqual([
      'TIME (1h)         ATTEMPTS  OK  FAILED  SUCCESS  AVG MS  MAX MS  ACTIVE',
      '2030-01-02 10:00  4         3   1       75%      120     300     2',
      '2030-01-02 11:00  0         0   0       -        -       -       -',
      '2 buckets of 1h: 4 attempts, 1 failed',
    ]);
  });

  it('prints a series for machines as one JSON object per bucket and line', () => {
    const lines = seriesLines(page)
      .split('\n')
      .map((line) => JSON.parse(line) as unknown);
    expect(lines).toEqual(page.points.map((point) => ({ topic: 'demo', step: '1h', ...point })));
  });

  it("shows an instance's state, its uptime per window, and only the hours with something in them", () => {
    const text = instanceText(
      {
        topic: 'demo',
        id: 'i-1',
        status: 'offline',
        last_seen: t0,
        next_action_at: null,
        attempts: 5,
        successes: 4,
        failures: 1,
        uptime: { '24h': 75, '7d': 96.43, '30d': 99.95 },
        first_seen: t0,
        offline_since: t0 + 2 * hour,
        series: {
          step: '1h',
          from: t0,
          to: t0 + 3 * hour,
          points: [
            { t: t0, attempts: 5, failures: 1, offline_ms: 0 },
            { t: t0 + hour, attempts: 0, failures: 0, offline_ms: 0 },
            { t: t0 + 2 * hour, attempts: 0, failures: 0, offline_ms: 1_800_000 },
          ],
        },
      },
      plain,
      t0 + 3 * hour,
    );
    expect(text).toContain('uptime     24 h 75%   7 d 96.43%   30 d 99.95%');
    expect(text).toContain('status     offline, last seen 2030-01-02 10:00:00');
    expect(text).toContain('2030-01-02 10:00  5         1       0 ms');
    expect(text).toContain('2030-01-02 12:00  0         0       30 min');
    expect(text).toContain('(1 quiet hours not shown)');
  });
});

describe('alerts and rules', () => {
  const t0 = at(10, 0, 0);
  const active: AlertFiringData[] = [
    {
      alertId: 'rate',
      ruleId: 'rate',
      severity: 'warning',
      value: 37.5,
      activeSince: t0,
      summary: 'failure rate 37.5 % over 5 min (threshold 20 %), 24 attempts',
    },
    {
      alertId: 'down:b',
      ruleId: 'down',
      instanceId: 'b',
      severity: 'critical',
      value: 1,
      activeSince: t0 + 60_000,
      summary: 'b offline',
    },
    {
      alertId: 'down:a',
      ruleId: 'down',
      instanceId: 'a',
      severity: 'critical',
      value: 1,
      activeSince: t0 + 30_000,
      summary: 'a offline',
    },
    { alertId: 'quiet', ruleId: 'quiet', severity: 'info', value: 0, activeSince: t0, summary: 'no attempts' },
  ];
  const resolved = [
    {
      alertId: 'down:c',
      ruleId: 'down',
      instanceId: 'c',
      severity: 'critical' as const,
      value: 0,
      activeSince: t0 - 90_000,
      resolvedAt: t0 - 30_000,
      summary: 'c back',
    },
    {
      alertId: 'down:d',
      ruleId: 'down',
      instanceId: 'd',
      severity: 'critical' as const,
      value: 0,
      activeSince: t0 - 90_000,
      resolvedAt: t0,
      summary: 'd back',
    },
  ];

  it('shows the firing alerts, critical before warning before info, the longest firing first; then the resolved, newest first', () => {
    expect(alertsText('demo', active, resolved, plain, t0 + 120_000).split('\n')).toEqual([
      'demo: 4 firing',
      '',
      'SEVERITY  ALERT     SINCE                FOR         SUMMARY',
      'critical  down · a  2030-01-02 10:00:30  1 min 30 s  a offline',
      'critical  down · b  2030-01-02 10:01:00  1 min       b offline',
      'warning   rate      2030-01-02 10:00:00  2 min       failure rate 37.5 % over 5 min (threshold 20 %), 24 attempts',
      'info      quiet     2030-01-02 10:00:00  2 min       no attempts',
      '',
      'recently resolved',
      'STATE     ALERT     RESOLVED             AFTER       SUMMARY',
      'resolved  down · d  2030-01-02 10:00:00  1 min 30 s  d back',
      'resolved  down · c  2030-01-02 09:59:30  1 min       c back',
    ]);
    expect(alertsText('demo', [], [], plain)).toBe('demo: no alert firing');
  });

  it('prints alerts for machines as one JSON object per line with topic and state', () => {
    const lines = alertsLines('demo', active, resolved.slice(0, 1))
      .split('\n')
      .map((line) => JSON.parse(line) as { alertId: string; state: string; topic: string });
    expect(lines.map((l) => [l.topic, l.alertId, l.state])).toEqual([
      ['demo', 'down:a', 'firing'],
      ['demo', 'down:b', 'firing'],
      ['demo', 'rate', 'firing'],
      ['demo', 'quiet', 'firing'],
      ['demo', 'down:c', 'resolved'],
    ]);
  });

  it('shows rules with their condition for people, or how to make one', () => {
    expect(ruleCondition({ windowMs: 300_000, thresholdPct: 20, minAttempts: 10 })).toBe(
      'window 5 min, threshold 20%, minAttempts 10',
    );
    expect(ruleCondition({})).toBe('-');
    const text = rulesTable(
      'demo',
      [
        {
          ruleId: 'offline',
          kind: 'instance_offline',
          params: {},
          forMs: 10_000,
          severity: 'critical',
          channels: ['ops'],
          groupWaitMs: 10_000,
          repeatIntervalMs: 0,
        },
      ],
      plain,
    );
    expect(text.split('\n')[1]).toBe('offline  instance_offline  -          10.0 s  critical  ops');
    expect(rulesTable('demo', [], plain)).toContain('PUT /api/v1/topics/demo/rules/<id>');
    expect([span(7_200_000), span(7 * 86_400_000), span(90_000)]).toEqual(['2 h', '7 d', '1 min 30 s']);
  });
});
