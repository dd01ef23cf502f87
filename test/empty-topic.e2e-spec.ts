// Any valid topic is a log, possibly empty: every kind of client subscribes before the first event and gets the topic from seq 1, live, with no gap.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Browser } from 'playwright-core';
import { emptySnapshot, type PulseEvent, type SubscribeAck } from '#pulse/contracts';
import { PROJECT_ROOT } from '#pulse/stack';
import { startPulse, type PulseTestStack } from '#pulse/testing';
import { attempt, heartbeat, post, RecordingClient } from './support/clients.js';
import { launchChromium } from './support/browser.js';
import { Changes } from './support/wait.js';

const CLI = join(PROJECT_ROOT, 'bin', 'pulse.js');

let pulse: PulseTestStack | undefined;
const sockets: RecordingClient[] = [];

beforeAll(async () => {
  // No test here needs a tick: no worker.
  pulse = await startPulse({ gateways: 2, workers: 0 });
}, 60_000);

afterAll(async () => {
  for (const socket of sockets.splice(0)) socket.close();
  await pulse?.stop();
}, 60_000);

// ---- helpers ----

function thePulse(): PulseTestStack {
  if (!pulse) throw new Error('the Pulse test stack did not start');
  return pulse;
}

/** Clients connect to gateway A; producers post through gateway B. */
const gatewayA = () => thePulse().urls[0]!;
const gatewayB = () => thePulse().urls[1]!;

