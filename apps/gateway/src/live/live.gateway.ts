// Socket.IO edge of the live feed: each request is admitted by the SocketGuard, parsed here, its topic authorized, then handed to the LiveHub.
import { Logger } from '@nestjs/common';
import { WebSocketGateway, WebSocketServer, type OnGatewayConnection, type OnGatewayInit } from '@nestjs/websockets';
import type { z } from 'zod';
import type { Principal } from '#pulse/auth';
import {
  badRequest,
  replayRequestSchema,
  subscribeRequestSchema,
  unsubscribeRequestSchema,
  type ClientToServerEvents,
  type ErrorBody,
} from '#pulse/contracts';
import { SocketGuard, type Ack } from '../auth/socket-guard.js';
import { LiveHub } from './live-hub.js';
import { compactConnection } from './listener-table.js';
import type { Charge } from './live-seam.js';
import type { PulseServer, PulseSocket } from './live-socket.js';

type Request = keyof ClientToServerEvents;

/** What a client may ask of a gateway, by event name, parsed. */
type Requests = { [E in Request]: Parameters<ClientToServerEvents[E]>[0] };

/** Each request's schema: it is valid (a topic name among the rest) before the token's patterns are matched against it. */
const SCHEMAS: { [E in Request]: z.ZodType<Requests[E]> } = {
  subscribe: subscribeRequestSchema,
  replay: replayRequestSchema,
  unsubscribe: unsubscribeRequestSchema,
};

/** The requests that read their topic: the token must cover it. */
const isRead = (event: Request): event is 'subscribe' | 'replay' => event !== 'unsubscribe';

/** What the gateway does with a request that was admitted, parsed and authorized. */
type Handler<E extends Request> = (
  socket: PulseSocket,
  request: Requests[E],
  ack: Ack | undefined,
  charge: Charge,
) => Promise<void> | void;

/**
 * The requests are bound by hand rather than with `@SubscribeMessage`: Nest binds each handler to
 * each socket (a bound function, a handler record and a listener closure per message and socket),
 * which an idle connection carries for its whole life. Here every socket shares one listener per
 * request (`this` is the socket), so an idle socket costs only its entries in the listener table
 * (bench: memory per idle connection). Its disconnects come the same way, through the SocketGuard's
 * one shared listener, not Nest's `handleDisconnect` (a closure per socket; the adapter turns it off).
 */
@WebSocketGateway()
export class LiveGateway implements OnGatewayInit, OnGatewayConnection {
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
    /** Parses an admitted request, authorizes its topic (a refusal thrown here is the guard's to answer), and runs its handler. */
    const handle = <E extends Request>(
      socket: PulseSocket,
      event: E,
      payload: unknown,
      ack: Ack | undefined,
      principal: Principal,
      handler: Handler<E>,
    ) => {
      const parsed = SCHEMAS[event].safeParse(payload);
      if (!parsed.success) {
        const body = badRequest(parsed.error);
        if (isRead(event)) this.hub.refused(event, body);
        return ack?.(body);
      }
      const request = parsed.data;
      // A read costs rate-limit points by how many events it is about to read.
      const charge: Charge = (events) => guard.charge(socket, principal, events);
      if (!isRead(event)) return run(event, () => handler(socket, request, ack, charge));
      guard.authorizeRead(principal, request.topic);
      // A read's answer counts toward the socket's unsent output like any frame: a client that stopped reading is cut loose.
      const answered: Ack = (answer) => {
        ack?.(answer);
        this.hub.cutLoose(socket);
      };
      run(event, () => handler(socket, request, answered, charge));
    };
    const listener = <E extends Request>(event: E, handler: Handler<E>) =>
      function (this: PulseSocket, ...args: unknown[]) {
        // As socket.io-client sends them: the payload, then the ack when the client wants an answer.
        const ack = typeof args.at(-1) === 'function' ? (args.pop() as Ack) : undefined;
        const payload = args.length === 1 ? args[0] : args.length === 0 ? undefined : args;
        guard.admitRequest(this, ack, (principal) => handle(this, event, payload, ack, principal, handler));
      };
    guard.whenDisconnected((socket) => this.hub.disconnected(socket));
    this.listeners = [
      [
        'subscribe',
        listener('subscribe', (socket, request, ack, charge) =>
          this.hub.subscribe(socket, request, ack ?? (() => undefined), charge),
        ),
      ],
      ['replay', listener('replay', (_socket, request, ack, charge) => this.replay(request, ack, charge))],
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
    for (const [event, listener] of this.listeners) socket.on(event, listener);
    // Its listeners are all set (socket.io's, engine.io's, ws's and these): fields rather than a
    // hash table in each (bench: memory per idle connection).
    compactConnection(socket);
  }

  private async replay(request: Requests['replay'], ack: Ack | undefined, charge: Charge): Promise<void> {
    try {
      ack?.(await this.hub.replay(request, charge));
    } catch (error) {
      this.logger.warn(`replay of ${request.topic} failed: ${(error as Error).message}`);
      ack?.({
        ok: false,
        code: 'UNAVAILABLE',
        message: `cannot read the log of ${request.topic} now; retry shortly`,
      } satisfies ErrorBody);
    }
  }
}
