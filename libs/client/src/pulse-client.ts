// Typed Pulse client for Node and browsers: every event once, in seq order, across reconnects and gateways — or a snapshot that says so.
import { io, type Socket } from 'socket.io-client';
import type {
  ClientToServerEvents,
  ErrorBody,
  PulseEvent,
  ReplayAck,
  ResumePosition,
  ResyncReason,
  ServerToClientEvents,
  Snapshot,
  SubscribeAck,
  SubscribeRequest,
} from '#pulse/contracts';
import { PROTOCOL_VERSION, type HandshakeAuth, type Hello } from '#pulse/contracts/version';

/** `connecting`: no gateway yet; `live`: connected and every subscription current; `recovering`: reconnecting or resuming; `stale`: away longer than `staleAfterMs`. */
export type ConnectionState = 'connecting' | 'live' | 'recovering' | 'stale';

/** Why a snapshot replaced the history. */
export type SnapshotReason = 'initial' | 'not_recovered' | ResyncReason;

export interface TopicHandlers {
  /** Every event of the topic, exactly once, in seq order (within an epoch). */
  onEvent?(event: PulseEvent): void;
  /** The state to show from now on; events continue from `snapshot.seq` (0 with `epoch: null` for a topic with no events yet). */
  onSnapshot?(snapshot: Snapshot, reason: SnapshotReason): void;
  /** After a reconnect, the missed events were replayed (they went to onEvent first). */
  onRecovered?(info: { missed: number; gateway: string }): void;
  /**
   * Viewers of the topic across all gateways, when it changes. Given, the client subscribes with
   * `presence: true`; without it the gateway sends no viewer counts for the topic.
   */
  onPresence?(viewers: number): void;
  /** The gateway refused the subscription (e.g. BAD_REQUEST, FORBIDDEN); UNAVAILABLE is retried. */
  onError?(error: ErrorBody): void;
}

export interface PulseClientOptions {
  /** Gateway base URLs; the client uses one and moves to the next when it goes away. */
  urls: string[];
  /**
   * Sent as the handshake's `auth.token` on every connection (a resumed connection is checked
   * again). A function is asked each time, with the gateway URL it is for, so that it can hand
   * out a fresh token, or none to a gateway it does not trust with it. After a refused token
   * (UNAUTHORIZED) the client asks again on the first URL, never the next one: a token that one
   * gateway refuses is not offered around.
   */
  token?: string | ((gateway: string) => string | Promise<string>);
  /** @default ['websocket'] */
  transports?: ('websocket' | 'polling')[];
  /** First reconnect delay; it doubles up to `maxReconnectDelayMs`. @default 200 */
  reconnectDelayMs?: number;
  /** @default 5000 */
  maxReconnectDelayMs?: number;
  /** Not live for this long: the state turns `stale`. @default 10000 */
  staleAfterMs?: number;
  /** How long to wait for an ack before treating the connection as broken. @default 10000 */
  ackTimeoutMs?: number;
}

/** One topic followed by the client. */
export interface TopicSubscription {
  readonly topic: string;
  /** Last seq handed to onEvent (or of the last snapshot), with its epoch; null before the first answer and while the topic has no events. */
  position(): { seq: number; epoch: string } | null;
  /** Events the topic's head is ahead of this subscription, as far as the client knows. */
  lag(): number;
  unsubscribe(): void;
}

type PulseSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

interface TopicState {
  topic: string;
  handlers: TopicHandlers;
  epoch: string | null;
  seq: number;
  head: number;
  /** Subscribed on the current connection (acked). */
  current: boolean;
  /** Events that arrived ahead of a hole, waiting for the replay that fills it. */
  held: PulseEvent[];
  filling: boolean;
  /** Whether the next ack resumes after a disconnect (for onRecovered). */
  resuming: boolean;
  closed: boolean;
  retryTimer: ReturnType<typeof setTimeout> | null;
  /** Subscribe attempts refused for now (UNAVAILABLE) since the last success. */
  refusals: number;
  /** Number of the newest subscribe request, to ignore answers to older ones. */
  request: number;
}

