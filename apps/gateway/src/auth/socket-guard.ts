// Socket.IO edge of access control: the handshake checks the token, every request is rate-limited and checked against its topic.
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { ExtendedError, Server, Socket } from 'socket.io';
import type { Principal } from '#pulse/auth';
import { PULSE_CONFIG, type PulseConfig } from '#pulse/config';
import type { z } from 'zod';
import { badRequest, refusal, replayRequestSchema, subscribeRequestSchema, unsubscribeRequestSchema, type ClientToServerEvents, type ErrorBody } from '#pulse/contracts';
import { AccessDenied } from './access-denied.js';
import { AuthService, tokenFromHeader } from './auth.service.js';
import { LimitsService } from './limits.service.js';
import { OriginPolicy } from './origin-policy.js';

/** Called with every answered subscribe or replay (for metrics). */
export type AnswerObserver = (event: 'subscribe' | 'replay', request: unknown, answer: { ok: boolean; recovered?: boolean; code?: string; events?: unknown[] }) => void;

/** Called with every refused handshake or request (for metrics). */
export type RefusalObserver = (body: ErrorBody) => void;

/**
 * What the guard keeps on `socket.data`. Every idle socket carries it, so it is small: the
 * principal, and only while requests wait, their queue. Other gateways' fetchSockets receive
 * `socket.data` as JSON: nothing circular (a timer) may go in it.
 */
interface GuardedData {
  principal?: Principal;
  /** Requests pass the guard one after another, in arrival order (a check may wait for Redis); absent while none waits. */
  queue?: RequestQueue;
}

interface RequestQueue {
  /** Settles when the last request in the queue has been checked. */
  tail: Promise<void>;
  /** Requests waiting (at most PULSE_RATE_LIMIT_CONNECTION: more could not pass its window anyway). */
  waiting: number;
}

/** A request's acknowledgement callback, when the client asked for one. */
export type Ack = (answer: unknown) => void;

/** What a client may ask of a gateway, by event name, as the guard hands it over once it passed. */
export type SocketRequests = { [E in keyof ClientToServerEvents]: Parameters<ClientToServerEvents[E]>[0] };

/** Each request's schema: it is valid (a topic name among the rest) before the token's patterns are matched against it. */
const SCHEMAS: { [E in keyof SocketRequests]: z.ZodType<SocketRequests[E]> } = {
  subscribe: subscribeRequestSchema,
  replay: replayRequestSchema,
  unsubscribe: unsubscribeRequestSchema,
};

/** The requests that read their topic: the token must cover it, and metrics count their answers. */
const isRead = (event: keyof SocketRequests): event is 'subscribe' | 'replay' => event !== 'unsubscribe';
/** setTimeout's longest delay. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The principal of a socket that passed the handshake. */
function principalOf(socket: Socket): Principal | undefined {
  return (socket.data as GuardedData).principal;
}

/** Socket.IO's handshake failure: the client sees `message` and `data` in its connect_error. */
function handshakeError(body: ErrorBody): ExtendedError {
  const error = new Error(body.message) as ExtendedError;
  error.data = body;
  return error;
}

@Injectable()
export class SocketGuard {
  private readonly logger = new Logger('SocketAuth');
  private readonly observers: AnswerObserver[] = [];
  private readonly refusalObservers: RefusalObserver[] = [];
  /** Requests of one socket that may wait for their check at once; more are refused RATE_LIMITED. */
  private readonly maxPending: number;
  /** Per socket whose token expires: the timer that disconnects it then. */
  private readonly expiries = new Map<Socket, ReturnType<typeof setTimeout>>();
  /** One disconnect listener for every socket (`this` is the socket), so that an idle socket costs the guard no closure of its own. */
  private readonly onDisconnect: (this: Socket) => void;

  constructor(
    @Inject(AuthService) private readonly auth: AuthService,
    @Inject(LimitsService) private readonly limits: LimitsService,
    @Inject(OriginPolicy) private readonly origins: OriginPolicy,
    @Inject(PULSE_CONFIG) config: PulseConfig,
  ) {
    this.maxPending = config.PULSE_RATE_LIMIT_CONNECTION;
    const release = (socket: Socket) => this.release(socket);
    this.onDisconnect = function (this: Socket) {
      release(this);
    };
  }

  /** Calls `observer` with each subscribe and replay answer. */
  observeAnswers(observer: AnswerObserver): void {
    this.observers.push(observer);
  }

  /** Calls `observer` with each refusal the guard answers. */
  observeRefusals(observer: RefusalObserver): void {
    this.refusalObservers.push(observer);
  }

  install(server: Server): void {
    server.use((socket, next) => {
      // Origins are checked here rather than in engine.io's allowRequest (a bare HTTP error, and
      // asked on a session's first request only): this refusal reaches the client's
      // connect_error with its body, before the socket may send anything.
      const originProblem = this.origins.problem(socket.handshake.headers, socket.handshake.address);
      if (originProblem !== null) return next(handshakeError(this.describe(new AccessDenied(403, refusal('ORIGIN_FORBIDDEN', originProblem)))));
      this.admit(socket).then(
        (admitted) => next(admitted ? undefined : new Error('the connection closed during the handshake')),
        (error: unknown) => next(handshakeError(this.describe(error))),
      );
    });
  }

