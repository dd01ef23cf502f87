// Core e2e: built gateways and workers on one real redis-server; delivery, ticks, resume and crashes checked against the log itself.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { startPulse, type PulseTestStack } from '#pulse/testing';
import type { PulseEvent, StatusData, SubscribeAck, SubscribeOk } from '#pulse/contracts';
import { PulseStack, type PulseProcess } from '#pulse/stack';
import { attempt, EVENT_FRAME_NAMES, heartbeat, post, RecordingClient } from './support/clients.js';
import { Changes, within } from './support/wait.js';

const TICK_MS = 500;
const STACK_ENV = { PULSE_TICK_MS: String(TICK_MS), PULSE_INSTANCE_TTL_MS: '3000', LOG_LEVEL: 'warn' };

let stack: PulseStack | undefined;
let testStack: PulseTestStack | undefined;
/** Read-only look at the ground truth: the topic's stream. */
let redis: Redis | undefined;
const clients: RecordingClient[] = [];

beforeAll(async () => {
  testStack = await startPulse({ gateways: 2, workers: 2, env: STACK_ENV });
  stack = testStack.processes;
  redis = new Redis(stack.redisUrl, { maxRetriesPerRequest: 1 });
}, 60_000);

afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

afterAll(async () => {
  for (const client of clients.splice(0)) client.close();
  redis?.disconnect();
  await testStack?.stop();
}, 60_000);

// ---- helpers ----

let topicCount = 0;
/** A topic name no other test (or run) uses. */
function uniqueTopic(name: string): string {
  topicCount += 1;
  return `${name}-${Date.now().toString(36)}-${process.pid}-${topicCount}`;
}

function theStack(): PulseStack {
  if (!stack) throw new Error('the stack did not start');
  return stack;
}

/** URLs of the gateways that are running, in start order. */
function gatewayUrls(): string[] {
  return theStack()
    .gateways.filter((gateway) => gateway.running)
    .map((gateway) => gateway.url);
}

