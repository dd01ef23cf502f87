// Client SDK e2e against scripted Socket.IO gateways: what a real one does only by bad luck (drop at once, never answer, answer late) made to happen every time.
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Server, type Socket as ServerSocket } from 'socket.io';
import { PulseClient, type PulseClientOptions } from '#pulse/client';
import type { ErrorBody, PulseEvent, Snapshot, SubscribeAck } from '#pulse/contracts';
import { PROTOCOL_VERSION } from '#pulse/contracts/version';
import { Changes, pause, within } from './support/wait.js';

type Ack = (answer: unknown) => void;

/** A Socket.IO server on a free loopback port that plays a gateway as `script` says. */
class ScriptedGateway {
  readonly connected: number[] = [];
  private constructor(
    private readonly http: HttpServer,
    readonly io: Server,
    readonly url: string,
  ) {}

  static async start(script: (socket: ServerSocket) => void): Promise<ScriptedGateway> {
    const http = createServer();
    const io = new Server(http);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const gateway = new ScriptedGateway(http, io, `http://127.0.0.1:${(http.address() as AddressInfo).port}`);
    io.on('connection', (socket) => {
      gateway.connected.push(Date.now());
      script(socket);
    });
    gateways.push(gateway);
    return gateway;
  }

  async close(): Promise<void> {
    const closing = this.io.close();
    this.http.closeAllConnections();
    await closing;
  }
}

const gateways: ScriptedGateway[] = [];
const clients: PulseClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(gateways.splice(0).map((gateway) => gateway.close()));
});

function client(options: PulseClientOptions): PulseClient {
  const created = new PulseClient(options);
  clients.push(created);
  return created;
}

const EPOCH = 'e1';
const event = (topic: string, seq: number): PulseEvent => ({
  topic,
  seq,
  epoch: EPOCH,
  type: 'attempt.recorded',
  ts: Date.now(),
  data: { instanceId: 'a', outcome: 'success' },
});
const snapshot = (topic: string, seq: number): Snapshot =>
  ({ topic, epoch: seq === 0 ? null : EPOCH, seq, statistics: {}, instances: [] }) as unknown as Snapshot;
const answer = (topic: string, seq: number): SubscribeAck => ({
  ok: true,
  topic,
  epoch: seq === 0 ? null : EPOCH,
  head: seq,
  recovered: false,
  snapshot: snapshot(topic, seq),
  events: [],
});

/** A gateway of this protocol that answers every subscribe with an empty topic. */
function plainGateway(socket: ServerSocket): void {
  socket.emit('hello', { protocol: PROTOCOL_VERSION });
  socket.on('subscribe', (request: { topic: string }, ack: Ack) => ack(answer(request.topic, 0)));
}

/** Records, in one list, the handler calls of one topic and the client's states: `state live`, `snapshot 0 initial`, `event 3`, `error UNAVAILABLE`. */
function record(pulse: PulseClient, topic: string): { calls: string[]; changes: Changes } {
  const calls: string[] = [];
  const changes = new Changes();
  const note = (call: string) => {
    calls.push(call);
    changes.changed();
  };
  pulse.onState((state) => note(`state ${state}`));
  pulse.subscribe(topic, {
    onEvent: (received) => note(`event ${received.seq}`),
    onSnapshot: (received, reason) => note(`snapshot ${received.seq} ${reason}`),
    onRecovered: ({ missed }) => note(`recovered ${missed}`),
    onError: (error) => note(`error ${error.code}`),
  });
  return { calls, changes };
}

describe('PulseClient reconnecting', () => {
  it.each([
    ['says hello in another protocol version', PROTOCOL_VERSION + 1],
    ['disconnects every socket at once', null],
  ])(
    'backs off from a gateway that accepts the connection and then %s',
    async (_what, protocol) => {
      const gateway = await ScriptedGateway.start((socket) => {
        if (protocol === null) socket.disconnect(true);
        else socket.emit('hello', { protocol });
      });
      const pulse = client({ urls: [gateway.url], reconnectDelayMs: 200, maxReconnectDelayMs: 5000 }).connect();
      // A window of 2 s: doubling from 200 ms connects at about 0, 0, 200, 600 and 1400 ms.
      await pause(2000);
      pulse.close();
      expect(gateway.connected.length).toBeGreaterThanOrEqual(3);
      expect(gateway.connected.length).toBeLessThanOrEqual(7);
      const gaps = gateway.connected.slice(1).map((at, i) => at - gateway.connected[i]!);
      expect(gaps.at(-1)).toBeGreaterThanOrEqual(300);
    },
    20_000,
  );

  it('gives up on a token function that does not answer within ackTimeoutMs, says so, and asks it again', async () => {
    const gateway = await ScriptedGateway.start(plainGateway);
    let asked = 0;
    const pulse = client({
      urls: [gateway.url],
      ackTimeoutMs: 1000,
      // The first answer never comes (a token fetch stuck on a dead network).
      token: () => (++asked === 1 ? new Promise<string>(() => undefined) : 'token'),
    });
    const errors: ErrorBody[] = [];
    pulse.onError((error) => errors.push(error));
    const { calls, changes } = record(pulse, 'orders');
    pulse.connect();
    await changes.until(
      () => `live after the token function hung once (calls ${calls.join(', ')}, asked ${asked})`,
      () => pulse.state === 'live',
      10_000,
    );
    expect(asked).toBe(2);
    expect(errors).toEqual([
      expect.objectContaining({ code: 'UNAVAILABLE', message: expect.stringContaining('the token function') }),
    ]);
    expect(errors[0]!.message).toContain('1000 ms');
  }, 20_000);

  it('leaves a gateway that does not complete the handshake within ackTimeoutMs for the next one', async () => {
    // Its middleware never lets the connection through (a gateway whose Redis stalls while it checks a token).
    const stuck = await ScriptedGateway.start(plainGateway);
    stuck.io.use(() => undefined);
    const working = await ScriptedGateway.start(plainGateway);
    const pulse = client({ urls: [stuck.url, working.url], ackTimeoutMs: 1000 });
    const errors: ErrorBody[] = [];
    pulse.onError((error) => errors.push(error));
    const { calls, changes } = record(pulse, 'orders');
    pulse.connect();
    await changes.until(
      () => `live on the second gateway (calls ${calls.join(', ')}, on ${pulse.gateway})`,
      () => pulse.state === 'live',
      10_000,
    );
    expect(pulse.gateway).toBe(working.url);
    expect(errors).toEqual([
      expect.objectContaining({ code: 'UNAVAILABLE', message: expect.stringContaining(stuck.url) }),
    ]);
  }, 20_000);
});

