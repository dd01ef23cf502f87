// The pulse CLI as users run it (node bin/pulse.js …) against a built gateway on a real redis-server; tail output checked against the log itself.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { startPulse, type PulseTestStack } from '#pulse/testing';
import type { PulseEvent } from '#pulse/contracts';
import { freePort, PROJECT_ROOT, PulseStack } from '#pulse/stack';
import { attempt, heartbeat, post } from './support/clients.js';
import { Changes, poll } from './support/wait.js';

const CLI = join(PROJECT_ROOT, 'bin', 'pulse.js');

let stack: PulseStack | undefined;
let testStack: PulseTestStack | undefined;
/** Read-only look at the ground truth (and the one place a test plants drift). */
let redis: Redis | undefined;
let url = '';
const running = new Set<CliProcess>();

beforeAll(async () => {
  testStack = await startPulse({ gateways: 1, workers: 0, env: { LOG_LEVEL: 'warn' } });
  stack = testStack.processes;
  url = stack.urls[0]!;
  redis = new Redis(stack.redisUrl, { maxRetriesPerRequest: 1 });
}, 60_000);

afterAll(async () => {
  for (const cli of running) cli.child.kill('SIGKILL');
  redis?.disconnect();
  await testStack?.stop();
}, 60_000);

// ---- helpers ----

function theStack(): PulseStack {
  if (!stack) throw new Error('the stack did not start');
  return stack;
}

let topicCount = 0;
function uniqueTopic(name: string): string {
  topicCount += 1;
  return `${name}-${Date.now().toString(36)}-${process.pid}-${topicCount}`;
}

/** A running `pulse …` with its output split into lines, and waits on them that time out naming what they waited for. */
class CliProcess {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly changes = new Changes();

  constructor(
    readonly args: string[],
    readonly child: ChildProcess,
  ) {
    running.add(this);
    this.exited = new Promise((resolve) =>
      // 'close' comes after stdout and stderr ended, so every line has been read by then.
      child.once('close', (code, signal) => {
        running.delete(this);
        resolve({ code, signal });
      }),
    );
    createInterface({ input: child.stdout! }).on('line', (line) => this.push(this.stdout, line));
    createInterface({ input: child.stderr! }).on('line', (line) => this.push(this.stderr, line));
  }

  private push(into: string[], line: string): void {
    into.push(line);
    this.changes.changed();
  }

  /** Resolves when `check` holds, re-checked on every line; fails after `timeoutMs` with what was printed. */
  async until(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
    const printed = () =>
      `${what} from pulse ${this.args.join(' ')}\nstdout (last 5):\n${this.stdout.slice(-5).join('\n')}\nstderr:\n${this.stderr.join('\n')}`;
    await this.changes.until(printed, check, timeoutMs);
  }

  /** The stdout lines as events (tail --json). */
  events(): PulseEvent[] {
    return this.stdout.map((line) => JSON.parse(line) as PulseEvent);
  }

  async untilSeq(seq: number): Promise<void> {
    await this.until(`seq ${seq} on stdout`, () => (this.events().at(-1)?.seq ?? 0) >= seq);
  }
}

/** Starts `pulse <args>` the way a user runs it, stdout and stderr piped (so: not a terminal). */
function start(args: string[]): CliProcess {
  return new CliProcess(
    args,
    spawn(process.execPath, [CLI, ...args], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] }),
  );
}

/** Runs `pulse <args>` to its end. */
async function pulse(
  args: string[],
  timeoutMs = 15_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = start(args);
  const timer = setTimeout(() => cli.child.kill('SIGKILL'), timeoutMs);
  const { code, signal } = await cli.exited;
  clearTimeout(timer);
  if (signal)
    throw new Error(
      `pulse ${args.join(' ')} did not finish within ${timeoutMs} ms (${signal}); stderr:\n${cli.stderr.join('\n')}`,
    );
  return { code, stdout: cli.stdout.join('\n'), stderr: cli.stderr.join('\n') };
}

