// The replay→live seam alone, against a fake log whose reads the test releases one by one: no gap, no duplicate, whatever happens between two reads.
import { describe, expect, it } from '@jest/globals';
import { emptySnapshot, type PulseEvent, type ResyncReason, type Snapshot } from '#pulse/contracts';
import type { LogHead, ReadResult } from '#pulse/event-store';
import { LiveSeam, eventBytes, type SeamLog, type SeamSink, type Subscription } from './live-seam.js';

const TOPIC = 't';

function event(seq: number, epoch = 'e1'): PulseEvent {
  return { topic: TOPIC, seq, epoch, type: 'instance.heartbeat', ts: seq, data: { instanceId: `i-${seq}` } };
}

/**
 * One topic's log and this process's tail over it. Appends land in the log; `tailTo` moves the
 * tail (as the real tail does after a read) and hands the batch to the seam's live subscriptions.
 * Reads wait until the test releases them when `holdReads` is set, so a test can act between them.
 */
class FakeLog implements SeamLog {
  events: PulseEvent[] = [];
  epoch: string | null = null;
  base = 0;
  tail: number | undefined = 0;
  holdReads = false;
  readonly reads: number[] = [];
  private readonly held: (() => void)[] = [];

  append(count: number): void {
    this.epoch ??= 'e1';
    const head = this.events.at(-1)?.seq ?? 0;
    for (let i = 1; i <= count; i++) this.events.push(event(head + i, this.epoch));
  }

  private get last(): number {
    return this.events.at(-1)?.seq ?? this.base;
  }

  /** How many times the head was read. */
  headReads = 0;

  head(): Promise<LogHead | null> {
    this.headReads += 1;
    return Promise.resolve(this.epoch === null ? null : { epoch: this.epoch, head: this.last, base: this.base });
  }

  async readAfter(_topic: string, after: number, limit: number): Promise<ReadResult | null> {
    this.reads.push(after);
    if (this.holdReads) await new Promise<void>((resolve) => this.held.push(resolve));
    if (this.epoch === null) return null;
    return {
      epoch: this.epoch,
      head: this.last,
      base: this.base,
      events: this.events.filter((e) => e.seq > after).slice(0, limit),
    };
  }

  snapshot(topic: string): Promise<Snapshot | null> {
    return Promise.resolve(this.epoch === null ? null : { ...emptySnapshot(topic), epoch: this.epoch, seq: this.last });
  }

  position(): number | undefined {
    return this.tail;
  }

  /** Lets the oldest held read answer; resolves once it did (and what it set off ran). */
  async release(): Promise<void> {
    const next = this.held.shift();
    if (!next) throw new Error('no read is waiting');
    next();
    await new Promise((resolve) => setImmediate(resolve));
  }

  /** Waits until a read is held. */
  async readWaiting(): Promise<void> {
    for (let i = 0; i < 100 && this.held.length === 0; i++) await new Promise((resolve) => setImmediate(resolve));
    if (this.held.length === 0) throw new Error('no read was made');
  }
}

/** What each fake socket got: events in order, when it went live, its resyncs. */
class Sockets implements SeamSink<string> {
  readonly got = new Map<string, number[]>();
  readonly liveAt = new Map<string, number>();
  readonly resyncs: { socket: string; reason: ResyncReason }[] = [];
  /** The live room: what the tail sends there reaches these sockets. */
  readonly room = new Set<string>();

  send(socket: string, _subscription: Subscription, events: PulseEvent[]): void {
    this.got.set(socket, [...(this.got.get(socket) ?? []), ...events.map((e) => e.seq)]);
  }

  live(socket: string, subscription: Subscription): void {
    this.liveAt.set(socket, subscription.watermark);
    this.room.add(socket);
  }

  resync(socket: string, subscription: Subscription, reason: ResyncReason): void {
    subscription.state = 'closed';
    this.resyncs.push({ socket, reason });
  }

  cutLoose(): boolean {
    return false;
  }

