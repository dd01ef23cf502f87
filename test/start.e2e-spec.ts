// `npm start` as a user runs it: an embedded redis-server, the demo fleet, the dashboard; Ctrl-C or
// a closed terminal (the signal to its process group) stops everything, Redis last; a second start keeps the data.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import type { Snapshot } from '#pulse/contracts';
import { freePort, PROJECT_ROOT } from '#pulse/stack';
import { Changes, poll, within } from './support/wait.js';

const dataDir = mkdtempSync(join(tmpdir(), 'pulse-start-'));
/** Every npm start run here: whatever a failed test left running is stopped after the suite. */
const runs: Started[] = [];
afterAll(async () => {
  for (const run of runs) {
    if (run.child.exitCode === null && run.child.signalCode === null)
      await signalGroup(run, 'SIGINT').catch(() => process.kill(-run.child.pid!, 'SIGKILL'));
    // Its embedded Redis runs out of its group: should it have outlived npm start, it is killed here.
    const port = embeddedRedisPort(run.output());
    const pid = port === undefined ? 0 : await redisPid(port).catch(() => 0);
    if (pid > 0) process.kill(pid, 'SIGKILL');
  }
  rmSync(dataDir, { recursive: true, force: true });
});

interface Started {
  child: ChildProcess;
  output: () => string;
  lines: Changes;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Runs `npm start`'s entry with `args`, in a process group of its own as a terminal runs a
 * foreground command, with the PATH and nothing else of ours (as a clean shell would give it).
 */
function start(args: string[], env: Record<string, string>): Started {
  const child = spawn(process.execPath, ['dist/libs/stack/src/start.js', ...args], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  const lines = new Changes();
  const read = (chunk: Buffer) => {
    output += chunk.toString();
    lines.changed();
  };
  child.stdout.on('data', read);
  child.stderr.on('data', read);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      lines.changed();
      resolve({ code, signal });
    }),
  );
  const run = { child, output: () => output, lines, exited };
  runs.push(run);
  return run;
}

/** The port of the embedded Redis that npm start says it started, if it said so. */
function embeddedRedisPort(output: string): number | undefined {
  const port = /redis {8}redis:\/\/127\.0\.0\.1:(\d+) \(embedded, data in .+\)/.exec(output)?.[1];
  return port === undefined ? undefined : Number(port);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pid of the process that answers Redis on `port` (INFO's process_id), over a connection of its own. */
async function redisPid(port: number): Promise<number> {
  const redis = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await redis.connect();
    return Number(/process_id:(\d+)/.exec(await redis.info('server'))![1]);
  } finally {
    redis.disconnect();
  }
}

/** Starts the stack on `port` with the shared data folder and waits until it says it is up. */
async function startUp(port: number): Promise<Started & { redisPid: number }> {
  const run = start(['--gateways', '1', '--data-dir', dataDir], {
    PORT: String(port),
    LOG_LEVEL: 'warn',
    PULSE_TICK_MS: '1000',
    PULSE_DRAIN_MS: '250',
  });
  await run.lines.until(
    () => `npm start to print "Press Ctrl-C to stop everything." (output so far:\n${run.output()})`,
    () => run.output().includes('Press Ctrl-C to stop everything.') || run.child.exitCode !== null,
    60_000,
  );
  expect(run.child.exitCode).toBeNull();
  const redisPort = embeddedRedisPort(run.output());
  expect(redisPort).toBeGreaterThan(0);
  return { ...run, redisPid: await redisPid(redisPort!) };
}

/** Ctrl-C in the terminal (SIGINT), or the terminal closed (SIGHUP): the signal to the whole foreground process group. */
async function signalGroup(
  run: Started,
  signal: 'SIGINT' | 'SIGHUP',
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  process.kill(-run.child.pid!, signal);
  return within(`npm start to stop after ${signal}`, run.exited, 45_000).catch((error: Error) => {
    throw new Error(`${error.message}; its output:\n${run.output().slice(-3000)}`);
  });
}

describe('npm start', () => {
  it('runs the stack on an embedded Redis with the demo fleet, stops it all on Ctrl-C or a closed terminal, and keeps the data for the next start', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    let run = await startUp(port);
    expect(run.output()).toContain(`dashboard 1  ${base}/`);
    expect(run.output()).toContain(`(embedded, data in ${join(dataDir, 'redis')})`);
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>Pulse</title>');
    // The demo fleet posts to the gateway and the worker ticks its topic.
    const demo = await poll(
      'the demo topic to hold 12 instances and a tick status',
      async () => {
        const snapshot = (await (await fetch(`${base}/api/v1/topics/demo/snapshot`)).json()) as Snapshot;
        return snapshot.instances.length === 12 && snapshot.status !== null && snapshot;
      },
      { timeoutMs: 60_000 },
    );
    expect(demo.seq).toBeGreaterThan(0);
    expect(alive(run.redisPid)).toBe(true);

    const stopped = await signalGroup(run, 'SIGINT');
    expect({ code: stopped.code, tail: run.output().slice(-200) }).toEqual({
      code: 0,
      tail: expect.stringContaining('Stopped.'),
    });
    expect(run.output()).not.toMatch(/ECONNREFUSED|stopped unexpectedly/);
    // Redis is stopped last, by npm start itself, out of the terminal's group: nothing is left running.
    expect(alive(run.redisPid)).toBe(false);

    // Started again on the same folder: the demo topic's log is still there and goes on from it.
    run = await startUp(port);
    const again = (await (await fetch(`${base}/api/v1/topics/demo/snapshot`)).json()) as Snapshot;
    expect({ epoch: again.epoch, atLeast: again.seq >= demo.seq }).toEqual({ epoch: demo.epoch, atLeast: true });
    // The terminal is closed: Redis ignores SIGHUP, so npm start stops it as on Ctrl-C.
    expect((await signalGroup(run, 'SIGHUP')).code).toBe(0);
    expect(alive(run.redisPid)).toBe(false);
  }, 240_000);

  it('refuses bad flags and a port in use with what to do, before starting anything', async () => {
    const refused = async (args: string[], env: Record<string, string> = {}) => {
      // Its own data folder, should a refusal regress into a start.
      const run = start(args, { PORT: String(await freePort()), PULSE_DATA_DIR: dataDir, ...env });
      const { code } = await within('npm start to refuse and exit', run.exited, 30_000);
      return { code, output: run.output() };
    };
    expect(await refused(['--gateways', '0'])).toEqual({
      code: 2,
      output: expect.stringContaining('--gateways must be a whole number from 1 to 32, got "0"'),
    });
    expect(await refused(['--data-dir', ' '])).toEqual({
      code: 2,
      output: expect.stringContaining('--data-dir must name a folder'),
    });
    expect(await refused(['--nope'])).toEqual({ code: 2, output: expect.stringContaining("Unknown option '--nope'") });
    const busy = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => busy.listen(port, '127.0.0.1', resolve));
    try {
      const inUse = await refused(['--gateways', '1', '--data-dir', dataDir], { PORT: String(port) });
      expect(inUse).toEqual({
        code: 1,
        output: `npm start: port ${port} is in use (another npm start?). Stop that process, or run with PORT=<another port>.\n`,
      });
    } finally {
      busy.close();
    }
  }, 60_000);
});
