// Keeps the table's 24 h uptime column filled: every instance's uptime in one request, again every minute (asked every second by the page's clock), or sooner when a new instance appears.
import type { GatewayApi } from './gateway-api.js';

/** Uptime over 24 h moves slowly: one read a minute is enough. */
const REFRESH_MS = 60_000;
/** A new instance is read at the next refresh, but no sooner than this after the last read. */
const NEW_ID_MS = 5_000;

export class InstanceUptime {
  private topic: string | null = null;
  /** When the followed topic's list was last asked for (0: never). */
  private readAt = 0;
  private inFlight = false;
  /** The ids the last answer covered. */
  private readonly known = new Set<string>();

  constructor(
    private readonly api: GatewayApi,
    private readonly show: (list: readonly { id: string; uptime: number }[]) => void,
  ) {}

  /** A new topic: nothing read yet. */
  follow(topic: string): void {
    this.topic = topic;
    this.readAt = 0;
    this.known.clear();
  }

  /**
   * Reads every instance's uptime if the last read is a minute old, or an id in `ids` is new to it.
   * Called every second (the minute passes with no event) and when rows are added.
   */
  refresh(ids: Iterable<string>, now: number): void {
    const topic = this.topic;
    if (topic === null || this.inFlight) return;
    const due = now - this.readAt >= REFRESH_MS || (now - this.readAt >= NEW_ID_MS && this.hasNew(ids));
    if (!due) return;
    this.readAt = now;
    this.inFlight = true;
    void this.api
      .uptimes(topic)
      .then(
        (list) => {
          if (topic !== this.topic || !list) return;
          this.known.clear();
          for (const { id } of list.instances) this.known.add(id);
          this.show(list.instances);
        },
        (error: Error) => console.warn(`Pulse: could not read the instances' uptime: ${error.message}`),
      )
      .finally(() => {
        this.inFlight = false;
      });
  }

  private hasNew(ids: Iterable<string>): boolean {
    for (const id of ids) if (!this.known.has(id)) return true;
    return false;
  }
}
