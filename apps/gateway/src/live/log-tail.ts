// One read loop per gateway process over the topics its own sockets follow, in seq order (through their bells, see BellLogReader).
import { setTimeout as sleep } from 'node:timers/promises';
import type { PulseEvent, ResyncReason } from '#pulse/contracts';
import type { EventStore, LogSource } from '#pulse/event-store';

/** Where the tail hands what it reads. Called synchronously, in seq order per topic. */
export interface TailListener {
  /** Contiguous events of `topic`, the first one right after the previous call's last. */
  onEvents(topic: string, events: PulseEvent[]): void;
  /** Continuity of `topic` is lost (its log was replaced or trimmed past the tail); the tail goes on from `head`. */
  onReset(topic: string, reason: ResyncReason): void;
}

export interface LogTailOptions {
  /** Longest wait of one read; also how often idle tails re-check epochs. @default 5000 */
  blockMs?: number;
  /** Most events read per topic per read (one delivery batch). @default 1000 */
  count?: number;
  /** Longest pause between retries after an error. @default 2000 */
  maxBackoffMs?: number;
  /**
   * Pause after a read that found more than one event of a topic waiting, before the next read:
   * events then arrive faster than frames go out, and what arrives meanwhile goes out as one
   * frame per socket instead of one each. After a read of single events the tail reads again at
   * once, so at light load an event is not delayed (the waiting read answers as its bell rings).
   * @default 2
   */
  coalesceMs?: number;
}

interface Tailed {
  /** Last seq handed to the listener. */
  position: number;
  /** Epoch of the log being tailed; null while the topic has no log. */
  epoch: string | null;
}

export interface TailLogger {
  warn(message: string): void;
  log(message: string): void;
}

export class LogTail {
  private readonly tailed = new Map<string, Tailed>();
  private readonly starting = new Map<string, Promise<void>>();
  private readonly blockMs: number;
  private readonly count: number;
  private readonly maxBackoffMs: number;
  private readonly coalesceMs: number;
  private loop: Promise<void> | null = null;
  private closing = false;
  /** Resolves the idle wait when topics are added or the tail stops. */
  private wakeIdle: (() => void) | null = null;
  private reading = false;
  /** Set when a follow or unfollow woke the read in progress: its empty answer is no quiet moment. */
  private readWoken = false;
  /** Counts the reads (waking one gives up once it is over). */
  private reads = 0;
  /** Fails the read in progress (see interrupt). */
  private failRead: ((error: Error) => void) | null = null;
  private abort = new AbortController();
  /** Errors since the last good read; 0 when healthy. */
  failures = 0;
  /** Where reads go; set once by start(), before the first read. */
  private listener: TailListener | null = null;

  constructor(
    private readonly reader: LogSource,
    private readonly store: EventStore,
    private readonly logger: TailLogger,
    options: LogTailOptions = {},
  ) {
    this.blockMs = options.blockMs ?? 5000;
    this.count = options.count ?? 1000;
    this.maxBackoffMs = options.maxBackoffMs ?? 2000;
    this.coalesceMs = options.coalesceMs ?? 2;
  }

  /** The last seq delivered for `topic`, or undefined when it is not tailed (yet). */
  position(topic: string): number | undefined {
    return this.tailed.get(topic)?.position;
  }

  /** Topics being tailed. */
  get topics(): string[] {
    return [...this.tailed.keys()];
  }

  /** True while reads succeed (or nothing needs reading). */
  get healthy(): boolean {
    return this.loop !== null && this.failures === 0;
  }

  /** Starts tailing `topic` at its head; resolves once its position is known. */
  follow(topic: string): Promise<void> {
    if (this.tailed.has(topic)) return Promise.resolve();
    let start = this.starting.get(topic);
    if (!start) {
      start = this.store.head(topic).then(
        (head) => {
          this.starting.delete(topic);
          if (!this.tailed.has(topic))
            this.tailed.set(topic, { position: head?.head ?? 0, epoch: head?.epoch ?? null });
          this.wake();
        },
        (error: unknown) => {
          this.starting.delete(topic);
          throw error;
        },
      );
      this.starting.set(topic, start);
    }
    return start;
  }

