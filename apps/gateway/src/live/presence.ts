// Viewers per topic across the cluster: joins and leaves are coalesced into one `presence` announcement per topic and window, to the sockets that asked for it; gateways exchange counts, never sockets.
import type { Subscription } from './live-seam.js';
import { presenceRoom, topicRoom, type PulseServer, type PulseSocket } from './live-socket.js';

/**
 * The server-side event a gateway asks the others with (through the adapter): with a topic, each
 * answers its number of live sockets on it; with null, its counts per topic. Numbers only: the
 * adapter's fetchSockets would ship every socket's handshake and data through Redis to every
 * gateway on every join burst.
 */
const COUNT_REQUEST = 'pulse:presence';

export class Presence {
  private server: PulseServer | null = null;
  /** Topics whose viewer count is due to be announced. */
  private readonly due = new Map<string, ReturnType<typeof setTimeout>>();
  /**
   * Per topic some socket here asked presence of: its presence room's name, made once (every such
   * socket's own room set holds it, where a name built per join would be one copy per socket).
   */
  private readonly rooms = new Map<string, string>();

  /** @param delayMs joins and leaves within this window are announced as one update */
  constructor(private readonly delayMs = 250) {}

  attach(server: PulseServer): void {
    this.server = server;
    // Another gateway asks for this one's counts (a gateway that died does not answer, and the adapter stops waiting for it).
    server.on(COUNT_REQUEST, (topic: unknown, answer: unknown) => {
      if (typeof answer !== 'function') return;
      (answer as (count: number | Record<string, number>) => void)(
        typeof topic === 'string' ? this.localCount(topic) : this.localCounts(),
      );
    });
  }

  /** The subscription's socket joined its topic's live room: one more viewer, and one more to tell if it asked. */
  joined(socket: PulseSocket, subscription: Subscription): void {
    const { topic } = subscription;
    if (subscription.presence) {
      let room = this.rooms.get(topic);
      if (!room) this.rooms.set(topic, (room = presenceRoom(topic)));
      void socket.join(room);
    }
    this.changed(topic);
  }

  /** The subscription ends (its socket leaves the live room, if it was there). */
  left(socket: PulseSocket, subscription: Subscription): void {
    const { topic } = subscription;
    const room = subscription.presence ? this.rooms.get(topic) : undefined;
    if (room) {
      void socket.leave(room);
      if (!this.server?.of('/').adapter.rooms.has(room)) this.rooms.delete(topic);
    }
    if (subscription.state === 'live') this.changed(topic);
  }

  /**
   * A socket joined or left the live room of `topic`: counts its viewers on every gateway and tells
   * those that asked for presence (any gateway's), once per window. Every live socket is a viewer.
   */
  changed(topic: string): void {
    if (this.due.has(topic) || !this.server) return;
    const server = this.server;
    this.due.set(
      topic,
      setTimeout(() => {
        this.due.delete(topic);
        this.others<number>(topic)
          .then((counts) =>
            server
              .to(presenceRoom(topic))
              .emit('presence', { topic, viewers: counts.reduce((sum, count) => sum + count, this.localCount(topic)) }),
          )
          .catch(() => undefined); // Another gateway did not answer in time: the next change announces again.
      }, this.delayMs),
    );
  }

  /** Sockets live on each topic across the cluster. */
  async count(): Promise<Record<string, number>> {
    const counts = this.localCounts();
    for (const theirs of await this.others<Record<string, number>>(null)) {
      for (const [topic, viewers] of Object.entries(theirs)) counts[topic] = (counts[topic] ?? 0) + viewers;
    }
    return counts;
  }

  /** The other gateways' answers to a count request. */
  private async others<T>(topic: string | null): Promise<T[]> {
    if (!this.server) return [];
    return (await this.server.serverSideEmitWithAck(COUNT_REQUEST, topic)) as T[];
  }

  /** Sockets of this process live on `topic`. */
  private localCount(topic: string): number {
    return this.server?.of('/').adapter.rooms.get(topicRoom(topic))?.size ?? 0;
  }

  /** Sockets of this process live on each topic. */
  private localCounts(): Record<string, number> {
    // Without a prototype: a topic may be named constructor or valueof.
    const counts = Object.create(null) as Record<string, number>;
    const prefix = topicRoom('');
    for (const [room, sockets] of this.server?.of('/').adapter.rooms ?? []) {
      if (room.startsWith(prefix)) counts[room.slice(prefix.length)] = sockets.size;
    }
    return counts;
  }

  /** Stops pending announcements (at shutdown). */
  close(): void {
    for (const timer of this.due.values()) clearTimeout(timer);
    this.due.clear();
  }
}
