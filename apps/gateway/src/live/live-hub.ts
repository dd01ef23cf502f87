// The seam between the log and the sockets: snapshot or replay, catch-up, then the live room, without gap or duplicate.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Server, Socket } from 'socket.io';
import {
  MAX_REPLAY_LIMIT,
  MAX_RESUME_EVENTS,
  type ClientToServerEvents,
  type ErrorBody,
  type PulseEvent,
  type ReplayAck,
  type ReplayRequest,
  type ResyncReason,
  type ServerToClientEvents,
  type SubscribeAck,
  type SubscribeRequest,
  emptySnapshot,
  refusal,
} from '#pulse/contracts';
import type { EventStore } from '#pulse/event-store';
import type { LogTail, TailListener } from './log-tail.js';
import { SlowConsumerGuard } from './slow-consumer.js';

export type PulseServer = Server<ClientToServerEvents, ServerToClientEvents>;
export type PulseSocket = Socket<ClientToServerEvents, ServerToClientEvents>;

/** A socket's subscription to one topic. */
interface Subscription {
  topic: string;
  /** Null while the log was empty when the subscribe was answered: its first events start its first epoch. */
  epoch: string | null;
  /** Last seq sent to this socket. */
  watermark: number;
  batch: boolean;
  state: 'catching-up' | 'pending' | 'live' | 'closed';
}

/** What this process holds for a topic some of its sockets subscribe to. */
interface LocalTopic {
  sockets: Map<PulseSocket, Subscription>;
  /**
   * Its room names, made once: every live socket's own room set holds these strings, where names
   * built per join would be one copy per socket.
   */
  room: string;
  batchRoom: string;
  bothRooms: string[];
}

export interface LiveHubOptions {
  /** Cuts loose sockets whose unsent output passes its bound. @default a guard with an 8 MiB bound */
  slowConsumers?: SlowConsumerGuard;
  /** Joins and leaves within this window are announced as one presence update. @default 250 */
  presenceDelayMs?: number;
  /** Topics one socket may follow or be subscribing to at once (PULSE_MAX_SUBSCRIPTIONS). @default 100 */
  maxSubscriptions?: number;
}

/** Room of every socket live on `topic` in this cluster (presence goes through the adapter). */
export const topicRoom = (topic: string) => `topic:${topic}`;
/** Room of the sockets live on `topic` that asked for batch frames. */
const batchRoom = (topic: string) => `batch:${topic}`;

/** A drain closes sockets in at most this many waves. */
const DRAIN_WAVES = 10;

const error = (code: ErrorBody['code'], message: string): ErrorBody => ({ ok: false, code, message });

export class LiveHub implements TailListener {
  private server: PulseServer | null = null;
  /** Per topic: the sockets of this process subscribed to it, in any state, with their subscription. */
  private readonly local = new Map<string, LocalTopic>();
  /** Per socket with subscribes being answered: the newest request per topic (a newer one, or an unsubscribe, replaces it). */
  private readonly asking = new Map<PulseSocket, Map<string, symbol>>();
  /** Per topic: subscribe requests being answered (the tail keeps following it meanwhile). */
  private readonly joining = new Map<string, number>();
  private readonly slowConsumers: SlowConsumerGuard;
  /** Topics whose viewer count is due to be announced (joins and leaves are coalesced). */
  private readonly presenceDue = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly presenceDelayMs: number;
  private readonly maxSubscriptions: number;
  /** Told of every batch the tail hands over, before it goes to the sockets (metrics). */
  private readonly deliveryObservers: ((topic: string, events: PulseEvent[]) => void)[] = [];

  constructor(
    private readonly store: EventStore,
    private readonly tail: LogTail,
    options: LiveHubOptions = {},
  ) {
    this.slowConsumers = options.slowConsumers ?? new SlowConsumerGuard(8 * 1024 * 1024);
    this.presenceDelayMs = options.presenceDelayMs ?? 250;
    this.maxSubscriptions = options.maxSubscriptions ?? 100;
  }

  attach(server: PulseServer): void {
    this.server = server;
  }