  /** The handshake: who it is, and whether the token has room for one more socket. */
  private async admit(socket: Socket): Promise<boolean> {
    const auth = socket.handshake.auth as { token?: unknown } | undefined;
    const token = auth?.token ?? tokenFromHeader(socket.handshake.headers.authorization);
    const principal = await this.auth.authenticate(token);
    (socket.data as GuardedData).principal = principal;
    if (this.auth.enabled) await this.limits.openConnection(principal, socket.id);
    if (socket.conn.readyState !== 'open') {
      // It went away while Redis answered: Socket.IO drops it without a disconnect event.
      this.release(socket);
      return false;
    }
    // This is the server's last middleware, and the namespace checks the connection again on the
    // next tick before the socket connects: no I/O runs in between, so from here on a close of the
    // connection reaches the socket as its disconnect.
    socket.on('disconnect', this.onDisconnect);
    if (principal.expiresAt !== null) this.expireAt(socket, principal.expiresAt);
    this.logger.debug(`socket ${socket.id} of ${principal.sub} (${principal.role}) connected`);
    return true;
  }

  /** Disconnects the socket at `at` (its token's expiry). */
  private expireAt(socket: Socket, at: number): void {
    const disconnectIfExpired = () => {
      if (Date.now() < at) return this.expireAt(socket, at);
      this.logger.log(`socket ${socket.id} of ${principalOf(socket)?.sub}: token expired, disconnecting`);
      socket.disconnect(true);
    };
    this.expiries.set(socket, setTimeout(disconnectIfExpired, Math.min(Math.max(at - Date.now(), 0), MAX_TIMER_MS)));
  }

  /** Frees what the socket held: its expiry timer, its rate window, its place in its token's connection count. */
  private release(socket: Socket): void {
    const { principal } = socket.data as GuardedData;
    clearTimeout(this.expiries.get(socket));
    this.expiries.delete(socket);
    void this.limits.forgetConnection(socket.id);
    if (this.auth.enabled && principal) {
      this.limits.closeConnection(principal, socket.id).catch((error: unknown) => this.logger.warn(`could not release a connection of ${principal.sub}: ${(error as Error).message}`));
    }
  }

  /**
   * Every request of a socket comes here first, from the gateway's message handlers: the rate
   * limits, the request's shape, then for reads its topic against the token. Requests are checked
   * one after another in arrival order; one that passes goes to `handle`, parsed, and one that
   * does not gets the refusal (BAD_REQUEST naming every wrong field, …) through its ack.
   */
  request<E extends keyof SocketRequests>(socket: Socket, event: E, payload: unknown, ack: Ack | undefined, handle: (request: SocketRequests[E], ack: Ack | undefined) => unknown): void {
    const data = socket.data as GuardedData;
    const queue = (data.queue ??= { tail: Promise.resolve(), waiting: 0 });
    if (queue.waiting >= this.maxPending) {
      ack?.(this.describe(new AccessDenied(429, refusal('RATE_LIMITED', `more than ${this.maxPending} requests of this connection are waiting (PULSE_RATE_LIMIT_CONNECTION); wait for their answers`, 100))));
      return;
    }
    queue.waiting += 1;
    queue.tail = queue.tail
      .then(() => this.check(socket, data.principal!, event, payload, ack, handle))
      .catch((error: unknown) => this.logger.warn(`request check failed: ${(error as Error)?.message ?? String(error)}`))
      .finally(() => {
        queue.waiting -= 1;
        // An idle socket keeps no settled promise chain.
        if (queue.waiting === 0 && data.queue === queue) data.queue = undefined;
      });
  }

  /** Hands one request to `handle`, or answers its ack with the refusal. */
  private async check<E extends keyof SocketRequests>(socket: Socket, principal: Principal, event: E, payload: unknown, ack: Ack | undefined, handle: (request: SocketRequests[E], ack: Ack | undefined) => unknown): Promise<void> {
    let request: SocketRequests[E];
    try {
      await this.limits.consumeConnection(socket.id);
      if (this.auth.enabled) await this.limits.consumeToken(principal);
      const parsed = SCHEMAS[event].safeParse(payload);
      if (!parsed.success) {
        const body = badRequest(parsed.error);
        if (isRead(event)) for (const observer of this.observers) observer(event, payload, body);
        ack?.(body);
        return;
      }
      request = parsed.data;
      if (isRead(event)) this.auth.authorize(principal, 'read', request.topic);
    } catch (error) {
      ack?.(this.describe(error));
      return;
    }
    if (!isRead(event) || !ack) return void handle(request, ack);
    handle(request, (reply: unknown) => {
      const answer = reply as { ok: boolean; reason?: string };
      for (const observer of this.observers) observer(event, payload, answer);
      // Refusals made past the guard (TOO_MANY_SUBSCRIPTIONS, by the LiveHub) are counted like the guard's own.
      if (!answer.ok && answer.reason !== undefined) for (const observer of this.refusalObservers) observer(answer as ErrorBody);
      ack(answer);
    });
  }


  private describe(error: unknown): ErrorBody {
    let body: ErrorBody;
    if (error instanceof AccessDenied) body = error.body;
    else {
      this.logger.warn(`access check failed: ${(error as Error)?.message ?? String(error)}`);
      body = { ok: false, code: 'UNAVAILABLE', message: 'the access check cannot be made now; retry shortly' };
    }
    for (const observer of this.refusalObservers) observer(body);
    return body;
  }
}