  /** Stops tailing `topic`. */
  unfollow(topic: string): void {
    if (this.tailed.delete(topic)) this.wake();
  }

  /** Starts reading, handing what it reads to `listener` (the hub of this process). */
  start(listener: TailListener): void {
    this.listener ??= listener;
    this.loop ??= this.run();
  }

  /** Stops the loop; a read in progress is given up. */
  async stop(): Promise<void> {
    this.closing = true;
    this.abort.abort();
    this.wake();
    // A read that waits on Redis (away, or a subscribe still queued) is given up, not awaited.
    this.failRead?.(new Error('the log tail is stopping'));
    this.reader.abandon();
    await this.loop;
  }

  /**
   * Gives up the read in progress, e.g. when its subscriber's connection closed: a wait for bells
   * that can no longer ring would last its whole block time, and the loop must read again once the
   * connection is back.
   */
  interrupt(reason: string): void {
    this.failRead?.(new Error(reason));
    this.reader.abandon();
  }

  /** Makes the loop re-read its topic set now instead of when the current read's wait times out. */
  private wake(): void {
    this.wakeIdle?.();
    this.wakeIdle = null;
    // One wake per read: the follows of a burst (a reconnect storm) end the read once, not once
    // each, and each read re-subscribes and reads the log of every topic followed since.
    if (!this.reading || this.readWoken) return;
    this.readWoken = true;
    void this.wakeReader(this.reads);
  }

  private async wakeReader(read: number): Promise<void> {
    // The read may not wait yet (it is still subscribing to new bells): try again, less and less
    // often, until it is released or over.
    const current = () => !this.closing && this.reading && this.reads === read;
    for (let pause = 5; current(); pause = Math.min(pause * 2, 500)) {
      if (this.reader.wake()) return;
      await sleep(pause, undefined, { signal: this.abort.signal }).catch(() => undefined);
    }
  }

