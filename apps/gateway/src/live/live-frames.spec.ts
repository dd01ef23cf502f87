// Live frames through a real Socket.IO server and client: a run of events written in one piece reads as the same messages, in the same order, on every transport.
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Server } from 'socket.io';
import { io, type Socket as ClientSocket } from 'socket.io-client';
import type { PulseEvent } from '#pulse/contracts';
import { LiveFrames } from './live-frames.js';
import type { PulseServer, PulseSocket } from './live-socket.js';
import { SlowConsumerGuard } from './slow-consumer.js';

const TYPES = ['instance.heartbeat', 'attempt.recorded', 'statistics_update'] as const;

function events(from: number, count: number, padding = 0): PulseEvent[] {
  return Array.from(
    { length: count },
    (_, i) =>
      ({
        topic: 't',
        seq: from + i,
        epoch: 'e1',
        type: TYPES[(from + i) % TYPES.length]!,
        ts: 1_700_000_000_000 + i,
        data: { instanceId: `i-${from + i}`, note: 'x'.repeat(padding) },
      }) as unknown as PulseEvent,
  );
}

/** Every message a client receives, as [name, payload], in arrival order; `count(n)` resolves once n have come (or fails after 10 s with what did). */
function received(client: ClientSocket): { got: [string, unknown][]; count: (n: number) => Promise<void> } {
  const got: [string, unknown][] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  client.onAny((name: string, payload: unknown) => {
    got.push([name, payload]);
    for (const waiter of waiters.filter((w) => got.length >= w.n)) waiter.resolve();
  });
  return {
    got,
    count: (n) =>
      got.length >= n
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`expected ${n} messages, got ${got.length}`)), 10_000);
            waiters.push({ n, resolve: () => (clearTimeout(timer), resolve()) });
          }),
  };
}

/** Counts the writes to the socket's TCP connection from now on. */
function countWrites(socket: PulseSocket): () => number {
  const tcp = (
    socket.conn as unknown as { transport: { socket?: { _socket?: { write: (...args: unknown[]) => boolean } } } }
  ).transport.socket?._socket;
  let writes = 0;
  if (tcp) {
    const write = tcp.write.bind(tcp);
    tcp.write = (...args: unknown[]) => {
      writes += 1;
      return write(...args);
    };
  }
  return () => writes;
}

describe('LiveFrames', () => {
  let http: HttpServer;
  let server: PulseServer;
  let url: string;
  const clients: ClientSocket[] = [];

  beforeAll(async () => {
    http = createServer();
    server = new Server(http);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await server.close();
  });

  /** A connected client on `transport`, and its socket on the server. */
  async function connect(transport: 'websocket' | 'polling'): Promise<{ client: ClientSocket; socket: PulseSocket }> {
    const connected = new Promise<PulseSocket>((resolve) => server.once('connection', resolve));
    const client = io(url, { transports: [transport], forceNew: true, reconnection: false });
    clients.push(client);
    const socket = await connected;
    await new Promise<void>((resolve) => (client.connected ? resolve() : client.once('connect', () => resolve())));
    return { client, socket };
  }

  it.each(['websocket', 'polling'] as const)(
    'over %s, a plain socket gets one message per event under its type, in seq order, batch after batch',
    async (transport) => {
      const { client, socket } = await connect(transport);
      const { got, count } = received(client);
      const writes = countWrites(socket);
      const batches = [events(1, 1), events(2, 5), events(7, 2, 200), events(9, 3, 70_000)];
      for (const batch of batches) new LiveFrames(server.encoder, batch, true).write(socket, false);
      const all = batches.flat();
      await count(all.length);
      expect(got).toEqual(all.map((event) => [event.type, event]));
      // On a websocket, each batch is one write.
      if (transport === 'websocket') expect(writes()).toBe(batches.length);
    },
  );

  it("keeps its place among engine.io's own packets: written directly only while engine.io has none queued or in flight", async () => {
    const { client, socket } = await connect('websocket');
    const { got, count } = received(client);
    const [first, second, third] = [events(1, 3), events(4, 1), events(5, 2)];
    socket.emit('resync', { topic: 'other', reason: 'trimmed' });
    new LiveFrames(server.encoder, first, true).write(socket, false);
    socket.emit('resync', { topic: 'other', reason: 'log_lost' });
    new LiveFrames(server.encoder, second, true).write(socket, false);
    // A turn later engine.io's writes are done: the next batch goes to the WebSocket directly.
    await new Promise<void>((resolve) => setImmediate(resolve));
    new LiveFrames(server.encoder, third, true).write(socket, false);
    socket.emit('resync', { topic: 'other', reason: 'epoch_changed' });
    await count(9);
    const live = (batch: PulseEvent[]) => batch.map((event): [string, unknown] => [event.type, event]);
    expect(got).toEqual([
      ['resync', { topic: 'other', reason: 'trimmed' }],
      ...live(first),
      ['resync', { topic: 'other', reason: 'log_lost' }],
      ...live(second),
      ...live(third),
      ['resync', { topic: 'other', reason: 'epoch_changed' }],
    ]);
  });

  it('a batch socket gets one events frame per batch, whatever its size', async () => {
    const { client, socket } = await connect('websocket');
    const { got, count } = received(client);
    const batches = [events(1, 1), events(2, 40), events(42, 2, 70_000)];
    for (const batch of batches) new LiveFrames(server.encoder, batch, true).write(socket, true);
    await count(batches.length);
    expect(got).toEqual(batches.map((batch) => ['events', batch]));
  });

  it('one encoding serves every socket, plain and batch alike', async () => {
    const a = await connect('websocket');
    const b = await connect('websocket');
    const c = await connect('polling');
    const [gotA, gotB, gotC] = [received(a.client), received(b.client), received(c.client)];
    const batch = events(1, 4);
    const frames = new LiveFrames(server.encoder, batch, true);
    frames.write(a.socket, false);
    frames.write(b.socket, true);
    frames.write(c.socket, false);
    await Promise.all([gotA.count(4), gotB.count(1), gotC.count(4)]);
    expect(gotA.got).toEqual(batch.map((event) => [event.type, event]));
    expect(gotB.got).toEqual([['events', batch]]);
    expect(gotC.got).toEqual(gotA.got);
  });

  it('without bursts (a compressing server), each message is written on its own and still arrives in order', async () => {
    const { client, socket } = await connect('websocket');
    const { got, count } = received(client);
    const batch = events(1, 6);
    new LiveFrames(server.encoder, batch, false).write(socket, false);
    await count(batch.length);
    expect(got).toEqual(batch.map((event) => [event.type, event]));
  });

  it('the slow-consumer guard counts a queued run of messages by all its bytes, not its first message', () => {
    const frame = Buffer.alloc(5000);
    const socket = {
      connected: true,
      conn: { writeBuffer: [{ data: 'short', options: { wsPreEncodedFrame: [frame] } }], transport: {} },
    } as unknown as PulseSocket;
    expect(new SlowConsumerGuard(1_000_000).buffered(socket)).toBe(5000);
  });
});
