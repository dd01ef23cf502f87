// This process's subscriptions: who follows which topic (with the tickets that order a socket's subscribes), the live rooms the tail feeds, and the seam that brings each socket there.
import {
  MAX_REPLAY_LIMIT,
  type ErrorBody,
  type PulseEvent,
  type ReplayAck,
  type ReplayRequest,
  type ResyncReason,
  type SubscribeAck,
  type SubscribeRequest,
  refusal,
} from '#pulse/contracts';
import type { Logger } from '@nestjs/common';
import type { EventStore } from '#pulse/event-store';
import { LiveFrames } from './live-frames.js';
import type { LogTail, TailListener } from './log-tail.js';
import {
  DEFAULT_MAX_ACK_BYTES,
  LiveSeam,
  fitting,
  type Charge,
  type SeamSink,
  type Subscription,
} from './live-seam.js';
import { setTopics, topicRoom, topicsOf, type PulseServer, type PulseSocket } from './live-socket.js';
import { Presence } from './presence.js';
import { SlowConsumerGuard } from './slow-consumer.js';

export { topicRoom, type PulseServer, type PulseSocket } from './live-socket.js';

/** What this process holds for a topic some of its sockets subscribe to. */
interface LocalTopic {
  /** The topic's name: the one copy its subscriptions and its sockets' topics hold. */
  topic: string;
  sockets: Map<PulseSocket, Subscription>;
  /**
   * Its live room's name, made once: every live socket's own room set holds this string, where a
   * name built per join would be one copy per socket. The room counts viewers (presence, metrics);
   * the hub writes to the sockets it holds, not through the room.
   */
  room: string;
}

export interface LiveHubOptions {
  /** Cuts loose sockets whose unsent output passes its bound. @default a guard with an 8 MiB bound */
  slowConsumers?: SlowConsumerGuard;
  /** Announces viewer counts. @default a Presence with a 250 ms window */
  presence?: Presence;
  /** Topics one socket may follow or be subscribing to at once (PULSE_MAX_SUBSCRIPTIONS). @default 100 */
  maxSubscriptions?: number;
  /** Most bytes of events in one subscribe or replay answer (PULSE_MAX_ACK_BYTES). @default 1 MiB */
  maxAckBytes?: number;
  /** Where failures the client gets only a generic answer for are told in full. @default none */
  logger?: Pick<Logger, 'warn'>;
}

/** Told of every subscribe and replay answer (metrics); `request` is undefined for one refused as malformed. */
export type AnswerObserver = (
  event: 'subscribe' | 'replay',
  request: SubscribeRequest | ReplayRequest | undefined,
  answer: SubscribeAck | ReplayAck,
) => void;

const error = (code: ErrorBody['code'], message: string): ErrorBody => ({ ok: false, code, message });

export class LiveHub implements TailListener, SeamSink<PulseSocket> {
  private server: PulseServer | null = null;
  /** Whether a run of messages may go to a websocket in one write (not while the server compresses). */
  private burstable = true;
  /** Per topic: the sockets of this process subscribed to it, in any state, with their subscription. */
  private readonly local = new Map<string, LocalTopic>();
  /** Per socket with subscribes being answered: the newest request per topic (a newer one, or an unsubscribe, replaces it). */
  private readonly asking = new Map<PulseSocket, Map<string, symbol>>();
  /** Per topic: subscribe requests being answered (the tail keeps following it meanwhile). */
  private readonly joining = new Map<string, number>();
  private readonly seam: LiveSeam<PulseSocket>;
  private readonly slowConsumers: SlowConsumerGuard;
  private readonly presence: Presence;
  private readonly maxSubscriptions: number;
  private readonly logger?: Pick<Logger, 'warn'>;
  private readonly maxAckBytes: number;
  /** Told of every batch the tail hands over, before it goes to the sockets (metrics). */
  private readonly deliveryObservers: ((topic: string, events: PulseEvent[]) => void)[] = [];
  private readonly answerObservers: AnswerObserver[] = [];

  constructor(
    private readonly store: EventStore,
    private readonly tail: LogTail,
    options: LiveHubOptions = {},
  ) {
    this.slowConsumers = options.slowConsumers ?? new SlowConsumerGuard(8 * 1024 * 1024);
    this.presence = options.presence ?? new Presence();
    this.maxSubscriptions = options.maxSubscriptions ?? 100;
    this.logger = options.logger;
    this.maxAckBytes = options.maxAckBytes ?? DEFAULT_MAX_ACK_BYTES;
    this.seam = new LiveSeam(
      {
        head: (t) => store.head(t),
        readAfter: (t, after, limit) => store.readAfter(t, after, limit),
        snapshot: (t) => store.snapshot(t),
        position: (t) => tail.position(t),
      },
      this,
      { maxAckBytes: this.maxAckBytes },
    );
  }

  attach(server: PulseServer): void {
    this.server = server;
    this.burstable = !server.engine?.opts.perMessageDeflate;
    this.presence.attach(server);
  }

