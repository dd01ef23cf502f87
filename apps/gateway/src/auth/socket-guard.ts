// Socket.IO edge of access control: the handshake admits a socket (origin, token, connection limit); each request is admitted (rate limits, in arrival order) and its topic authorized.
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { ExtendedError, Server } from 'socket.io';
import type { Principal } from '#pulse/auth';
import { PULSE_CONFIG, type PulseConfig } from '#pulse/config';
import { refusal, type ErrorBody } from '#pulse/contracts';
import type { PulseServer, PulseSocket } from '../live/live-socket.js';
import { AccessDenied } from './access-denied.js';
import { AuthService, tokenFromHeader } from './auth.service.js';
import { LimitsService } from './limits.service.js';
import { OriginPolicy } from './origin-policy.js';

/** Called with every refused handshake or request (for metrics). */
export type RefusalObserver = (body: ErrorBody) => void;

/** A request's acknowledgement callback, when the client asked for one. */
export type Ack = (answer: unknown) => void;

/** setTimeout's longest delay. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The principal of a socket that passed the handshake. */
function principalOf(socket: PulseSocket): Principal | undefined {
  return socket.data.principal;
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
  private readonly refusalObservers: RefusalObserver[] = [];
  /** Requests of one socket that may wait for their check at once; more are refused RATE_LIMITED. */
  private readonly maxPending: number;
  /** Events a request may read for each rate-limit point it costs. */
  private readonly eventsPerPoint: number;
  /** Per socket whose token expires: the timer that disconnects it then. */
  private readonly expiries = new Map<PulseSocket, ReturnType<typeof setTimeout>>();
  /**
   * The one disconnect listener of every admitted socket (`this` is the socket): an idle socket
   * costs no closure of its own, and its listener table holds a function, not an array of them.
   */
  private readonly onDisconnect: (this: PulseSocket) => void;
  /** Told of each admitted socket's disconnect, after the guard has let go of it (see whenDisconnected). */
  private readonly disconnectListeners: ((socket: PulseSocket) => void)[] = [];

  constructor(
    @Inject(AuthService) private readonly auth: AuthService,
    @Inject(LimitsService) private readonly limits: LimitsService,
    @Inject(OriginPolicy) private readonly origins: OriginPolicy,
    @Inject(PULSE_CONFIG) config: PulseConfig,
  ) {
    this.maxPending = config.PULSE_RATE_LIMIT_CONNECTION;
    this.eventsPerPoint = config.PULSE_RATE_LIMIT_EVENTS_PER_POINT;
    const release = (socket: PulseSocket) => this.release(socket);
    const listeners = this.disconnectListeners;
    this.onDisconnect = function (this: PulseSocket) {
      release(this);
      for (const listener of listeners) listener(this);
    };
  }

  /**
   * Calls `listener` when a socket it admitted disconnects: the gateway's way to hear of it (Nest's
   * disconnect hook is turned off, see RedisIoAdapter.bindClientDisconnect).
   */
  whenDisconnected(listener: (socket: PulseSocket) => void): void {
    this.disconnectListeners.push(listener);
  }

  /** Calls `observer` with each refusal the guard answers. */
  observeRefusals(observer: RefusalObserver): void {
    this.refusalObservers.push(observer);
  }

  /** Installs the handshake on the server the IO adapter made (Nest makes it untyped: this is where it gets its types). */
  install(server: Server): void {
    (server as unknown as PulseServer).use((socket, next) => {
      // Origins are checked here rather than in engine.io's allowRequest (a bare HTTP error, and
      // asked on a session's first request only): this refusal reaches the client's
      // connect_error with its body, before the socket may send anything.
      const originProblem = this.origins.problem(socket.handshake.headers, socket.handshake.address);
      if (originProblem !== null)
        return next(handshakeError(this.describe(new AccessDenied(403, refusal('ORIGIN_FORBIDDEN', originProblem)))));
      this.admit(socket).then(
        (admitted) => next(admitted ? undefined : new Error('the connection closed during the handshake')),
        (error: unknown) => next(handshakeError(this.describe(error))),
      );
    });
  }

  /** The handshake: who it is, and whether the token has room for one more socket. */
  private async admit(socket: PulseSocket): Promise<boolean> {
    const auth = socket.handshake.auth as { token?: unknown } | undefined;
    const token = auth?.token ?? tokenFromHeader(socket.handshake.headers.authorization);
    // The socket keeps only the token's claims (its principal, `expiresAt` for the expiry timer):
    // the handshake lives as long as the socket, and the credential has no use after admission.
    if (auth && 'token' in auth) delete auth.token;
    delete socket.handshake.headers.authorization;
    const principal = await this.auth.authenticate(token);
    socket.data.principal = principal;
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
  private expireAt(socket: PulseSocket, at: number): void {
    const disconnectIfExpired = () => {
      if (Date.now() < at) return this.expireAt(socket, at);
      this.logger.log(`socket ${socket.id} of ${principalOf(socket)?.sub}: token expired, disconnecting`);
      socket.disconnect(true);
    };
    this.expiries.set(socket, setTimeout(disconnectIfExpired, Math.min(Math.max(at - Date.now(), 0), MAX_TIMER_MS)));
  }

  /** Frees what the socket held: its expiry timer, its rate window, its place in its token's connection count. */
  private release(socket: PulseSocket): void {
    const { principal } = socket.data;
    clearTimeout(this.expiries.get(socket));
    this.expiries.delete(socket);
    this.limits.forgetConnection(socket.id);
    if (this.auth.enabled && principal) {
      this.limits
        .closeConnection(principal, socket.id)
        .catch((error: unknown) =>
          this.logger.warn(`could not release a connection of ${principal.sub}: ${(error as Error).message}`),
        );
    }
  }

  /**
   * Every request of a socket comes here first, from the gateway's message handlers: its rate
   * limits, one request after another in arrival order (a check may wait for Redis). One that
   * passes goes to `handle` with the socket's principal; a refusal, from the limits or thrown by
   * `handle` (an AccessDenied from `authorize`), is answered through its ack.
   */
  admitRequest(socket: PulseSocket, ack: Ack | undefined, handle: (principal: Principal) => void): void {
    const data = socket.data;
    const queue = (data.queue ??= { tail: Promise.resolve(), waiting: 0 });
    if (queue.waiting >= this.maxPending) {
      ack?.(
        this.describe(
          new AccessDenied(
            429,
            refusal(
              'RATE_LIMITED',
              `more than ${this.maxPending} requests of this connection are waiting (PULSE_RATE_LIMIT_CONNECTION); wait for their answers`,
              100,
            ),
          ),
        ),
      );
      return;
    }
    queue.waiting += 1;
    queue.tail = queue.tail
      .then(async () => {
        try {
          this.limits.consumeConnection(socket.id);
          if (this.auth.enabled) await this.limits.consumeToken(data.principal);
          handle(data.principal);
        } catch (error) {
          ack?.(this.describe(error));
        }
      })
      .catch((error: unknown) =>
        this.logger.warn(`request check failed: ${(error as Error)?.message ?? String(error)}`),
      )
      .finally(() => {
        queue.waiting -= 1;
        // An idle socket keeps no settled promise chain.
        if (queue.waiting === 0 && data.queue === queue) data.queue = undefined;
      });
  }

  /**
   * A request of the socket is about to read `events` events from the log (a resume, a replay): it
   * costs one more rate-limit point per PULSE_RATE_LIMIT_EVENTS_PER_POINT of them, on top of its
   * admission's one. Answers the refusal when the rates have no room left, else null.
   */
  async charge(socket: PulseSocket, principal: Principal, events: number): Promise<ErrorBody | null> {
    try {
      await this.limits.charge(
        this.auth.enabled ? principal : null,
        socket.id,
        Math.floor(events / this.eventsPerPoint),
      );
      return null;
    } catch (error) {
      return this.describe(error);
    }
  }

  /** Whether the principal may read `topic`; throws AccessDenied (403) if not. */
  authorizeRead(principal: Principal, topic: string): void {
    this.auth.authorize(principal, 'read', topic);
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
