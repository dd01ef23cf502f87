// Socket.IO edge of the live feed: every request passes the SocketGuard (limits, shape, access) and goes to the LiveHub.
import { Logger } from '@nestjs/common';
import { WebSocketGateway, WebSocketServer, type OnGatewayConnection, type OnGatewayDisconnect, type OnGatewayInit } from '@nestjs/websockets';
import type { Socket } from 'socket.io';
import type { ErrorBody } from '#pulse/contracts';
import { SocketGuard, type Ack, type SocketRequests } from '../auth/socket-guard.js';
import { LiveHub, type PulseServer, type PulseSocket } from './live-hub.js';

type Request = keyof SocketRequests;

/** What the gateway does with a request that passed the guard (parsed, its topic allowed). */
type Handler<E extends Request> = (socket: PulseSocket, request: SocketRequests[E], ack: Ack | undefined) => Promise<void> | void;

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
    guard: SocketGuard,
  ) {
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
    const listener = <E extends Request>(event: E, handler: Handler<E>) =>
      function (this: PulseSocket, ...args: unknown[]) {
        // As socket.io-client sends them: the payload, then the ack when the client wants an answer.
        const ack = typeof args.at(-1) === 'function' ? (args.pop() as Ack) : undefined;
        const payload = args.length === 1 ? args[0] : args.length === 0 ? undefined : args;
        guard.request(this, event, payload, ack, (request, answer) => run(event, () => handler(this, request, answer)));
      };
    this.listeners = [
      ['subscribe', listener('subscribe', (socket, request, ack) => this.hub.subscribe(socket, request, ack ?? (() => undefined)))],
      ['replay', listener('replay', (_socket, request, ack) => this.replay(request, ack))],
      [
        'unsubscribe',
        listener('unsubscribe', (socket, request, ack) => {
          this.hub.unsubscribeRequested(socket, request.topic);
          ack?.({ ok: true, topic: request.topic });
        }),
      ],
    ];
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

  private async replay(request: SocketRequests['replay'], ack: Ack | undefined): Promise<void> {
    try {
      ack?.(await this.hub.replay(request));
    } catch (error) {
      this.logger.warn(`replay of ${request.topic} failed: ${(error as Error).message}`);
      ack?.({ ok: false, code: 'UNAVAILABLE', message: `cannot read the log of ${request.topic} now; retry shortly` } satisfies ErrorBody);
    }
  }
}
