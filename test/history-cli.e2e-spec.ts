// `pulse series` and `pulse instance` as users run them (node bin/pulse.js …) against a built gateway on a real redis-server.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { InstanceHistory, SeriesPoint } from '#pulse/contracts';
import { PROJECT_ROOT } from '#pulse/stack';
import { startPulse, type PulseTestStack } from '#pulse/testing';
import { heartbeat, post } from './support/clients.js';

const CLI = join(PROJECT_ROOT, 'bin', 'pulse.js');

let testStack: PulseTestStack | undefined;
let url = '';
const topic = `hist-cli-${Date.now().toString(36)}-${process.pid}`;

beforeAll(async () => {
  testStack = await startPulse({ gateways: 1, workers: 0, env: { LOG_LEVEL: 'warn' } });
  url = testStack.processes.urls[0]!;
  const events = [
    heartbeat('i-1'),
    heartbeat('i-2'),
    ...[0, 1, 2, 3, 4].map((i) => ({
      type: 'attempt.recorded',
      data: { instanceId: i % 2 ? 'i-2' : 'i-1', outcome: i === 3 ? 'failure' : 'success', durationMs: 100 + i * 50 },
    })),
  ];
  const answer = await post(url, topic, { events });
  if (answer.status !== 201) throw new Error(`POST ${topic} answered ${answer.status} ${JSON.stringify(answer.body)}`);
}, 60_000);

afterAll(async () => {
  await testStack?.stop();
}, 60_000);

/** Runs `pulse <args> --url <gateway>` to its end, stdout piped (so: not a terminal). */
function pulse(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args, '--url', url],
      { cwd: PROJECT_ROOT, timeout: 15_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
      },
    );
  });
}

describe('pulse series', () => {
  it('prints one JSON line per minute bucket when piped, the attempts in them', async () => {
    const { code, stdout, stderr } = await pulse(['series', topic, '--step', '1m', '--since', '10m']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const points = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as SeriesPoint & { topic: string; step: string });
    // 10 minutes back, aligned to the minute, up to now: 10 or 11 buckets.
    expect(points.length).toBeGreaterThanOrEqual(10);
    expect(points.length).toBeLessThanOrEqual(11);
    expect(points.every((point) => point.topic === topic && point.step === '1m')).toBe(true);
    expect(points.reduce((sum, point) => sum + point.attempts, 0)).toBe(5);
    expect(points.reduce((sum, point) => sum + point.failures, 0)).toBe(1);
    expect(Math.max(...points.map((point) => point.duration_max))).toBe(300);
  });

  it('reads an unknown topic as zeros, not as an error', async () => {
    const { code, stdout } = await pulse(['series', `${topic}-none`, '--since', '3h', '--json']);
    expect(code).toBe(0);
    const points = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as SeriesPoint);
    expect(points.length).toBeGreaterThanOrEqual(3);
    expect(points.every((point) => point.attempts === 0 && point.active_instances === null)).toBe(true);
  });

  it.each([
    [['series', topic, '--step', '5m'], '--step must be 1m, 1h or 1d, got "5m"'],
    [
      ['series', topic, '--since', 'yesterday'],
      '--since must be a duration from 1m to 730d, like 90m, 24h or 30d; got "yesterday"',
    ],
    [['series', topic, '--step', '1m', '--since', '7d'], 'buckets; at most 1500'],
  ])('refuses %j with exit code 2, the reason and the usage', async (args, message) => {
    const { code, stdout, stderr } = await pulse(args);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(message);
    expect(stderr).toContain('Usage: pulse series <topic>');
  });
});

describe('pulse instance', () => {
  it("prints the instance's state, its uptime and its hours", async () => {
    const { code, stdout } = await pulse(['instance', topic, 'i-1']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^instance +i-1 \(topic /);
    expect(stdout).toContain('attempts   3 (3 successful, 0 failed)');
    expect(stdout).toContain('uptime     24 h 100%   7 d 100%   30 d 100%');
    expect(stdout).toMatch(/HOUR +ATTEMPTS +FAILED +OFFLINE/);
  });

  it('prints the API answer with --json', async () => {
    const { code, stdout } = await pulse(['instance', topic, 'i-2', '--json']);
    expect(code).toBe(0);
    const history = JSON.parse(stdout) as InstanceHistory;
    expect(history).toMatchObject({
      id: 'i-2',
      topic,
      attempts: 2,
      failures: 1,
      uptime: { '24h': 100, '7d': 100, '30d': 100 },
    });
    expect(history.series.points.reduce((sum, point) => sum + point.attempts, 0)).toBe(2);
  });

  it('says so, with exit code 1, for an instance the topic does not know', async () => {
    const { code, stderr } = await pulse(['instance', topic, 'nope']);
    expect(code).toBe(1);
    expect(stderr).toContain(`topic ${topic} has no instance nope`);
    expect(stderr).toContain(`"pulse snapshot ${topic}" lists the instances it knows`);
  });
});