type StateListener = (state: ConnectionState, gateway: string) => void;
type ErrorListener = (error: ErrorBody, gateway: string) => void;

/** The Error body a gateway sent with a refused handshake (Socket.IO's connect_error `data`), if any. */
function refusedHandshake(error: unknown): ErrorBody | null {
  const body = (error as { data?: unknown } | null)?.data;
  return isErrorBody(body) ? body : null;
}

function isErrorBody(value: unknown): value is ErrorBody {
  const body = value as Partial<ErrorBody> | null | undefined;
  return !!body && body.ok === false && typeof body.code === 'string' && typeof body.message === 'string';
}

/** The handshake's `auth`: the token, if any, and the protocol version this client speaks. */
function handshake(token?: string): HandshakeAuth {
  return token ? { token, protocol: PROTOCOL_VERSION } : { protocol: PROTOCOL_VERSION };
}

/** What the client asks of a gateway for a topic: batch frames, and viewer counts only when there is someone to tell. */
function subscribeRequest(state: TopicState, since: ResumePosition | undefined): SubscribeRequest {
  const request: SubscribeRequest = { topic: state.topic, since, batch: true };
  if (state.handlers.onPresence) request.presence = true;
  return request;
}

export class PulseClient {
  private socket: PulseSocket | null = null;
  private readonly topics = new Map<string, TopicState>();
  private readonly listeners = new Set<StateListener>();
  private readonly errorListeners = new Set<ErrorListener>();
  private urlIndex = 0;
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private staleTimer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;
  /** Whether every subscription was current once: before that the state is `connecting`, not `recovering`. */
  private everLive = false;
  private currentState: ConnectionState = 'connecting';
  private helloProtocol: number | null = null;
  private readonly options: Required<Omit<PulseClientOptions, 'token'>> & Pick<PulseClientOptions, 'token'>;

  constructor(options: PulseClientOptions) {
    if (options.urls.length === 0) throw new Error('PulseClient needs at least one gateway URL');
    this.options = {
      transports: ['websocket'],
      reconnectDelayMs: 200,
      maxReconnectDelayMs: 5000,
      staleAfterMs: 10_000,
      ackTimeoutMs: 10_000,
      ...options,
    };
  }

  /** The connection state. */
  get state(): ConnectionState {
    return this.currentState;
  }

  /** The protocol version of the last gateway that said it (its `hello`, or its PROTOCOL_MISMATCH refusal); null before. This client speaks PROTOCOL_VERSION. */
  get serverProtocol(): number | null {
    return this.helloProtocol;
  }

  /** The gateway in use (or being tried). */
  get gateway(): string {
    return this.options.urls[this.urlIndex]!;
  }

  /** Calls `listener` on every state change; returns a function that removes it. */
  onState(listener: StateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Calls `listener` when a gateway refuses the connection: UNAUTHORIZED (token missing, expired,
   * invalid: `reason` says which), FORBIDDEN (origin), RATE_LIMITED (too many connections) or
   * BAD_REQUEST with reason PROTOCOL_MISMATCH (the gateway speaks another protocol version, in
   * `protocol`: nothing it sends is read). The client keeps trying with a growing pause (another
   * gateway may be upgraded already); a `token` function can hand it a new token.
   */
  onError(listener: ErrorListener): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  /** Connects to the first gateway (subscriptions made before or after are sent once connected). */
  connect(): this {
    if (!this.socket && !this.closed) this.open();
    return this;
  }

  /** Follows `topic` in batch mode; see TopicHandlers for what is delivered. */
  subscribe(topic: string, handlers: TopicHandlers): TopicSubscription {
    if (this.topics.has(topic)) throw new Error(`already subscribed to ${topic}`);
    const state: TopicState = {
      topic,
      handlers,
      epoch: null,
      seq: 0,
      head: 0,
      current: false,
      held: [],
      filling: false,
      resuming: false,
      closed: false,
      retryTimer: null,
      refusals: 0,
      request: 0,
    };
    this.topics.set(topic, state);
    if (this.socket?.connected) this.sendSubscribe(state);
    this.updateState();
    return {
      topic,
      position: () => (state.epoch === null ? null : { seq: state.seq, epoch: state.epoch }),
      lag: () => Math.max(0, state.head - state.seq),
      unsubscribe: () => this.unsubscribe(state),
    };
  }

  /** Closes the connection and forgets every subscription. */
  close(): void {
    this.closed = true;
    for (const state of this.topics.values()) this.clearRetry(state);
    this.topics.clear();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.staleTimer) clearTimeout(this.staleTimer);
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
    this.socket = null;
  }

