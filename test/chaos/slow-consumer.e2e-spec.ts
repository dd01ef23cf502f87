// Chaos: a client that stops reading is cut loose once its unsent output passes the bound; the gateway's memory stays bounded, others never notice, and it resumes when it returns.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { io } from 'socket.io-client';
import type { SubscribeAck } from '#pulse/contracts';
import type { PulseClientSocket } from '../support/clients.js';
import { Changes, poll } from '../support/wait.js';
import { History } from './support/history.js';
import { postEvents } from './support/load.js';
import { verdict } from './support/report.js';
import { ChaosStack, LONG, rss, scale, uniqueTopic } from './support/stack.js';
import { SdkSubscriber, settle, WireSubscriber, type Subscriber } from './support/subscribers.js';

/** The bound under test (PULSE_SLOW_CONSUMER_BYTES): small, so that a few seconds of traffic pass it, yet ten times one post's frame, so that a reader merely busy is not cut. */
const BOUND = 4 * 1024 * 1024;
const STALL_MS = scale(8000, 30_000);

let stack: ChaosStack;
const changes = new Changes();

beforeAll(async () => {
  stack = await ChaosStack.start({ gateways: 1, workers: 0, env: { PULSE_SLOW_CONSUMER_BYTES: String(BOUND) } });
}, 90_000);

afterAll(async () => {
  await stack?.stop();
}, 60_000);

/** The TCP socket under a socket.io-client websocket connection, to stop and resume reading it. */
function tcpOf(socket: PulseClientSocket): { pause(): void; resume(): void } {
  const transport = socket.io.engine.transport as unknown as { ws?: { _socket?: { pause(): void; resume(): void } } };
  const tcp = transport.ws?._socket;
  if (!tcp) throw new Error('no websocket under this socket.io-client connection');
  return tcp;
}

/** 100 heartbeats of about 4 KB (sixteen labels): the topic moves fast in bytes, slowly in seqs. */
const labels = Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`label-${i}`, 'x'.repeat(250)]));
const bulky = (n: number) =>
  Array.from({ length: 100 }, (_, i) => ({
    type: 'instance.heartbeat',
    data: { instanceId: `i-${(n + i) % 5}`, meta: { ...labels, n: `${n}-${i}` } },
  }));

describe(`slow consumer (${LONG ? 'long' : 'short'})`, () => {
  it(
    'is disconnected once its buffer passes the bound; gateway memory stays bounded; the others are untouched; on return it resumes',
    async () => {
      const topic = uniqueTopic('slow');
      const url = stack.urls[0]!;
      expect((await postEvents(url, topic, bulky(0))).status).toBe(201);
      const others: Subscriber[] = [
        stack.track(new SdkSubscriber(stack, topic, 'sdk-0', changes)),
        stack.track(new WireSubscriber(() => stack.urls, topic, 'wire-1', changes)),
        stack.track(new WireSubscriber(() => stack.urls, topic, 'wire-batch-2', changes, { batch: true })),
      ];
      const slow: PulseClientSocket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
      stack.track({ close: () => slow.disconnect() });
      await new Promise<void>((resolve) => slow.once('connect', () => resolve()));
      const ack = (await slow.timeout(5000).emitWithAck('subscribe', { topic, batch: true })) as SubscribeAck;
      expect(ack.ok).toBe(true);
      let lastSeq = ack.ok ? ack.head : 0;
      const epoch = (ack.ok && ack.epoch) || '';
      slow.on('events', (events) => (lastSeq = Math.max(lastSeq, events.at(-1)!.seq)));

      const gatewayPid = stack.processes.gateways[0]!.pid;
      const before = rss(gatewayPid);
      tcpOf(slow).pause();
      let peak = before;
      let n = 1;
      const deadline = Date.now() + STALL_MS;
      const cutLoose = () => stack.lines.some(({ line }) => line.includes('cut loose'));
      // Traffic until the gateway says it cut the slow socket loose (it must within the stall).
      while (Date.now() < deadline && !cutLoose()) {
        expect((await postEvents(url, topic, bulky(n++))).status).toBe(201);
        peak = Math.max(peak, rss(gatewayPid));
      }
      const posted = n * 100;
      expect(cutLoose()).toBe(true);
      // The gateway let go of it: the topic's viewers across the cluster are the three others.
      const viewers = async () =>
        ((await (await fetch(`${url}/api/v1/admin/presence`)).json()) as { topics: Record<string, number> }).topics[
          topic
        ] ?? 0;
      await poll('the slow socket to leave the topic', async () => (await viewers()) <= others.length, {
        timeoutMs: 10_000,
        pauseMs: 100,
      });
      // Only the one that stopped reading was cut: the others are all still live here.
      expect(stack.lines.filter(({ line }) => line.includes('cut loose')).length).toBe(1);
      expect(await viewers()).toBe(others.length);
      // The client notices on its own (a stalled read, a ping timeout) and drops the old connection;
      // what the kernel still held for it is gone with it.
      slow.disconnect();

      // It comes back and resumes from its last seq, exactly.
      const resumed = stack.track(new ResumingSubscriber(url, topic, { epoch, seq: lastSeq }, changes));
      await settle(stack, changes, [...others, resumed], 60_000);
      const result = await verdict('slow consumer', stack, [...others, resumed], {
        extra: `bound=${BOUND}B posted-until-cut=${posted} rss-before=${mb(before)} rss-peak=${mb(peak)}`,
      });
      expect(result.findings).toEqual([]);
      expect(result.summary.resyncs).toBe(0);
      expect(resumed.ack?.recovered).toBe(true);
      // Bounded: the stalled socket cannot make the gateway hold the whole stall's traffic (here ~4 KB × posted).
      expect(peak - before).toBeLessThan(200 * 1024 * 1024);
      expect(stack.unhandled()).toEqual([]);
    },
    STALL_MS + 120_000,
  );
});

const mb = (bytes: number) => `${Math.round(bytes / 1024 / 1024)}MB`;

/** A wire subscriber that starts from a given position (a client returning with its since). */
class ResumingSubscriber implements Subscriber {
  readonly history = new History('slow-returned');
  readonly socket: PulseClientSocket;
  ack: (SubscribeAck & { recovered?: boolean }) | null = null;

  constructor(
    url: string,
    readonly topic: string,
    since: { epoch: string; seq: number },
    changes: Changes,
  ) {
    this.history.snapshot({ topic, ...since }, 'returned');
    this.socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
    this.socket.on('events', (events) => {
      for (const event of events) this.history.event(event);
      changes.changed();
    });
    this.socket.on('connect', () => {
      this.socket.emit('subscribe', { topic, since, batch: true }, (ack: SubscribeAck) => {
        this.ack = ack;
        if (ack.ok && !ack.recovered) this.history.snapshot(ack.snapshot!, 'not_recovered');
        if (ack.ok) for (const event of ack.events) this.history.event(event);
        changes.changed();
      });
    });
  }

  close(): void {
    this.socket.disconnect();
  }
}
