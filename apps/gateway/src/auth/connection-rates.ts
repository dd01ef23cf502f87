// Requests per connection in fixed windows, in this process; its clock is injectable, so that a test moves time instead of sleeping through a window.

export class ConnectionRates {
  /**
   * Requests counted per connection in the current window. Every connection shares the window's
   * bounds (multiples of windowMs on the clock), so a connection costs one entry with a small
   * integer, no window object of its own, and a window that is over is dropped whole.
   */
  private counts = new Map<string, number>();
  /** When the current window started (ms, on the clock). */
  private start = -Infinity;
  private readonly sweeper: ReturnType<typeof setInterval>;

  /**
   * @param points requests a connection may make per window
   * @param windowMs the window's length
   * @param now the clock (ms) @default Date.now
   */
  constructor(
    private readonly points: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {
    // The counts of idle connections are dropped once their window is over: an idle socket costs nothing here.
    this.sweeper = setInterval(() => this.sweep(), Math.max(windowMs, 1000));
    this.sweeper.unref();
  }

  /** Counts one request of `key`; answers 0 when it may go ahead, else the ms until its window ends. */
  consume(key: string): number {
    return this.charge(key, 1);
  }

  /**
   * Charges `points` more to `key` (a request that costs more than the one point it was admitted
   * with): answers 0 and counts them all when its window had room left, even if they pass the rate
   * (the next requests wait), else the ms until the window ends and counts nothing.
   */
  charge(key: string, points: number): number {
    const now = this.now();
    this.sweep(now);
    const count = this.counts.get(key) ?? 0;
    if (count >= this.points) return Math.max(this.start + this.windowMs - now, 1);
    this.counts.set(key, count + points);
    return 0;
  }

  /** Forgets a closed connection's count. */
  forget(key: string): void {
    this.counts.delete(key);
  }

  /** Starts a new window, without the counts of the last one, once the clock has passed it. */
  sweep(now = this.now()): void {
    if (now - this.start < this.windowMs) return;
    this.start = now - (now % this.windowMs);
    if (this.counts.size > 0) this.counts = new Map();
  }

  /** Connections counted in the current window (for tests). */
  get size(): number {
    return this.counts.size;
  }

  close(): void {
    clearInterval(this.sweeper);
  }
}