  /** Drops the connection as if the network failed; the client reconnects and resumes (for tests and demos). */
  dropConnection(): void {
    this.socket?.disconnect();
    this.onDisconnect();
  }

  private open(): void {
    const url = this.gateway;
    const socket: PulseSocket = io(url, {
      transports: this.options.transports,
      reconnection: false,
      forceNew: true,
      timeout: this.options.ackTimeoutMs,
      auth: (send: (auth: Record<string, unknown>) => void) => {
        const token = this.options.token;
        if (typeof token !== 'function') return send(handshake(token));
        // A token source that fails sends no token: the gateway answers TOKEN_MISSING, which onError reports.
        Promise.resolve()
          .then(() => token(url))
          .then(
            (value) => send(handshake(value)),
            () => send(handshake()),
          );
      },
    });
    this.socket = socket;
    socket.on('connect', () => {
      this.attempt = 0;
      for (const state of this.topics.values()) this.sendSubscribe(state);
      this.updateState();
    });
    socket.on('connect_error', (error) => {
      const refused = refusedHandshake(error);
      if (refused) {
        if (refused.protocol !== undefined) this.helloProtocol = refused.protocol;
        this.reportError(refused, url);
      }
      // A token problem is the token's, not the gateway's: ask again at home, not elsewhere.
      this.onDisconnect(refused?.code === 'UNAUTHORIZED' ? 0 : undefined);
    });
    socket.on('hello', ({ protocol }: Hello) => {
      this.helloProtocol = protocol;
      if (protocol === PROTOCOL_VERSION) return;
      // A gateway that did not check our version (it comes first, before any answer): read nothing more from it.
      const message = `the gateway speaks Pulse protocol ${protocol} and this client ${PROTOCOL_VERSION}: use a Pulse client of protocol ${protocol}`;
      this.reportError({ ok: false, code: 'BAD_REQUEST', reason: 'PROTOCOL_MISMATCH', message, protocol }, url);
      this.onDisconnect();
    });
    socket.on('disconnect', () => this.onDisconnect());
    socket.on('events', (events) => {
      const first = events[0];
      const state = first && this.topics.get(first.topic);
      if (state) this.accept(state, events);
    });
    socket.on('presence', ({ topic, viewers }) => {
      const state = this.topics.get(topic);
      if (state) this.call(state, 'onPresence', viewers);
    });
    socket.on('resync', ({ topic, reason }) => {
      const state = this.topics.get(topic);
      if (state && !state.closed) this.sendSubscribe(state, reason);
    });
  }

  private reportError(error: ErrorBody, gateway: string): void {
    for (const listener of this.errorListeners) {
      try {
        listener(error, gateway);
      } catch (thrown) {
        queueMicrotask(() => {
          throw thrown;
        });
      }
    }
  }

