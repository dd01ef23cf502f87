// Client SDK e2e: PulseClient in Node against built gateways — forced drops, resync, failover and connection states, checked against XRANGE.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import type { Socket } from 'socket.io-client';
import type { ConnectionState, PulseClient, SnapshotReason, TopicSubscription } from '#pulse/client';
import type { IngestEvent, PulseEvent, Snapshot } from '#pulse/contracts';
import type { PulseProcess } from '#pulse/stack';
import { startPulse, type PulseTestStack } from '#pulse/testing';
import { Changes, within } from './support/wait.js';

let pulse: PulseTestStack | undefined;
/** Read-only look at the ground truth: the topics' streams. */
let redis: Redis | undefined;
const watches: Watch[] = [];

beforeAll(async () => {
  // No test here needs a tick: no worker.
  pulse = await startPulse({ gateways: 2, workers: 0 });
  redis = new Redis(pulse.redisUrl, { maxRetriesPerRequest: 1 });
}, 60_000);

afterEach(() => {
  for (const watch of watches.splice(0)) watch.client.close();
});

afterAll(async () => {
  redis?.disconnect();
  await pulse?.stop();
}, 60_000);

// ---- helpers ----

function thePulse(): PulseTestStack {
  if (!pulse) throw new Error('the Pulse test stack did not start');
  return pulse;
}

/** URLs of the gateways that are running (tests kill and add some), in start order. */
function runningUrls(): string[] {
  return thePulse()
    .processes.gateways.filter((gateway) => gateway.running)
    .map((gateway) => gateway.url);
}

