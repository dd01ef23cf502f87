// The built gateway and worker refuse a bad environment: exit 78, every problem in one message, nothing listened to or connected.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { freePort, PROJECT_ROOT, PulseProcess, RedisServer, type PulseRole as Role } from '#pulse/stack';

const ENTRY: Record<Role, string> = {
  gateway: 'dist/apps/gateway/src/main.js',
  worker: 'dist/apps/worker/src/main.js',
};
const EX_CONFIG = 78;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a built entry as `npm run start:<role>` does, with exactly `env`; killed if it outlives `timeoutMs`. */
async function run(role: Role, env: Record<string, string>, timeoutMs = 15_000): Promise<Run> {
  const child = spawn(process.execPath, [ENTRY[role]], {
    cwd: PROJECT_ROOT,
    env: { NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: timeoutMs,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** What a TCP connect to 127.0.0.1:`port` gets. */
async function connectOutcome(port: number): Promise<'refused' | 'accepted'> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('accepted');
    });
    socket.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'ECONNREFUSED' ? resolve('refused') : reject(error),
    );
  });
}

/** A TCP server posing as Redis that only counts who connects to it. */
async function connectionCounter(): Promise<{ server: Server; url: string; connections: () => number }> {
  let connections = 0;
  const server = createServer((socket) => {
    connections += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { server, url: `redis://127.0.0.1:${port}`, connections: () => connections };
}

/** Checks that `stderr` holds one "Invalid configuration" message naming exactly `names`. */
function expectOneMessageNaming(stderr: string, names: string[]): void {
  expect(stderr.match(/Invalid configuration/g)).toHaveLength(1);
  const message = stderr.slice(stderr.indexOf('Invalid configuration'));
  expect(message).toContain(`Invalid configuration (${names.length} problem${names.length === 1 ? '' : 's'})`);
  const listed = message.split('\n').filter((line) => line.startsWith('  - '));
  expect(listed).toHaveLength(names.length);
  for (const name of names) expect(listed.filter((line) => line.startsWith(`  - ${name} `))).toHaveLength(1);
}

let redisDir: string;
let redis: RedisServer;
let fakeRedis: Awaited<ReturnType<typeof connectionCounter>>;

beforeAll(async () => {
  // Its own Redis: a worker started here must not tick the topics of other suites.
  redisDir = mkdtempSync(join(tmpdir(), 'pulse-config-e2e-'));
  redis = await RedisServer.start({ dir: redisDir, appendOnly: false });
  fakeRedis = await connectionCounter();
});

afterAll(async () => {
  await new Promise((resolve) => fakeRedis?.server.close(resolve));
  await redis?.stop();
  if (redisDir) rmSync(redisDir, { recursive: true, force: true });
});

describe.each<Role>(['gateway', 'worker'])('the built %s with a bad environment', (role) => {
  it('exits 78 before starting, listing every problem in one message', async () => {
    const bad = {
      PORT: 'abc',
      PULSE_TICK_MS: '0',
      REDIS_URL: 'http://x',
      LOG_LEVEL: 'loud',
      PULSE_DEMO: 'maybe',
      PULSE_DEMO_URLS: 'ftp://x',
    };
    const result = await run(role, { ...bad, HOST: '127.0.0.1' });
    expect(result).toMatchObject({ code: EX_CONFIG, signal: null });
    expectOneMessageNaming(result.stderr, Object.keys(bad));
    expect(result.stderr).toContain('Fix the variables above');
    // Nothing was started: no Nest bootstrap logs, no ready line, no stack trace.
    expect(result.stdout).toBe('');
    expect(result.stderr).not.toMatch(/listening|ready|failed to start|at .*\.js:\d+/);
  });

  it('with one bad variable among good ones: exits 78, never connects to Redis, and nothing listens on its PORT', async () => {
    const port = await freePort();
    const badVariable: Record<string, string> =
      role === 'gateway' ? { PULSE_RETENTION: '-5' } : { PULSE_DEMO: 'maybe' };
    const result = await run(role, {
      PORT: String(port),
      HOST: '127.0.0.1',
      REDIS_URL: fakeRedis.url,
      LOG_LEVEL: 'log',
      ...badVariable,
    });
    expect(result).toMatchObject({ code: EX_CONFIG, signal: null });
    expectOneMessageNaming(result.stderr, Object.keys(badVariable));
    expect(result.stdout).toBe('');
    expect(fakeRedis.connections()).toBe(0);
    expect(await connectOutcome(port)).toBe('refused');
  });
});

describe.each<Role>(['gateway', 'worker'])('the built %s with a valid environment', (role) => {
  const validEnv = (logLevel: string) => ({
    REDIS_URL: redis.url,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: logLevel,
    PULSE_DEMO: '0',
  });

  it('starts and prints its ready line when the env is valid (the control for the tests above), and stops cleanly', async () => {
    const proc = await PulseProcess.start({ role, env: validEnv('log'), readyTimeoutMs: 15_000 });
    // Nest's shutdown hook closes the app, then exits with code 0 (an older build re-raised SIGTERM): never SIGKILL.
    const exit = await proc.stop();
    expect([0, 'SIGTERM']).toContain(exit.code ?? exit.signal);
  });

  // PulseProcess, PulseStack and npm start wait for the ready line: no LOG_LEVEL may hide it.
  it('still prints its ready line with LOG_LEVEL=warn', async () => {
    const proc = await PulseProcess.start({ role, env: validEnv('warn') });
    await proc.stop();
  });
});