  /** The connection is gone: reconnect to `nextUrl` (by default the next gateway, wrapping around). */
  private onDisconnect(nextUrl?: number): void {
    if (this.closed || !this.socket) return;
    this.socket.removeAllListeners();
    this.socket.disconnect();
    this.socket = null;
    for (const state of this.topics.values()) {
      state.current = false;
      state.resuming = state.epoch !== null;
      this.clearRetry(state);
    }
    this.updateState();
    // The gateway went away: try the next one (wrapping around), with a growing delay.
    this.urlIndex = nextUrl ?? (this.urlIndex + 1) % this.options.urls.length;
    const delay =
      this.attempt === 0
        ? 0
        : Math.min(this.options.reconnectDelayMs * 2 ** (this.attempt - 1), this.options.maxReconnectDelayMs);
    this.attempt += 1;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(
      () => {
        this.reconnectTimer = null;
        if (!this.closed) this.open();
      },
      delay * (0.75 + Math.random() * 0.5),
    );
  }

  /** Subscribes on the current connection, resuming from the last seq when there is one. */
  private sendSubscribe(state: TopicState, resync?: ResyncReason): void {
    const socket = this.socket;
    if (!socket?.connected || state.closed) return;
    // A retry after a refusal changes nothing a viewer would see: keep the state as it is.
    if (state.refusals === 0) state.current = false;
    state.held = [];
    state.filling = false;
    this.updateState();
    const since = !resync && state.epoch !== null ? { seq: state.seq, epoch: state.epoch } : undefined;
    // A callback, not emitWithAck: the ack must be handled as it is decoded, before the live
    // frames that follow it in the same read (a promise would let those run first).
    this.clearRetry(state);
    const request = (state.request += 1);
    socket
      .timeout(this.options.ackTimeoutMs)
      .emit('subscribe', subscribeRequest(state, since), (error: Error | null, ack: SubscribeAck) => {
        // Only the answer to the newest request counts (an older one may arrive after it).
        if (socket !== this.socket || state.closed || request !== state.request) return;
        if (error) return this.dropConnection();
        this.onSubscribed(state, ack, since !== undefined, resync);
      });
  }

  private onSubscribed(state: TopicState, ack: SubscribeAck, resumed: boolean, resync?: ResyncReason): void {
    if (!ack.ok && resumed && ack.code === 'BAD_REQUEST') {
      // The gateway does not know our position (e.g. beyond its head: Redis lost appends but kept
      // the epoch). Start again from a snapshot rather than give up.
      this.sendSubscribe(state, 'log_lost');
      return;
    }
    if (!ack.ok) {
      if (ack.code === 'UNAVAILABLE') {
        // The gateway cannot read the log now: nothing is missed meanwhile, so the connection
        // still counts as live; ask again with a growing pause.
        state.current = true;
        this.updateState();
        if (state.refusals === 0) this.call(state, 'onError', ack);
        state.refusals += 1;
        this.retrySubscribe(state);
        return;
      }
      this.call(state, 'onError', ack);
      return;
    }
    state.refusals = 0;
    // A snapshot may start a new life of the log: its head replaces the old one.
    state.head = ack.recovered ? Math.max(ack.head, state.head) : ack.head;
    if (ack.recovered) {
      const missed = ack.events.length;
      this.accept(state, ack.events);
      if (state.resuming) this.call(state, 'onRecovered', { missed, gateway: this.gateway });
    } else {
      state.epoch = ack.snapshot!.epoch;
      state.seq = ack.snapshot!.seq;
      this.call(state, 'onSnapshot', ack.snapshot!, resync ?? (resumed ? 'not_recovered' : 'initial'));
    }
    state.resuming = false;
    state.current = true;
    this.updateState();
  }

  private retrySubscribe(state: TopicState): void {
    this.clearRetry(state);
    const delay = Math.min(500 * 2 ** Math.min(state.refusals - 1, 5), 10_000);
    state.retryTimer = setTimeout(() => {
      state.retryTimer = null;
      this.sendSubscribe(state);
    }, delay);
  }