describe('PulseClient subscribing', () => {
  it('is not live on a first subscribe refused UNAVAILABLE (nothing to show yet), but stays live on a resume refused so', async () => {
    let subscribes = 0;
    const gateway = await ScriptedGateway.start((socket) => {
      socket.emit('hello', { protocol: PROTOCOL_VERSION });
      socket.on('subscribe', (request: { topic: string; since?: { seq: number } }, ack: Ack) => {
        subscribes += 1;
        // The first subscribe of each connection finds the gateway's Redis away; the retry does not.
        if (subscribes % 2 === 1)
          return ack({ ok: false, code: 'UNAVAILABLE', message: `cannot read the log of ${request.topic} now` });
        if (!request.since) return ack(answer(request.topic, 0));
        ack({ ok: true, topic: request.topic, epoch: null, head: 0, recovered: true, events: [] });
      });
    });
    const pulse = client({ urls: [gateway.url] });
    const { calls, changes } = record(pulse, 'orders');
    pulse.connect();
    await changes.until(
      () => `live after the retry (calls ${calls.join(', ')})`,
      () => pulse.state === 'live',
      10_000,
    );
    expect(calls).toEqual(['error UNAVAILABLE', 'snapshot 0 initial', 'state live']);

    calls.length = 0;
    pulse.dropConnection();
    await changes.until(
      () => `the resume after its retry (calls ${calls.join(', ')})`,
      () => calls.includes('recovered 0'),
      10_000,
    );
    // It has its topic's state to show, and nothing is appended while Redis is away.
    expect(calls).toEqual(['state recovering', 'state live', 'error UNAVAILABLE', 'recovered 0']);
  }, 20_000);

  it('starts a subscription made again (unsubscribe, subscribe) with its snapshot, never with frames of the one before', async () => {
    const topic = 'orders';
    let subscribes = 0;
    let replays = 0;
    const gateway = await ScriptedGateway.start((socket) => {
      socket.emit('hello', { protocol: PROTOCOL_VERSION });
      socket.on('subscribe', (_request: unknown, ack: Ack) => {
        subscribes += 1;
        if (subscribes === 1) return ack(answer(topic, 1000));
        // The second answer takes a Redis round trip; live events follow it.
        setTimeout(() => {
          ack(answer(topic, 1001));
          socket.emit('events', [event(topic, 1002)]);
        }, 50);
      });
      // Seq 1001 was on its way to the first subscription when the unsubscribe was read.
      socket.on('unsubscribe', (_request: unknown, ack: Ack) => {
        socket.emit('events', [event(topic, 1001)]);
        ack({ ok: true, topic });
      });
      socket.on('replay', (request: { fromSeq: number; limit?: number }, ack: Ack) => {
        replays += 1;
        const events = Array.from({ length: request.limit ?? 1000 }, (_, i) => event(topic, request.fromSeq + i));
        ack({ ok: true, topic, epoch: EPOCH, head: 1001, events });
      });
    });
    const pulse = client({ urls: [gateway.url] }).connect();
    const first = pulse.subscribe(topic, {});
    await within(
      'the first subscription to go live',
      new Promise<void>((resolve) => pulse.onState((state) => state === 'live' && resolve())),
    );
    first.unsubscribe();
    const { calls, changes } = record(pulse, topic);
    await changes.until(
      () => `the live event after the second answer (calls ${calls.slice(0, 5).join(', ')}…)`,
      () => calls.includes('event 1002'),
      10_000,
    );
    expect(calls.filter((call) => !call.startsWith('state'))).toEqual(['snapshot 1001 initial', 'event 1002']);
    expect(replays).toBe(0);
  }, 20_000);
});
