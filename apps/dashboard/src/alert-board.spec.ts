// The alerts card's model: firing first by severity and age, live fold of alert and rule events, recently resolved, silences, title and icon.
import { describe, expect, it } from '@jest/globals';
import type { EventType, PulseEvent, Rule } from '#pulse/contracts';
import { tokenRole } from './access-token.js';
import {
  AlertBoard,
  faviconUrl,
  pageTitle,
  RESOLVED_KEPT,
  silenceFor,
  type ActiveAlert,
  type BoardEvent,
} from './alert-board.js';
import { describeParams } from './alerts-view.js';

const firing = (
  alertId: string,
  severity: ActiveAlert['severity'],
  activeSince: number,
  extra: Partial<ActiveAlert> = {},
): ActiveAlert => ({
  alertId,
  ruleId: alertId.split(':')[0]!,
  severity,
  value: 1,
  activeSince,
  summary: `${alertId} is wrong`,
  ...extra,
});
/** A test event of `type` (its data as the test writes it, checked against that type). */
const event = <T extends EventType>(type: T, data: PulseEvent<T>['data']) => ({ type, data }) as BoardEvent;
const rule = (ruleId: string, kind: Rule['kind'], params: Rule['params'], extra: Partial<Rule> = {}): Rule => ({
  ruleId,
  kind,
  params,
  forMs: 0,
  severity: 'warning',
  channels: [],
  groupWaitMs: 10_000,
  repeatIntervalMs: 0,
  ...extra,
});

describe('AlertBoard', () => {
  it('lists critical before warning before info, the longest firing first', () => {
    const board = new AlertBoard();
    board.reset([
      firing('slow', 'info', 100),
      firing('down:b', 'critical', 300),
      firing('rate', 'warning', 50),
      firing('down:a', 'critical', 200),
      firing('down:c', 'critical', 200),
    ]);
    expect(board.firing.map((a) => a.alertId)).toEqual(['down:a', 'down:c', 'down:b', 'rate', 'slow']);
    expect(board.firingCount).toBe(5);
  });

  it('folds alert.firing and alert.resolved on the snapshot, keeping the resolved ones newest first with their severity', () => {
    const board = new AlertBoard();
    board.reset([firing('down:a', 'critical', 100)]);
    expect(board.apply(event('alert.firing', firing('rate', 'warning', 150)))).toEqual({ alerts: true, rules: false });
    expect(board.firingCount).toBe(2);
    board.apply(
      event('alert.resolved', {
        alertId: 'down:a',
        ruleId: 'down',
        instanceId: 'a',
        severity: 'critical',
        activeSince: 100,
        resolvedAt: 400,
        value: 0,
        summary: 'back',
      }),
    );
    board.apply(
      event('alert.resolved', {
        alertId: 'rate',
        ruleId: 'rate',
        severity: 'warning',
        activeSince: 150,
        resolvedAt: 500,
        value: 3,
        summary: 'rate ok',
      }),
    );
    expect(board.firingCount).toBe(0);
    expect(board.resolved.map((r) => [r.alertId, r.severity])).toEqual([
      ['rate', 'warning'],
      ['down:a', 'critical'],
    ]);
    expect(board.apply(event('attempt.recorded', { instanceId: 'a', outcome: 'success' }))).toEqual({
      alerts: false,
      rules: false,
    });
  });

  it('an alert that fires again replaces its entry instead of doubling it', () => {
    const board = new AlertBoard();
    board.reset([firing('down:a', 'warning', 100)]);
    board.apply(event('alert.firing', firing('down:a', 'critical', 100)));
    expect(board.firing.map((a) => [a.alertId, a.severity])).toEqual([['down:a', 'critical']]);
  });

  it('keeps the last RESOLVED_KEPT resolved alerts, and the backfill adds older ones without doubling any', () => {
    const board = new AlertBoard();
    board.reset([]);
    const resolved = (i: number) =>
      event('alert.resolved', {
        alertId: `r${i}`,
        ruleId: 'r',
        severity: 'info',
        activeSince: i,
        resolvedAt: 1000 + i,
        value: 0,
        summary: '',
      });
    board.history([resolved(1), resolved(2)]);
    board.apply(resolved(3));
    board.history([resolved(2), resolved(3)]);
    expect(board.resolved.map((r) => r.alertId)).toEqual(['r3', 'r2', 'r1']);
    for (let i = 4; i < 40; i++) board.apply(resolved(i));
    expect(board.resolved).toHaveLength(RESOLVED_KEPT);
    expect(board.resolved[0]!.alertId).toBe('r39');
  });

  it('takes rules from REST, and a rule event seen before the answer wins over it', () => {
    const board = new AlertBoard();
    board.reset([]);
    board.apply(event('rule.removed', { ruleId: 'gone' }));
    board.apply(event('rule.set', rule('fresh', 'no_attempts', { windowMs: 60_000 }, { severity: 'info' })));
    board.setRules([
      rule('gone', 'instance_offline', {}),
      rule('fresh', 'no_attempts', { windowMs: 1 }),
      rule('kept', 'failure_rate', { windowMs: 300_000, thresholdPct: 20, minAttempts: 10 }),
    ]);
    expect(board.rules.map((r) => [r.ruleId, r.params])).toEqual([
      ['fresh', { windowMs: 60_000 }],
      ['kept', { windowMs: 300_000, thresholdPct: 20, minAttempts: 10 }],
    ]);
    // A new snapshot starts over: the next REST answer is taken whole.
    board.reset([]);
    board.setRules([rule('gone', 'instance_offline', {})]);
    expect(board.rules.map((r) => r.ruleId)).toEqual(['gone']);
  });
});