  private clearRetry(state: TopicState): void {
    if (state.retryTimer) clearTimeout(state.retryTimer);
    state.retryTimer = null;
  }

  /** Hands over the next events in order: drops what it has, holds what is ahead of a hole and fills the hole. */
  private accept(state: TopicState, events: PulseEvent[]): void {
    for (const event of events) {
      // An empty log (snapshot at seq 0, no epoch): its first events start its first epoch.
      if (state.epoch === null && state.seq === 0) state.epoch = event.epoch;
      if (event.epoch !== state.epoch) continue;
      state.head = Math.max(state.head, event.seq);
      if (event.seq <= state.seq) continue;
      if (state.filling || event.seq > state.seq + 1) {
        state.held.push(event);
        continue;
      }
      state.seq = event.seq;
      this.call(state, 'onEvent', event);
    }
    if (!state.filling && state.held.length > 0) void this.fillHole(state);
  }

  /** A seq was skipped: ask for the missing ones with `replay`, then release what was held. */
  private async fillHole(state: TopicState): Promise<void> {
    const socket = this.socket;
    if (!socket) return;
    state.filling = true;
    try {
      while (state.held.length > 0 && !state.closed && socket === this.socket) {
        state.held.sort((a, b) => a.seq - b.seq);
        const next = state.held[0]!;
        if (next.seq <= state.seq + 1) {
          state.held.shift();
          if (next.seq === state.seq + 1 && next.epoch === state.epoch) {
            state.seq = next.seq;
            this.call(state, 'onEvent', next);
          }
          continue;
        }
        const answer = (await socket.timeout(this.options.ackTimeoutMs).emitWithAck('replay', {
          topic: state.topic,
          fromSeq: state.seq + 1,
          limit: Math.min(1000, next.seq - state.seq - 1),
        })) as ReplayAck;
        if (!answer.ok || answer.epoch !== state.epoch || answer.events.length === 0) {
          // The hole cannot be filled (trimmed, or the log changed): start again from a snapshot.
          state.filling = false;
          this.sendSubscribe(state, 'trimmed');
          return;
        }
        for (const event of answer.events) {
          if (event.seq === state.seq + 1) {
            state.seq = event.seq;
            this.call(state, 'onEvent', event);
          }
        }
      }
    } catch {
      if (socket === this.socket) this.dropConnection();
    } finally {
      state.filling = false;
    }
  }

  private unsubscribe(state: TopicState): void {
    if (state.closed) return;
    state.closed = true;
    this.clearRetry(state);
    this.topics.delete(state.topic);
    if (this.socket?.connected) this.socket.emit('unsubscribe', { topic: state.topic }, () => undefined);
    this.updateState();
  }

  /** Calls a handler; a throwing handler does not break delivery to the others. */
  private call<K extends keyof TopicHandlers>(
    state: TopicState,
    name: K,
    ...args: Parameters<NonNullable<TopicHandlers[K]>>
  ): void {
    try {
      (state.handlers[name] as ((...a: typeof args) => void) | undefined)?.(...args);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }

  private updateState(): void {
    let next: ConnectionState;
    if (this.socket?.connected && [...this.topics.values()].every((state) => state.current)) next = 'live';
    else if (!this.everLive) next = 'connecting';
    else next = this.currentState === 'stale' ? 'stale' : 'recovering';
    if (next === 'live') this.everLive = true;
    if (next === 'live' || next === 'connecting') {
      if (this.staleTimer) clearTimeout(this.staleTimer);
      this.staleTimer = null;
    } else if (!this.staleTimer && next === 'recovering') {
      this.staleTimer = setTimeout(() => {
        this.staleTimer = null;
        if (this.currentState === 'recovering') this.setState('stale');
      }, this.options.staleAfterMs);
    }
    this.setState(next);
  }

  private setState(next: ConnectionState): void {
    if (next === this.currentState) return;
    this.currentState = next;
    for (const listener of this.listeners) listener(next, this.gateway);
  }
}
