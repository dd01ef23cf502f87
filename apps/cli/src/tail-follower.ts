// The seam of `pulse tail`: joins events read over REST (from --since, or across a resync) with the SDK's live events, once each, in seq order.
import type { PulseEvent, Snapshot } from '#pulse/contracts';

/** One page of `GET /api/v1/topics/:topic/events?after=&limit=`. */
export interface EventsPage {
  epoch: string;
  head: number;
  events: PulseEvent[];
}

export interface TailFollowerOptions {
  topic: string;
  /** Print events after this seq of the current log; null: from the first snapshot on. */
  since: number | null;
  /** Reads events after `after`; throws an Error saying why it cannot. */
  fetchPage: (after: number, limit: number) => Promise<EventsPage>;
  /** An event to print: called once per seq, in order. */
  emit: (event: PulseEvent) => void;
  /** Something the user should know (goes to stderr). */
  note: (message: string) => void;
  /** The tail cannot start as asked (`usage`: because of its arguments, e.g. --since beyond the head); it should stop. */
  fail: (message: string, usage: boolean) => void;
  /** @default 1000 */
  pageSize?: number;
}

/**
 * Fed by the SDK's callbacks; prints every event once, in order. The SDK answers a first subscribe
 * with a snapshot at seq S and then delivers S+1, S+2, …; with `--since N` the events N+1..S are
 * read over REST first. After a resync (a snapshot replacing history) it reads the hole over REST
 * when the log still has it. Callbacks are queued so a REST read never lets a live event overtake it.
 */
export class TailFollower {
  private epoch: string | null = null;
  /** The last seq printed (or skipped on purpose) in `epoch`. */
  private seq = 0;
  private started = false;
  private stopped = false;
  private queue: Promise<void> = Promise.resolve();
  private readonly pageSize: number;

  constructor(private readonly options: TailFollowerOptions) {
    this.pageSize = options.pageSize ?? 1000;
  }

  /** The last seq handed to `emit` (or covered by a snapshot), with its epoch. */
  position(): { seq: number; epoch: string } | null {
    return this.epoch === null ? null : { seq: this.seq, epoch: this.epoch };
  }

  /** Resolves when everything queued so far has been handled. */
  async idle(): Promise<void> {
    await this.queue;
  }

  stop(): void {
    this.stopped = true;
  }

  onSnapshot(snapshot: Snapshot, reason: string): void {
    this.enqueue(() => (this.started ? this.resynced(snapshot, reason) : this.start(snapshot)));
  }

  onEvent(event: PulseEvent): void {
    this.enqueue(() => this.live(event));
  }

  onRecovered(info: { missed: number; gateway: string }): void {
    this.enqueue(() =>
      this.options.note(
        `reconnected to ${info.gateway}, recovered ${info.missed} missed event${info.missed === 1 ? '' : 's'}`,
      ),
    );
  }

  private enqueue(step: () => void | Promise<void>): void {
    this.queue = this.queue.then(async () => {
      if (!this.stopped) await step();
    });
  }

  private async start(snapshot: Snapshot): Promise<void> {
    const { topic, since } = this.options;
    this.started = true;
    this.epoch = snapshot.epoch;
    if (snapshot.epoch === null) {
      if (since !== null && since > 0) {
        this.options.fail(
          `--since ${since} is beyond the head 0 of ${topic} (it has no events yet); use --since 0 or leave it out`,
          true,
        );
        this.stopped = true;
        return;
      }
      this.options.note(`following ${topic}, which has no events yet: printing from its first one; Ctrl-C to stop`);
      return;
    }
    if (since === null) {
      this.seq = snapshot.seq;
      this.options.note(`following ${topic} after seq ${snapshot.seq} (epoch ${snapshot.epoch}); Ctrl-C to stop`);
      return;
    }
    if (since > snapshot.seq) {
      this.options.fail(
        `--since ${since} is beyond the head ${snapshot.seq} of ${topic}; use a seq from 0 to ${snapshot.seq}`,
        true,
      );
      this.stopped = true;
      return;
    }
    this.seq = since;
    this.options.note(`following ${topic} after seq ${since} (epoch ${snapshot.epoch}); Ctrl-C to stop`);
    try {
      await this.readUpTo(snapshot.seq, snapshot.epoch);
    } catch (error) {
      this.options.fail(`cannot read the events of ${topic} after seq ${this.seq}: ${(error as Error).message}`, false);
      this.stopped = true;
    }
  }

  private async resynced(snapshot: Snapshot, reason: string): Promise<void> {
    const { topic, note } = this.options;
    note(`resynced: snapshot at seq ${snapshot.seq} (${reason.replace('_', ' ')})`);
    if (snapshot.epoch !== this.epoch) {
      note(
        `the log of ${topic} was replaced (epoch ${this.epoch} -> ${snapshot.epoch}); printing the new log from its start`,
      );
      this.epoch = snapshot.epoch;
      this.seq = 0;
    }
    if (snapshot.epoch === null || snapshot.seq <= this.seq) return;
    const from = this.seq;
    try {
      await this.readUpTo(snapshot.seq, snapshot.epoch);
    } catch (error) {
      note(`events ${from + 1}..${snapshot.seq} of ${topic} are not shown: ${(error as Error).message}`);
      this.seq = snapshot.seq;
    }
  }

  private async live(event: PulseEvent): Promise<void> {
    // A log that had no events: its first events start its first epoch.
    if (this.epoch === null && this.seq === 0) this.epoch = event.epoch;
    if (event.epoch !== this.epoch || event.seq <= this.seq) return;
    if (event.seq > this.seq + 1) {
      // The SDK hands events over in order, so this is only a safety net.
      const from = this.seq;
      try {
        await this.readUpTo(event.seq - 1, event.epoch);
      } catch (error) {
        this.options.note(
          `events ${from + 1}..${event.seq - 1} of ${event.topic} are not shown: ${(error as Error).message}`,
        );
      }
    }
    this.deliver(event);
  }

  /** Reads and emits the events after `this.seq` up to `until`, from the log of `epoch`. */
  private async readUpTo(until: number, epoch: string): Promise<void> {
    while (this.seq < until && !this.stopped) {
      const page = await this.options.fetchPage(this.seq, Math.min(this.pageSize, until - this.seq));
      if (page.epoch !== epoch) throw new Error(`the log was replaced meanwhile (epoch ${page.epoch})`);
      const wanted = page.events.filter((event) => event.seq > this.seq && event.seq <= until);
      if (wanted.length === 0) throw new Error(`the gateway has no events after ${this.seq}`);
      for (const event of wanted) this.deliver(event);
    }
  }

  private deliver(event: PulseEvent): void {
    if (event.seq !== this.seq + 1) {
      this.options.note(
        `events ${this.seq + 1}..${event.seq - 1} of ${event.topic} are missing from what the gateway sent`,
      );
    }
    this.seq = event.seq;
    this.options.emit(event);
  }
}
