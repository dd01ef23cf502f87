// The protocol version on the handshake: a gateway refuses a client of another version with a clear error, says its own in hello, and the SDK reads nothing from a gateway of another version.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Server } from 'socket.io';
import { io } from 'socket.io-client';
import { PulseClient } from '#pulse/client';
import { PROTOCOL_VERSION, type ErrorBody, type Hello, type PulseEvent } from '#pulse/contracts';
import { startPulse, type PulseTestStack } from '#pulse/testing';
import { within } from './support/wait.js';

let pulse: PulseTestStack;
beforeAll(async () => {
  pulse = await startPulse({ workers: 0 });
}, 60_000);
afterAll(() => pulse.stop());

/** Connects a plain socket.io-client with `auth`; resolves with the first message and its payload, or the connect_error's data. */
async function handshake(auth: Record<string, unknown>): Promise<{ first: [string, unknown] } | { refused: unknown }> {
  const socket = io(pulse.urls[0], { transports: ['websocket'], reconnection: false, forceNew: true, auth });
  try {
    return await within(
      'the first message or a refusal',
      new Promise((resolve) => {
        socket.onAny((name: string, payload: unknown) => resolve({ first: [name, payload] }));
        socket.on('connect_error', (error) => resolve({ refused: (error as Error & { data?: unknown }).data }));
      }),
    );
  } finally {
    socket.disconnect();
  }
}

describe('protocol version', () => {
  it('a gateway refuses a client that speaks another version, naming both', async () => {
    const answer = await handshake({ protocol: PROTOCOL_VERSION + 1 });
    expect(answer).toEqual({
      refused: {
        ok: false,
        code: 'BAD_REQUEST',
        reason: 'PROTOCOL_MISMATCH',
        protocol: PROTOCOL_VERSION,
        message: expect.stringContaining(
          `speaks Pulse protocol ${PROTOCOL_VERSION} and the client ${PROTOCOL_VERSION + 1}`,
        ),
      },
    });
    expect(await handshake({ protocol: 'one' })).toMatchObject({ refused: { reason: 'PROTOCOL_MISMATCH' } });
  });

  it('hello, with the gateway version, is the first message on a connection, with or without auth.protocol', async () => {
    expect(await handshake({ protocol: PROTOCOL_VERSION })).toEqual({
      first: ['hello', { protocol: PROTOCOL_VERSION }],
    });
    expect(await handshake({})).toEqual({ first: ['hello', { protocol: PROTOCOL_VERSION }] });
  });

  it('the SDK learns the gateway version', async () => {
    const client = pulse.client();
    expect(client.serverProtocol).toBeNull();
    // The hello comes before any answer, so before the subscription is live.
    client.subscribe(`protocol-${Date.now().toString(36)}`, {});
    await within(
      'the client to go live',
      new Promise<void>((resolve) => client.onState((state) => state === 'live' && resolve())),
    );
    expect(client.serverProtocol).toBe(PROTOCOL_VERSION);
  });

  it('the SDK reads nothing from a gateway of another version, and says why', async () => {
    // A gateway of the next version, whose answers this client could misread.
    const http = createServer();
    const server = new Server(http);
    const hello: Hello = { protocol: PROTOCOL_VERSION + 1 };
    server.on('connection', (socket) => {
      socket.emit('hello', hello);
      socket.on('subscribe', (request: { topic: string }, ack: (answer: unknown) => void) => {
        ack({ ok: true, topic: request.topic, log: { epoch: 'e', head: 1 } });
        socket.emit('events', [{ topic: request.topic, seq: 1, epoch: 'e', type: 'status_update', ts: 0, data: {} }]);
      });
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const client = new PulseClient({ urls: [`http://127.0.0.1:${(http.address() as AddressInfo).port}`] });
    const delivered: unknown[] = [];
    try {
      const refused = new Promise<ErrorBody>((resolve) => client.onError(resolve));
      client.subscribe('topic-a', {
        onEvent: (event: PulseEvent) => delivered.push(event),
        onSnapshot: (snapshot) => delivered.push(snapshot),
        onError: (error) => delivered.push(error),
      });
      client.connect();
      expect(await within('the SDK to report the mismatch', refused)).toEqual({
        ok: false,
        code: 'BAD_REQUEST',
        reason: 'PROTOCOL_MISMATCH',
        protocol: PROTOCOL_VERSION + 1,
        message: expect.stringContaining(
          `speaks Pulse protocol ${PROTOCOL_VERSION + 1} and this client ${PROTOCOL_VERSION}`,
        ),
      });
      expect(client.serverProtocol).toBe(PROTOCOL_VERSION + 1);
      expect(client.state).not.toBe('live');
      expect(delivered).toEqual([]);
    } finally {
      client.close();
      await new Promise<void>((resolve) => void server.close(() => resolve()));
    }
  });
});