let topicCount = 0;
/** A topic name no other test (or run) uses. */
function uniqueTopic(name: string): string {
  topicCount += 1;
  return `client-${name}-${Date.now().toString(36)}-${process.pid}-${topicCount}`;
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
const heartbeat = (instanceId: string): IngestEvent => ({ type: 'instance.heartbeat', data: { instanceId } });
const attempt = (instanceId: string, outcome: 'success' | 'failure' = 'success'): IngestEvent => ({
  type: 'attempt.recorded',
  data: { instanceId, outcome },
});
/** `count` facts, mixed, for instances of `prefix`. */
const facts = (prefix: string, count: number): IngestEvent[] =>
  range(1, count).map((i) =>
    i % 4 === 0 ? heartbeat(`${prefix}-${i % 3}`) : attempt(`${prefix}-${i % 3}`, i % 5 === 0 ? 'failure' : 'success'),
  );

/** Posts to one gateway's REST ingest (any gateway, unlike `publish`); rejects unless 201. */
async function postTo(url: string, topic: string, events: IngestEvent[]): Promise<number[]> {
  const response = await fetch(`${url}/api/v1/topics/${topic}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ events }),
  });
  const body = (await response.json()) as { seqs?: number[] };
  if (response.status !== 201 || !body.seqs)
    throw new Error(`POST ${url} ${topic} answered ${response.status} ${JSON.stringify(body)}`);
  return body.seqs;
}

/** The whole retained log of `topic`: `XRANGE pulse:{<topic>}:log - +`. */

/** One client following one topic: records every handler call and state change, in order (`until` re-checks on each). */
class Watch extends Changes {
  readonly events: PulseEvent[] = [];
  readonly snapshots: { snapshot: Snapshot; reason: SnapshotReason }[] = [];
  readonly recoveries: { missed: number; gateway: string }[] = [];
  readonly states: { state: ConnectionState; gateway: string | null; at: number }[] = [];
  readonly errors: string[] = [];
  readonly subscription: TopicSubscription;

  constructor(
    readonly client: PulseClient,
    readonly topic: string,
  ) {
    super();
    watches.push(this);
    client.onState((state, gateway) => {
      this.states.push({ state, gateway, at: Date.now() });
      this.changed();
    });
    this.subscription = client.subscribe(topic, {
      onEvent: (event) => {
        this.events.push(event);
        this.changed();
      },
      onSnapshot: (snapshot, reason) => {
        this.snapshots.push({ snapshot, reason });
        this.changed();
      },
      onRecovered: (info) => {
        this.recoveries.push(info);
        this.changed();
      },
      onError: (error) => {
        this.errors.push(`${error.code}: ${error.message}`);
        this.changed();
      },
    });
  }

  get seq(): number {
    return this.subscription.position()?.seq ?? 0;
  }

  stateNames(from = 0): ConnectionState[] {
    return this.states.slice(from).map(({ state }) => state);
  }

  async live(what = 'live'): Promise<void> {
    await this.until(
      () => `${this.topic} ${what} (state ${this.client.state}, states ${this.stateNames().join(' → ')})`,
      () => this.client.state === 'live',
    );
  }

  async untilSeq(seq: number, timeoutMs = 10_000): Promise<void> {
    await this.until(
      () => `${this.topic} at seq ${seq} (at ${this.seq}, state ${this.client.state})`,
      () => this.seq >= seq,
      timeoutMs,
    );
  }
}

/** A client of the test stack (over `urls`, or every running gateway) following `topic`. */
function follow(topic: string, options: Parameters<PulseTestStack['client']>[0] = {}): Watch {
  return new Watch(thePulse().client(options), topic);
}

/**
 * `received` is exactly the log after `afterSeq` up to `head`: seqs afterSeq+1 … head, each
 * equal to the log's event, all of one epoch.
 */
function expectExactlyTheLog(received: PulseEvent[], log: PulseEvent[], afterSeq: number, head: number): void {
  expect(received.map((event) => event.seq)).toEqual(range(afterSeq + 1, head));
  expect(received).toEqual(log.filter((event) => event.seq > afterSeq && event.seq <= head));
  expect(new Set(received.map((event) => event.epoch)).size).toBeLessThanOrEqual(1);
}

describe('PulseClient against real gateways', () => {
  it('hands every event to onEvent once and in seq order through 50 forced disconnects while ~1000 events are posted concurrently', async () => {
    const urls = runningUrls();
    const topic = uniqueTopic('drops');
    await postTo(urls[0]!, topic, [heartbeat('seed')]);
    const watch = follow(topic);
    await watch.live('live after the first subscribe');
    const from = watch.seq;

    const DROPS = 50;
    const ROUNDS = 50;
    const POSTS_PER_ROUND = 4;
    const EVENTS_PER_POST = 5;
    const perRound = POSTS_PER_ROUND * EVENTS_PER_POST;
    let drops = 0;
    let posted = 0;
    // Rounds of concurrent posts to both gateways; a round waits until the drops are at most two rounds behind, so they stay spread over the stream.
    const producer = (async () => {
      for (let round = 0; round < ROUNDS; round++) {
        await watch.until(
          () => `drop ${round - 2} before round ${round} (drops ${drops})`,
          () => drops >= round - 2,
          20_000,
        );
        await Promise.all(
          range(1, POSTS_PER_ROUND).map((i) =>
            postTo(urls[(round + i) % urls.length]!, topic, facts(`r${round}p${i}`, EVENTS_PER_POST)),
          ),
        );
        posted += perRound;
        watch.changed();
      }
    })();
    // Each drop comes in the middle of a round's events, on a live connection (so each one is a real resume).
    const dropper = (async () => {
      for (let drop = 1; drop <= DROPS; drop++) {
        const target = from + (drop - 1) * perRound + perRound / 2;
        await watch.until(
          () => `drop ${drop}: live and seq ${target} (at ${watch.seq}, ${watch.client.state}, posted ${posted})`,
          () => watch.client.state === 'live' && watch.seq >= target,
          20_000,
        );
        watch.client.dropConnection();
        drops += 1;
        watch.changed();
      }
    })();
    await within('the producer and the 50 drops', Promise.all([producer, dropper]), 45_000);

    const log = await thePulse().log(topic);
    const head = log.at(-1)!.seq;
    expect(head).toBe(from + ROUNDS * perRound);
    await watch.untilSeq(head);
    await watch.live('live at the end');

    expectExactlyTheLog(watch.events, log, from, head);
    expect(watch.subscription.position()).toEqual({ seq: head, epoch: log[0]!.epoch });
    expect(watch.subscription.lag()).toBe(0);
    expect(watch.snapshots.map(({ reason }) => reason)).toEqual(['initial']);
    // Every drop was resumed by a replay (never a snapshot), on the gateways in turn.
    expect(watch.recoveries).toHaveLength(DROPS);
    expect(new Set(watch.recoveries.map(({ gateway }) => gateway))).toEqual(new Set(urls));
    expect(watch.recoveries.some(({ missed }) => missed > 0)).toBe(true);
    expect(watch.errors).toEqual([]);
  }, 60_000);

  it('asks for viewer counts only with onPresence: that subscriber is told of every viewer, the other is sent none', async () => {
    const topic = uniqueTopic('presence');
    const [url] = runningUrls() as [string];
    const counts: number[] = [];
    const changes = new Changes();
    const asker = thePulse().client({ urls: [url] });
    const plain = follow(topic, { urls: [url] });
    asker.subscribe(topic, {
      onPresence: (viewers) => {
        counts.push(viewers);
        changes.changed();
      },
    });
    try {
      // The SDK's socket, looked at from outside: whatever the gateway sends the subscriber without onPresence.
      const socket = (plain.client as unknown as { socket: Socket }).socket;
      const toPlain: unknown[] = [];
      socket.on('presence', (info: unknown) => toPlain.push(info));
      await plain.live();
      await changes.until(
        () => `the asker told of 2 viewers (told ${counts.join(', ')})`,
        () => counts.at(-1) === 2,
      );
      // One ack on the plain subscriber's socket: every frame the gateway sent it before has arrived.
      await socket.timeout(10_000).emitWithAck('unsubscribe', { topic: `${topic}-other` });
      expect(toPlain).toEqual([]);
    } finally {
      asker.close();
    }
  });

  it('takes a snapshot (not_recovered) for a gap it cannot replay, then continues from the snapshot seq without duplicate', async () => {
    // Deterministic gap: the client sits on gateway A, which is frozen (SIGSTOP) so that it
    // hears nothing and does not notice, while B appends far past the retention of 10. The
    // forced drop then resumes on B from a seq that is gone.
    const small = await startPulse({ gateways: 2, workers: 0, env: { PULSE_RETENTION: '10' } });
    const [gatewayA, gatewayB] = small.processes.gateways as [PulseProcess, PulseProcess];
    try {
      const topic = uniqueTopic('trimmed');
      await postTo(gatewayA.url, topic, [heartbeat('seed')]);
      const watch = new Watch(small.client({ urls: [gatewayA.url, gatewayB.url] }), topic);
      await watch.live();
      expect(watch.client.gateway).toBe(gatewayA.url);
      await postTo(gatewayA.url, topic, facts('before', 5));
      await watch.untilSeq(6);

      gatewayA.kill('SIGSTOP');
      try {
        for (let i = 0; i < 6; i++) await postTo(gatewayB.url, topic, facts(`away${i}`, 50));
        const retained = await small.log(topic);
        expect(retained.at(-1)?.seq).toBe(306);
        expect(retained[0]!.seq).toBeGreaterThan(7);
        expect(watch.seq).toBe(6);
        watch.client.dropConnection();
        await watch.until(
          () => `a second snapshot (has ${watch.snapshots.length})`,
          () => watch.snapshots.length === 2,
        );
        await watch.live('live after the snapshot');
      } finally {
        gatewayA.kill('SIGCONT');
      }
      const [{ snapshot, reason }] = watch.snapshots.slice(1) as [{ snapshot: Snapshot; reason: SnapshotReason }];
      expect(reason).toBe('not_recovered');
      expect(snapshot.seq).toBe(306);
      expect(snapshot.epoch).toBe((await small.log(topic))[0]!.epoch);
      expect(watch.client.gateway).toBe(gatewayB.url);
      expect(watch.subscription.position()).toEqual({ seq: 306, epoch: snapshot.epoch });
      expect(watch.recoveries).toEqual([]);

      // Live again from the snapshot on, through both gateways.
      await postTo(gatewayA.url, topic, facts('after-a', 10));
      await postTo(gatewayB.url, topic, facts('after-b', 10));
      await watch.untilSeq(326);
      const log = await small.log(topic);
      expect(watch.events.map((event) => event.seq)).toEqual([...range(2, 6), ...range(307, 326)]);
      // The log keeps only the last ~10 now: what it still has matches what was handed over.
      expect(log[0]!.seq).toBeGreaterThan(306);
      expect(watch.events.filter((event) => event.seq >= log[0]!.seq)).toEqual(log);
      expect(watch.subscription.lag()).toBe(0);
    } finally {
      await small.stop();
    }
  }, 45_000);

  it('takes a snapshot (resync epoch_changed) when its log is replaced by another life, follows the new epoch, and lag() is 0 once caught up', async () => {
    const urls = runningUrls();
    const topic = uniqueTopic('epoch');
    const donor = uniqueTopic('epoch-donor');
    await postTo(urls[0]!, topic, facts('old', 30));
    const watch = follow(topic, { urls: [urls[0]!] });
    await watch.live();
    await postTo(urls[0]!, topic, facts('old-live', 5));
    await watch.untilSeq(35);
    const oldEpoch = watch.subscription.position()!.epoch;

    // Another life of the log: 3 events appended elsewhere, moved in place of the topic's keys
    // in one MULTI (as a restore from another history would do), so the gateway sees either the
    // old log or the new one, never none.
    await postTo(urls[0]!, donor, facts('new', 3));
    const [oldKeys, donorKeys] = await Promise.all([
      redis!.keys(`pulse:{${topic}}:*`),
      redis!.keys(`pulse:{${donor}}:*`),
    ]);
    const swap = redis!.multi().del(...oldKeys);
    for (const key of donorKeys) swap.rename(key, `pulse:{${topic}}:${key.slice(`pulse:{${donor}}:`.length)}`);
    await swap.exec();
    expect((await thePulse().log(topic))[0]!.epoch).not.toBe(oldEpoch);

    // The gateway notices within its block time (5 s) and sends resync. The new log's head (3) is
    // below what the tail saw (35), so the gateway also gives the log a new epoch of its own: the
    // seqs 4.. it will reuse can never be taken as the old life's.
    await watch.until(
      () => `a second snapshot (has ${watch.snapshots.length})`,
      () => watch.snapshots.length === 2,
      15_000,
    );
    await watch.live('live after the resync');
    const newEpoch = (await redis!.hget(`pulse:{${topic}}:meta`, 'epoch'))!;
    expect(newEpoch).not.toBe(oldEpoch);
    const [{ snapshot, reason }] = watch.snapshots.slice(1) as [{ snapshot: Snapshot; reason: SnapshotReason }];
    expect(reason).toBe('epoch_changed');
    expect(snapshot).toMatchObject({ epoch: newEpoch, seq: 3 });
    expect(watch.subscription.position()).toEqual({ seq: 3, epoch: newEpoch });

    await postTo(urls[1]!, topic, facts('new-live', 5));
    await watch.untilSeq(8);
    const log = await thePulse().log(topic);
    expect(watch.events.map((event) => [event.epoch, event.seq])).toEqual([
      ...range(31, 35).map((seq) => [oldEpoch, seq]),
      ...range(4, 8).map((seq) => [newEpoch, seq]),
    ]);
    expect(watch.events.slice(5)).toEqual(log.filter((event) => event.seq > 3));
    // Caught up with the new log: nothing is pending (the old life's head does not count).
    expect(watch.subscription.lag()).toBe(0);
  }, 30_000);

  it('fails over when its gateway is killed (SIGKILL): moves to the next URL, recovering → live, nothing lost', async () => {
    const stack = thePulse().processes;
    const gatewayB = stack.gateways.find((gateway) => gateway.running)!;
    const gatewayA = await stack.addGateway();
    const topic = uniqueTopic('failover');
    await postTo(gatewayB.url, topic, [heartbeat('seed')]);
    const watch = follow(topic, { urls: [gatewayA.url, gatewayB.url] });
    await watch.live();
    expect(watch.client.gateway).toBe(gatewayA.url);
    const from = watch.seq;

    let stopped = false;
    let rounds = 0;
    const producer = (async () => {
      for (; rounds < 400 && !stopped; rounds++) {
        await postTo(gatewayB.url, topic, facts(`p${rounds}`, 3));
        watch.changed();
      }
    })();
    try {
      await watch.untilSeq(from + 30);
      const statesAtKill = watch.states.length;
      gatewayA.kill('SIGKILL');
      expect(await within('gateway A to exit', gatewayA.exited, 10_000)).toEqual({ code: null, signal: 'SIGKILL' });
      await watch.until(
        () => `a resume on B (${watch.stateNames(statesAtKill).join(' → ')}, ${watch.client.gateway})`,
        () => watch.recoveries.length === 1 && watch.client.state === 'live',
      );
      const resumedAt = rounds;
      await watch.until(
        () => `10 more rounds after the resume (${rounds - resumedAt})`,
        () => rounds >= resumedAt + 10,
      );
      stopped = true;
      await producer;
      expect(rounds).toBeLessThan(400);

      const log = await thePulse().log(topic);
      const head = log.at(-1)!.seq;
      await watch.untilSeq(head);
      expect(watch.client.gateway).toBe(gatewayB.url);
      expect(watch.stateNames(statesAtKill)).toEqual(['recovering', 'live']);
      expect(watch.states.slice(statesAtKill).map(({ gateway }) => gateway)).toEqual([gatewayA.url, gatewayB.url]);
      expect(watch.recoveries).toEqual([{ missed: expect.any(Number), gateway: gatewayB.url }]);
      expect(watch.snapshots.map(({ reason }) => reason)).toEqual(['initial']);
      expectExactlyTheLog(watch.events, log, from, head);
    } finally {
      stopped = true;
      await producer;
    }
  }, 30_000);

  describe('connection states (onState)', () => {
    it('goes connecting → live on the first connection (recovering means reconnecting or resuming, not a first answer)', async () => {
      const topic = uniqueTopic('first');
      await thePulse().publish(topic, [heartbeat('seed')]);
      const watch = follow(topic);
      expect(watch.client.state).toBe('connecting');
      await watch.live();
      expect(watch.snapshots.map(({ reason }) => reason)).toEqual(['initial']);
      expect(watch.stateNames()).toEqual(['live']);
    });

    it('goes recovering → live after a drop', async () => {
      const topic = uniqueTopic('drop');
      await thePulse().publish(topic, [heartbeat('seed')]);
      const watch = follow(topic);
      await watch.live();
      const atLive = watch.states.length;

      watch.client.dropConnection();
      expect(watch.client.state).toBe('recovering');
      await watch.until(
        () => `a resume (${watch.stateNames(atLive).join(' → ')})`,
        () => watch.recoveries.length === 1 && watch.client.state === 'live',
      );
      expect(watch.stateNames(atLive)).toEqual(['recovering', 'live']);
    });

    it('turns stale after staleAfterMs with every gateway down, and live again when one is back', async () => {
      const stack = thePulse().processes;
      const gateway = await stack.addGateway();
      const port = Number(new URL(gateway.url).port);
      const topic = uniqueTopic('stale');
      await postTo(gateway.url, topic, [heartbeat('seed')]);
      const watch = follow(topic, {
        urls: [gateway.url],
        staleAfterMs: 300,
        reconnectDelayMs: 50,
        maxReconnectDelayMs: 200,
      });
      await watch.live();
      const atLive = watch.states.length;

      gateway.kill('SIGKILL');
      await within('the gateway to exit', gateway.exited, 10_000);
      await watch.until(
        () => `stale (${watch.stateNames(atLive).join(' → ')})`,
        () => watch.client.state === 'stale',
        5_000,
      );
      expect(watch.stateNames(atLive)).toEqual(['recovering', 'stale']);
      // Timers may fire a little early; 300 ms is the contract, give or take a tick.
      expect(watch.states[atLive + 1]!.at - watch.states[atLive]!.at).toBeGreaterThanOrEqual(290);

      // Events appended while it is away arrive once a gateway answers on its URL again.
      await postTo(runningUrls()[0]!, topic, facts('away', 5));
      await stack.addGateway(port);
      await watch.until(
        () => `live again (${watch.stateNames(atLive).join(' → ')})`,
        () => watch.client.state === 'live' && watch.recoveries.length === 1,
        10_000,
      );
      await watch.untilSeq(6);
      expect(watch.stateNames(atLive)).toEqual(['recovering', 'stale', 'live']);
      expectExactlyTheLog(watch.events, await thePulse().log(topic), 1, 6);
    }, 30_000);
  });
});