  /** A read, which interrupt() fails: one that waits on a connection that is gone is never answered. */
  private async onReader<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await new Promise<T>((resolve, reject) => {
        this.failRead = reject;
        command().then(resolve, reject);
      });
    } finally {
      this.failRead = null;
    }
  }

  private async run(): Promise<void> {
    let verify = true;
    let verifiedAt = 0;
    while (!this.closing) {
      if (this.tailed.size === 0) {
        // Nothing to read is nothing failing (readiness also asks Redis itself).
        this.failures = 0;
        await new Promise<void>((resolve) => (this.wakeIdle = resolve));
        continue;
      }
      try {
        // Also on busy gateways, where reads never come back empty: at least once per block time.
        if (verify || Date.now() - verifiedAt >= this.blockMs) {
          await this.verifyEpochs();
          verifiedAt = Date.now();
        }
        verify = false;
        const positions = new Map([...this.tailed].map(([topic, tailed]) => [topic, tailed.position]));
        // The last topic may have been dropped during the awaits above: nothing to read then.
        if (positions.size === 0) continue;
        this.reads += 1;
        this.reading = true;
        this.readWoken = false;
        let batches: Map<string, PulseEvent[]>;
        try {
          // Waits no longer than until the next epoch check is due (a woken read did not check): a
          // replaced log is found within one block time (at least 1 ms: a timer, not a busy loop).
          const blockMs = Math.max(1, Math.min(this.blockMs, verifiedAt + this.blockMs - Date.now()));
          batches = await this.onReader(() => this.reader.read(positions, blockMs, this.count));
        } finally {
          this.reading = false;
        }
        if (this.failures > 0) this.logger.log(`log tail reading again after ${this.failures} failed attempt(s)`);
        this.failures = 0;
        for (const [topic, events] of batches) this.accept(topic, events, positions.get(topic)!);
        // A read that timed out is a quiet moment: check that no log was replaced meanwhile. Not one
        // that a follow woke: a reconnect storm follows topic after topic, and checking every
        // followed topic's epoch after each cost O(topics) per follow (the check still runs at
        // least once per block time, above).
        if (batches.size === 0 && !this.readWoken) verify = true;
        else if (this.coalesceMs > 0 && backlogged(batches))
          await sleep(this.coalesceMs, undefined, { signal: this.abort.signal }).catch(() => undefined);
      } catch (error) {
        if (this.closing) break;
        this.failures += 1;
        verify = true;
        const pause = Math.min(100 * 2 ** Math.min(this.failures - 1, 5), this.maxBackoffMs);
        if (this.failures === 1 || this.failures % 20 === 0) {
          this.logger.warn(
            `log tail read failed (${(error as Error).message}); attempt ${this.failures}, retrying in ${pause} ms`,
          );
        }
        await sleep(pause, undefined, { signal: this.abort.signal }).catch(() => undefined);
      }
    }
  }

  /** Hands a read batch over, unless the topic moved on (unfollowed, reset) while it was read. */
  private accept(topic: string, events: PulseEvent[], readFrom: number): void {
    const tailed = this.tailed.get(topic);
    if (!tailed || tailed.position !== readFrom || events.length === 0) return;
    const first = events[0]!;
    if (tailed.epoch === null && first.seq === 1) tailed.epoch = first.epoch;
    if (first.epoch !== tailed.epoch)
      return this.reset(topic, tailed, 'epoch_changed', { epoch: first.epoch, head: events.at(-1)!.seq });
    if (first.seq !== tailed.position + 1)
      return this.reset(topic, tailed, 'trimmed', { epoch: first.epoch, head: events.at(-1)!.seq });
    const sameEpoch = events.findIndex((event) => event.epoch !== tailed.epoch);
    const delivered = sameEpoch === -1 ? events : events.slice(0, sameEpoch);
    tailed.position = delivered.at(-1)!.seq;
    this.listener?.onEvents(topic, delivered);
    if (sameEpoch !== -1)
      this.reset(topic, tailed, 'epoch_changed', { epoch: events[sameEpoch]!.epoch, head: events.at(-1)!.seq });
  }

  private reset(
    topic: string,
    tailed: Tailed,
    reason: ResyncReason,
    head: { epoch: string; head: number } | null,
  ): void {
    this.logger.warn(`topic ${topic}: ${reason}; its subscribers must resync`);
    tailed.epoch = head?.epoch ?? null;
    tailed.position = head?.head ?? 0;
    this.listener?.onReset(topic, reason);
  }

  /**
   * After a reconnect, and at least once per block time: a log whose epoch changed (or vanished)
   * resets its topic. A log whose head went below the tail's position lost appends but kept its
   * epoch (Redis restarted from an older AOF or RDB, or failed over to a lagging replica): it gets
   * a new epoch first, so that the seqs it will reuse are never taken as continuous.
   */
  private async verifyEpochs(): Promise<void> {
    const topics = [...this.tailed.keys()];
    const heads = await Promise.all(
      topics.map(async (topic) => {
        const head = await this.store.head(topic);
        const tailed = this.tailed.get(topic);
        // A new epoch is a reset below, not a loss to rotate away (another gateway may have rotated already).
        if (!head || !tailed || tailed.epoch !== head.epoch || head.head >= tailed.position) return head;
        const epoch = await this.store.rotateEpochIfBehind(topic, tailed.position, tailed.epoch);
        return epoch ? { ...head, epoch } : null;
      }),
    );
    topics.forEach((topic, i) => {
      const tailed = this.tailed.get(topic);
      const head = heads[i] ?? null;
      if (!tailed) return;
      if (tailed.epoch === null) {
        if (head && head.head <= tailed.position) tailed.epoch = head.epoch;
        return;
      }
      if (!head) this.reset(topic, tailed, 'log_lost', null);
      else if (head.epoch !== tailed.epoch) this.reset(topic, tailed, 'epoch_changed', head);
    });
  }
}

/** Whether a read found more than one event of some topic: they arrive faster than the tail hands them over. */
function backlogged(batches: Map<string, PulseEvent[]>): boolean {
  for (const events of batches.values()) if (events.length > 1) return true;
  return false;
}
