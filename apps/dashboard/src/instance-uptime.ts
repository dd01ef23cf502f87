// Keeps the table's 24 h uptime column filled: each shown instance's uptime is read once, then again every minute, a few requests at a time.
import type { GatewayApi } from './gateway-api.js';

/** Uptime over 24 h moves slowly: one read per instance per minute is enough. */
const REFRESH_MS = 60_000;
/** Requests in flight at once, so a big fleet does not flood the gateway on load. */
const CONCURRENCY = 4;

export class InstanceUptime {
  /** When each id was last read, for the followed topic. */
  private readonly readAt = new Map<string, number>();
  private topic: string | null = null;
  private running = 0;
  private queue: string[] = [];

  constructor(
    private readonly api: GatewayApi,
    private readonly show: (id: string, percent: number | null) => void,
  ) {}

  /** A new topic: nothing read yet. */
  follow(topic: string): void {
    this.topic = topic;
    this.readAt.clear();
    this.queue = [];
  }

  /** Reads the uptime of every id in `ids` not read within the last minute. */
  refresh(ids: string[], now: number): void {
    for (const id of ids) {
      const at = this.readAt.get(id);
      if (at !== undefined && now - at < REFRESH_MS) continue;
      this.readAt.set(id, now);
      this.queue.push(id);
    }
    this.pump();
  }

  private pump(): void {
    while (this.running < CONCURRENCY && this.queue.length > 0) {
      const id = this.queue.shift()!;
      const topic = this.topic;
      if (topic === null) return;
      this.running += 1;
      const now = Date.now();
      // Only the uptime is needed: an empty hourly range keeps the answer small.
      void this.api
        .instance(topic, id, now, now)
        .then(
          (history) => {
            if (topic === this.topic) this.show(id, history?.uptime['24h'] ?? null);
          },
          (error: Error) => console.warn(`Pulse: could not read the uptime of ${id}: ${error.message}`),
        )
        .finally(() => {
          this.running -= 1;
          this.pump();
        });
    }
  }
}
