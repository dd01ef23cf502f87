// The gateway's Socket.IO server and socket, typed: the event maps of libs/contracts and what each socket carries on `socket.data`.
import type { DefaultEventsMap, Server, Socket } from 'socket.io';
import type { Principal } from '#pulse/auth';
import type { ClientToServerEvents, ServerToClientEvents } from '#pulse/contracts';

/** Requests of one socket waiting for their check, one after another in arrival order. */
export interface RequestQueue {
  /** Settles when the last request in the queue has been checked. */
  tail: Promise<void>;
  /** Requests waiting (at most PULSE_RATE_LIMIT_CONNECTION: more could not pass its window anyway). */
  waiting: number;
}

/**
 * What the gateway keeps on `socket.data`. Every idle socket carries it, so it is small; other
 * gateways' fetchSockets receive it as JSON, so nothing circular (a timer) may go in it.
 */
export interface SocketData {
  /** Who it is; set by the handshake (SocketGuard) before the socket connects. */
  principal: Principal;
  /** Its requests waiting for their check; absent while none waits (an idle socket keeps no settled promise chain). */
  queue?: RequestQueue;
  /**
   * The topics it has a subscription to, in any state (LiveHub; read and set them with topicsOf and
   * setTopics): the one topic of most sockets itself, else an array of exactly its topics, replaced
   * on each change (concat and slice allocate exactly; push, spread and filter leave room for 16
   * more, and a Map is bigger still). PULSE_MAX_SUBSCRIPTIONS bounds it.
   */
  topics?: string | readonly string[];
}

/** The topics the socket has a subscription to, in any state. */
export function topicsOf(socket: { data: SocketData }): readonly string[] {
  const { topics } = socket.data;
  return topics === undefined ? [] : typeof topics === 'string' ? [topics] : topics;
}

/** Sets the socket's topics: nothing for none, the topic alone for one (an idle socket holds no array for it). */
export function setTopics(socket: { data: SocketData }, topics: readonly string[]): void {
  socket.data.topics = topics.length === 0 ? undefined : topics.length === 1 ? topics[0] : topics;
}

export type PulseServer = Server<ClientToServerEvents, ServerToClientEvents, DefaultEventsMap, SocketData>;
export type PulseSocket = Socket<ClientToServerEvents, ServerToClientEvents, DefaultEventsMap, SocketData>;

/** Room of every socket live on `topic` in this cluster (presence counts it through the adapter). */
export const topicRoom = (topic: string) => `topic:${topic}`;

/** Room of the sockets live on `topic` that asked for `presence` frames (`subscribe { presence: true }`). */
export const presenceRoom = (topic: string) => `presence:${topic}`;