/** Decodes one stream entry the way the log stores it: id `<seq>-0`, fields t, ts, d, e and optional s. */
function entryToEvent(topic: string, id: string, fields: string[]): PulseEvent {
  const match = /^(\d+)-0$/.exec(id);
  if (!match) throw new Error(`log entry id ${id} of ${topic} is not <seq>-0`);
  const field = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) field.set(fields[i]!, fields[i + 1]!);
  const event = {
    topic,
    seq: Number(match[1]),
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
async function readLog(topic: string, connection: Redis = redis!): Promise<PulseEvent[]> {
  const entries = await connection.xrange(`pulse:{${topic}}:log`, '-', '+');
  return entries.map(([id, fields]) => entryToEvent(topic, id, fields));
}

async function logHead(topic: string): Promise<number> {
  return (await readLog(topic)).at(-1)?.seq ?? 0;
}

type IngestEvent = ReturnType<typeof heartbeat> | ReturnType<typeof attempt>;

/** Posts a batch and insists on 201; returns the log's epoch and the seqs given. */
async function postOk(url: string, topic: string, events: IngestEvent[]): Promise<{ epoch: string; seqs: number[] }> {
  const answer = await post(url, topic, { events });
  if (answer.status !== 201 || !answer.body?.seqs || !answer.body.epoch) {
    throw new Error(`POST ${url} ${topic} answered ${answer.status} ${JSON.stringify(answer.body)}`);
  }
  return { epoch: answer.body.epoch, seqs: answer.body.seqs };
}

/** A connected client, closed after the test. */
async function connect(url: string, options: { batch?: boolean } = {}): Promise<RecordingClient> {
  const client = new RecordingClient(url, options);
  clients.push(client);
  return within(`a socket.io connection to ${url}`, client.connected(), 10_000);
}

function expectOk(ack: SubscribeAck): SubscribeOk {
  if (!ack.ok) throw new Error(`subscribe failed: ${ack.code}: ${ack.message}`);
  return ack;
}

/** Connects and subscribes; the ack must be ok. */
async function subscribed(
  url: string,
  topic: string,
  options: { batch?: boolean } = {},
): Promise<{ client: RecordingClient; ack: SubscribeOk }> {
  const client = await connect(url, options);
  const ack = expectOk(await client.subscribe({ topic, ...(options.batch ? { batch: true } : {}) }));
  return { client, ack };
}

/** Resolves with the reason once the client's socket is disconnected. */
async function disconnection(client: RecordingClient): Promise<string> {
  if (client.socket.disconnected) return 'already disconnected';
  return within(
    'a disconnect',
    new Promise<string>((resolve) => client.socket.once('disconnect', (reason) => resolve(reason))),
    10_000,
  );
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

/**
 * `received` is exactly the log after `afterSeq`, up to its own last event: seqs afterSeq+1,
 * afterSeq+2, … (strictly increasing, contiguous, no duplicate), each event equal to the log's
 * (seq, type, data, ts, source), all of `epoch`.
 */
function expectExactlyTheLog(
  received: PulseEvent[],
  log: PulseEvent[],
  afterSeq: number,
  epoch: string | null,
  atLeast: number,
): void {
  const last = received.at(-1)?.seq ?? afterSeq;
  expect(last).toBeGreaterThanOrEqual(atLeast);
  expect(received.map((event) => event.seq)).toEqual(range(afterSeq + 1, last));
  expect(received).toEqual(log.filter((event) => event.seq > afterSeq && event.seq <= last));
  expect(received.filter((event) => event.epoch !== epoch)).toEqual([]);
}

/** Counts things a background producer did, and lets a test wait for a count without polling. */
class Progress {
  count = 0;
  private readonly changes = new Changes();

  bump(): void {
    this.count += 1;
    this.changes.changed();
  }

  async reach(count: number, what: string, timeoutMs = 15_000): Promise<void> {
    await this.changes.until(
      () => `${what} (${count}, at ${this.count})`,
      () => this.count >= count,
      timeoutMs,
    );
  }
}

/** A batch of 1–5 facts, a mix of heartbeats and attempts, chosen by (producer, round). */
function factBatch(producer: number, round: number): IngestEvent[] {
  const size = 1 + ((producer * 7 + round * 3) % 5);
  return range(0, size - 1).map((j) => {
    const instance = `p${producer}-i${(round + j) % 4}`;
    if ((round + j) % 3 === 0) return heartbeat(instance);
    return attempt(instance, (round * 5 + j) % 4 === 0 ? 'failure' : 'success');
  });
}

/**
 * Posts fact batches in a loop until `stop()` (or `maxRounds`), round-robin over `urls`;
 * `posted` counts the batches answered 201, `sent` maps each seq given to the fact posted.
 */
function startProducer(urls: string[], topic: string, id: number, maxRounds: number) {
  const posted = new Progress();
  const sent = new Map<number, IngestEvent>();
  /** Every seq answered, in order (a seq given twice would show here). */
  const given: number[] = [];
  let stopped = false;
  const done = (async () => {
    for (let round = 0; round < maxRounds && !stopped; round++) {
      const batch = factBatch(id, round);
      const { seqs } = await postOk(urls[(id + round) % urls.length]!, topic, batch);
      given.push(...seqs);
      seqs.forEach((seq, i) => sent.set(seq, batch[i]!));
      posted.bump();
    }
  })();
  return {
    posted,
    sent,
    given,
    done,
    async stop(): Promise<void> {
      stopped = true;
      await done;
    },
  };
}

const ofType = (events: PulseEvent[], type: string) => events.filter((event) => event.type === type);

/** The topic's tick facts: contiguous loop_count, strictly increasing tick_at, one per interval. */
function expectRegularTicks(statuses: PulseEvent[]): void {
  const data = statuses.map((event) => event.data as StatusData);
  const first = data[0]!;
  expect(data.map((status) => status.loop_count)).toEqual(range(first.loop_count, first.loop_count + data.length - 1));
  expect(new Set(data.map((status) => status.tick_at)).size).toBe(data.length);
  for (let i = 1; i < data.length; i++) {
    const gap = data[i]!.tick_at - data[i - 1]!.tick_at;
    // Scheduled times of one job scheduler: a whole number of intervals apart, never two in one interval.
    expect({ gap, atLeastHalfATick: gap >= TICK_MS / 2, wholeIntervals: gap % TICK_MS === 0 }).toEqual({
      gap,
      atLeastHalfATick: true,
      wholeIntervals: true,
    });
  }
  for (const status of data) {
    expect(status.monitoring_active).toBe(true);
    expect(status.next_tick_at).toBe(status.tick_at + TICK_MS);
  }
}

// ---- tests ----

describe('Pulse core (2 gateways, 2 workers, real redis-server)', () => {
  it('delivers every event exactly once, in seq order, on both gateways and in batch mode, while 4 producers post and ticks run', async () => {
    const [urlA, urlB] = gatewayUrls() as [string, string];
    const topic = uniqueTopic('delivery');
    await postOk(urlA, topic, [heartbeat('seed')]);
    const subscribers = [
      { name: 'per-event on A', ...(await subscribed(urlA, topic)) },
      { name: 'per-event on B', ...(await subscribed(urlB, topic)) },
      { name: 'batch on B', ...(await subscribed(urlB, topic, { batch: true })) },
    ];
    const epoch = subscribers[0]!.ack.epoch;
    // Which kind of frame carries each client's events: per-event frames (named by type) or `events` arrays.
    const frames = subscribers.map(({ client }) => {
      const kinds = new Set<string>();
      client.socket.onAny((name: string) => {
        if (name === 'events') kinds.add('events');
        else if (EVENT_FRAME_NAMES.has(name)) kinds.add('per-event');
      });
      return kinds;
    });

    const producers = [0, 1, 2, 3].map((id) => startProducer([urlA, urlB], topic, id, 50));
    await within(
      '4 producers to post 50 batches each',
      Promise.all(producers.map((producer) => producer.done)),
      45_000,
    );
    const watcher = subscribers[0]!.client;
    const lastPosted = Math.max(...producers.flatMap((producer) => [...producer.sent.keys()]));
    // One more tick after the last post, so that ticks and facts are both in the window.
    await watcher.until(
      () => `a status_update after seq ${lastPosted}`,
      () => watcher.events(topic).some((event) => event.type === 'status_update' && event.seq > lastPosted),
      10_000,
    );

    const head = await logHead(topic);
    await Promise.all(subscribers.map(({ client }) => client.untilSeq(topic, head, 20_000)));
    const received = subscribers.map(({ name, client, ack }) => ({
      name,
      ack,
      events: [...client.events(topic)],
      resyncs: client.resyncs,
    }));
    const log = await readLog(topic);

    for (const { name, ack, events, resyncs } of received) {
      expect({ name, resyncs }).toEqual({ name, resyncs: [] });
      expect(ack.epoch).toBe(epoch);
      expect(ack.snapshot?.seq).toBe(ack.head);
      expectExactlyTheLog(events, log, ack.head, epoch, head);
    }
    // Every posted fact got its own seq, is in the log at that seq, and came after every snapshot.
    const given = producers.flatMap((producer) => producer.given);
    expect(new Set(given).size).toBe(given.length);
    const sent = new Map(producers.flatMap((producer) => [...producer.sent]));
    expect(sent.size).toBe(given.length);
    const bySeq = new Map(log.map((event) => [event.seq, event]));
    for (const [seq, fact] of sent) {
      expect({ seq, type: bySeq.get(seq)?.type, data: bySeq.get(seq)?.data }).toEqual({ seq, ...fact });
      expect(seq).toBeGreaterThan(Math.max(...received.map(({ ack }) => ack.head)));
    }
    expect(frames.map((kinds) => [...kinds])).toEqual([['per-event'], ['per-event'], ['events']]);
    // Ticks ran in the window: the same feed carried both kinds of events.
    expect(ofType(received[0]!.events, 'status_update').length).toBeGreaterThanOrEqual(1);
  }, 70_000);

  it('sends status_update, statistics_update and instances_update of every tick to plain clients on both gateways, with the same seqs', async () => {
    const [urlA, urlB] = gatewayUrls() as [string, string];
    const topic = uniqueTopic('ticks');
    await postOk(urlA, topic, [heartbeat('i-1'), attempt('i-1', 'success'), attempt('i-1', 'failure')]);
    const a = await subscribed(urlA, topic);
    const b = await subscribed(urlB, topic);
    const from = Math.max(a.ack.head, b.ack.head);
    const ticksOf = (client: RecordingClient) =>
      ofType(client.events(topic), 'instances_update').filter((event) => event.seq > from);

    await a.client.until(
      () => `4 ticks on A (has ${ticksOf(a.client).length})`,
      () => ticksOf(a.client).length >= 4,
      10_000,
    );
    // Up to the last complete tick A has: its instances_update closes it.
    const last = ticksOf(a.client).at(-1)!.seq;
    await b.client.untilSeq(topic, last, 10_000);
    const windowOf = (client: RecordingClient) =>
      client.events(topic).filter((event) => event.seq > from && event.seq <= last);
    const onA = windowOf(a.client);
    const onB = windowOf(b.client);
    const log = await readLog(topic);

    expect(onB).toEqual(onA);
    expectExactlyTheLog(onA, log, from, a.ack.epoch, last);
    const statuses = ofType(onA, 'status_update');
    expect(statuses.length).toBeGreaterThanOrEqual(4);
    const bySeq = new Map(onA.map((event) => [event.seq, event]));
    for (const status of statuses) {
      // One tick = three events at consecutive seqs, appended in one call.
      expect([status.seq + 1, status.seq + 2].map((seq) => bySeq.get(seq)?.type)).toEqual([
        'statistics_update',
        'instances_update',
      ]);
      expect(status.source).toBe('monitor-tick');
      const statistics = bySeq.get(status.seq + 1)!.data as {
        total_attempts: number;
        successful: number;
        failed: number;
        success_rate: number;
        active_instances: number;
      };
      expect(statistics).toMatchObject({ total_attempts: 2, successful: 1, failed: 1, success_rate: 50 });
      expect(statistics.active_instances).toBe((status.data as StatusData).active_instances);
    }
    // Each tick is delivered once: as many of each kind as there are ticks.
    expect(ofType(onA, 'statistics_update')).toHaveLength(statuses.length);
    expect(ofType(onA, 'instances_update')).toHaveLength(statuses.length);
    expectRegularTicks(statuses);
  }, 30_000);

  it('resumes with since: the replay continues at last+1 while a producer posts, then live events follow, without gap or duplicate at the seam', async () => {
    const [urlA, urlB] = gatewayUrls() as [string, string];
    const topic = uniqueTopic('resume');
    await postOk(urlA, topic, [heartbeat('seed')]);
    const first = await subscribed(urlA, topic);
    const epoch = first.ack.epoch!;
    for (let round = 0; round < 3; round++) await postOk(urlA, topic, factBatch(9, round));
    await first.client.untilSeq(topic, await logHead(topic));
    const before = [...first.client.events(topic)];
    const last = first.client.last(topic);
    const gone = disconnection(first.client);
    first.client.close();
    await gone;

    // While it is away.
    for (let round = 3; round < 8; round++) await postOk(urlB, topic, factBatch(9, round));
    // And while it comes back.
    const producer = startProducer([urlA, urlB], topic, 1, 400);
    try {
      await producer.posted.reach(3, 'the producer to be under way');
      const second = await connect(urlB);
      const ack = expectOk(await second.subscribe({ topic, since: { seq: last, epoch } }));
      const postedAtAck = producer.posted.count;
      expect(ack.recovered).toBe(true);
      expect(ack.snapshot).toBeUndefined();
      expect(ack.epoch).toBe(epoch);
      expect(ack.events[0]?.seq).toBe(last + 1);
      expect(ack.events.map((event) => event.seq)).toEqual(range(last + 1, ack.head));
      // Live events follow the replay.
      await producer.posted.reach(postedAtAck + 10, 'the producer to post 10 more batches after the resume');
      await producer.stop();
      expect(producer.posted.count).toBeLessThan(400);
      const head = await logHead(topic);
      await second.untilSeq(topic, head, 15_000);
      const after = [...second.events(topic)];
      const log = await readLog(topic);

      expect(after.length).toBeGreaterThan(ack.events.length);
      expect(second.resyncs).toEqual([]);
      expectExactlyTheLog([...before, ...after], log, first.ack.head, epoch, head);
    } finally {
      await producer.stop();
    }
  }, 40_000);

  it('keeps the replay→live seam exact for 4 readers reconnecting 20 times each on alternating gateways while 3 producers post', async () => {
    const urls = gatewayUrls() as [string, string];
    const topic = uniqueTopic('churn');
    const { epoch } = await postOk(urls[0], topic, [heartbeat('seed')]);
    // B's tail follows the topic throughout (this observer); A's may start afresh when a reader arrives.
    const observer = await subscribed(urls[1], topic);
    const producers = [3, 4, 5].map((id) => startProducer(urls, topic, id, 2000));
    /** One dashboard with a flaky network: a few live events per session, then it drops and resumes on the other gateway. */
    const reader = async (id: number, batch: boolean) => {
      let session = await subscribed(urls[id % 2]!, topic, { batch });
      const from = session.ack.head;
      const sessions: PulseEvent[][] = [];
      for (let cycle = 1; cycle <= 20; cycle++) {
        await session.client.untilSeq(topic, session.ack.head + 3);
        const gone = disconnection(session.client);
        session.client.close();
        await gone;
        sessions.push([...session.client.events(topic)]);
        const last = session.client.last(topic);
        const client = await connect(urls[(id + cycle) % 2]!, { batch });
        const ack = expectOk(
          await client.subscribe({ topic, since: { seq: last, epoch }, ...(batch ? { batch } : {}) }),
        );
        expect({ reader: id, cycle, recovered: ack.recovered, first: ack.events[0]?.seq ?? ack.head + 1 }).toEqual({
          reader: id,
          cycle,
          recovered: true,
          first: last + 1,
        });
        session = { client, ack };
      }
      await session.client.untilSeq(topic, session.ack.head + 3);
      return { id, from, sessions, client: session.client };
    };
    try {
      await Promise.all(producers.map((producer) => producer.posted.reach(2, 'the producers to be under way')));
      const readers = await within(
        '4 readers to reconnect 20 times each',
        Promise.all([0, 1, 2, 3].map((id) => reader(id, id === 3))),
        30_000,
      );
      await Promise.all(producers.map((producer) => producer.stop()));
      expect(producers.map((producer) => producer.posted.count < 2000)).toEqual([true, true, true]);
      const head = await logHead(topic);
      await Promise.all(
        [...readers.map(({ client }) => client), observer.client].map((client) => client.untilSeq(topic, head)),
      );
      const log = await readLog(topic);

      for (const { id, from, sessions, client } of readers) {
        expect({ reader: id, resyncs: client.resyncs }).toEqual({ reader: id, resyncs: [] });
        expectExactlyTheLog([...sessions.flat(), ...client.events(topic)], log, from, epoch, head);
      }
      expectExactlyTheLog([...observer.client.events(topic)], log, observer.ack.head, epoch, head);
    } finally {
      await Promise.all(producers.map((producer) => producer.stop()));
    }
  }, 45_000);

  it('answers recovered: false with a snapshot when since is no longer retained or of another epoch, and BAD_REQUEST beyond the head', async () => {
    let small: PulseTestStack | undefined;
    let smallRedis: Redis | undefined;
    try {
      small = await startPulse({ gateways: 1, workers: 0, env: { ...STACK_ENV, PULSE_RETENTION: '10' } });
      smallRedis = new Redis(small.redisUrl, { maxRetriesPerRequest: 1 });
      const url = small.urls[0]!;
      const topic = uniqueTopic('retention');
      const facts = range(1, 300).map((i) =>
        i % 3 === 0 ? heartbeat(`i-${i % 7}`) : attempt(`i-${i % 7}`, i % 3 === 1 ? 'success' : 'failure'),
      );
      let epoch = '';
      for (let i = 0; i < facts.length; i += 50) epoch = (await postOk(url, topic, facts.slice(i, i + 50))).epoch;
      const retained = await readLog(topic, smallRedis);
      expect(retained.at(-1)?.seq).toBe(300);
      expect(retained.length).toBeLessThanOrEqual(11);
      expect(retained[0]!.seq).toBeGreaterThan(2);

      // Seq 1 is long gone: a snapshot of everything instead.
      const trimmed = await connect(url);
      const stale = expectOk(await trimmed.subscribe({ topic, since: { seq: 1, epoch } }));
      expect(stale).toMatchObject({ recovered: false, epoch, head: 300, events: [] });
      expect(stale.snapshot?.seq).toBe(300);
      expect(stale.snapshot?.statistics).toEqual({
        total_attempts: 200,
        successful: 100,
        failed: 100,
        success_rate: 50,
        active_instances: 7,
      });
      // … and it is live from the snapshot on.
      await postOk(url, topic, [attempt('i-1', 'success')]);
      await trimmed.untilSeq(topic, 301);
      expect(trimmed.events(topic).map((event) => event.seq)).toEqual([301]);

      // Within retention the same request recovers (so the snapshot above is about retention).
      const recent = await connect(url);
      const recovered = expectOk(await recent.subscribe({ topic, since: { seq: 298, epoch } }));
      expect(recovered).toMatchObject({ recovered: true, head: 301 });
      expect(recovered.events).toEqual((await readLog(topic, smallRedis)).filter((event) => event.seq > 298));

      // Another epoch: another log, even for a seq that this log still retains.
      const otherLog = await connect(url);
      const other = expectOk(await otherLog.subscribe({ topic, since: { seq: 299, epoch: 'another-epoch' } }));
      const rest = (await (await fetch(`${url}/api/v1/topics/${topic}/snapshot`)).json()) as SubscribeOk['snapshot'];
      expect(other).toMatchObject({ recovered: false, epoch, head: 301, events: [] });
      expect((await readLog(topic, smallRedis)).at(-1)?.seq).toBe(other.snapshot?.seq);
      expect(other.snapshot?.statistics).toEqual(rest?.statistics);
      expect(other.snapshot).toEqual(rest);

      // The right epoch but a seq the log never reached.
      const ahead = await connect(url);
      const beyond = await ahead.subscribe({ topic, since: { seq: 302, epoch } });
      expect(beyond).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
      expect(!beyond.ok && beyond.message).toContain('since.seq');
      expect(!beyond.ok && beyond.issues?.map((issue) => issue.path)).toEqual(['since.seq']);
    } finally {
      smallRedis?.disconnect();
      await small?.stop();
    }
  }, 45_000);

  it("survives kill -9 of a gateway: its clients resume on the other one with exactly the log; the other gateway's clients miss nothing", async () => {
    const alive = theStack().gateways.filter((gateway) => gateway.running);
    if (alive.length < 2) alive.push(await theStack().addGateway());
    const [gatewayA, gatewayB] = alive as [PulseProcess, PulseProcess];
    const topic = uniqueTopic('gateway-kill');
    const { epoch } = await postOk(gatewayB.url, topic, [heartbeat('seed')]);
    const onB = [await subscribed(gatewayB.url, topic), await subscribed(gatewayB.url, topic, { batch: true })];
    const onA = [
      { batch: false, ...(await subscribed(gatewayA.url, topic)) },
      { batch: true, ...(await subscribed(gatewayA.url, topic, { batch: true })) },
    ];

    const producer = startProducer([gatewayB.url], topic, 2, 400);
    try {
      await producer.posted.reach(5, 'the producer to be under way');
      await Promise.all(onA.map(({ client }) => client.untilSeq(topic, Math.min(...producer.sent.keys()), 10_000)));
      const disconnected = onA.map(({ client }) => disconnection(client));
      gatewayA.kill('SIGKILL');
      expect(await within('gateway A to exit', gatewayA.exited, 10_000)).toEqual({ code: null, signal: 'SIGKILL' });
      await Promise.all(disconnected);

      const resumed = [];
      for (const { batch, client, ack } of onA) {
        const again = await connect(gatewayB.url, { batch });
        const resume = expectOk(
          await again.subscribe({ topic, since: { seq: client.last(topic), epoch }, ...(batch ? { batch } : {}) }),
        );
        expect(resume.recovered).toBe(true);
        resumed.push({ before: [...client.events(topic)], again, first: ack });
      }
      const postedAtResume = producer.posted.count;
      await producer.posted.reach(postedAtResume + 10, 'the producer to post 10 more batches after the resume');
      await producer.stop();
      const head = await logHead(topic);
      await Promise.all(
        [...onB.map(({ client }) => client), ...resumed.map(({ again }) => again)].map((client) =>
          client.untilSeq(topic, head, 15_000),
        ),
      );
      const log = await readLog(topic);

      for (const { client, ack } of onB) {
        expect(client.resyncs).toEqual([]);
        expect(client.socket.connected).toBe(true);
        expectExactlyTheLog([...client.events(topic)], log, ack.head, epoch, head);
      }
      for (const { before, again, first } of resumed) {
        expect(again.resyncs).toEqual([]);
        expectExactlyTheLog([...before, ...again.events(topic)], log, first.head, epoch, head);
      }
    } finally {
      await producer.stop();
    }
    // Later tests (and reruns with -t) find two gateways again.
    await theStack().addGateway();
  }, 60_000);

  it('keeps ticking after kill -9 of a worker: loop_count contiguous, no tick_at twice, one tick per interval', async () => {
    const url = gatewayUrls()[0]!;
    const topic = uniqueTopic('worker-kill');
    await postOk(url, topic, [heartbeat('i-1')]);
    const { client, ack } = await subscribed(url, topic);
    const statuses = () => ofType(client.events(topic), 'status_update');
    const ticks = async (count: number, what: string) =>
      client.until(
        () => `${count} status_updates ${what} (has ${statuses().length})`,
        () => statuses().length >= count,
        10_000,
      );

    await ticks(2, 'before the kill');
    const victim = theStack().workers.find((worker) => worker.running)!;
    victim.kill('SIGKILL');
    expect(await within('the worker to exit', victim.exited, 10_000)).toEqual({ code: null, signal: 'SIGKILL' });
    const atKill = statuses().length;
    await ticks(atKill + 4, 'after the kill');
    await within('a replacement worker', theStack().addWorker(), 30_000);
    await ticks(statuses().length + 2, 'after the restart');

    const last = client.last(topic);
    const events = client.events(topic).filter((event) => event.seq <= last);
    expect(client.resyncs).toEqual([]);
    expectExactlyTheLog(events, await readLog(topic), ack.head, ack.epoch, last);
    expectRegularTicks(statuses());
  }, 60_000);
});
