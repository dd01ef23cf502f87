// Socket.IO edge of access control: the handshake checks the token, every request is rate-limited and checked against its topic.
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { ExtendedError, Server, Socket } from 'socket.io';
import type { Principal } from '#pulse/auth';
import { PULSE_CONFIG, type PulseConfig } from '#pulse/config';
import { refusal, type ErrorBody } from '#pulse/contracts';
import { AccessDenied } from './access-denied.js';
import { AuthService, tokenFromHeader } from './auth.service.js';
import { LimitsService } from './limits.service.js';

/** Called with every answered subscribe or replay (for metrics). */
export type AnswerObserver = (event: 'subscribe' | 'replay', request: unknown, answer: { ok: boolean; recovered?: boolean; code?: string; events?: unknown[] }) => void;

/** Called with every refused handshake or request (for metrics). */
export type RefusalObserver = (body: ErrorBody) => void;

/** What the guard keeps on `socket.data`. */
interface GuardedData {
  principal?: Principal;
  /** Topics this socket asked to follow (at most PULSE_MAX_SUBSCRIPTIONS). */
  followed?: Set<string>;
  /** Requests pass the guard one after another, in arrival order (a check may wait for Redis). */
  gate?: Promise<void>;
}

const READS = new Set(['subscribe', 'replay']);
/** setTimeout's longest delay. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The principal of a socket that passed the handshake. */
export function principalOf(socket: Socket): Principal | undefined {
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

  constructor(
    @Inject(AuthService) private readonly auth: AuthService,
    @Inject(LimitsService) private readonly limits: LimitsService,
    @Inject(PULSE_CONFIG) private readonly config: PulseConfig,
  ) {}

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
      this.admit(socket).then(
        () => next(),
        (error: unknown) => next(handshakeError(this.describe(error))),
      );
    });
  }

  /** The handshake: who it is, whether the token has room for one more socket; then the per-request gate. */
  private async admit(socket: Socket): Promise<void> {
    const auth = socket.handshake.auth as { token?: unknown } | undefined;
    const token = auth?.token ?? tokenFromHeader(socket.handshake.headers.authorization);
    const principal = await this.auth.authenticate(token);
    const data = socket.data as GuardedData;
    data.principal = principal;
    data.followed = new Set();
    if (this.auth.enabled) await this.limits.openConnection(principal, socket.id);
    let expiry: ReturnType<typeof setTimeout> | undefined;
    const expireAt = (at: number) => {
      expiry = setTimeout(() => {
        if (Date.now() < at) return expireAt(at);
        this.logger.log(`socket ${socket.id} of ${principal.sub}: token expired, disconnecting`);
        socket.disconnect(true);
      }, Math.min(Math.max(at - Date.now(), 0), MAX_TIMER_MS));
    };
    if (principal.expiresAt !== null) expireAt(principal.expiresAt);
    socket.once('disconnect', () => {
      clearTimeout(expiry);
      void this.limits.forgetConnection(socket.id);
      if (this.auth.enabled) {
        this.limits.closeConnection(principal, socket.id).catch((error: unknown) => this.logger.warn(`could not release a connection of ${principal.sub}: ${(error as Error).message}`));
      }
    });
    socket.use((packet, next) => {
      data.gate = (data.gate ?? Promise.resolve())
        .then(() => this.check(socket, principal, data, packet as unknown[], next))
        .catch((error: unknown) => this.logger.warn(`request check failed: ${(error as Error)?.message ?? String(error)}`));
    });
    this.logger.debug(`socket ${socket.id} of ${principal.sub} (${principal.role}) connected`);
  }

  /** Lets one request through to the gateway, or answers its ack with the refusal. */
  private async check(socket: Socket, principal: Principal, data: GuardedData, packet: unknown[], next: (error?: Error) => void): Promise<void> {
    const [event, payload] = packet as [string, unknown];
    const ackIndex = packet.length - 1;
    const ack = typeof packet[ackIndex] === 'function' ? (packet[ackIndex] as (answer: unknown) => void) : undefined;
    const topic = typeof (payload as { topic?: unknown } | null)?.topic === 'string' ? (payload as { topic: string }).topic : undefined;
    const followed = data.followed!;
    try {
      await this.limits.consumeConnection(socket.id);
      if (this.auth.enabled) await this.limits.consumeToken(principal);
      if (READS.has(event) && topic !== undefined) this.auth.authorize(principal, 'read', topic);
      if (event === 'subscribe' && topic !== undefined && !followed.has(topic) && followed.size >= this.config.PULSE_MAX_SUBSCRIPTIONS) {
        throw new AccessDenied(429, refusal('TOO_MANY_SUBSCRIPTIONS', `this socket already follows ${followed.size} topics (PULSE_MAX_SUBSCRIPTIONS); unsubscribe from one first`));
      }
    } catch (error) {
      ack?.(this.describe(error));
      return;
    }
    if (event === 'unsubscribe' && topic !== undefined) followed.delete(topic);
    if (READS.has(event) && ack) {
      const known = topic !== undefined && followed.has(topic);
      if (event === 'subscribe' && topic !== undefined) followed.add(topic);
      packet[ackIndex] = (answer: { ok: boolean }) => {
        // A refused subscribe frees its place, unless the socket followed the topic already (that subscription stays).
        if (event === 'subscribe' && topic !== undefined && !answer.ok && !known) followed.delete(topic);
        for (const observer of this.observers) observer(event as 'subscribe' | 'replay', payload, answer);
        ack(answer);
      };
    }
    next();
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
