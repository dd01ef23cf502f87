// The alerts REST API through a built gateway: rules as events of the log, channels with masked secrets, silences, roles, and bad input refused naming the field with nothing appended.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startPulse, type PulseTestStack } from '#pulse/testing';

let pulse: PulseTestStack;
let admin: string;
let viewer: string;

beforeAll(async () => {
  // Three rules per topic, so that the limit is reached in a few requests; no other test here sets more than one.
  pulse = await startPulse({ gateways: 1, workers: 0, auth: true, env: { PULSE_MAX_RULES_PER_TOPIC: '3' } });
  admin = await pulse.token({ sub: 'ops', role: 'admin' });
  viewer = await pulse.token({ sub: 'eve', role: 'viewer', topics: ['*'] });
});
afterAll(async () => {
  await pulse?.stop();
});

async function call<T = Record<string, unknown>>(
  method: string,
  path: string,
  body?: unknown,
  token = admin,
): Promise<{ status: number; body: T }> {
  const response = await fetch(`${pulse.urls[0]}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as T };
}

/** The paths a 400 names. */
const paths = (body: unknown) => (body as { issues?: { path: string }[] }).issues?.map((issue) => issue.path);

describe('alerts REST API', () => {
  it('stores channels with secrets masked, refusing a URL that is not http(s)', async () => {
    const bad = await call('PUT', '/api/v1/channels/ops', {
      type: 'webhook',
      url: 'ftp://example.com/x',
      secret: 's'.repeat(32),
    });
    expect(bad.status).toBe(400);
    expect(paths(bad.body)).toEqual(['url']);
    // fetch cannot send to a URL with credentials: stored, every notification would fail (and show the password).
    for (const [type, extra] of [
      ['webhook', { secret: 's'.repeat(32) }],
      ['slack', {}],
    ] as const) {
      const withCredentials = await call('PUT', '/api/v1/channels/creds', {
        type,
        url: 'http://alice:s3cret@127.0.0.1:9/hook',
        ...extra,
      });
      expect({ status: withCredentials.status, paths: paths(withCredentials.body) }).toEqual({
        status: 400,
        paths: ['url'],
      });
      expect(JSON.stringify(withCredentials.body)).toContain('without a user name or password');
    }
    const put = await call('PUT', '/api/v1/channels/ops', {
      type: 'webhook',
      url: 'http://127.0.0.1:9/hook',
      secret: 'a-secret-of-32-characters-long!!',
    });
    expect(put).toEqual({
      status: 200,
      body: { type: 'webhook', url: 'http://127.0.0.1:9/hook', secret: '***', channelId: 'ops' },
    });
    const list = await call<unknown[]>('GET', '/api/v1/channels');
    expect(JSON.stringify(list.body)).not.toContain('a-secret-of-32');
    expect((await call('GET', '/api/v1/channels', undefined, viewer)).status).toBe(403);
    expect((await call('POST', '/api/v1/channels/nope/test')).status).toBe(404);
  });

  it('appends rule.set and rule.removed, fills defaults, lets viewers read and only admins change', async () => {
    const topic = `rules-${randomUUID().slice(0, 8)}`;
    const put = await call('PUT', `/api/v1/topics/${topic}/rules/errors`, {
      kind: 'failure_rate',
      params: { windowMs: 300_000, thresholdPct: 20 },
      channels: ['ops'],
    });
    expect(put.status).toBe(200);
    expect(put.body).toEqual({
      seq: 1,
      rule: {
        ruleId: 'errors',
        kind: 'failure_rate',
        params: { windowMs: 300_000, thresholdPct: 20, minAttempts: 1 },
        forMs: 0,
        severity: 'warning',
        channels: ['ops'],
        groupWaitMs: 10_000,
        repeatIntervalMs: 0,
      },
    });
    expect((await call('PUT', `/api/v1/topics/${topic}/rules/x`, { kind: 'instance_offline' }, viewer)).status).toBe(
      403,
    );
    const list = await call<{ rules: { ruleId: string; setAt: number }[] }>(
      'GET',
      `/api/v1/topics/${topic}/rules`,
      undefined,
      viewer,
    );
    expect(list.status).toBe(200);
    expect(list.body.rules.map((rule) => rule.ruleId)).toEqual(['errors']);
    expect((await call('GET', `/api/v1/topics/${topic}/snapshot`)).body).toMatchObject({ seq: 1, alerts: [] });
    expect((await call('DELETE', `/api/v1/topics/${topic}/rules/errors`)).body).toEqual({ seq: 2 });
    expect((await call('DELETE', `/api/v1/topics/${topic}/rules/errors`)).status).toBe(404);
    expect((await pulse.log(topic)).map((event) => event.type)).toEqual(['rule.set', 'rule.removed']);
  });

  it.each([
    ['an unknown kind', 'kind', { kind: 'cpu_high' }],
    ['missing params', 'params.thresholdPct', { kind: 'failure_rate', params: { windowMs: 300_000 } }],
    [
      'a percent out of range',
      'params.thresholdPct',
      { kind: 'failure_rate', params: { windowMs: 300_000, thresholdPct: 150 } },
    ],
    ['a window that is not whole minutes', 'params.windowMs', { kind: 'no_attempts', params: { windowMs: 90_000 } }],
    ['an unknown param', 'params', { kind: 'instance_offline', params: { status: 'x' } }],
    ['a negative forMs', 'forMs', { kind: 'instance_offline', forMs: -1 }],
    ['an unknown channel', 'channels.1', { kind: 'instance_offline', channels: ['ops', 'pager'] }],
    ['a lone UTF-16 surrogate in its description', 'description', { kind: 'instance_offline', description: 'x\ud83d' }],
  ])('refuses a rule with %s, naming %s, appending nothing', async (_what, path, body) => {
    const topic = `bad-${randomUUID().slice(0, 8)}`;
    const answer = await call('PUT', `/api/v1/topics/${topic}/rules/r1`, body);
    expect(answer.status).toBe(400);
    expect(paths(answer.body)).toEqual([path]);
    expect(await pulse.log(topic)).toEqual([]);
  });

  it('refuses a new rule past PULSE_MAX_RULES_PER_TOPIC, naming the limit, but replaces a rule there and takes one after a removal', async () => {
    const topic = `many-${randomUUID().slice(0, 8)}`;
    const rule = { kind: 'instance_offline' };
    for (const id of ['r1', 'r2', 'r3'])
      expect((await call('PUT', `/api/v1/topics/${topic}/rules/${id}`, rule)).status).toBe(200);
    const refused = await call('PUT', `/api/v1/topics/${topic}/rules/r4`, rule);
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ code: 'BAD_REQUEST', reason: 'RULE_LIMIT' });
    expect(paths(refused.body)).toEqual(['ruleId']);
    expect(refused.body.message).toContain(`topic ${topic} holds 3 rules and PULSE_MAX_RULES_PER_TOPIC is 3`);
    expect((await pulse.log(topic)).map((event) => event.type)).toEqual(['rule.set', 'rule.set', 'rule.set']);
    // A rule that exists may change at the limit.
    expect((await call('PUT', `/api/v1/topics/${topic}/rules/r2`, { ...rule, forMs: 60_000 })).status).toBe(200);
    expect((await call('DELETE', `/api/v1/topics/${topic}/rules/r1`)).status).toBe(200);
    expect((await call('PUT', `/api/v1/topics/${topic}/rules/r4`, rule)).status).toBe(200);
    const { body } = await call<{ rules: { ruleId: string }[] }>('GET', `/api/v1/topics/${topic}/rules`);
    expect(body.rules.map((known) => known.ruleId)).toEqual(['r2', 'r3', 'r4']);
  });

  it('creates, lists and deletes silences; refuses an end before the start, a cron that does not parse, an unknown time zone', async () => {
    const now = Date.now();
    const refused = [
      [{ matchers: {}, startsAt: now, endsAt: now - 1, comment: 'x' }, 'endsAt'],
      [{ matchers: {}, cron: '61 * * * *', durationMs: 3_600_000, comment: 'x' }, 'cron'],
      [{ matchers: {}, cron: '0 23 * * *', durationMs: 3_600_000, timeZone: 'Mars/Olympus', comment: 'x' }, 'timeZone'],
      [{ matchers: {}, cron: '0 23 * * *', comment: 'x' }, 'durationMs'],
    ] as const;
    for (const [body, path] of refused) {
      const answer = await call('POST', '/api/v1/silences', body);
      expect([answer.status, paths(answer.body)]).toEqual([400, [path]]);
    }
    const created = await call<{ id: string }>('POST', '/api/v1/silences', {
      matchers: { ruleId: 'errors' },
      cron: '0 23 * * *',
      durationMs: 7_200_000,
      timeZone: 'Europe/Paris',
      comment: 'nightly backup',
    });
    expect(created.status).toBe(201);
    const list = await call<{ id: string; createdBy: string }[]>('GET', '/api/v1/silences', undefined, viewer);
    expect(list.body).toEqual([
      expect.objectContaining({ id: created.body.id, createdBy: 'ops', comment: 'nightly backup' }),
    ]);
    expect(
      (await call('POST', '/api/v1/silences', { matchers: {}, endsAt: now + 1000, comment: 'x' }, viewer)).status,
    ).toBe(403);
    expect((await call('DELETE', `/api/v1/silences/${created.body.id}`)).status).toBe(200);
    expect((await call('DELETE', `/api/v1/silences/${created.body.id}`)).status).toBe(404);
  });
});
