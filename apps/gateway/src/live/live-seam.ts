// The replay→live seam: a subscribe's answer (replay or snapshot), then catch-up from its last seq to where the tail stands, then live — no gap, no duplicate.
import {
  MAX_REPLAY_LIMIT,
  MAX_RESUME_EVENTS,
  emptySnapshot,
  type ErrorBody,
  type PulseEvent,
  type ResyncReason,
  type SubscribeAck,
  type SubscribeRequest,
} from '#pulse/contracts';
import type { LogHead, ReadResult } from '#pulse/event-store';
import type { Snapshot } from '#pulse/contracts';

/** One subscription of one socket to one topic, as the seam moves it from its answer to live. */
export interface Subscription {
  readonly topic: string;
  /** Null while the log was empty when the subscribe was answered: its first events start its first epoch. */
  epoch: string | null;
  /** Last seq sent to this socket. */
  watermark: number;
  readonly batch: boolean;
  /** Asked for `presence` frames. */
  readonly presence: boolean;
  /**
   * `catching-up`: reading what it missed; `pending`: ahead of the tail, waiting for it to pass;
   * `live`: in the live room, fed by the tail; `closed`: ended (unsubscribed, resynced, gone).
   */
  state: 'catching-up' | 'pending' | 'live' | 'closed';
}

/** What the seam reads: the log (libs/event-store) and where this process's tail stands. */
export interface SeamLog {
  head(topic: string): Promise<LogHead | null>;
  readAfter(topic: string, afterSeq: number, limit: number): Promise<ReadResult | null>;
  snapshot(topic: string): Promise<Snapshot | null>;
  /** The last seq the tail handed to the live room, or undefined when the topic is not tailed. */
  position(topic: string): number | undefined;
}

/** Where the seam puts a subscription's events and state changes (the hub: sockets and rooms). */
export interface SeamSink<S> {
  /** Sends events (contiguous, after the watermark) to the one socket; the seam then moves the watermark. */
  send(socket: S, subscription: Subscription, events: PulseEvent[]): void;
  /** The socket stands where the tail does: it joins the live room. */
  live(socket: S, subscription: Subscription): void;
  /** Continuity is lost: the socket must take a snapshot. */
  resync(socket: S, subscription: Subscription, reason: ResyncReason): void;
  /** True when the socket was cut loose for its unsent output (it stops being fed). */
  cutLoose(socket: S): boolean;
}

export interface LiveSeamOptions {
  /** Most missed events a subscribe with `since` replays; past it, a snapshot. @default MAX_RESUME_EVENTS */
  maxResumeEvents?: number;
  /** Events per read. @default MAX_REPLAY_LIMIT */
  pageSize?: number;
  /** Most bytes of events an answer carries (PULSE_MAX_ACK_BYTES); a replay past it goes on in catch-up frames. @default DEFAULT_MAX_ACK_BYTES */
  maxAckBytes?: number;
}

/**
 * Events of a request's first read; each further read doubles, up to `pageSize`. An answer that
 * fits only a few large events, or a socket cut loose after its first frame, then costs a small
 * read rather than a full page held in memory at once.
 */
const FIRST_PAGE = 100;

/** PULSE_MAX_ACK_BYTES's default: 1 MiB. */
export const DEFAULT_MAX_ACK_BYTES = 1_048_576;

/** Bytes of one event in an answer (its JSON, as Socket.IO encodes it). */
export function eventBytes(event: PulseEvent): number {
  return Buffer.byteLength(JSON.stringify(event));
}

/** The longest prefix of `events` whose bytes fit in `maxBytes` (possibly none); `bytes` are those already taken. */
export function fitting(
  events: PulseEvent[],
  maxBytes: number,
  bytes = 0,
): { events: PulseEvent[]; bytes: number; full: boolean } {
  for (let i = 0; i < events.length; i++) {
    const next = bytes + eventBytes(events[i]!);
    if (next > maxBytes) return { events: events.slice(0, i), bytes, full: true };
    bytes = next;
  }
  return { events, bytes, full: false };
}

/** Charges a request for the events it is about to read (rate limits): the refusal when it may not, else null. */
export type Charge = (events: number) => Promise<ErrorBody | null>;

export class LiveSeam<S> {
  private readonly maxResumeEvents: number;
  private readonly pageSize: number;
  private readonly maxAckBytes: number;

  constructor(
    private readonly log: SeamLog,
    private readonly sink: SeamSink<S>,
    options: LiveSeamOptions = {},
  ) {
    this.maxResumeEvents = options.maxResumeEvents ?? MAX_RESUME_EVENTS;
    this.pageSize = options.pageSize ?? MAX_REPLAY_LIMIT;
    this.maxAckBytes = options.maxAckBytes ?? DEFAULT_MAX_ACK_BYTES;
  }