  /** Calls `observer` with each batch of a topic the tail hands over, before the sockets get it. */
  observeDeliveries(observer: (topic: string, events: PulseEvent[]) => void): void {
    this.deliveryObservers.push(observer);
  }

  /**
   * The topics the socket has a subscription to, in any state: all a socket keeps of the hub's.
   * Every idle socket carries it, so it is an array of exactly its topics, replaced on each change
   * (concat and slice allocate exactly; push, spread and filter leave room for 16 more, and a Map
   * is bigger still). PULSE_MAX_SUBSCRIPTIONS bounds it.
   */
  private topicsOf(socket: PulseSocket): readonly string[] {
    return (socket.data as { topics?: readonly string[] }).topics ?? [];
  }

  private setTopics(socket: PulseSocket, topics: readonly string[]): void {
    (socket.data as { topics?: readonly string[] }).topics = topics;
  }

  /**
   * Answers a subscribe through `ack`, then brings the socket from its answer's last seq to the
   * live room: the answer goes out before any event that follows it. A refused subscribe leaves
   * an existing subscription to the topic as it was.
   */
  async subscribe(socket: PulseSocket, request: SubscribeRequest, ack: (answer: SubscribeAck) => void): Promise<void> {
    const { topic } = request;
    const ticket = Symbol(topic);
    if (this.atSubscriptionCap(socket, topic)) {
      return ack(refusal('TOO_MANY_SUBSCRIPTIONS', `this socket already follows ${this.maxSubscriptions} topics (PULSE_MAX_SUBSCRIPTIONS); unsubscribe from one first`));
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
      answer = await this.answer(request);
    } catch (cause) {
      answer = error('UNAVAILABLE', `cannot read the log of ${topic} now (${(cause as Error).message}); retry shortly`);
    }
    if (latest.get(topic) === ticket) {
      latest.delete(topic);
      if (latest.size === 0 && this.asking.get(socket) === latest) this.asking.delete(socket);
    } else answer = error('UNAVAILABLE', 'a newer subscribe or an unsubscribe to this topic replaced this one');
    if (!answer.ok || !socket.connected) {
      joined();
      this.releaseIfUnused(topic);
      return ack(answer);
    }
    this.unsubscribe(socket, topic);
    const watermark = answer.events.at(-1)?.seq ?? answer.snapshot?.seq ?? request.since!.seq;
    const subscription: Subscription = { topic, epoch: answer.epoch, watermark, batch: request.batch ?? false, state: 'catching-up' };
    this.localTopic(topic).sockets.set(socket, subscription);
    this.setTopics(socket, this.topicsOf(socket).concat(topic));
    joined();
    ack(answer);
    await this.catchUp(socket, subscription);
  }

