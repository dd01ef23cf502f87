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

/**
 * `connecting`: no gateway yet; `live`: connected and every subscription current (a subscription
 * the gateway refused for good — FORBIDDEN, BAD_REQUEST, TOO_MANY_SUBSCRIPTIONS…, told to its
 * onError — does not count: it cannot become current on this connection); `recovering`:
 * reconnecting or resuming; `stale`: away longer than `staleAfterMs`.
 */
export type ConnectionState = 'connecting' | 'live' | 'recovering' | 'stale';

/** Why a snapshot replaced the history. */
export type SnapshotReason = 'initial' | 'not_recovered' | ResyncReason;

export interface TopicHandlers {
  /** Every event of the topic, exactly once, in seq order (within an epoch). */
  onEvent?(event: PulseEvent): void;
  /** The state to show from now on; events continue from `snapshot.seq` (0 with `epoch: null` for a topic with no events yet). */
  onSnapshot?(snapshot: Snapshot, reason: SnapshotReason): void;
  /**
   * After a reconnect, the missed events were replayed: all of them went to onEvent first (also
   * when the gateway sent part of them after its answer, as catch-up frames). `missed` is how many.
   */
  onRecovered?(info: { missed: number; gateway: string }): void;
  /**
   * Viewers of the topic across all gateways, when it changes. Given, the client subscribes with
   * `presence: true`; without it the gateway sends no viewer counts for the topic.
   */
  onPresence?(viewers: number): void;
  /**
   * The gateway refused the subscription. UNAVAILABLE and RATE_LIMITED (a rate, with
   * `retryAfterMs`) are told once and retried until they pass; any other refusal (BAD_REQUEST,
   * FORBIDDEN, RATE_LIMITED with reason TOO_MANY_SUBSCRIPTIONS…) holds until the next connection,
   * which asks again, and meanwhile the topic does not keep the client from `live`.
   */
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
  /**
   * First reconnect delay; it doubles up to `maxReconnectDelayMs`, and starts again from none once a
   * connection proved good (a subscribe answered, or it lasted `maxReconnectDelayMs`). @default 200
   */
  reconnectDelayMs?: number;
  /** @default 5000 */
  maxReconnectDelayMs?: number;
  /** Not live for this long: the state turns `stale`. @default 10000 */
  staleAfterMs?: number;
  /**
   * How long to wait for an ack before treating the connection as broken; it also bounds each step
   * of a connection attempt (the transport and handshake, a `token` function's answer): past it the
   * attempt failed, onError says which step, and the client tries again after its pause. @default 10000
   */
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
  /** Subscribed on the current connection (acked) and caught up with the head the answer named. */
  current: boolean;
  /** The gateway answered a subscribe of this state with ok once (on any connection). */
  answered: boolean;
  /** The last answer was a refusal that is not retried: the topic does not count for `live`. */
  refused: boolean;
  /** A subscribe without `since` is unanswered: frames before its answer are an older subscription's. */
  awaitingAnswer: boolean;
  /** A recovered answer whose head is ahead of its events: the rest comes as catch-up frames. */
  recovery: { head: number; missed: number } | null;
  /** Events that arrived ahead of a hole, waiting for the replay that fills it. */
  held: PulseEvent[];
  filling: boolean;
  /** Whether the next ack resumes after a disconnect (for onRecovered). */
  resuming: boolean;
  closed: boolean;
  retryTimer: ReturnType<typeof setTimeout> | null;
  /** Subscribe attempts refused for now (UNAVAILABLE, RATE_LIMITED) since the last success. */
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

/**
 * How long to wait before asking again after a refusal that can pass, or null for one that will
 * not (it is told to onError and holds until the next connection). `refusals`: the earlier ones in a row.
 */
function retryDelay(refusal: ErrorBody, refusals: number): number | null {
  const backoff = Math.min(500 * 2 ** Math.min(refusals, 5), 10_000);
  if (refusal.code === 'UNAVAILABLE') return backoff;
  // A rate (not a cap such as TOO_MANY_SUBSCRIPTIONS) says when there is room again. The jitter
  // spreads the topics refused together (a reconnect re-subscribes them all at once).
  if (refusal.code === 'RATE_LIMITED' && (refusal.reason === undefined || refusal.reason === 'RATE_LIMITED')) {
    const wait = refusal.retryAfterMs ?? backoff;
    return wait + Math.random() * Math.max(50, wait / 4);
  }
  return null;
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
  /** Bounds the step of a connection attempt under way (see ackTimeoutMs). */
  private openTimer: ReturnType<typeof setTimeout> | null = null;
  /** Ends the reconnect backoff once a connection has lasted (see `proven`). */
  private provenTimer: ReturnType<typeof setTimeout> | null = null;
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
   * `protocol`: nothing it sends is read), and UNAVAILABLE when a connection attempt got no answer
   * within `ackTimeoutMs` (the message says whether the `token` function or the gateway). The
   * client keeps trying with a growing pause (another gateway may be upgraded already); a `token`
   * function can hand it a new token.
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
      answered: false,
      refused: false,
      awaitingAnswer: false,
      recovery: null,
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
    this.clearOpenTimer();
    this.clearProvenTimer();
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
        this.bound(socket, `the token function (asked for ${url})`);
        // A token source that fails sends no token: the gateway answers TOKEN_MISSING, which onError reports.
        void Promise.resolve()
          .then(() => token(url))
          .then(
            (value) => handshake(value),
            () => handshake(),
          )
          .then((auth) => {
            // Given up on meanwhile (too late, closed): this attempt is over.
            if (socket !== this.socket) return;
            this.bound(socket, `the gateway at ${url} (the handshake)`);
            send(auth);
          });
      },
    });
    this.socket = socket;
    this.bound(socket, `the gateway at ${url} (the connection)`);
    socket.on('connect', () => {
      this.clearOpenTimer();
      // The backoff goes on until this connection proves good: a gateway that accepts and then
      // drops every connection (another protocol, a server-side disconnect) is not hammered.
      this.clearProvenTimer();
      this.provenTimer = setTimeout(() => this.proven(), this.options.maxReconnectDelayMs);
      for (const state of this.topics.values()) this.sendSubscribe(state);
      this.updateState();
    });
    socket.on('connect_error', (error) => {
      this.clearOpenTimer();
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
      // Before the answer to a fresh subscribe, frames are the previous subscription's (an
      // unsubscribe and subscribe of the topic): the answer's snapshot covers them.
      if (state && !state.awaitingAnswer) this.accept(state, events);
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

  /**
   * Gives the step `what` of the connection attempt on `socket` ackTimeoutMs to end: past it the
   * attempt failed, as a refused one does (onError, then the next try after the pause).
   */
  private bound(socket: PulseSocket, what: string): void {
    this.clearOpenTimer();
    const url = this.gateway;
    this.openTimer = setTimeout(() => {
      this.openTimer = null;
      if (socket !== this.socket) return;
      const message = `no answer from ${what} within ${this.options.ackTimeoutMs} ms (ackTimeoutMs): trying again`;
      this.reportError({ ok: false, code: 'UNAVAILABLE', message }, url);
      this.onDisconnect();
    }, this.options.ackTimeoutMs);
  }

  private clearOpenTimer(): void {
    if (this.openTimer) clearTimeout(this.openTimer);
    this.openTimer = null;
  }

  /** The connection proved good (a subscribe was answered, or it lasted): the next reconnect starts without a pause. */
  private proven(): void {
    this.clearProvenTimer();
    this.attempt = 0;
  }

  private clearProvenTimer(): void {
    if (this.provenTimer) clearTimeout(this.provenTimer);
    this.provenTimer = null;
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
    this.clearOpenTimer();
    this.clearProvenTimer();
    for (const state of this.topics.values()) {
      state.current = false;
      // Answered once, even empty: the next answer either recovers or says what was skipped.
      state.resuming = state.answered;
      state.recovery = null;
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
    state.recovery = null;
    this.updateState();
    const since = !resync && state.epoch !== null ? { seq: state.seq, epoch: state.epoch } : undefined;
    state.awaitingAnswer = since === undefined;
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
        this.onSubscribed(state, ack, since, resync);
      });
  }

  private onSubscribed(state: TopicState, ack: SubscribeAck, since?: ResumePosition, resync?: ResyncReason): void {
    if (!ack.ok && since && ack.code === 'BAD_REQUEST') {
      // The gateway does not know our position (e.g. beyond its head: Redis lost appends but kept
      // the epoch). Start again from a snapshot rather than give up.
      this.sendSubscribe(state, 'log_lost');
      return;
    }
    if (!ack.ok) {
      const delay = retryDelay(ack, state.refusals);
      if (delay === null) {
        state.refused = true;
        state.refusals = 0;
        this.call(state, 'onError', ack);
        this.updateState();
        return;
      }
      // UNAVAILABLE: the gateway cannot read the log now, so nothing is appended meanwhile either:
      // a subscription that has something to show stays current. RATE_LIMITED: events go on
      // without us until the retry.
      state.current = ack.code === 'UNAVAILABLE' && state.answered;
      state.refused = false;
      this.updateState();
      if (state.refusals === 0) this.call(state, 'onError', ack);
      state.refusals += 1;
      this.retrySubscribe(state, delay);
      return;
    }
    const answeredBefore = state.answered;
    state.refusals = 0;
    state.refused = false;
    state.answered = true;
    state.awaitingAnswer = false;
    this.proven();
    // A snapshot may start a new life of the log: its head replaces the old one.
    state.head = ack.recovered ? Math.max(ack.head, state.head) : ack.head;
    if (ack.recovered) {
      // Past PULSE_MAX_ACK_BYTES the answer carries the first of the missed events and catch-up
      // frames the rest: recovered (and current) once the head the answer named is reached.
      const missed = since ? Math.max(0, ack.head - since.seq) : ack.events.length;
      state.recovery = { head: ack.head, missed };
      state.current = false;
      this.accept(state, ack.events);
      return;
    }
    const snapshot = ack.snapshot!;
    if (answeredBefore && !resync && !since && state.epoch === null && snapshot.seq === 0) {
      // Empty when it was last answered, and still empty: nothing was missed.
      state.recovery = { head: 0, missed: 0 };
      this.settleRecovery(state);
      return;
    }
    state.epoch = snapshot.epoch;
    state.seq = snapshot.seq;
    // A topic that was empty when last answered is asked again without `since` (there is no epoch
    // to resume in): the events appended meanwhile are folded into this snapshot, not replayed.
    const reason = resync ?? (since || answeredBefore ? 'not_recovered' : 'initial');
    this.call(state, 'onSnapshot', snapshot, reason);
    state.resuming = false;
    state.current = true;
    this.updateState();
  }

  /** A recovered answer is complete once the subscription reached its head: onRecovered, and current. */
  private settleRecovery(state: TopicState): void {
    const recovery = state.recovery;
    if (!recovery || state.seq < recovery.head || state.closed) return;
    state.recovery = null;
    if (state.resuming) this.call(state, 'onRecovered', { missed: recovery.missed, gateway: this.gateway });
    state.resuming = false;
    state.current = true;
    this.updateState();
  }

  private retrySubscribe(state: TopicState, delay: number): void {
    this.clearRetry(state);
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
    this.settleRecovery(state);
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
      this.settleRecovery(state);
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
    const settled = (state: TopicState) => state.current || state.refused;
    if (this.socket?.connected && [...this.topics.values()].every(settled)) next = 'live';
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