  /**
   * The subscribe answer: a replay from `since` when it is recoverable (within the bound), else a
   * snapshot. A replay carries at most `maxAckBytes` of events: the answer says `recovered` with the
   * head, and catch-up sends the rest as frames, under the socket's unsent-output budget.
   */
  async answer(request: SubscribeRequest, charge?: Charge): Promise<SubscribeAck> {
    const { topic, since } = request;
    // Without `since` the answer is a snapshot, which carries the epoch and the head itself: no
    // head read first (one round trip less per subscribe: bench:scale connects 10,000).
    if (since) {
      const head = await this.log.head(topic);
      if (!head) {
        // Any valid topic is a log, possibly empty: its first events arrive live from seq 1. Whatever
        // epoch a client names, seq 0 of an empty log misses nothing; a later seq is history that is gone.
        if (since.seq === 0) return { ok: true, topic, epoch: null, head: 0, recovered: true, events: [] };
        return { ok: true, topic, epoch: null, head: 0, recovered: false, snapshot: emptySnapshot(topic), events: [] };
      }
      if (since.epoch === head.epoch) {
        if (since.seq > head.head) {
          return {
            ok: false,
            code: 'BAD_REQUEST',
            message: `since.seq: ${since.seq} is beyond the head ${head.head} of ${topic}`,
            issues: [{ path: 'since.seq', message: `beyond the head ${head.head}` }],
          };
        }
        if (since.seq >= head.base && head.head - since.seq <= this.maxResumeEvents) {
          const refused = await charge?.(head.head - since.seq);
          if (refused) return refused;
          const events = await this.replay(topic, since.seq, head);
          if (events) return { ok: true, topic, epoch: head.epoch, head: head.head, recovered: true, events };
        }
      }
    }
    // An empty log (or one gone since its head was read) has no snapshot: the empty one.
    const snapshot = (await this.log.snapshot(topic)) ?? emptySnapshot(topic);
    return { ok: true, topic, epoch: snapshot.epoch, head: snapshot.seq, recovered: false, snapshot, events: [] };
  }

  /**
   * Events `after`+1.. of the log at `head`, as many as fit in `maxAckBytes` (catch-up sends the
   * rest), or null when they cannot be read (trimmed, or another epoch meanwhile).
   */
  private async replay(topic: string, after: number, head: LogHead): Promise<PulseEvent[] | null> {
    const events: PulseEvent[] = [];
    let bytes = 0;
    let limit = Math.min(FIRST_PAGE, this.pageSize);
    while (after < head.head) {
      const page = await this.log.readAfter(topic, after, limit);
      limit = Math.min(limit * 2, this.pageSize);
      if (!page || page.epoch !== head.epoch || page.base > after) return null;
      const wanted = page.events.filter((event) => event.seq <= head.head);
      if (wanted.length === 0) return null;
      const fit = fitting(wanted, this.maxAckBytes, bytes);
      events.push(...fit.events);
      if (fit.full) break;
      bytes = fit.bytes;
      after = wanted.at(-1)!.seq;
    }
    return events;
  }

  /** The subscription an `ok` answer starts: at the answer's last seq, catching up. */
  subscription(request: SubscribeRequest, answer: SubscribeAck & { ok: true }): Subscription {
    const watermark = answer.events.at(-1)?.seq ?? answer.snapshot?.seq ?? request.since?.seq ?? 0;
    return {
      topic: request.topic,
      epoch: answer.epoch,
      watermark,
      batch: request.batch ?? false,
      presence: request.presence ?? false,
      state: 'catching-up',
    };
  }

  /**
   * Sends what the socket missed since its watermark until it stands where the tail does, then
   * makes it live. Ahead of the tail, it waits (`pending`) for `tailed` to pass it. Stops as soon
   * as the subscription is closed (unsubscribe, disconnect, resync) between two reads.
   */
  async catchUp(socket: S, subscription: Subscription): Promise<void> {
    const { topic } = subscription;
    let limit = Math.min(FIRST_PAGE, this.pageSize);
    for (;;) {
      if (subscription.state !== 'catching-up') return;
      const position = this.log.position(topic);
      if (position === undefined) return this.sink.resync(socket, subscription, 'log_lost');
      if (subscription.watermark === position) return this.goLive(socket, subscription);
      if (subscription.watermark > position) {
        // The tail has not read this far yet: it hands the socket over when it passes the watermark.
        subscription.state = 'pending';
        return;
      }
      let page;
      try {
        page = await this.log.readAfter(topic, subscription.watermark, limit);
        limit = Math.min(limit * 2, this.pageSize);
      } catch {
        return this.sink.resync(socket, subscription, 'log_lost');
      }
      if (subscription.state !== 'catching-up') return;
      // An empty log's first events (the tail read them meanwhile) start its first epoch.
      if (page && subscription.epoch === null && subscription.watermark === 0) subscription.epoch = page.epoch;
      if (!page || page.epoch !== subscription.epoch)
        return this.sink.resync(socket, subscription, page ? 'epoch_changed' : 'log_lost');
      if (page.base > subscription.watermark || page.events.length === 0)
        return this.sink.resync(socket, subscription, 'trimmed');
      this.send(socket, subscription, page.events);
      if (this.sink.cutLoose(socket)) return;
    }
  }

  /**
   * The tail handed the live room `events` (contiguous, up to `last`): live subscriptions stand at
   * `last` now; a pending one it reaches gets the events past its watermark and goes live.
   */
  tailed(socket: S, subscription: Subscription, events: PulseEvent[]): void {
    const last = events.at(-1)!.seq;
    if (subscription.state === 'live') subscription.watermark = last;
    else if (subscription.state === 'pending' && subscription.watermark <= last) {
      // Its answer came from one life of the log; the tail may have read the next one (lost and
      // made anew in between): those seqs do not continue the answer's.
      const epoch = events[0]!.epoch;
      if (subscription.epoch === null && subscription.watermark === 0) subscription.epoch = epoch;
      if (epoch !== subscription.epoch) return this.sink.resync(socket, subscription, 'epoch_changed');
      this.send(
        socket,
        subscription,
        events.filter((event) => event.seq > subscription.watermark),
      );
      this.goLive(socket, subscription);
    }
  }

  private send(socket: S, subscription: Subscription, events: PulseEvent[]): void {
    if (events.length === 0) return;
    this.sink.send(socket, subscription, events);
    subscription.watermark = events.at(-1)!.seq;
  }

  private goLive(socket: S, subscription: Subscription): void {
    subscription.state = 'live';
    this.sink.live(socket, subscription);
  }
}
