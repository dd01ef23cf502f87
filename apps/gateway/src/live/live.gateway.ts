// Socket.IO edge of the live feed: every request passes the SocketGuard, is validated, and goes to the LiveHub.
import { Logger } from '@nestjs/common';
import { WebSocketGateway, WebSocketServer, type OnGatewayConnection, type OnGatewayDisconnect, type OnGatewayInit } from '@nestjs/websockets';
import type { Socket } from 'socket.io';
import type { z } from 'zod';
import { badRequest, replayRequestSchema, subscribeRequestSchema, unsubscribeRequestSchema, type ClientToServerEvents, type ErrorBody } from '#pulse/contracts';
import { SocketGuard, type Ack } from '../auth/socket-guard.js';
import { LiveHub, type PulseServer, type PulseSocket } from './live-hub.js';

/** Parses a payload, or answers BAD_REQUEST naming every wrong field. */
function parse<S extends z.ZodType>(schema: S, payload: unknown, ack: Ack | undefined): z.infer<S> | undefined {
  const result = schema.safeParse(payload);
  if (result.success) return result.data;
  ack?.(badRequest(result.error) satisfies ErrorBody);
  return undefined;
}

type Request = keyof ClientToServerEvents;

/**
 * The requests are bound by hand rather than with `@SubscribeMessage`: Nest binds each handler to
 * each socket (a bound function, a handler record and a listener closure per message and socket),
 * which an idle connection carries for its whole life. Here every socket shares one listener per
 * request (`this` is the socket), so an idle socket costs only its entries in the listener table
 * (bench: memory per idle connection).
 */
@WebSocketGateway()
export class LiveGateway implements OnGatewayInit, OnGatewayConnection, OnGatewayDisconnect {
  private readonly logger = new Logger(LiveGateway.name);
  @WebSocketServer() server!: PulseServer;
  /** Per request, the one listener every socket shares. */
  private readonly listeners: [Request, (this: PulseSocket, ...args: unknown[]) => void][];

  constructor(
    private readonly hub: LiveHub,
    private readonly guard: SocketGuard,
  ) {
    const handlers: Record<Request, (socket: PulseSocket, payload: unknown, ack: Ack | undefined) => Promise<void> | void> = {
      subscribe: (socket, payload, ack) => this.subscribe(socket, payload, ack),
      replay: (_socket, payload, ack) => this.replay(payload, ack),
      unsubscribe: (socket, payload, ack) => this.unsubscribe(socket, payload, ack),
    };
    const logger = this.logger;
    // A handler that fails must not take the connection's packet loop down with it.
    const run = (event: Request, work: () => Promise<void> | void) => {
      const failed = (error: unknown) => logger.error(`${event} failed: ${(error as Error)?.stack ?? String(error)}`);
      try {
        work()?.catch(failed);
      } catch (error) {
        failed(error);
      }
    };
    this.listeners = (Object.entries(handlers) as [Request, (typeof handlers)[Request]][]).map(([event, handler]) => [
      event,
      function (this: PulseSocket, ...args: unknown[]) {
        // As socket.io-client sends them: the payload, then the ack when the client wants an answer.
        const ack = typeof args.at(-1) === 'function' ? (args.pop() as Ack) : undefined;
        const payload = args.length === 1 ? args[0] : args.length === 0 ? undefined : args;
        guard.request(this, event, payload, ack, (passed, answer) => run(event, () => handler(this, passed, answer)));
      },
    ]);
  }

  afterInit(server: PulseServer): void {
    this.hub.attach(server);
  }

  handleConnection(socket: PulseSocket): void {
    for (const [event, listener] of this.listeners) (socket as Socket).on(event, listener);
  }

  handleDisconnect(socket: PulseSocket): void {
    this.hub.disconnected(socket);
  }

  async subscribe(socket: PulseSocket, payload: unknown, ack: Ack | undefined): Promise<void> {
    const request = parse(subscribeRequestSchema, payload, ack);
    if (request) await this.hub.subscribe(socket, request, ack ?? (() => undefined));
  }

  async replay(payload: unknown, ack: Ack | undefined): Promise<void> {
    const request = parse(replayRequestSchema, payload, ack);
    if (!request) return;
    try {
      ack?.(await this.hub.replay(request));
    } catch (error) {
      this.logger.warn(`replay of ${request.topic} failed: ${(error as Error).message}`);
      ack?.({ ok: false, code: 'UNAVAILABLE', message: `cannot read the log of ${request.topic} now; retry shortly` } satisfies ErrorBody);
    }
  }

  unsubscribe(socket: PulseSocket, payload: unknown, ack: Ack | undefined): void {
    const request = parse(unsubscribeRequestSchema, payload, ack);
    if (!request) return;
    this.hub.unsubscribeRequested(socket, request.topic);
    ack?.({ ok: true, topic: request.topic });
  }
}