describe('silenceFor', () => {
  const alert = { ruleId: 'down', instanceId: 'a' };
  it('matches a one-off silence in force by topic, rule and instance; the one ending last wins', () => {
    const comment = 'why';
    const silences = [
      { id: '1', matchers: { topic: 't', ruleId: 'down' }, startsAt: 0, endsAt: 2000, comment },
      { id: '2', matchers: { ruleId: 'down', instanceId: 'a' }, startsAt: 0, endsAt: 5000, comment },
      { id: '3', matchers: { instanceId: 'b' }, startsAt: 0, endsAt: 9000, comment },
      { id: '4', matchers: { topic: 'other' }, startsAt: 0, endsAt: 9000, comment },
      { id: '5', matchers: {}, startsAt: 2000, endsAt: 9000, comment },
    ];
    expect(silenceFor(alert, 't', silences, 1000)?.id).toBe('2');
    expect(silenceFor(alert, 't', silences, 5000)?.id).toBe('5');
    expect(silenceFor(alert, 't', silences.slice(0, 1), 2000)).toBeNull();
    // Without startsAt a silence starts when it was created; a recurring one is left to the server.
    expect(silenceFor(alert, 't', [{ id: 'now', matchers: {}, endsAt: 3000, createdAt: 500, comment }], 1000)?.id).toBe(
      'now',
    );
    expect(
      silenceFor(alert, 't', [{ id: 'now', matchers: {}, endsAt: 3000, createdAt: 1500, comment }], 1000),
    ).toBeNull();
    expect(silenceFor(alert, 't', [{ id: 'cron', matchers: {}, cron: '0 2 * * *', comment }], 1000)).toBeNull();
  });
});

describe('title, icon and token role', () => {
  it('puts the number firing in the title and a badge in the icon', () => {
    expect(pageTitle('demo', 0)).toBe('demo · Pulse');
    expect(pageTitle('demo', 3)).toBe('(3) demo · Pulse');
    expect(decodeURIComponent(faviconUrl(0))).not.toContain('<circle');
    expect(decodeURIComponent(faviconUrl(3))).toContain('>3</text>');
    expect(decodeURIComponent(faviconUrl(12))).toContain('>9+</text>');
  });

  it('reads the role claim of a JWT without checking it, and null from anything else', () => {
    const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    expect(tokenRole(`${part({ alg: 'HS256' })}.${part({ sub: 'ann', role: 'admin', topics: ['*'] })}.sig`)).toBe(
      'admin',
    );
    expect(tokenRole(`${part({ alg: 'HS256' })}.${part({ sub: 'ann', role: 'viewer', x: 'é?>' })}.sig`)).toBe('viewer');
    expect(tokenRole('not-a-token')).toBeNull();
    expect(tokenRole('a.!!!.c')).toBeNull();
  });

  it('describes rule params for people', () => {
    expect(describeParams({ windowMs: 300_000, thresholdPct: 20, minAttempts: 10 })).toBe(
      'window 5 min · threshold 20 % · minAttempts 10',
    );
    expect(describeParams({ status: 'error' })).toBe('status error');
    expect(describeParams({})).toBe('');
  });
});
