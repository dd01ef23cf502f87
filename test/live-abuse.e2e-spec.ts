// Work per request on the live path: clients that stop reading while sending resumes (each asking for the whole log) leave the gateway's memory bounded and the other subscribers untouched.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { io } from 'socket.io-client';
import type { ReplayAck, SubscribeAck } from '#pulse/contracts';
import type { PulseClientSocket } from './support/clients.js';
import { Changes, poll } from './support/wait.js';
import { checkHistories } from './chaos/support/history.js';
import { postEvents } from './chaos/support/load.js';
import { ChaosStack, uniqueTopic } from './chaos/support/stack.js';
import { SdkSubscriber, settle, WireSubscriber, type Subscriber } from './chaos/support/subscribers.js';

/** The bounds under test: an answer carries at most 256 KiB of events; a socket may have 1 MiB unsent. */
const ACK_BYTES = 256 * 1024;
const SLOW_BYTES = 1024 * 1024;
/** Stalled clients, one after another, each sending bursts of this many resumes from seq 0 (every 100 ms) without reading. */
const ATTACKERS = 6;
const BURST = 5;

let stack: ChaosStack;
const changes = new Changes();

beforeAll(async () => {
  stack = await ChaosStack.start({
    gateways: 1,
    workers: 0,
    env: { PULSE_MAX_ACK_BYTES: String(ACK_BYTES), PULSE_SLOW_CONSUMER_BYTES: String(SLOW_BYTES) },
  });
}, 90_000);

afterAll(async () => {
  await stack?.stop();
}, 60_000);

/** The TCP socket under a socket.io-client websocket connection, to stop reading it. */
function tcpOf(socket: PulseClientSocket): { pause(): void } {
  const transport = socket.io.engine.transport as unknown as { ws?: { _socket?: { pause(): void } } };
  const tcp = transport.ws?._socket;
  if (!tcp) throw new Error('no websocket under this socket.io-client connection');
  return tcp;
}

/** 100 heartbeats of about 4 KB each: 2,000 of them make a log of 8 MB that one resume from seq 0 asks for whole. */
const labels = Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`label-${i}`, 'x'.repeat(250)]));
const bulky = (n: number) =>
  Array.from({ length: 100 }, (_, i) => ({
    type: 'instance.heartbeat',
    data: { instanceId: `i-${(n + i) % 5}`, meta: { ...labels, n: `${n}-${i}` } },
  }));

/** The gateway's resident set and used heap, as its /metrics says. */
async function memory(url: string): Promise<{ rss: number; heap: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: value('process_resident_memory_bytes'), heap: value('nodejs_heap_size_used_bytes') };
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

