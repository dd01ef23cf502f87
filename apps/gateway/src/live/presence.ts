// Viewers per topic across the cluster: joins and leaves are coalesced into one `presence` announcement per topic and window.
import { topicRoom, type PulseServer } from './live-socket.js';

export class Presence {
  private server: PulseServer | null = null;
  /** Topics whose viewer count is due to be announced. */
  private readonly due = new Map<string, ReturnType<typeof setTimeout>>();

  /** @param delayMs joins and leaves within this window are announced as one update */
  constructor(private readonly delayMs = 250) {}

  attach(server: PulseServer): void {
    this.server = server;
  }

  /** A socket joined or left the live room of `topic`: counts its viewers on every gateway (through the adapter) and tells them, once per window. */
  changed(topic: string): void {
    if (this.due.has(topic) || !this.server) return;
    const server = this.server;
    this.due.set(
      topic,
      setTimeout(() => {
        this.due.delete(topic);
        server
          .in(topicRoom(topic))
          .fetchSockets()
          .then((sockets) => server.to(topicRoom(topic)).emit('presence', { topic, viewers: sockets.length }))
          .catch(() => undefined); // Another gateway did not answer in time: the next change announces again.
      }, this.delayMs),
    );
  }

  /** Sockets live on each topic across the cluster. */
  async count(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    const prefix = topicRoom('');
    for (const socket of (await this.server?.fetchSockets()) ?? []) {
      for (const room of socket.rooms) if (room.startsWith(prefix)) counts[room.slice(prefix.length)] = (counts[room.slice(prefix.length)] ?? 0) + 1;
    }
    return counts;
  }

  /** Stops pending announcements (at shutdown). */
  close(): void {
    for (const timer of this.due.values()) clearTimeout(timer);
    this.due.clear();
  }
}