  /** Calls `observer` with each batch of a topic the tail hands over, before the sockets get it. */
  observeDeliveries(observer: (topic: string, events: PulseEvent[]) => void): void {
    this.deliveryObservers.push(observer);
  }

  /** Calls `observer` with each subscribe and replay answer, as it is sent. */
  observeAnswers(observer: AnswerObserver): void {
    this.answerObservers.push(observer);
  }

  private answered<A extends SubscribeAck | ReplayAck>(
    event: 'subscribe' | 'replay',
    request: SubscribeRequest | ReplayRequest | undefined,
    answer: A,
  ): A {
    for (const observer of this.answerObservers) observer(event, request, answer);
    return answer;
  }

  /** A subscribe or replay refused before it reached the hub (malformed): observed like the hub's own answers. */
  refused(event: 'subscribe' | 'replay', body: ErrorBody): void {
    this.answered(event, undefined, body);
  }

  /**
   * Answers a subscribe through `ack`, then brings the socket from its answer's last seq to the
   * live room: the answer goes out before any event that follows it. A refused subscribe leaves
   * an existing subscription to the topic as it was.
   */
  async subscribe(
    socket: PulseSocket,
    request: SubscribeRequest,
    ack: (answer: SubscribeAck) => void,
    charge?: Charge,
  ): Promise<void> {
    const { topic } = request;
    const ticket = Symbol(topic);
    if (this.atSubscriptionCap(socket, topic)) {
      return ack(
        this.answered(
          'subscribe',
          request,
          refusal(
            'TOO_MANY_SUBSCRIPTIONS',
            `this socket already follows ${this.maxSubscriptions} topics (PULSE_MAX_SUBSCRIPTIONS); unsubscribe from one first`,
          ),
        ),
      );
    }
    let latest = this.asking.get(socket);
    if (!latest) this.asking.set(socket, (latest = new Map<string, symbol>()));
    latest.set(topic, ticket);
    this.joining.set(topic, (this.joining.get(topic) ?? 0) + 1);
    // Counted as joining until it is registered, so that the tail keeps following the topic even
    // while this socket's previous subscription to it (maybe the only one here) is replaced.
    const joined = () => {
      this.joining.set(topic, this.joining.get(topic)! - 1);
      if (this.joining.get(topic) === 0) this.joining.delete(topic);
    };
    let answer: SubscribeAck;
    try {
      await this.tail.follow(topic);
      answer = await this.seam.answer(request, charge);
    } catch (cause) {
      // Redis's own words stay in the log: a client learns only that it should retry (as REST answers).
      this.logger?.warn(`subscribe to ${topic} failed: ${(cause as Error)?.message ?? String(cause)}`);
      answer = error('UNAVAILABLE', `cannot read the log of ${topic} now; retry shortly`);
    }
    if (latest.get(topic) === ticket) {
      latest.delete(topic);
      if (latest.size === 0 && this.asking.get(socket) === latest) this.asking.delete(socket);
    } else answer = error('UNAVAILABLE', 'a newer subscribe or an unsubscribe to this topic replaced this one');
    if (!answer.ok || !socket.connected) {
      joined();
      this.releaseIfUnused(topic);
      return ack(this.answered('subscribe', request, answer));
    }
    this.unsubscribe(socket, topic);
    const local = this.localTopic(topic);
    // One topic and one epoch string for a topic's subscribers, not a copy per socket (each request
    // parses its own; an idle socket keeps them for life, in its subscription and its topics).
    const subscription = this.seam.subscription({ ...request, topic: local.topic }, answer);
    const { sockets } = local;
    const peer = sockets.values().next().value;
    if (peer?.epoch === subscription.epoch) subscription.epoch = peer.epoch;
    sockets.set(socket, subscription);
    setTopics(socket, topicsOf(socket).concat(local.topic));
    joined();
    ack(this.answered('subscribe', request, answer));
    await this.seam.catchUp(socket, subscription);
  }

  /** Whether a subscribe to a new `topic` would pass the cap: its subscriptions and the subscribes being answered count. */
  private atSubscriptionCap(socket: PulseSocket, topic: string): boolean {
    const topics = topicsOf(socket);
    const latest = this.asking.get(socket);
    if (topics.includes(topic) || latest?.has(topic)) return false;
    let count = topics.length;
    for (const asked of latest?.keys() ?? []) if (!topics.includes(asked)) count += 1;
    return count >= this.maxSubscriptions;
  }

  /** Stops tailing a topic nobody here follows or is joining. */
  private releaseIfUnused(topic: string): void {
    if (!this.local.has(topic) && !this.joining.has(topic)) this.tail.unfollow(topic);
  }

  // ---- SeamSink: how the seam reaches a socket ----

  /** Sends events to one socket (catching up on its own). */
  send(socket: PulseSocket, subscription: Subscription, events: PulseEvent[]): void {
    if (this.server) new LiveFrames(this.server.encoder, events, this.burstable).write(socket, subscription.batch);
  }

