// Requests per connection in fixed windows, in this process; its clock is injectable, so that a test moves time instead of sleeping through a window.

interface Window {
  /** When the window started (ms, on the clock). */
  start: number;
  count: number;
}

export class ConnectionRates {
  private readonly windows = new Map<string, Window>();
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
    // Windows of idle connections are dropped once over: an idle socket costs nothing here.
    this.sweeper = setInterval(() => this.sweep(), Math.max(windowMs, 1000));
    this.sweeper.unref();
  }

  /** Counts one request of `key`; answers 0 when it may go ahead, else the ms until its window ends. */
  consume(key: string): number {
    const now = this.now();
    const window = this.current(key, now);
    if (window.count >= this.points) return Math.max(window.start + this.windowMs - now, 1);
    window.count += 1;
    return 0;
  }

  /**
   * Charges `points` more to `key` (a request that costs more than the one point it was admitted
   * with): answers 0 and counts them all when its window had room left, even if they pass the rate
   * (the next requests wait), else the ms until the window ends and counts nothing.
   */
  charge(key: string, points: number): number {
    const now = this.now();
    const window = this.current(key, now);
    if (window.count >= this.points) return Math.max(window.start + this.windowMs - now, 1);
    window.count += points;
    return 0;
  }

  /** `key`'s window at `now`: a new one when its last is over. */
  private current(key: string, now: number): Window {
    let window = this.windows.get(key);
    if (!window || now - window.start >= this.windowMs) this.windows.set(key, (window = { start: now, count: 0 }));
    return window;
  }

  /** Forgets a closed connection's window. */
  forget(key: string): void {
    this.windows.delete(key);
  }

  /** Drops every window that is over. */
  sweep(): void {
    const now = this.now();
    for (const [key, window] of this.windows) if (now - window.start >= this.windowMs) this.windows.delete(key);
  }

  /** Windows held (for tests). */
  get size(): number {
    return this.windows.size;
  }

  close(): void {
    clearInterval(this.sweeper);
  }
}