  /** Whether a subscribe to a new `topic` would pass the cap: its subscriptions and the subscribes being answered count. */
  private atSubscriptionCap(socket: PulseSocket, topic: string): boolean {
    const topics = this.topicsOf(socket);
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

  /** The subscribe answer: a replay from `since` when it is recoverable, else a snapshot. */
  private async answer(request: SubscribeRequest): Promise<SubscribeAck> {
    const { topic, since } = request;
    const head = await this.store.head(topic);
    if (!head) {
      // Any valid topic is a log, possibly empty: its first events arrive live from seq 1. Whatever
      // epoch a client names, seq 0 of an empty log misses nothing; a later seq is history that is gone.
      if (since?.seq === 0) return { ok: true, topic, epoch: null, head: 0, recovered: true, events: [] };
      return { ok: true, topic, epoch: null, head: 0, recovered: false, snapshot: emptySnapshot(topic), events: [] };
    }
    if (since && since.epoch === head.epoch) {
      if (since.seq > head.head) return { ...error('BAD_REQUEST', `since.seq: ${since.seq} is beyond the head ${head.head} of ${topic}`), issues: [{ path: 'since.seq', message: `beyond the head ${head.head}` }] };
      if (since.seq >= head.base && head.head - since.seq <= MAX_RESUME_EVENTS) {
        const events: PulseEvent[] = [];
        let after = since.seq;
        while (after < head.head) {
          const page = await this.store.readAfter(topic, after, MAX_REPLAY_LIMIT);
          if (!page || page.epoch !== head.epoch || page.base > after) break;
          const wanted = page.events.filter((event) => event.seq <= head.head);
          if (wanted.length === 0) break;
          events.push(...wanted);
          after = wanted.at(-1)!.seq;
        }
        if (after === head.head) return { ok: true, topic, epoch: head.epoch, head: head.head, recovered: true, events };
      }
    }
    // The log may have gone since its head was read: then it is empty.
    const snapshot = (await this.store.snapshot(topic)) ?? emptySnapshot(topic);
    return { ok: true, topic, epoch: snapshot.epoch, head: snapshot.seq, recovered: false, snapshot, events: [] };
  }

  /** Sends what the socket missed since its watermark until it stands where the tail does, then makes it live. */
  private async catchUp(socket: PulseSocket, subscription: Subscription): Promise<void> {
    const { topic } = subscription;
    for (;;) {
      if (subscription.state !== 'catching-up') return;
      const position = this.tail.position(topic);
      if (position === undefined) return this.resync(socket, subscription, 'log_lost');
      if (subscription.watermark === position) return this.goLive(socket, subscription);
      if (subscription.watermark > position) {
        // The tail has not read this far yet: it hands the socket over when it passes the watermark.
        subscription.state = 'pending';
        return;
      }
      let page;
      try {
        page = await this.store.readAfter(topic, subscription.watermark, MAX_REPLAY_LIMIT);
      } catch {
        return this.resync(socket, subscription, 'log_lost');
      }
      if (subscription.state !== 'catching-up') return;
      // An empty log's first events (the tail read them meanwhile) start its first epoch.
      if (page && subscription.epoch === null && subscription.watermark === 0) subscription.epoch = page.epoch;
      if (!page || page.epoch !== subscription.epoch) return this.resync(socket, subscription, page ? 'epoch_changed' : 'log_lost');
      if (page.base > subscription.watermark || page.events.length === 0) return this.resync(socket, subscription, 'trimmed');
      this.send(socket, subscription, page.events);
      if (this.slowConsumers.check(socket)) return;
    }
  }

  private goLive(socket: PulseSocket, subscription: Subscription): void {
    subscription.state = 'live';
    const local = this.localTopic(subscription.topic);
    void socket.join(subscription.batch ? local.bothRooms : local.room);
    this.presenceChanged(subscription.topic);
  }

  /** Counts the topic's viewers on every gateway (through the adapter) and tells them, once per window. */
  private presenceChanged(topic: string): void {
    if (this.presenceDue.has(topic) || !this.server) return;
    const server = this.server;
    this.presenceDue.set(
      topic,
      setTimeout(() => {
        this.presenceDue.delete(topic);
        server
          .in(topicRoom(topic))
          .fetchSockets()
          .then((sockets) => server.to(topicRoom(topic)).emit('presence', { topic, viewers: sockets.length }))
          .catch(() => undefined); // Another gateway did not answer in time: the next change announces again.
      }, this.presenceDelayMs),
    );
  }

  /**
   * Closes the connection of every socket of this process, in waves spread over `spreadMs`, so
   * that their clients reconnect (through the load balancer, to other gateways) and resume from
   * their last seq without all arriving at once. Closing the transport, not disconnecting the
   * socket, makes plain socket.io clients reconnect by themselves too. Resolves with the count.
   */
  async drain(spreadMs: number): Promise<number> {
    const sockets = [...(this.server?.sockets.sockets.values() ?? [])];
    const waves = Math.max(1, Math.min(DRAIN_WAVES, sockets.length));
    const perWave = Math.ceil(sockets.length / waves);
    for (let wave = 0; wave < waves; wave++) {
      if (wave > 0) await sleep(spreadMs / waves);
      for (const socket of sockets.slice(wave * perWave, (wave + 1) * perWave)) socket.conn.close();
    }
    return sockets.length;
  }

  /** Stops pending presence announcements (at shutdown). */
  close(): void {
    for (const timer of this.presenceDue.values()) clearTimeout(timer);
    this.presenceDue.clear();
  }

  /** Sends events to one socket and moves its watermark. */
  private send(socket: PulseSocket, subscription: Subscription, events: PulseEvent[]): void {
    if (events.length === 0) return;
    if (subscription.batch) socket.emit('events', events);
    else for (const event of events) socket.emit(event.type as 'status_update', event);
    subscription.watermark = events.at(-1)!.seq;
  }

  /** From the tail: one contiguous batch of `topic`, to the live room of this process, then to pending sockets it reaches. */
  onEvents(topic: string, events: PulseEvent[]): void {
    for (const observer of this.deliveryObservers) observer(topic, events);
    const server = this.server;
    const local = this.local.get(topic);
    if (!server || !local) return;
    const { room, batchRoom: batch } = local;
    // One encoded frame per event (or per batch) for every live socket: they all stand at the tail's position.
    const rooms = server.sockets.adapter.rooms;
    if ((rooms.get(room)?.size ?? 0) > (rooms.get(batch)?.size ?? 0)) {
      // Some live socket here wants one frame per event (when all of them batch, this would walk the room once per event for nothing).
      const singles = server.local.to(room).except(batch);
      for (const event of events) singles.emit(event.type as 'status_update', event);
    }
    server.local.to(batch).emit('events', events);
    const last = events.at(-1)!.seq;
    for (const [socket, subscription] of local.sockets) {
      if (subscription.state === 'live') subscription.watermark = last;
      else if (subscription.state === 'pending' && subscription.watermark <= last) {
        this.send(socket, subscription, events.filter((event) => event.seq > subscription.watermark));
        this.goLive(socket, subscription);
      }
      this.slowConsumers.check(socket);
    }
  }

  /** From the tail: the topic's continuity is gone; every local subscriber must take a snapshot. */
  onReset(topic: string, reason: ResyncReason): void {
    const local = this.local.get(topic);
    if (!local) return;
    for (const [socket, subscription] of [...local.sockets]) this.resync(socket, subscription, reason);
  }

  private resync(socket: PulseSocket, subscription: Subscription, reason: ResyncReason): void {
    this.unsubscribe(socket, subscription.topic);
    socket.emit('resync', { topic: subscription.topic, reason });
  }

  async replay(request: ReplayRequest): Promise<ReplayAck> {
    const { topic, fromSeq } = request;
    const page = (await this.store.readAfter(topic, Math.max(fromSeq - 1, 0), request.limit ?? MAX_REPLAY_LIMIT)) ?? { epoch: null, head: 0, base: 0, events: [] };
    if (fromSeq > page.head + 1) return { ...error('BAD_REQUEST', `fromSeq: ${fromSeq} is beyond the head ${page.head} of ${topic}`), issues: [{ path: 'fromSeq', message: `beyond the head ${page.head}` }] };
    if (fromSeq <= page.base) return error('NOT_FOUND', `events before ${page.base + 1} of ${topic} are no longer retained; subscribe without since for a snapshot`);
    return { ok: true, topic, epoch: page.epoch, head: page.head, events: page.events };
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
    if (subscription.state === 'live') this.presenceChanged(topic);
    subscription.state = 'closed';
    const topics = this.topicsOf(socket);
    const at = topics.indexOf(topic);
    if (at >= 0) this.setTopics(socket, topics.slice(0, at).concat(topics.slice(at + 1)));
    void socket.leave(local.room);
    void socket.leave(local.batchRoom);
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
    for (const topic of this.topicsOf(socket)) this.unsubscribe(socket, topic);
  }

  /** Sockets live on each topic across the cluster. */
  async presence(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const socket of (await this.server?.fetchSockets()) ?? []) {
      for (const room of socket.rooms) if (room.startsWith('topic:')) counts[room.slice('topic:'.length)] = (counts[room.slice('topic:'.length)] ?? 0) + 1;
    }
    return counts;
  }

  private localTopic(topic: string): LocalTopic {
    let local = this.local.get(topic);
    if (!local) {
      const room = topicRoom(topic);
      const batch = batchRoom(topic);
      this.local.set(topic, (local = { sockets: new Map<PulseSocket, Subscription>(), room, batchRoom: batch, bothRooms: [room, batch] }));
    }
    return local;
  }
}