  /** Joins the live room(s) of the subscription's topic. */
  live(socket: PulseSocket, subscription: Subscription): void {
    const local = this.localTopic(subscription.topic);
    void socket.join(local.room);
    this.presence.joined(socket, subscription);
  }

  resync(socket: PulseSocket, subscription: Subscription, reason: ResyncReason): void {
    this.unsubscribe(socket, subscription.topic);
    socket.emit('resync', { topic: subscription.topic, reason });
  }

  cutLoose(socket: PulseSocket): boolean {
    return this.slowConsumers.check(socket);
  }

  // ---- TailListener ----

  /** From the tail: one contiguous batch of `topic`, to the live sockets of this process, then to pending sockets it reaches. */
  onEvents(topic: string, events: PulseEvent[]): void {
    for (const observer of this.deliveryObservers) observer(topic, events);
    const server = this.server;
    const local = this.local.get(topic);
    if (!server || !local) return;
    // Live sockets all stand at the tail's position: the frames are encoded once for all of them.
    const frames = new LiveFrames(server.encoder, events, this.burstable);
    for (const [socket, subscription] of local.sockets) {
      if (subscription.state === 'live' && socket.connected) frames.write(socket, subscription.batch);
      this.seam.tailed(socket, subscription, events);
      this.slowConsumers.check(socket);
    }
  }

  /** From the tail: the topic's continuity is gone; every local subscriber must take a snapshot. */
  onReset(topic: string, reason: ResyncReason): void {
    const local = this.local.get(topic);
    if (!local) return;
    for (const [socket, subscription] of [...local.sockets]) this.resync(socket, subscription, reason);
  }

  /** Answers a replay; `charge` is asked first (from the log's head) for the events it will read. */
  async replay(request: ReplayRequest, charge?: Charge): Promise<ReplayAck> {
    const { topic, fromSeq } = request;
    const limit = request.limit ?? MAX_REPLAY_LIMIT;
    if (charge) {
      const head = (await this.store.head(topic))?.head ?? 0;
      const refused = await charge(Math.max(0, Math.min(limit, head - fromSeq + 1)));
      if (refused) return this.answered('replay', request, refused);
    }
    // A topic with no events is an empty log.
    const page = (await this.store.readAfter(topic, Math.max(fromSeq - 1, 0), limit)) ?? {
      epoch: null,
      head: 0,
      base: 0,
      events: [],
    };
    let answer: ReplayAck;
    if (fromSeq > page.head + 1)
      answer = {
        ...error('BAD_REQUEST', `fromSeq: ${fromSeq} is beyond the head ${page.head} of ${topic}`),
        issues: [{ path: 'fromSeq', message: `beyond the head ${page.head}` }],
      };
    else if (fromSeq <= page.base)
      answer = error(
        'NOT_FOUND',
        `events before ${page.base + 1} of ${topic} are no longer retained; subscribe without since for a snapshot`,
      );
    else {
      // At most maxAckBytes of events, but one at least (else a client would ask for it forever): it reads on from the seq after the last it got.
      const { events } = fitting(page.events, this.maxAckBytes);
      answer = {
        ok: true,
        topic,
        epoch: page.epoch,
        head: page.head,
        events: events.length > 0 ? events : page.events.slice(0, 1),
      };
    }
    return this.answered('replay', request, answer);
  }

  /** A client's unsubscribe: also cancels a subscribe to the topic still being answered. */
  unsubscribeRequested(socket: PulseSocket, topic: string): void {
    const latest = this.asking.get(socket);
    latest?.delete(topic);
    if (latest?.size === 0) this.asking.delete(socket);
    this.unsubscribe(socket, topic);
  }

  /** Ends the socket's subscription to `topic` (if any); the tail stops following topics nobody here reads. */
  unsubscribe(socket: PulseSocket, topic: string): boolean {
    const local = this.local.get(topic);
    const subscription = local?.sockets.get(socket);
    if (!local || !subscription) return false;
    this.presence.left(socket, subscription);
    subscription.state = 'closed';
    const topics = topicsOf(socket);
    const at = topics.indexOf(topic);
    if (at >= 0) setTopics(socket, topics.slice(0, at).concat(topics.slice(at + 1)));
    void socket.leave(local.room);
    local.sockets.delete(socket);
    if (local.sockets.size === 0) {
      this.local.delete(topic);
      this.releaseIfUnused(topic);
    }
    return true;
  }

  /** A socket left: end all its subscriptions. */
  disconnected(socket: PulseSocket): void {
    this.asking.delete(socket);
    for (const topic of topicsOf(socket)) this.unsubscribe(socket, topic);
  }

  private localTopic(topic: string): LocalTopic {
    let local = this.local.get(topic);
    if (!local) {
      local = { topic, sockets: new Map<PulseSocket, Subscription>(), room: topicRoom(topic) };
      this.local.set(topic, local);
    }
    return local;
  }
}
