// `pulse rules`, `pulse alerts` and `pulse silence` as users run them (node bin/pulse.js …) against a built stack with auth, a worker evaluating the rules, and a real redis-server.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { Silence, Snapshot } from '#pulse/contracts';
import { PROJECT_ROOT } from '#pulse/stack';
import { startPulse, type PulseTestStack } from '#pulse/testing';
import { restJson } from './support/rest.js';
import { poll } from './support/wait.js';

const CLI = join(PROJECT_ROOT, 'bin', 'pulse.js');
/** An instance silent this long turns offline, and its instance_offline alert fires. */
const INSTANCE_TTL_MS = 3000;

let testStack: PulseTestStack | undefined;
let admin = '';
let viewer = '';
let keepAlive: ReturnType<typeof setInterval> | undefined;
const topic = `alerts-cli-${Date.now().toString(36)}-${process.pid}`;

beforeAll(async () => {
  testStack = await startPulse({
    gateways: 1,
    workers: 1,
    auth: true,
    env: { PULSE_TICK_MS: '500', PULSE_INSTANCE_TTL_MS: String(INSTANCE_TTL_MS), LOG_LEVEL: 'warn' },
  });
  admin = await testStack.token({ sub: 'ops', role: 'admin' });
  viewer = await testStack.token({ sub: 'eve', role: 'viewer', topics: [topic] });
}, 60_000);

afterAll(async () => {
  clearInterval(keepAlive);
  await testStack?.stop();
}, 60_000);

function stack(): PulseTestStack {
  if (!testStack) throw new Error('the stack did not start');
  return testStack;
}

/** Runs `pulse <args> --url <gateway>` to its end with `token` in PULSE_TOKEN, stdout piped (so: not a terminal). */
function pulse(args: string[], token = admin): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args, '--url', stack().urls[0]!],
      { cwd: PROJECT_ROOT, timeout: 15_000, env: { PATH: process.env.PATH ?? '', PULSE_TOKEN: token } },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
      },
    );
  });
}

const jsonLines = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);

const rest = <T>(method: string, path: string, body?: unknown) =>
  restJson<T>(stack().urls[0]!, admin, method, path, body);

const snapshot = () => rest<Snapshot>('GET', `/api/v1/topics/${topic}/snapshot`);
const beat = (instanceId: string) => ({ type: 'instance.heartbeat' as const, data: { instanceId } });

describe('pulse rules', () => {
  it('lists the rules of a topic as JSON lines when piped, none for a topic without', async () => {
    const none = await pulse(['rules', topic]);
    expect(none).toEqual({ code: 0, stdout: '', stderr: '' });
    await rest('PUT', `/api/v1/topics/${topic}/rules/offline`, { kind: 'instance_offline', severity: 'critical' });
    await rest('PUT', `/api/v1/topics/${topic}/rules/errors`, {
      kind: 'failure_rate',
      params: { windowMs: 300_000, thresholdPct: 50 },
      forMs: 60_000,
    });
    const { code, stdout, stderr } = await pulse(['rules', topic], viewer);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(jsonLines(stdout)).toEqual([
      expect.objectContaining({
        topic,
        ruleId: 'errors',
        kind: 'failure_rate',
        params: { windowMs: 300_000, thresholdPct: 50, minAttempts: 1 },
        forMs: 60_000,
        severity: 'warning',
      }),
      expect.objectContaining({ topic, ruleId: 'offline', kind: 'instance_offline', severity: 'critical' }),
    ]);
  }, 30_000);
});

describe('pulse alerts', () => {
  it('prints the firing alerts, then the resolved ones, as JSON lines', async () => {
    // x beats once and falls silent; y stays.
    await stack().publish(topic, [beat('x'), beat('y')]);
    keepAlive = setInterval(
      () =>
        void stack()
          .publish(topic, [beat('y')])
          .catch(() => undefined),
      700,
    );
    await poll(
      'offline:x to fire',
      async () => (await snapshot()).alerts?.some((alert) => alert.alertId === 'offline:x'),
      { timeoutMs: INSTANCE_TTL_MS + 20_000, pauseMs: 200 },
    );

    const firing = await pulse(['alerts', topic], viewer);
    expect(firing.stderr).toBe('');
    expect(firing.code).toBe(0);
    expect(jsonLines(firing.stdout)).toEqual([
      expect.objectContaining({
        topic,
        state: 'firing',
        alertId: 'offline:x',
        ruleId: 'offline',
        instanceId: 'x',
        severity: 'critical',
        summary: expect.any(String),
      }),
    ]);

    await stack().publish(topic, [beat('x')]);
    await poll('offline:x to resolve', async () => (await snapshot()).alerts?.length === 0, {
      timeoutMs: 20_000,
      pauseMs: 200,
    });
    const resolved = await pulse(['alerts', topic, '--json'], viewer);
    expect(resolved.code).toBe(0);
    expect(jsonLines(resolved.stdout)).toEqual([
      expect.objectContaining({ topic, state: 'resolved', alertId: 'offline:x', resolvedAt: expect.any(Number) }),
    ]);
  }, 60_000);

  it('lists nothing for a topic with no events yet (an empty log), and is not an error', async () => {
    const { code, stdout, stderr } = await pulse(['alerts', `${topic}-none`, '--json']);
    expect({ code, stderr, stdout: stdout.trim() }).toEqual({ code: 0, stderr: '', stdout: '' });
  });
});

describe('pulse silence', () => {
  it('creates a silence of one rule and instance from now for --for, with the comment', async () => {
    const before = Date.now();
    const { code, stdout, stderr } = await pulse([
      'silence',
      topic,
      '--rule',
      'offline',
      '--instance',
      'x',
      '--for',
      '2h',
      '--comment',
      'replacing the disk of x',
      '--json',
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const made = JSON.parse(stdout) as { id: string; startsAt: number; endsAt: number };
    expect(made.endsAt - made.startsAt).toBe(7_200_000);
    expect(made.startsAt).toBeGreaterThanOrEqual(before);
    const stored = (await rest<Silence[]>('GET', '/api/v1/silences')).find((silence) => silence.id === made.id);
    expect(stored).toMatchObject({
      matchers: { topic, ruleId: 'offline', instanceId: 'x' },
      startsAt: made.startsAt,
      endsAt: made.endsAt,
      comment: 'replacing the disk of x',
    });

    const text = await pulse(['silence', topic, '--for', '30m', '--comment', 'deploy']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      new RegExp(
        `^silence \\S+: no notifications for topic ${topic} \\(every rule\\) until \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d \\(30 min\\)`,
      ),
    );
  }, 30_000);

  it('is refused for a viewer, with the reason, and exits 1', async () => {
    const { code, stderr } = await pulse(['silence', topic, '--for', '1h', '--comment', 'x'], viewer);
    expect(code).toBe(1);
    expect(stderr).toMatch(/HTTP 403/);
  });

  it.each([
    [['silence', topic, '--for', '2h'], 'silence needs --comment <text>'],
    [['silence', topic, '--comment', 'x'], 'silence needs --for <duration>'],
    [['silence', topic, '--for', 'soon', '--comment', 'x'], '--for must be a duration from 1m to 366d'],
    [['silence', topic, '--for', '1h', '--comment', 'x', '--rule', 'a:b'], '"a:b" is not a rule id (--rule)'],
    [['alerts'], 'alerts needs <topic>'],
  ])('refuses %j before sending anything: exit 2, naming the problem and the usage', async (args, message) => {
    const { code, stdout, stderr } = await pulse(args);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(message);
    expect(stderr).toContain(`Usage: pulse ${args[0]}`);
  });
});