/** Decodes one stream entry the way the log stores it: id `<seq>-0`, fields t, ts, d, e and optional s. */
function entryToEvent(topic: string, id: string, fields: string[]): PulseEvent {
  const field = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) field.set(fields[i]!, fields[i + 1]!);
  const event = {
    topic,
    seq: Number(/^(\d+)-0$/.exec(id)![1]),
    epoch: field.get('e')!,
    type: field.get('t')!,
    ts: Number(field.get('ts')),
    data: JSON.parse(field.get('d')!) as unknown,
  } as PulseEvent;
  const source = field.get('s');
  if (source !== undefined) event.source = source;
  return event;
}

/** The whole retained log of `topic`: `XRANGE pulse:{<topic>}:log - +`. */
async function readLog(topic: string): Promise<PulseEvent[]> {
  const entries = await redis!.xrange(`pulse:{${topic}}:log`, '-', '+');
  return entries.map(([id, fields]) => entryToEvent(topic, id, fields));
}

type IngestEvent = ReturnType<typeof heartbeat> | ReturnType<typeof attempt>;

async function postOk(topic: string, events: IngestEvent[]): Promise<number[]> {
  const answer = await post(url, topic, { events });
  if (answer.status !== 201 || !answer.body?.seqs)
    throw new Error(`POST ${topic} answered ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body.seqs;
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
const mixed = (n: number, tag: string): IngestEvent[] =>
  range(1, n).map((i) =>
    i % 3 === 0 ? attempt(`${tag}-${i}`, i % 2 ? 'failure' : 'success') : heartbeat(`${tag}-${i}`),
  );

/** Stops a tail with Ctrl-C and returns how it exited. */
async function interrupt(cli: CliProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  cli.child.kill('SIGINT');
  return cli.exited;
}

// ---- tests ----

describe('pulse tail', () => {
  it('prints exactly the log after --since, as JSON lines, while events keep coming; Ctrl-C exits 0', async () => {
    const topic = uniqueTopic('tail');
    await postOk(topic, mixed(3, 'before'));
    const tail = start(['--url', url, 'tail', topic, '--since', '1', '--json']);
    const attempts = start(['--url', url, 'tail', topic, '--since', '0', '--type', 'attempt.recorded']);
    // Posts race the tail's start: some land before its snapshot (read over REST), some after (live).
    const early = (async () => {
      for (let i = 0; i < 5; i++) await postOk(topic, mixed(4, `early${i}`));
    })();
    await tail.until('the "following" note', () =>
      tail.stderr.some((line) => line.includes(`following ${topic} after seq 1`)),
    );
    await early;
    await Promise.all(range(1, 4).map((i) => postOk(topic, mixed(6, `live${i}`))));
    await postOk(topic, [attempt('last', 'success')]);

    const log = await readLog(topic);
    const head = log.at(-1)!.seq;
    await tail.untilSeq(head);
    expect(tail.events()).toEqual(log.filter((event) => event.seq > 1));
    expect(tail.events().map((event) => event.seq)).toEqual(range(2, head));

    const attemptLog = log.filter((event) => event.type === 'attempt.recorded');
    await attempts.untilSeq(attemptLog.at(-1)!.seq);
    expect(attempts.events()).toEqual(attemptLog);

    expect(await interrupt(tail)).toEqual({ code: 0, signal: null });
    expect(await interrupt(attempts)).toEqual({ code: 0, signal: null });
  });

  it('resumes by itself when its gateway restarts, and says what it recovered', async () => {
    const topic = uniqueTopic('resume');
    await postOk(topic, mixed(2, 'before'));
    const tail = start(['--url', url, 'tail', topic]);
    await tail.until('the "following" note', () =>
      tail.stderr.some((line) => line.includes(`following ${topic} after seq 2`)),
    );
    await postOk(topic, mixed(3, 'a'));
    await tail.untilSeq(5);

    const gateway = theStack().gateways.find((g) => g.running && g.url === url)!;
    await gateway.stop();
    await tail.until('the "lost the live feed" note', () =>
      tail.stderr.some((line) => line.includes(`lost the live feed from ${url}; resuming`)),
    );
    await theStack().addGateway(Number(new URL(url).port));
    await postOk(topic, mixed(4, 'b'));
    await tail.untilSeq(9);
    await tail.until('the "reconnected" note', () =>
      tail.stderr.some((line) => new RegExp(`reconnected to ${url}, recovered \\d+ missed events?`).test(line)),
    );

    expect(tail.events()).toEqual((await readLog(topic)).filter((event) => event.seq > 2));
    expect(await interrupt(tail)).toEqual({ code: 0, signal: null });
  }, 30_000);
});

describe('pulse rebuild', () => {
  it('finds drift planted in the projection (exit 1), mends it with --apply, then finds none', async () => {
    const topic = uniqueTopic('rebuild');
    await postOk(topic, [
      attempt('i-1'),
      attempt('i-1', 'failure'),
      attempt('i-2'),
      attempt('i-2', 'failure'),
      heartbeat('i-3'),
    ]);
    await redis!.hincrby(`pulse:{${topic}}:stats`, 'failed', 5);

    const found = await pulse(['--url', url, 'rebuild', topic]);
    expect(found.code).toBe(1);
    expect(found.stdout).toMatch(/PATH\s+LIVE\s+REBUILT/);
    expect(found.stdout).toMatch(/statistics\.failed\s+7\s+2/);
    expect(found.stderr).toContain(`pulse rebuild ${topic} --apply`);
    // Not a terminal: plain progress lines instead of a bar.
    expect(found.stderr).toContain(`pulse: rebuilding ${topic}: folded 5/5 events`);
    expect(await redis!.hget(`pulse:{${topic}}:stats`, 'failed')).toBe('7');

    const applied = await pulse(['--url', url, 'rebuild', topic, '--apply']);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/statistics\.failed\s+7\s+2/);
    expect(applied.stdout).toContain(`applied: the live projection of ${topic} is now the rebuilt one`);
    expect(await redis!.hget(`pulse:{${topic}}:stats`, 'failed')).toBe('2');

    const clean = await pulse(['--url', url, 'rebuild', topic, '--json']);
    expect(clean.code).toBe(0);
    expect(JSON.parse(clean.stdout)).toEqual({ seq: 5, drift: [], applied: false, moved: false });
  });
});

describe('mistakes and failures', () => {
  it('answers bad arguments with the usage on stderr and exit code 2', async () => {
    const topic = uniqueTopic('args');
    await postOk(topic, mixed(2, 'x'));
    const cases: [string[], string][] = [
      [[], 'pulse: no command given'],
      [['bogus'], 'pulse: unknown command "bogus"'],
      [['tail'], 'pulse: tail needs <topic>'],
      [['tail', topic, '--since', 'abc'], 'pulse: --since must be a whole number >= 0 (a seq of the topic), got "abc"'],
      [['publish', 't', 'x', '{bad'], 'pulse: <json> (the third argument) is not valid JSON at position 1'],
      [['--url', url, 'tail', topic, '--since', '99'], `pulse: --since 99 is beyond the last seq of ${topic}`],
    ];
    const results = await Promise.all(cases.map(([args]) => pulse(args)));
    results.forEach((result, i) => {
      const [args, message] = cases[i]!;
      expect({ args, code: result.code, stdout: result.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(result.stderr).toContain(message);
      expect(result.stderr).toContain('Usage: pulse');
    });
  });

  it('says how to fix an unreachable gateway (exit 1), and fails over to the next --url', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const advice = `pulse: cannot reach ${dead} (connection refused): is Pulse running? Start it with npm start`;
    const [topics, tail, status] = await Promise.all([
      pulse(['--url', dead, 'topics']),
      pulse(['--url', dead, 'tail', 'demo']),
      pulse(['--url', dead, 'status']),
    ]);
    for (const result of [topics, tail, status]) {
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(advice);
    }

    const topic = uniqueTopic('failover');
    await postOk(topic, mixed(1, 'x'));
    const failover = await pulse(['--url', dead, '--url', url, 'topics', '--json']);
    expect(failover.code).toBe(0);
    expect(JSON.parse(failover.stdout)).toContainEqual({ topic, head: 1, epoch: expect.any(String) });
  });
});

describe('pulse publish, snapshot, topics, status', () => {
  it('publishes events and shows them in the snapshot and the topic list', async () => {
    const topic = uniqueTopic('publish');
    const first = await pulse([
      '--url',
      url,
      'publish',
      topic,
      'attempt.recorded',
      '{"instanceId":"i-1","outcome":"success"}',
    ]);
    expect(first).toEqual({ code: 0, stdout: `published attempt.recorded to ${topic}: seq 1`, stderr: '' });
    const second = await pulse([
      '--url',
      url,
      'publish',
      topic,
      'attempt.recorded',
      '{"instanceId":"i-2","outcome":"failure"}',
      '--source',
      'cli-test',
      '--json',
    ]);
    expect(second.code).toBe(0);
    const log = await readLog(topic);
    expect(JSON.parse(second.stdout)).toEqual({ epoch: log[0]!.epoch, seqs: [2] });
    expect(log.map(({ seq, type, data, source }) => ({ seq, type, data, source }))).toEqual([
      { seq: 1, type: 'attempt.recorded', data: { instanceId: 'i-1', outcome: 'success' }, source: undefined },
      { seq: 2, type: 'attempt.recorded', data: { instanceId: 'i-2', outcome: 'failure' }, source: 'cli-test' },
    ]);

    const refused = await pulse(['--url', url, 'publish', topic, 'attempt.recorded', '{"outcome":"maybe"}']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('pulse: the gateway refused the event');
    expect(refused.stderr).toContain('data.instanceId');

    const snapshot = await pulse(['--url', url, 'snapshot', topic, '--json']);
    expect(snapshot.code).toBe(0);
    expect(JSON.parse(snapshot.stdout)).toEqual(await (await fetch(`${url}/api/v1/topics/${topic}/snapshot`)).json());
    const pretty = await pulse(['--url', url, 'snapshot', topic]);
    expect(pretty.stdout).toContain('2 attempts, 1 successful, 1 failed, 50% success');
    expect(pretty.stdout).toMatch(/i-2\s+online/);

    const topics = await pulse(['--url', url, 'topics']);
    expect(topics.code).toBe(0);
    expect(topics.stdout).toMatch(new RegExp(`^${topic}\\s+2\\s+${log[0]!.epoch}$`, 'm'));

    const missing = await pulse(['--url', url, 'snapshot', uniqueTopic('missing')]);
    expect(missing.code).toBe(0);
    expect(missing.stdout).toMatch(/seq\s+0 \(no events yet\)/);
  });

  it('shows the gateway up, viewers and the tick scheduler', async () => {
    const topic = uniqueTopic('viewers');
    await postOk(topic, mixed(1, 'x'));
    const tail = start(['--url', url, 'tail', topic]);
    // Presence is only observable by asking: wait until the gateway counts the tail, then ask the CLI.
    await poll(
      `1 viewer of ${topic}`,
      async () =>
        ((await (await fetch(`${url}/api/v1/admin/presence`)).json()) as { topics: Record<string, number> }).topics[
          topic
        ] === 1,
      { timeoutMs: 10_000 },
    );

    const status = await pulse(['--url', url, 'status']);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`${url}\\s+up\\s+redis ready`));
    expect(status.stdout).toContain('viewers');
    // This stack runs no worker.
    expect(status.stdout).toContain('not scheduled: no worker has started yet');

    expect(status.stdout).toMatch(new RegExp(`^  ${topic}\\s+1$`, 'm'));

    const json = await pulse(['--url', url, 'status', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({
      gateways: [{ url, state: 'up' }],
      presence: { [topic]: 1 },
      scheduler: { scheduler: 'monitor-tick', everyMs: null },
      problems: [],
    });
    expect(await interrupt(tail)).toEqual({ code: 0, signal: null });
  });
});