let topicCount = 0;
/** A topic name no other test (or run) uses: it has no events until a test posts some. */
function newTopic(name: string): string {
  topicCount += 1;
  return `empty-${name}-${Date.now().toString(36)}-${process.pid}-${topicCount}`;
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

type Fact = ReturnType<typeof heartbeat> | ReturnType<typeof attempt>;

/** Posts through gateway B; resolves with the append's epoch and seqs, rejects unless 201. */
async function produce(topic: string, events: Fact[]): Promise<{ epoch: string; seqs: number[] }> {
  const answer = await post(gatewayB(), topic, { events });
  if (answer.status !== 201 || !answer.body?.seqs || !answer.body.epoch)
    throw new Error(`POST ${topic} answered ${answer.status} ${JSON.stringify(answer.body)}`);
  return { epoch: answer.body.epoch, seqs: answer.body.seqs };
}

/** The whole retained log of `topic`, as clients receive it (read from Redis). */
const readLog = (topic: string) => thePulse().log(topic);

async function connected(options: { batch?: boolean } = {}): Promise<RecordingClient> {
  const client = new RecordingClient(gatewayA(), options);
  sockets.push(client);
  return client.connected();
}

async function getJson(path: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${gatewayA()}${path}`);
  return { status: response.status, body: (await response.json()) as unknown };
}

/** The answer to a subscribe before the first event: an empty log, no epoch yet. */
const emptyAnswer = (topic: string): SubscribeAck => ({
  ok: true,
  topic,
  epoch: null,
  head: 0,
  recovered: false,
  snapshot: emptySnapshot(topic),
  events: [],
});

// ---- tests ----

describe('a plain socket.io-client on a topic with no events', () => {
  it.each([
    ['one frame per event', false],
    ['batch frames', true],
  ])(
    'subscribes before the first event and gets seq 1, 2, 3 … live, with the epoch the first append created (%s)',
    async (_mode, batch) => {
      const topic = newTopic(batch ? 'socket-batch' : 'socket');
      const client = await connected({ batch });
      expect(await client.subscribe({ topic, batch })).toEqual(emptyAnswer(topic));

      const first = await produce(topic, [heartbeat('i-1')]);
      expect(first.seqs).toEqual([1]);
      await client.untilSeq(topic, 1);
      await produce(topic, [attempt('i-1'), attempt('i-1', 'failure')]);
      for (let i = 0; i < 5; i++) await produce(topic, [attempt(`i-${i}`)]);
      await client.untilSeq(topic, 8);

      expect(client.seqs(topic)).toEqual(range(1, 8));
      expect(client.events(topic)).toEqual(await readLog(topic));
      expect(client.events(topic).every((event) => event.epoch === first.epoch)).toBe(true);
      expect(client.resyncs).toEqual([]);
    },
  );

  it('many subscribers racing the first appends each get exactly the log after their answer (the empty log to its first epoch is no resync)', async () => {
    const topic = newTopic('race');
    const modes = range(1, 6).map((i) => i % 2 === 0);
    const clients = await Promise.all(modes.map((batch) => connected({ batch })));
    const producing = (async () => {
      for (let i = 1; i <= 20; i++) await produce(topic, [attempt(`r-${i % 3}`), heartbeat(`r-${i % 3}`)]);
    })();
    // Subscribes land before, between and after the appends.
    const acks = await Promise.all(clients.map((client, i) => client.subscribe({ topic, batch: modes[i]! })));
    await producing;
    const log = await readLog(topic);
    expect(log).toHaveLength(40);
    for (const [i, client] of clients.entries()) {
      const ack = acks[i]!;
      if (!ack.ok) throw new Error(`subscribe answered ${JSON.stringify(ack)}`);
      await client.untilSeq(topic, 40);
      expect(client.events(topic)).toEqual(log.filter((event) => event.seq > ack.head));
      expect(client.resyncs).toEqual([]);
    }
  });

  it('since seq 0 on an empty topic is recovered (nothing missed), then the first events follow live', async () => {
    const topic = newTopic('since-0');
    const client = await connected();
    expect(await client.subscribe({ topic, since: { seq: 0, epoch: 'any-epoch' } })).toEqual({
      ok: true,
      topic,
      epoch: null,
      head: 0,
      recovered: true,
      events: [],
    });
    await produce(topic, [heartbeat('s-1'), attempt('s-1')]);
    await client.untilSeq(topic, 2);
    expect(client.events(topic)).toEqual(await readLog(topic));
    expect(client.resyncs).toEqual([]);
  });

  it('since a seq > 0 on an empty topic is not recovered: that history is gone, here is the empty snapshot', async () => {
    const topic = newTopic('since-5');
    const client = await connected();
    expect(await client.subscribe({ topic, since: { seq: 5, epoch: 'gone' } })).toEqual(emptyAnswer(topic));
    await produce(topic, [heartbeat('g-1')]);
    await client.untilSeq(topic, 1);
    expect(client.seqs(topic)).toEqual([1]);
  });

  it('replay on an empty topic is ok with no events; past its head is a bad request', async () => {
    const topic = newTopic('replay');
    const client = await connected();
    expect(await client.socket.timeout(10_000).emitWithAck('replay', { topic, fromSeq: 1 })).toEqual({
      ok: true,
      topic,
      epoch: null,
      head: 0,
      events: [],
    });
    expect(await client.socket.timeout(10_000).emitWithAck('replay', { topic, fromSeq: 2 })).toMatchObject({
      ok: false,
      code: 'BAD_REQUEST',
    });
  });
});

describe('REST on a topic with no events', () => {
  it('reads as an empty log; the topic list shows it only once it has events', async () => {
    const topic = newTopic('rest');
    expect(await getJson(`/api/v1/topics/${topic}/snapshot`)).toEqual({ status: 200, body: emptySnapshot(topic) });
    expect(await getJson(`/api/v1/topics/${topic}/events?after=0`)).toEqual({
      status: 200,
      body: { epoch: null, head: 0, events: [] },
    });
    expect((await getJson(`/api/v1/topics/${topic}/events?after=1`)).status).toBe(400);
    const before = (await getJson('/api/v1/topics')).body as { topic: string }[];
    expect(before.map((entry) => entry.topic)).not.toContain(topic);

    const { epoch } = await produce(topic, [heartbeat('x-1')]);
    const after = (await getJson('/api/v1/topics')).body as { topic: string; head: number; epoch: string }[];
    expect(after.find((entry) => entry.topic === topic)).toEqual({ topic, head: 1, epoch });
  });
});

describe('the client SDK on a topic with no events', () => {
  it('gets the empty snapshot, then every event from seq 1, without retrying or resyncing', async () => {
    const topic = newTopic('sdk');
    const client = thePulse().client({ urls: [gatewayA()] });
    const changes = new Changes();
    const events: PulseEvent[] = [];
    const snapshots: { seq: number; epoch: string | null; reason: string }[] = [];
    const errors: string[] = [];
    const subscription = client.subscribe(topic, {
      onSnapshot: (snapshot, reason) => (
        snapshots.push({ seq: snapshot.seq, epoch: snapshot.epoch, reason }),
        changes.changed()
      ),
      onEvent: (event) => (events.push(event), changes.changed()),
      onError: (error) => errors.push(error.code),
    });
    await changes.until(
      () => 'the first (empty) snapshot',
      () => snapshots.length === 1,
    );
    expect(client.state).toBe('live');
    expect(subscription.position()).toBeNull();

    const { epoch } = await produce(topic, [heartbeat('k-1')]);
    await produce(topic, [attempt('k-1'), attempt('k-2'), heartbeat('k-2')]);
    await changes.until(
      () => `seq 4 (has ${events.length} events)`,
      () => events.length >= 4,
    );
    expect(events).toEqual(await readLog(topic));
    expect(subscription.position()).toEqual({ seq: 4, epoch });
    expect(snapshots).toEqual([{ seq: 0, epoch: null, reason: 'initial' }]);
    expect(errors).toEqual([]);
    client.close();
  });
});

describe('pulse tail on a topic with no events', () => {
  it('follows it from its first event, printed in order', async () => {
    const topic = newTopic('cli');
    const child: ChildProcess = spawn(process.execPath, [CLI, '--url', gatewayA(), 'tail', topic, '--json'], {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stdout: string[] = [];
    const stderr: string[] = [];
    const changes = new Changes();
    createInterface({ input: child.stdout! }).on('line', (line) => (stdout.push(line), changes.changed()));
    createInterface({ input: child.stderr! }).on('line', (line) => (stderr.push(line), changes.changed()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('close', (code, signal) => resolve({ code, signal })),
    );
    const printed = () => `\nstdout:\n${stdout.join('\n')}\nstderr:\n${stderr.join('\n')}`;
    try {
      await changes.until(
        () => `the "following" note${printed()}`,
        () => stderr.some((line) => line.includes(`following ${topic}, which has no events yet`)),
      );
      await produce(topic, [heartbeat('c-1')]);
      await produce(topic, [attempt('c-1'), attempt('c-1', 'failure')]);
      await changes.until(
        () => `seq 3 on stdout${printed()}`,
        () => stdout.length >= 3,
      );
      expect(stdout.map((line) => JSON.parse(line) as PulseEvent)).toEqual(await readLog(topic));
      expect(stderr.filter((line) => /resync|retry|waiting/.test(line))).toEqual([]);
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toEqual({ code: 0, signal: null });
  });
});

describe('the dashboard on a topic with no events', () => {
  let browser: Browser | undefined;

  beforeAll(async () => {
    if (!existsSync(join(PROJECT_ROOT, 'apps', 'dashboard', 'dist', 'index.html'))) {
      throw new Error('apps/dashboard/dist is not built: run `npm run build` first (it runs tsc and vite build)');
    }
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  it('shows the empty topic live, then fills in as its first events arrive, without a reload', async () => {
    if (!browser) throw new Error('the browser did not start');
    const topic = newTopic('dash');
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    try {
      await page.goto(`${gatewayA()}/?topic=${topic}`);
      await page.waitForSelector('[data-testid="connection"][data-state="live"]', { timeout: 15_000 });
      await page.waitForSelector('[data-testid="tile-total_attempts"][data-value="0"]', { timeout: 15_000 });
      expect(await page.isHidden('[data-testid="notice"]')).toBe(true);
      // A reload would lose this.
      await page.evaluate(() => ((window as unknown as { __pulseMarker?: string }).__pulseMarker = 'no reload'));

      await produce(topic, [heartbeat('d-1')]);
      await produce(topic, [attempt('d-1'), attempt('d-1'), attempt('d-1', 'failure')]);
      await page.waitForSelector('[data-testid="tile-total_attempts"][data-value="3"]', { timeout: 15_000 });
      await page.waitForSelector('[data-testid="instance-row"][data-id="d-1"]', { timeout: 15_000 });
      const shown = await page.evaluate(() => ({
        marker: (window as unknown as { __pulseMarker?: string }).__pulseMarker ?? null,
        failed: document.querySelector('[data-testid="tile-failed"]')?.getAttribute('data-value') ?? null,
        feed: [...document.querySelectorAll<HTMLLIElement>('[data-testid="feed"] li')]
          .map((li) => Number(li.dataset.seq))
          .sort((a, b) => a - b),
        state: document.querySelector('[data-testid="connection"]')?.getAttribute('data-state') ?? null,
      }));
      expect(shown).toEqual({ marker: 'no reload', failed: '1', feed: [1, 2, 3, 4], state: 'live' });
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});

describe('on a Redis Cluster (the tail waits on topics’ bells there)', () => {
  let clustered: PulseTestStack | undefined;

  beforeAll(async () => {
    clustered = await startPulse({ redisCluster: 3, gateways: 2, workers: 0 });
  }, 90_000);

  afterAll(async () => {
    await clustered?.stop();
  }, 60_000);

  it('a socket on gateway A follows new topics from their first events posted through gateway B', async () => {
    if (!clustered) throw new Error('the cluster stack did not start');
    const [a, b] = clustered.urls as [string, string];
    // Several topics, so that their slots (and bells) fall on different shards.
    const topics = range(1, 6).map(() => newTopic('cluster'));
    const client = new RecordingClient(a, { batch: true });
    sockets.push(client);
    await client.connected();
    for (const topic of topics) expect(await client.subscribe({ topic, batch: true })).toEqual(emptyAnswer(topic));
    for (const topic of topics) {
      const answer = await post(b, topic, { events: [heartbeat('c-1')] });
      expect(answer.status).toBe(201);
      expect((await post(b, topic, { events: [attempt('c-1'), attempt('c-1', 'failure')] })).status).toBe(201);
    }
    for (const topic of topics) {
      await client.untilSeq(topic, 3);
      expect(client.events(topic)).toEqual(await clustered.log(topic));
    }
    expect(client.resyncs).toEqual([]);
  });
});
