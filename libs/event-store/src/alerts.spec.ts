// Alert evaluation in the tick against a real redis-server: pending, firing, resolved, grouping, idempotency, rebuild.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { emptyState, foldEvent, alertsOf, parseRuleBody, type PulseEvent, type Rule } from '#pulse/contracts';
import { EventStore } from './event-store.js';
import { KEY, topicKeys } from './keys.js';

const url = process.env.PULSE_TEST_REDIS_URL!;
let redis: Redis;
beforeAll(() => {
  redis = new Redis(url, { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  await redis.quit();
});
const uniqueTopic = () => `a-${randomUUID().slice(0, 12)}`;

function rule(ruleId: string, body: unknown): Rule {
  const parsed = parseRuleBody(ruleId, body);
  if (!parsed.success) throw new Error(parsed.error.message);
  return parsed.data;
}

async function wholeLog(store: EventStore, topic: string): Promise<PulseEvent[]> {
  return (await store.readAfter(topic, 0, 10_000))!.events;
}

/** A store on a clock the test moves, and a tick at that clock. */
function setup(retention = 100_000) {
  const clock = { now: Date.UTC(2026, 0, 1, 12, 0, 0) };
  const store = new EventStore(redis, {
    retention,
    idempotencyWindowMs: 60_000,
    now: () => clock.now,
    appendDeadlineMs: 0,
  });
  const tick = (topic: string, ttl = 10_000) =>
    store.tick(topic, { tickAt: clock.now, nextTickAt: clock.now + 1000, instanceTtlMs: ttl });
  return { clock, store, tick };
}

const types = (events: PulseEvent[]) =>
  events
    .filter((event) => event.type.startsWith('alert.'))
    .map((event) => `${event.type} ${(event.data as { alertId: string }).alertId}`);

describe('alert evaluation in the tick', () => {
  it('holds instance_offline pending for forMs, fires each instance into one group, resolves them when they return', async () => {
    const { clock, store, tick } = setup();
    const topic = uniqueTopic();
    await store.append(
      topic,
      ['i-1', 'i-2', 'i-3'].map((instanceId) => ({ type: 'instance.heartbeat', data: { instanceId } })),
    );
    await store.append(topic, [
      {
        type: 'rule.set',
        data: rule('down', { kind: 'instance_offline', forMs: 3000, channels: ['ops'], groupWaitMs: 5000 }),
      },
    ]);
    clock.now += 1000;
    await store.append(topic, [{ type: 'instance.heartbeat', data: { instanceId: 'i-3' } }]);
    clock.now += 9500; // i-1 and i-2: 10.5 s without a heartbeat, past the TTL; i-3 9.5 s
    const pendingSince = clock.now;
    await tick(topic);
    expect(types(await wholeLog(store, topic))).toEqual([]);
    clock.now += 2000;
    await tick(topic); // i-3 goes offline now; i-1 and i-2 pending for 2 s
    expect(types(await wholeLog(store, topic))).toEqual([]);
    clock.now += 1000;
    await tick(topic); // i-1, i-2 pending 3 s: fire
    clock.now += 2000;
    await tick(topic); // i-3 pending 3 s: fires, within the group's 5 s
    const log = await wholeLog(store, topic);
    expect(types(log)).toEqual(['alert.firing down:i-1', 'alert.firing down:i-2', 'alert.firing down:i-3']);
    const firing = log.find((event) => event.type === 'alert.firing')!;
    expect(firing.data).toMatchObject({
      ruleId: 'down',
      instanceId: 'i-1',
      severity: 'warning',
      activeSince: pendingSince,
    });
    expect((firing.data as { summary: string }).summary).toMatch(/^instance i-1 offline, last seen \d+(\.\d+)? s ago$/);

    const outbox = await store.alerts.outbox(topic);
    expect(outbox).toEqual([
      expect.objectContaining({ kind: 'firing', seq: firing.seq, ruleId: 'down', channels: ['ops'] }),
    ]);
    const members = await store.alerts.closeGroup(topic, firing.seq);
    expect(members.map((event) => (event.data as { alertId: string }).alertId)).toEqual([
      'down:i-1',
      'down:i-2',
      'down:i-3',
    ]);
    // As an earlier build kept the group (member seqs only): the same members, read from the log.
    const key = `${topicKeys(topic)[KEY.alertx]!}:${firing.seq}`;
    await redis.hdel(key, ...Object.keys(await redis.hgetall(key)).filter((field) => field.startsWith('e:')));
    expect(await store.alerts.closeGroup(topic, firing.seq)).toEqual(members);

    const snapshot = await store.snapshot(topic);
    expect(snapshot!.alerts!.map((alert) => alert.alertId)).toEqual(['down:i-1', 'down:i-2', 'down:i-3']);

    // A retried tick (same scheduled time) transitions nothing.
    const again = await store.tick(topic, { tickAt: clock.now, nextTickAt: clock.now + 1000, instanceTtlMs: 10_000 });
    expect(again.appended).toBe(false);

    clock.now += 1000;
    await store.append(
      topic,
      ['i-1', 'i-2', 'i-3'].map((instanceId) => ({ type: 'instance.heartbeat', data: { instanceId } })),
    );
    await tick(topic);
    const after = await wholeLog(store, topic);
    expect(types(after).slice(3)).toEqual([
      'alert.resolved down:i-1',
      'alert.resolved down:i-2',
      'alert.resolved down:i-3',
    ]);
    expect((await store.alerts.outbox(topic)).map((entry) => entry.kind)).toEqual(['firing', 'resolved']);
    expect((await store.snapshot(topic))!.alerts).toEqual([]);

    // The fold agrees with the live projection, and a rebuild finds no drift.
    const state = emptyState();
    for (const event of after) foldEvent(state, event);
    expect(alertsOf(state)).toEqual([]);
    expect((await store.rebuild(topic))!.drift).toEqual([]);
  });

  it('holds a resolved built before its firing until the firing is delivered; groups keep to their channels', async () => {
    const { clock, store, tick } = setup();
    const topic = uniqueTopic();
    await store.append(topic, [
      { type: 'instance.heartbeat', data: { instanceId: 'i-1' } },
      { type: 'instance.heartbeat', data: { instanceId: 'i-2' } },
      { type: 'rule.set', data: rule('down', { kind: 'instance_offline', channels: ['a'], groupWaitMs: 10_000 }) },
    ]);
    clock.now += 11_000;
    await store.append(topic, [{ type: 'instance.heartbeat', data: { instanceId: 'i-2' } }]);
    await tick(topic); // i-1 fires into a group for channel a, due in 10 s
    // The rule now notifies channel b: i-2's firing, within that wait, opens a group of its own.
    await store.append(topic, [
      { type: 'rule.set', data: rule('down', { kind: 'instance_offline', channels: ['b'], groupWaitMs: 10_000 }) },
    ]);
    clock.now += 11_000;
    await tick(topic);
    expect((await store.alerts.outbox(topic)).map((entry) => [entry.kind, entry.channels])).toEqual([
      ['firing', ['a']],
      ['firing', ['b']],
    ]);
    // The rule is removed: the resolveds are due at once, before the firings' groups are.
    await store.append(topic, [{ type: 'rule.removed', data: { ruleId: 'down' } }]);
    clock.now += 1000;
    await tick(topic);
    const log = await wholeLog(store, topic);
    const episode = (alertId: string) => {
      const fired = log.find((event) => event.type === 'alert.firing' && event.data.alertId === alertId)!;
      return { alertId, activeSince: fired.type === 'alert.firing' ? fired.data.activeSince : 0 };
    };
    // Built first, the resolved waits (its job is retried) rather than leave i-1's firing without it.
    await expect(store.alerts.notified(topic, 'a', [episode('down:i-1')])).rejects.toThrow(/not delivered yet/);
    // Built, it still waits: until the firing was delivered, the resolved could overtake it.
    await store.alerts.settleNotified(topic, 'a', [episode('down:i-1')], []);
    await expect(store.alerts.notified(topic, 'a', [episode('down:i-1')])).rejects.toThrow(/not delivered yet/);
    await store.alerts.delivered(topic, 'a', [episode('down:i-1')]);
    expect(await store.alerts.notified(topic, 'a', [episode('down:i-1')])).toEqual(new Set(['down:i-1']));
    // A firing dropped by a silence settles too: its resolved is not sent there.
    await store.alerts.settleNotified(topic, 'b', [], [episode('down:i-2')]);
    expect(await store.alerts.notified(topic, 'b', [episode('down:i-2')])).toEqual(new Set());
  });

  it('fires failure_rate at the threshold exactly and resolves below it', async () => {
    const { clock, store, tick } = setup();
    const topic = uniqueTopic();
    await store.append(topic, [
      {
        type: 'rule.set',
        data: rule('errors', {
          kind: 'failure_rate',
          params: { windowMs: 300_000, thresholdPct: 20, minAttempts: 10 },
        }),
      },
    ]);
    const attempts = (n: number, outcome: 'success' | 'failure') =>
      store.append(
        topic,
        Array.from({ length: n }, () => ({ type: 'attempt.recorded', data: { instanceId: 'i-1', outcome } })),
      );
    await attempts(7, 'success');
    await attempts(2, 'failure');
    await tick(topic); // 9 attempts: below minAttempts
    await attempts(1, 'success');
    clock.now += 1000;
    await tick(topic); // 2 of 10 = 20 %: fires
    let log = await wholeLog(store, topic);
    expect(types(log)).toEqual(['alert.firing errors']);
    expect(log.find((event) => event.type === 'alert.firing')!.data).toMatchObject({
      value: 20,
      threshold: 20,
      summary: 'failure rate 20 % over 5 min (threshold 20 %), 10 attempts',
    });
    await attempts(1, 'success');
    clock.now += 1000;
    await tick(topic); // 2 of 11 = 18.18 %: resolves
    log = await wholeLog(store, topic);
    expect(types(log)).toEqual(['alert.firing errors', 'alert.resolved errors']);
    expect(log.at(-4)!.data).toMatchObject({
      value: 18.18,
      summary: 'failure rate 18.18 % over 5 min (threshold 20 %), 11 attempts',
    });
    // The window moves on: five minutes later the old minute is out of it.
    expect((await store.rebuild(topic))!.drift).toEqual([]);
  });

  it('keeps attempts of the minute before in a failure_rate window across the minute boundary', async () => {
    const { clock, store, tick } = setup();
    const topic = uniqueTopic();
    await store.append(topic, [
      {
        type: 'rule.set',
        data: rule('errors', { kind: 'failure_rate', params: { windowMs: 60_000, thresholdPct: 50, minAttempts: 4 } }),
      },
    ]);
    clock.now -= 1000; // 11:59:59
    await store.append(topic, [
      ...(['success', 'success', 'failure', 'failure'] as const).map((outcome) => ({
        type: 'attempt.recorded',
        data: { instanceId: 'i-1', outcome },
      })),
    ]);
    clock.now += 1500; // 12:00:00.5: a new minute, its bucket empty
    await tick(topic);
    const log = await wholeLog(store, topic);
    expect(types(log)).toEqual(['alert.firing errors']);
    expect(log.find((event) => event.type === 'alert.firing')!.data).toMatchObject({
      summary: 'failure rate 50 % over 1 min (threshold 50 %), 4 attempts',
    });
  });

  it('gives each window rule its own window when several share the minutes of one tick', async () => {
    const { clock, store, tick } = setup();
    const topic = uniqueTopic();
    const failureRate = (windowMs: number, thresholdPct: number) =>
      rule('x', { kind: 'failure_rate', params: { windowMs, thresholdPct } });
    // Evaluated in id order: a short window first, then a longer one that extends its sums, a short
    // one inside them, and long ones again.
    await store.append(topic, [
      { type: 'rule.set', data: { ...failureRate(60_000, 90), ruleId: '0-short' } },
      { type: 'rule.set', data: { ...failureRate(300_000, 50), ruleId: 'a-long' } },
      { type: 'rule.set', data: { ...failureRate(60_000, 50), ruleId: 'b-short' } },
      { type: 'rule.set', data: { ...failureRate(300_000, 20), ruleId: 'c-long' } },
      { type: 'rule.set', data: { ...rule('d-quiet', { kind: 'no_attempts', params: { windowMs: 120_000 } }) } },
    ]);
    const attempts = (outcomes: ('success' | 'failure')[]) =>
      store.append(
        topic,
        outcomes.map((outcome) => ({ type: 'attempt.recorded', data: { instanceId: 'i-1', outcome } })),
      );
    clock.now += 30_000; // 12:00:30
    await attempts(Array.from({ length: 10 }, () => 'success'));
    clock.now += 240_000; // 12:04:30
    await attempts(['failure', 'failure', 'failure', 'success']);
    await tick(topic);
    const firing = (await wholeLog(store, topic)).filter((event) => event.type === 'alert.firing');
    expect(firing.map((event) => event.data)).toEqual([
      expect.objectContaining({
        alertId: 'b-short',
        value: 75,
        summary: 'failure rate 75 % over 1 min (threshold 50 %), 4 attempts',
      }),
      expect.objectContaining({
        alertId: 'c-long',
        value: 21.43,
        summary: 'failure rate 21.43 % over 5 min (threshold 20 %), 14 attempts',
      }),
    ]);
  });

  it('resolves the alerts of a removed rule, and evaluates instances_below and no_attempts', async () => {
    const { clock, store, tick } = setup();
    const topic = uniqueTopic();
    await store.append(topic, [{ type: 'instance.heartbeat', data: { instanceId: 'i-1' } }]);
    await store.append(topic, [
      { type: 'rule.set', data: rule('few', { kind: 'instances_below', params: { min: 2 }, severity: 'critical' }) },
      { type: 'rule.set', data: rule('quiet', { kind: 'no_attempts', params: { windowMs: 60_000 } }) },
    ]);
    await tick(topic);
    clock.now += 61_000;
    await store.append(topic, [{ type: 'instance.heartbeat', data: { instanceId: 'i-1' } }]);
    await tick(topic);
    let log = await wholeLog(store, topic);
    expect(types(log)).toEqual(['alert.firing few', 'alert.firing quiet']);
    expect(log.find((event) => event.type === 'alert.firing')!.data).toMatchObject({
      severity: 'critical',
      value: 1,
      threshold: 2,
      summary: '1 instances active (minimum 2)',
    });
    await store.append(topic, [
      { type: 'rule.removed', data: { ruleId: 'few' } },
      { type: 'attempt.recorded', data: { instanceId: 'i-1', outcome: 'success' } },
    ]);
    clock.now += 1000;
    await tick(topic);
    log = await wholeLog(store, topic);
    expect(types(log)).toEqual([
      'alert.firing few',
      'alert.firing quiet',
      'alert.resolved few',
      'alert.resolved quiet',
    ]);
    expect((await store.rules(topic)).rules.map((r) => r.ruleId)).toEqual(['quiet']);
    expect((await store.rules(topic)).rules[0]!.channels).toEqual([]);
    expect((await store.rebuild(topic))!.drift).toEqual([]);
  });

  it('keeps a notification group in its bookkeeping until the group ends: a removed rule leaves nothing there', async () => {
    const { clock, store, tick } = setup();
    const topic = uniqueTopic();
    const groups = async () =>
      Object.keys(await redis.hgetall(topicKeys(topic)[KEY.alertx]!))
        .filter((field) => field.startsWith('g:'))
        .sort();
    await store.append(topic, [
      { type: 'instance.heartbeat', data: { instanceId: 'i-1' } },
      {
        type: 'rule.set',
        data: rule('few', {
          kind: 'instances_below',
          params: { min: 2 },
          channels: ['ops', 'pager'],
          groupWaitMs: 5000,
        }),
      },
    ]);
    await tick(topic);
    expect(await groups()).toEqual(['g:few:firing:ops,pager']);
    clock.now += 4000;
    await tick(topic); // still open: a firing of this rule would join it
    expect(await groups()).toEqual(['g:few:firing:ops,pager']);
    clock.now += 1000;
    await tick(topic); // ended
    expect(await groups()).toEqual([]);
    await store.append(topic, [{ type: 'rule.removed', data: { ruleId: 'few' } }]);
    clock.now += 1000;
    await tick(topic);
    const log = await wholeLog(store, topic);
    expect(types(log)).toEqual(['alert.firing few', 'alert.resolved few']);
    // The resolved of a removed rule is sent at once (no rule, no wait): its group opened and ended in this tick.
    expect(await groups()).toEqual([]);
    // Its members stay for the worker, under the group's own key, until it expires.
    const resolved = log.find((event) => event.type === 'alert.resolved')!;
    expect(await redis.hget(`${topicKeys(topic)[KEY.alertx]!}:${resolved.seq}`, 'm')).toBe(String(resolved.seq));
  });

  it("keeps its bookkeeping apart whatever the ids: rules named g or n, a channel named p, instance ids with ':'", async () => {
    // The bookkeeping hash holds each alert's a:<alert id>:p|r|c beside the groups'
    // g:<rule>:<kind>:<channels> and the marks' n:<channel>:<alert id>:<since>.
    const { clock, store, tick } = setup();
    const topic = uniqueTopic();
    await store.append(topic, [
      { type: 'instance.heartbeat', data: { instanceId: 'h:1' } },
      { type: 'instance.heartbeat', data: { instanceId: 'h:2' } },
      {
        type: 'rule.set',
        data: rule('g', { kind: 'instance_offline', forMs: 1000, channels: ['p'], groupWaitMs: 5000 }),
      },
      {
        type: 'rule.set',
        data: rule('n', { kind: 'instances_below', params: { min: 3 }, forMs: 2000, channels: ['p'] }),
      },
    ]);
    await tick(topic); // n pending
    clock.now += 2000;
    await store.append(topic, [{ type: 'instance.heartbeat', data: { instanceId: 'h:2' } }]);
    await tick(topic); // n fires
    clock.now += 9000;
    await tick(topic); // h:1 offline: g:h:1 pending
    clock.now += 1000;
    await tick(topic); // g:h:1 fires into a group for channel p, open for 5 s
    clock.now += 1000;
    await tick(topic); // h:2 offline: pending
    clock.now += 1000;
    await tick(topic); // g:h:2 fires and joins that group
    expect(types(await wholeLog(store, topic))).toEqual(['alert.firing n', 'alert.firing g:h:1', 'alert.firing g:h:2']);
    expect((await store.alerts.outbox(topic)).map((entry) => [entry.kind, entry.ruleId])).toEqual([
      ['firing', 'n'],
      ['firing', 'g'],
    ]);
    await store.append(
      topic,
      ['h:1', 'h:2', 'h:3'].map((instanceId) => ({ type: 'instance.heartbeat', data: { instanceId } })),
    );
    clock.now += 1000;
    await tick(topic);
    expect(types(await wholeLog(store, topic)).slice(3)).toEqual([
      'alert.resolved g:h:1',
      'alert.resolved g:h:2',
      'alert.resolved n',
    ]);
    expect((await store.rebuild(topic))!.drift).toEqual([]);
  });

  it("moves an earlier build's bookkeeping (<alert id>:p|r|c) to a:<alert id>:p|r|c, and keeps ticking", async () => {
    const { clock, store, tick } = setup();
    const topic = uniqueTopic();
    const alertx = topicKeys(topic)[KEY.alertx]!;
    await store.append(topic, [
      { type: 'instance.heartbeat', data: { instanceId: 'h:1' } },
      { type: 'rule.set', data: rule('g', { kind: 'instance_offline', channels: ['ops'], groupWaitMs: 0 }) },
    ]);
    clock.now += 11_000;
    await tick(topic); // g:h:1 fires, notified on ops
    // As an earlier build left it: the alert's fields without a:.
    const fields = await redis.hgetall(alertx);
    for (const name of Object.keys(fields).filter((name) => name.startsWith('a:'))) {
      await redis.hdel(alertx, name);
      await redis.hset(alertx, name.slice(2), fields[name]!);
    }
    expect(Object.keys(await redis.hgetall(alertx)).sort()).toEqual(expect.arrayContaining(['g:h:1:c', 'g:h:1:r']));
    await store.append(topic, [{ type: 'instance.heartbeat', data: { instanceId: 'h:1' } }]);
    clock.now += 1000;
    await tick(topic);
    expect(types(await wholeLog(store, topic))).toEqual(['alert.firing g:h:1', 'alert.resolved g:h:1']);
    // Its resolved goes where its firing went, as the moved field says.
    expect((await store.alerts.outbox(topic)).map((entry) => [entry.kind, entry.channels])).toEqual([
      ['firing', ['ops']],
      ['resolved', ['ops']],
    ]);
    expect(Object.keys(await redis.hgetall(alertx)).filter((name) => /^g:h:1:/.test(name))).toEqual([]);
  });

  it('resolves the alert of an instance forgotten while offline as removed, not as recovered', async () => {
    const { clock, store } = setup();
    const topic = uniqueTopic();
    const tick = () =>
      store.tick(topic, {
        tickAt: clock.now,
        nextTickAt: clock.now + 1000,
        instanceTtlMs: 10_000,
        instanceForgetMs: 60_000,
      });
    await store.append(topic, [
      { type: 'instance.heartbeat', data: { instanceId: 'gone' } },
      { type: 'instance.heartbeat', data: { instanceId: 'back' } },
      { type: 'rule.set', data: rule('down', { kind: 'instance_offline', params: {} }) },
    ]);
    clock.now += 11_000;
    await tick();
    clock.now += 1000;
    await store.append(topic, [{ type: 'instance.heartbeat', data: { instanceId: 'back' } }]);
    clock.now += 120_000;
    await store.append(topic, [{ type: 'instance.heartbeat', data: { instanceId: 'back' } }]);
    await tick();
    const log = await wholeLog(store, topic);
    expect(log.filter((event) => event.type === 'instance.removed').map((event) => event.data.instanceId)).toEqual([
      'gone',
    ]);
    const summaries = Object.fromEntries(
      log.filter((event) => event.type === 'alert.resolved').map((event) => [event.data.alertId, event.data.summary]),
    );
    expect(summaries).toEqual({
      'down:gone': 'instance gone removed, not recovered (alerting for 121 s)',
      'down:back': 'instance back recovered after 121 s',
    });
  });

  it("keeps a group's members for its notification even once the log was trimmed past them", async () => {
    const { clock, store, tick } = setup(20);
    const topic = uniqueTopic();
    await store.append(topic, [
      { type: 'instance.heartbeat', data: { instanceId: 'i-1' } },
      { type: 'instance.heartbeat', data: { instanceId: 'i-2' } },
      {
        type: 'rule.set',
        data: rule('down', { kind: 'instance_offline', params: {}, channels: ['ops'], groupWaitMs: 60_000 }),
      },
    ]);
    clock.now += 11_000;
    await tick(topic);
    const [group] = await store.alerts.outbox(topic);
    // A busy topic: the group's notification is built after the log moved far past its members.
    for (let i = 0; i < 5; i++)
      await store.append(
        topic,
        Array.from({ length: 20 }, () => ({
          type: 'attempt.recorded' as const,
          data: { instanceId: 'i-3', outcome: 'success' as const },
        })),
      );
    expect((await store.readAfter(topic, 0, 10))!.events[0]!.seq).toBeGreaterThan(group!.seq + 1);
    const members = await store.alerts.closeGroup(topic, group!.seq);
    expect(members.map((member) => [member.type, member.data.alertId, member.data.summary])).toEqual([
      ['alert.firing', 'down:i-1', expect.stringMatching(/^instance i-1 offline/)],
      ['alert.firing', 'down:i-2', expect.stringMatching(/^instance i-2 offline/)],
    ]);
    // A group an earlier build opened kept only the seqs: read from the log, what it still holds.
    const key = `${topicKeys(topic)[KEY.alertx]!}:${group!.seq}`;
    await redis.hdel(key, ...Object.keys(await redis.hgetall(key)).filter((field) => field.startsWith('e:')));
    expect(await store.alerts.closeGroup(topic, group!.seq)).toEqual([]);
  });

  it('opens a new notification group when the open one has lost its hash, and keeps ticking', async () => {
    const { clock, store, tick } = setup();
    const topic = uniqueTopic();
    await store.alerts.putChannel({
      channelId: `ops-${topic}`,
      type: 'webhook',
      url: 'http://127.0.0.1:9/',
      secret: 'x'.repeat(16),
    });
    await store.append(topic, [
      { type: 'instance.heartbeat', data: { instanceId: 'i-1' } },
      { type: 'instance.heartbeat', data: { instanceId: 'i-2' } },
      {
        type: 'rule.set',
        data: rule('down', { kind: 'instance_offline', params: {}, channels: [`ops-${topic}`], groupWaitMs: 60_000 }),
      },
    ]);
    clock.now += 5000;
    await store.append(topic, [{ type: 'instance.heartbeat', data: { instanceId: 'i-2' } }]);
    clock.now += 6000;
    await tick(topic);
    const first = (await store.alerts.outbox(topic)).map((entry) => entry.seq);
    expect(first).toHaveLength(1);
    // The group's hash is gone (evicted, say) while the group is still open.
    await redis.del(`${topicKeys(topic)[KEY.alertx]!}:${first[0]}`);
    clock.now += 10_000;
    await tick(topic);
    expect(types(await wholeLog(store, topic))).toEqual(['alert.firing down:i-1', 'alert.firing down:i-2']);
    // i-2's firing could not join: it is in a group of its own, notified in turn.
    const seqs = (await store.alerts.outbox(topic)).map((entry) => entry.seq);
    expect(seqs).toHaveLength(2);
    expect(await store.alerts.closeGroup(topic, seqs[1]!)).toEqual([
      expect.objectContaining({ type: 'alert.firing', data: expect.objectContaining({ alertId: 'down:i-2' }) }),
    ]);
  });

  it("resolves a rule's alerts when it is set again with a kind of the other sort, and keeps ticking", async () => {
    const { clock, store, tick } = setup();
    const topic = uniqueTopic();
    await store.append(topic, [
      { type: 'instance.heartbeat', data: { instanceId: 'i-1' } },
      { type: 'rule.set', data: rule('r', { kind: 'instances_below', params: { min: 2 } }) },
    ]);
    await tick(topic);
    expect(types(await wholeLog(store, topic))).toEqual(['alert.firing r']);
    // The same id, now per instance: the topic alert "r" has no instance to name.
    await store.append(topic, [{ type: 'rule.set', data: rule('r', { kind: 'instance_offline', params: {} }) }]);
    clock.now += 1000;
    await tick(topic);
    clock.now += 1000;
    await tick(topic);
    const log = await wholeLog(store, topic);
    expect(types(log)).toEqual(['alert.firing r', 'alert.resolved r']);
    expect(log.find((event) => event.type === 'alert.resolved')!.data).toMatchObject({
      summary: 'rule r changed to instance_offline',
    });
    expect(log.filter((event) => event.type === 'status_update').map((event) => event.data.loop_count)).toEqual([
      1, 2, 3,
    ]);
  });

  it('asks for a reminder every repeatIntervalMs while an alert fires, once per tick however often the tick is retried', async () => {
    const { clock, store, tick } = setup();
    const topic = uniqueTopic();
    await store.append(topic, [{ type: 'instance.heartbeat', data: { instanceId: 'i-1' } }]);
    await store.append(topic, [
      {
        type: 'rule.set',
        data: rule('few', { kind: 'instances_below', params: { min: 2 }, channels: ['ops'], repeatIntervalMs: 60_000 }),
      },
    ]);
    await tick(topic);
    const kinds = async () => (await store.alerts.outbox(topic)).map((entry) => entry.kind);
    expect(await kinds()).toEqual(['firing']);
    clock.now += 59_000;
    await store.append(topic, [{ type: 'instance.heartbeat', data: { instanceId: 'i-1' } }]);
    await tick(topic);
    expect(await kinds()).toEqual(['firing']);
    clock.now += 1000;
    const due = (await store.head(topic))!.head;
    await tick(topic);
    await tick(topic); // the same scheduled time again: nothing more
    const outbox = await store.alerts.outbox(topic);
    expect(outbox.map((entry) => entry.kind)).toEqual(['firing', 'reminder']);
    // Its seq is the log's head when it came due (the tick appends nothing before it here).
    expect(outbox[1]).toMatchObject({ alertId: 'few', tickAt: clock.now, channels: ['ops'], seq: due });
    await store.alerts.acknowledge(
      topic,
      outbox.map((entry) => entry.id),
    );
    expect(await kinds()).toEqual([]);
  });
});