describe('live path under abuse', () => {
  it('an answer is bounded in bytes; a resume past it continues in event frames, exactly, then live; reads cost rate-limit points by their size', async () => {
    const topic = uniqueTopic('ack-bytes');
    const url = stack.urls[0]!;
    for (let n = 0; n < 5; n++) expect((await postEvents(url, topic, bulky(n * 100))).status).toBe(201);
    const socket: PulseClientSocket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
    stack.track({ close: () => socket.disconnect() });
    const seqs: number[] = [];
    socket.on('events', (events) => {
      for (const event of events) seqs.push(event.seq);
      changes.changed();
    });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const epoch = (await stack.head(topic)).epoch;
    const ack = (await socket
      .timeout(10_000)
      .emitWithAck('subscribe', { topic, since: { seq: 0, epoch }, batch: true })) as SubscribeAck;
    if (!ack.ok) throw new Error(`refused: ${ack.message}`);
    expect(ack).toMatchObject({ recovered: true, head: 500 });
    // 500 events of 4 KB do not fit in 256 KiB: the answer has the first ones, frames the rest.
    expect(ack.events.length).toBeGreaterThan(0);
    expect(Buffer.byteLength(JSON.stringify(ack.events))).toBeLessThanOrEqual(ACK_BYTES + 1024);
    expect(ack.events.length).toBeLessThan(500);
    expect((await postEvents(url, topic, bulky(9000))).status).toBe(201);
    await poll('the resumed socket to reach seq 600', () => seqs.at(-1) === 600, { timeoutMs: 20_000 });
    expect([...ack.events.map((event) => event.seq), ...seqs]).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
    // A replay is bounded the same way: the client reads on from the seq after its last.
    const replay = (await socket
      .timeout(10_000)
      .emitWithAck('replay', { topic, fromSeq: 1, limit: 1000 })) as ReplayAck;
    if (!replay.ok) throw new Error(`refused: ${replay.message}`);
    expect(replay.events.length).toBe(ack.events.length);
    // Reads cost rate-limit points by their size: a replay of 1,000 (small) events costs 11 of the
    // connection's 200 a second, so a burst of 40 (40 points as plain requests) is partly refused.
    const small = uniqueTopic('ack-cost');
    for (let n = 0; n < 2; n++)
      expect(
        (
          await postEvents(
            url,
            small,
            Array.from({ length: 500 }, (_, i) => ({ type: 'instance.heartbeat', data: { instanceId: `i-${i % 5}` } })),
          )
        ).status,
      ).toBe(201);
    const burst = (await Promise.all(
      Array.from({ length: 40 }, () =>
        socket.timeout(10_000).emitWithAck('replay', { topic: small, fromSeq: 1, limit: 1000 }),
      ),
    )) as ReplayAck[];
    const refused = burst.filter((answer) => !answer.ok);
    expect(refused.length).toBeGreaterThan(0);
    expect(burst.length - refused.length).toBeLessThanOrEqual(200 / 11 + 1);
    expect(refused[0]).toMatchObject({
      ok: false,
      code: 'RATE_LIMITED',
      message: expect.stringContaining('(PULSE_RATE_LIMIT_EVENTS_PER_POINT)'),
    });
    socket.disconnect();
  }, 60_000);

  it('clients that stop reading while sending resumes of the whole log are cut loose; memory stays bounded; the others never notice', async () => {
    const topic = uniqueTopic('ack-flood');
    const url = stack.urls[0]!;
    for (let n = 0; n < 20; n++) expect((await postEvents(url, topic, bulky(n * 100))).status).toBe(201);
    const others: Subscriber[] = [
      stack.track(new SdkSubscriber(stack, topic, 'sdk-0', changes)),
      stack.track(new WireSubscriber(() => stack.urls, topic, 'wire-batch-1', changes, { batch: true })),
    ];
    await settle(stack, changes, others, 30_000);
    const epoch = (await stack.head(topic)).epoch;
    const before = await memory(url);
    let peak = before;
    const cuts = () => stack.lines.filter(({ line }) => line.includes('cut loose')).length;
    let posted = 20;
    for (let i = 0; i < ATTACKERS; i++) {
      const attacker: PulseClientSocket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
      stack.track({ close: () => attacker.disconnect() });
      await new Promise<void>((resolve) => attacker.once('connect', () => resolve()));
      tcpOf(attacker).pause();
      // The others keep getting live events meanwhile.
      expect((await postEvents(url, topic, bulky(posted++ * 100))).status).toBe(201);
      // Bursts of resumes, each asking for the whole 8 MB log, until the gateway cuts the client
      // loose: before the bounds, every answer was buffered whole for a socket that never reads.
      await poll(
        `attacker ${i + 1} to be cut loose`,
        async () => {
          for (let r = 0; r < BURST; r++)
            attacker.emit('subscribe', { topic, since: { seq: 0, epoch }, batch: true }, () => undefined);
          const now = await memory(url);
          peak = { rss: Math.max(peak.rss, now.rss), heap: Math.max(peak.heap, now.heap) };
          return cuts() >= i + 1;
        },
        { timeoutMs: 30_000, pauseMs: 100 },
      );
      attacker.disconnect();
    }
    expect((await postEvents(url, topic, bulky(posted * 100))).status).toBe(201);
    await settle(stack, changes, others, 60_000);
    const after = await memory(url);
    process.stdout.write(
      `ack flood: ${ATTACKERS} stalled clients sending ${BURST} resumes of ${mb(8 * 1024 * 1024)} every 100 ms until cut loose; gateway rss ${mb(before.rss)} → peak ${mb(peak.rss)} → ${mb(after.rss)}, heap ${mb(before.heap)} → peak ${mb(peak.heap)} → ${mb(after.heap)}\n`,
    );
    // Only the stalled ones were cut; the others have every event exactly once, in order, no resync.
    expect(cuts()).toBe(ATTACKERS);
    const result = checkHistories(
      others.map((subscriber) => subscriber.history),
      [await stack.readLog(topic)],
    );
    expect(result.findings).toEqual([]);
    expect(result.summary.resyncs).toBe(0);
    // Bounded (generously, the machine is shared): unbounded, each stalled client would hold 8 MB per resume answered.
    expect(peak.rss - before.rss).toBeLessThan(200 * 1024 * 1024);
    expect(peak.heap - before.heap).toBeLessThan(150 * 1024 * 1024);
    expect(stack.unhandled()).toEqual([]);
  }, 300_000);
});
