// The server's clock as the page estimates it from the stamps of live events: what every view compares server timestamps with (ages, countdowns, the chart's window, silences).

/**
 * The least (local arrival time − server stamp) over the live events seen: how far the local
 * clock runs ahead of the server's, plus the quickest delivery (a few ms). Replayed and delayed
 * events arrive later than that and do not move it. Until the first live event, the local clock.
 */
export class ServerClock {
  private lead: number | null = null;

  /** A live event stamped `serverTs` by the server arrived at `localNow`. */
  observe(serverTs: number, localNow = Date.now()): void {
    const lead = localNow - serverTs;
    if (this.lead === null || lead < this.lead) this.lead = lead;
  }

  /** How far the local clock runs ahead of the server's (negative: behind); 0 until an event was seen. */
  get offset(): number {
    return this.lead ?? 0;
  }

  /** The server's time at the local time `localNow`. */
  now(localNow = Date.now()): number {
    return localNow - this.offset;
  }
}