  seqs(socket: string): number[] {
    return this.got.get(socket) ?? [];
  }
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

function setup(options: { maxResumeEvents?: number; pageSize?: number; maxAckBytes?: number } = {}) {
  const log = new FakeLog();
  const sockets = new Sockets();
  const seam = new LiveSeam(log, sockets, options);
  const subscriptions = new Map<string, Subscription>();
  /** The tail reads everything appended so far: the live room gets it, then the seam sees it for every subscription. */
  const tailTo = () => {
    const from = log.tail ?? 0;
    const batch = log.events.filter((e) => e.seq > from);
    if (batch.length === 0) return;
    log.tail = batch.at(-1)!.seq;
    for (const socket of sockets.room) sockets.send(socket, subscriptions.get(socket)!, batch);
    for (const [socket, subscription] of subscriptions) seam.tailed(socket, subscription, batch);
  };
  /**
   * Answers `socket`'s subscribe, runs `meanwhile` (what happens between the answer and the
   * catch-up: appends the tail reads), then starts the catch-up, not awaited: the test drives its reads.
   */
  const subscribe = async (socket: string, since?: { seq: number; epoch: string }, meanwhile?: () => void) => {
    const answer = await seam.answer({ topic: TOPIC, since });
    if (!answer.ok) throw new Error(`refused: ${answer.message}`);
    const subscription = seam.subscription({ topic: TOPIC, since }, answer);
    subscriptions.set(socket, subscription);
    sockets.got.set(
      socket,
      answer.events.map((e) => e.seq),
    );
    meanwhile?.();
    return { answer, subscription, caughtUp: seam.catchUp(socket, subscription) };
  };
  return { log, sockets, seam, tailTo, subscribe };
}

describe('LiveSeam', () => {
  it('answers a subscribe without since from the snapshot alone (no head read first), an empty log too', async () => {
    const empty = setup();
    const first = await empty.subscribe('a');
    expect(first.answer).toMatchObject({ epoch: null, head: 0, recovered: false, snapshot: emptySnapshot(TOPIC) });
    const { log, tailTo, subscribe } = setup();
    log.append(3);
    tailTo();
    const b = await subscribe('b');
    expect(b.answer).toMatchObject({ epoch: 'e1', head: 3, recovered: false, snapshot: { seq: 3, epoch: 'e1' } });
    expect([empty.log.headReads, log.headReads]).toEqual([0, 0]);
  });

  it('sends the events appended during the replay once, in order, and only then goes live', async () => {
    const { log, sockets, tailTo, subscribe } = setup({ pageSize: 3 });
    log.append(5);
    tailTo();
    const a = await subscribe('a', { seq: 0, epoch: 'e1' });
    expect(a.answer).toMatchObject({ recovered: true, head: 5 });
    // Answered at 5 with the tail at 5: live without a read.
    await a.caughtUp;
    expect(sockets.liveAt.get('a')).toBe(5);

    // b's answer replays 3..5; 6..9 are appended and tailed before its catch-up starts.
    const { subscription, caughtUp: bCaughtUp } = await subscribe('b', { seq: 2, epoch: 'e1' }, () => {
      log.append(4);
      tailTo(); // the room (a) gets 6..9; b is catching up
      log.holdReads = true;
    });
    expect(subscription.watermark).toBe(5);
    await log.readWaiting();
    await log.release(); // b reads 6..8 (page of 3)
    log.append(2); // 10..11
    tailTo();
    await log.readWaiting();
    await log.release(); // 9..11
    await bCaughtUp;
    expect(sockets.seqs('a')).toEqual(range(1, 11));
    expect(sockets.seqs('b')).toEqual(range(3, 11));
    expect(sockets.liveAt.get('b')).toBe(11);
    log.append(1);
    tailTo();
    expect(sockets.seqs('b')).toEqual(range(3, 12));
    expect(sockets.resyncs).toEqual([]);
  });

  it('a subscriber behind catches up on its own; the others keep their one live frame', async () => {
    const { log, sockets, tailTo, subscribe } = setup({ pageSize: 2 });
    log.append(10);
    tailTo();
    await (
      await subscribe('front')
    ).caughtUp;
    const { caughtUp } = await subscribe('behind', { seq: 4, epoch: 'e1' }, () => {
      log.append(4);
      tailTo(); // front gets 11..14 in one room frame
      log.holdReads = true;
    });
    for (let i = 0; i < 2; i++) {
      await log.readWaiting();
      await log.release(); // behind reads 11..12, then 13..14, alone
      expect(sockets.seqs('front')).toEqual(range(11, 14));
    }
    await caughtUp;
    log.append(3);
    tailTo();
    expect(sockets.seqs('front')).toEqual(range(11, 17));
    expect(sockets.seqs('behind')).toEqual(range(5, 17));
    expect(log.reads.slice(-2)).toEqual([10, 12]);
  });

  it('an unsubscribe during catch-up stops it: nothing more is sent, the socket never goes live', async () => {
    const { log, sockets, tailTo, subscribe } = setup({ pageSize: 2 });
    log.append(3);
    tailTo();
    const { subscription, caughtUp } = await subscribe('a', { seq: 0, epoch: 'e1' }, () => {
      log.append(5);
      tailTo();
      log.holdReads = true;
    });
    await log.readWaiting();
    subscription.state = 'closed'; // what the hub does on unsubscribe or disconnect
    await log.release();
    await caughtUp;
    expect(sockets.seqs('a')).toEqual([1, 2, 3]);
    expect(sockets.liveAt.has('a')).toBe(false);
    expect(sockets.resyncs).toEqual([]);
  });

  it('a log replaced during catch-up is a resync, never a mix of two epochs', async () => {
    const { log, sockets, tailTo, subscribe } = setup();
    log.append(3);
    tailTo();
    const { caughtUp } = await subscribe('a', { seq: 0, epoch: 'e1' }, () => {
      log.append(2);
      tailTo();
      log.holdReads = true;
    });
    await log.readWaiting();
    log.epoch = 'e2';
    log.events = [event(1, 'e2')];
    await log.release();
    await caughtUp;
    expect(sockets.resyncs).toEqual([{ socket: 'a', reason: 'epoch_changed' }]);
    expect(sockets.seqs('a')).toEqual([1, 2, 3]);
  });

  it('events trimmed past the watermark during catch-up are a resync', async () => {
    const { log, sockets, tailTo, subscribe } = setup();
    log.append(3);
    tailTo();
    const { caughtUp } = await subscribe('a', { seq: 1, epoch: 'e1' }, () => {
      log.append(5);
      tailTo();
      log.holdReads = true;
    });
    await log.readWaiting();
    log.base = 6;
    log.events = log.events.filter((e) => e.seq > 6);
    await log.release();
    await caughtUp;
    expect(sockets.resyncs).toEqual([{ socket: 'a', reason: 'trimmed' }]);
  });

  it('replays up to the bound; past it, the answer is a snapshot', async () => {
    const { log, tailTo, seam } = setup({ maxResumeEvents: 5 });
    log.append(10);
    tailTo();
    expect(await seam.answer({ topic: TOPIC, since: { seq: 5, epoch: 'e1' } })).toMatchObject({
      recovered: true,
      events: range(6, 10).map((seq) => event(seq)),
    });
    const past = await seam.answer({ topic: TOPIC, since: { seq: 4, epoch: 'e1' } });
    expect(past).toMatchObject({ recovered: false, head: 10, events: [], snapshot: { seq: 10, epoch: 'e1' } });
    expect(await seam.answer({ topic: TOPIC, since: { seq: 11, epoch: 'e1' } })).toMatchObject({
      ok: false,
      code: 'BAD_REQUEST',
    });
    expect(await seam.answer({ topic: TOPIC, since: { seq: 8, epoch: 'other' } })).toMatchObject({
      recovered: false,
      snapshot: { seq: 10 },
    });
  });

  it('an answer carries at most maxAckBytes of events; the rest follows as catch-up frames, no gap, no duplicate, while events keep arriving', async () => {
    const size = eventBytes(event(10)); // seqs 10..99 all encode to the same size
    const { log, sockets, tailTo, subscribe } = setup({ pageSize: 4, maxAckBytes: size * 3 + Math.floor(size / 2) });
    log.append(30);
    tailTo();
    const { answer, subscription, caughtUp } = await subscribe('a', { seq: 10, epoch: 'e1' }, () => {
      log.holdReads = true;
    });
    expect(answer).toMatchObject({ recovered: true, head: 30 });
    expect(answer.events.map((e) => e.seq)).toEqual([11, 12, 13]);
    expect(subscription.watermark).toBe(13);
    // Pages of 4 from 13 on; between two of them the log grows and the tail reads it (the live room has nobody yet).
    for (let page = 0; subscription.state === 'catching-up'; page++) {
      await log.readWaiting();
      if (page === 2) {
        log.append(6);
        tailTo();
      }
      await log.release();
    }
    await caughtUp;
    expect(sockets.seqs('a')).toEqual(range(11, 36));
    expect(sockets.liveAt.get('a')).toBe(36);
    log.append(2);
    tailTo();
    expect(sockets.seqs('a')).toEqual(range(11, 38));
    expect(sockets.resyncs).toEqual([]);
  });

  it('an answer too small for even one event is still recovered: everything follows in catch-up, which stops when the socket is cut loose', async () => {
    const { log, sockets, tailTo, subscribe } = setup({ pageSize: 5, maxAckBytes: 10 });
    log.append(40);
    tailTo();
    // The socket's unsent output passes its budget once it holds 10 events: it is cut loose and fed no more.
    sockets.cutLoose = () => sockets.seqs('a').length >= 10;
    const { answer, caughtUp } = await subscribe('a', { seq: 20, epoch: 'e1' });
    expect(answer).toMatchObject({ recovered: true, head: 40, events: [] });
    await caughtUp;
    expect(sockets.seqs('a')).toEqual(range(21, 30));
    expect(sockets.liveAt.has('a')).toBe(false);
    // The answer's one read, then catch-up's pages from 20 and 25: nothing past the cut.
    expect(log.reads).toEqual([20, 20, 25]);
  });

  it('charges a resume for the events it will read before reading them; a refused charge is the answer, with nothing read', async () => {
    const { log, tailTo, seam } = setup();
    log.append(30);
    tailTo();
    const charged: number[] = [];
    const refusal = {
      ok: false as const,
      code: 'RATE_LIMITED' as const,
      message: 'more than 200 requests per second for this connection; slow down',
    };
    expect(
      await seam.answer({ topic: TOPIC, since: { seq: 12, epoch: 'e1' } }, (events) =>
        Promise.resolve(charged.push(events) > 1 ? refusal : null),
      ),
    ).toMatchObject({ recovered: true, head: 30 });
    expect(
      await seam.answer({ topic: TOPIC, since: { seq: 5, epoch: 'e1' } }, (events) =>
        Promise.resolve(charged.push(events) > 1 ? refusal : null),
      ),
    ).toEqual(refusal);
    expect(charged).toEqual([18, 25]);
    expect(log.reads).toEqual([12]);
  });

  it('a socket answered ahead of the tail waits for it, then gets exactly what follows', async () => {
    const { log, sockets, tailTo, subscribe } = setup();
    log.append(3);
    tailTo();
    log.append(4); // 4..7 appended, not read by the tail yet
    const { subscription, caughtUp } = await subscribe('a');
    await caughtUp;
    expect(subscription.state).toBe('pending');
    log.append(1);
    tailTo(); // 4..8
    expect(sockets.seqs('a')).toEqual([8]);
    expect(sockets.liveAt.get('a')).toBe(8);
  });

  it("a socket answered ahead of the tail whose log is then replaced is a resync, never the new log's seqs", async () => {
    const { log, sockets, seam } = setup();
    log.append(5); // the answer: e1 up to 5; the tail stands at 3
    log.tail = 3;
    const answer = await seam.answer({ topic: TOPIC });
    if (!answer.ok) throw new Error('refused');
    const subscription = seam.subscription({ topic: TOPIC }, answer);
    await seam.catchUp('a', subscription);
    expect(subscription.state).toBe('pending');
    // The log is lost and made anew; the tail reads the new one's 1..7, past the watermark 5.
    seam.tailed(
      'a',
      subscription,
      range(1, 7).map((seq) => event(seq, 'e2')),
    );
    expect(sockets.resyncs).toEqual([{ socket: 'a', reason: 'epoch_changed' }]);
    expect(sockets.seqs('a')).toEqual([]);
  });

  it('an empty log: the answer has no epoch, and its first events (read meanwhile or live) are no resync', async () => {
    const { log, sockets, tailTo, subscribe, seam } = setup();
    expect(await seam.answer({ topic: TOPIC })).toEqual({
      ok: true,
      topic: TOPIC,
      epoch: null,
      head: 0,
      recovered: false,
      snapshot: emptySnapshot(TOPIC),
      events: [],
    });
    expect(await seam.answer({ topic: TOPIC, since: { seq: 0, epoch: 'x' } })).toEqual({
      ok: true,
      topic: TOPIC,
      epoch: null,
      head: 0,
      recovered: true,
      events: [],
    });
    // Live at once (the tail stands at 0 too), then fed by the tail from seq 1, in the first epoch.
    await (
      await subscribe('first')
    ).caughtUp;
    expect(sockets.liveAt.get('first')).toBe(0);
    log.append(3);
    tailTo();
    expect(sockets.seqs('first')).toEqual([1, 2, 3]);
    expect(log.reads).toEqual([]);
    expect(sockets.resyncs).toEqual([]);

    // Answered while empty, but the tail read the first events before the catch-up ran: the seam reads them, in their epoch.
    const raced = setup();
    raced.log.append(3);
    raced.log.tail = 3;
    const subscription: Subscription = {
      topic: TOPIC,
      epoch: null,
      watermark: 0,
      batch: false,
      presence: false,
      state: 'catching-up',
    };
    await raced.seam.catchUp('c', subscription);
    expect(raced.sockets.seqs('c')).toEqual([1, 2, 3]);
    expect(subscription).toMatchObject({ epoch: 'e1', state: 'live' });
    expect(raced.sockets.resyncs).toEqual([]);
  });
});
