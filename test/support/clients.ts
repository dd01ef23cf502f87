// Test helpers: real socket.io-client connections and SDK clients that record what they receive (waits: wait.ts).
import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import type { PulseClient } from '#pulse/client';
import {
  EVENT_TYPES,
  type ClientToServerEvents,
  type ErrorBody,
  type PulseEvent,
  type ServerToClientEvents,
  type SubscribeAck,
  type SubscribeRequest,
} from '#pulse/contracts';
import { Changes, within, type What } from './wait.js';

export type PulseClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** Opens a raw socket (no reconnection) and resolves once it is connected, or with the refusal of its handshake (closed). */
export function handshake(
  url: string,
  options: Partial<ManagerOptions & SocketOptions>,
): Promise<{ socket: Socket; refused: (Error & { data?: ErrorBody }) | null }> {
  const socket = io(url, { ...options, reconnection: false, forceNew: true });
  return within(
    `the handshake with ${url}`,
    new Promise((resolve) => {
      socket.once('connect', () => resolve({ socket, refused: null }));
      socket.once('connect_error', (error: Error & { data?: ErrorBody }) => {
        socket.close();
        resolve({ socket, refused: error });
      });
    }),
  );
}

/** What a PulseClient's handlers saw for one topic: every event, every snapshot's reason, and a way to wait on them. */
export interface FollowedTopic {
  readonly events: PulseEvent[];
  readonly snapshots: string[];
  readonly changes: Changes;
  /** The client's position in the topic (its last seq), 0 before any. */
  seq(): number;
}

/** Subscribes `client` to `topic` and records what its handlers see. */
export function recordTopic(client: PulseClient, topic: string): FollowedTopic {
  const changes = new Changes();
  const events: PulseEvent[] = [];
  const snapshots: string[] = [];
  const subscription = client.subscribe(topic, {
    onEvent: (event) => {
      events.push(event);
      changes.changed();
    },
    onSnapshot: (_snapshot, reason) => {
      snapshots.push(reason);
      changes.changed();
    },
  });
  return { events, snapshots, changes, seq: () => subscription.position()?.seq ?? 0 };
}

/** Frame names that carry one log event (per-event mode); other frames (`events`, `resync`, `presence`…) are not events. */
export const EVENT_FRAME_NAMES: ReadonlySet<string> = new Set(EVENT_TYPES);

/**
 * A socket.io-client that records, per topic, every event it is sent, in wire order: a subscribe's
 * answer is recorded in the ack callback itself (awaiting emitWithAck would resume only after the
 * frames that arrived with the ack), and only event frames count (not `presence` or other notices).
 */
export class RecordingClient {
  readonly socket: PulseClientSocket;
  /** Events per topic in arrival order, acks' replayed events included where the ack arrived. */
  readonly received = new Map<string, PulseEvent[]>();
  readonly resyncs: { topic: string; reason: string }[] = [];
  readonly acks: SubscribeAck[] = [];
  private readonly changes = new Changes();

  constructor(url: string, options: { batch?: boolean } = {}) {
    this.socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
    if (options.batch) this.socket.on('events', (events) => this.push(events[0]?.topic ?? '', events));
    else {
      this.socket.onAny((name: string, payload: unknown) => {
        if (EVENT_FRAME_NAMES.has(name)) this.push((payload as PulseEvent).topic, [payload as PulseEvent]);
      });
    }
    this.socket.on('resync', (notice) => this.resyncs.push(notice));
  }

  private push(topic: string, events: PulseEvent[]): void {
    let list = this.received.get(topic);
    if (!list) this.received.set(topic, (list = []));
    list.push(...events);
    this.changes.changed();
  }

  /** Resolves when `check` holds, re-checked on each arrival; fails after `timeoutMs` naming `what`. */
  async until(what: What, check: () => boolean, timeoutMs = 15_000): Promise<void> {
    await this.changes.until(what, check, timeoutMs);
  }

  async connected(): Promise<this> {
    if (this.socket.connected) return this;
    await new Promise<void>((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('connect_error', (error) => reject(error));
    });
    return this;
  }

  /** Subscribes; the answer's events are recorded when the ack arrives, before any frame after it. */
  async subscribe(request: SubscribeRequest, timeoutMs = 10_000): Promise<SubscribeAck> {
    return new Promise<SubscribeAck>((resolve, reject) => {
      this.socket.timeout(timeoutMs).emit('subscribe', request, (error: Error | null, ack: SubscribeAck) => {
        if (error) return reject(new Error(`no answer to subscribe ${request.topic} within ${timeoutMs} ms`));
        this.acks.push(ack);
        if (ack.ok) this.push(request.topic, ack.events);
        resolve(ack);
      });
    });
  }

  events(topic: string): PulseEvent[] {
    return this.received.get(topic) ?? [];
  }

  seqs(topic: string): number[] {
    return this.events(topic).map((event) => event.seq);
  }

  /** The last seq received for `topic` (0 if none). */
  last(topic: string): number {
    return this.events(topic).at(-1)?.seq ?? 0;
  }

  async untilSeq(topic: string, seq: number, timeoutMs = 15_000): Promise<void> {
    await this.until(
      () => `${topic} seq ${seq} (has ${this.last(topic)})`,
      () => this.last(topic) >= seq,
      timeoutMs,
    );
  }

  close(): void {
    this.socket.disconnect();
  }
}

/** What the REST API answers: a success body or an error body. */
export interface RestAnswer {
  status: number;
  body: {
    seqs?: number[];
    epoch?: string;
    ok?: false;
    code?: string;
    message?: string;
    issues?: { path: string; message: string }[];
  } | null;
}

/** Posts events through the REST ingest (a string body is sent as is); returns the status and body. */
export async function post(url: string, topic: string, body: unknown): Promise<RestAnswer> {
  const response = await fetch(`${url}/api/v1/topics/${topic}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json().catch(() => null)) as RestAnswer['body'] };
}

export const heartbeat = (instanceId: string) => ({ type: 'instance.heartbeat', data: { instanceId } });
export const attempt = (instanceId: string, outcome: 'success' | 'failure' = 'success') => ({
  type: 'attempt.recorded',
  data: { instanceId, outcome },
});
