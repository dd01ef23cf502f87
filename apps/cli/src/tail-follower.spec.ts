// The tail's seam: REST pages and live events joined into one gap-free, duplicate-free sequence, and what it says on a resync.
import { describe, expect, it } from '@jest/globals';
import type { PulseEvent, Snapshot } from '#pulse/contracts';
import { TailFollower, type EventsPage } from './tail-follower.js';

const TOPIC = 'demo';

const ev = (seq: number, epoch = 'e1'): PulseEvent => ({
  topic: TOPIC,
  seq,
  epoch,
  type: 'instance.heartbeat',
  ts: 1000 + seq,
  data: { instanceId: `i-${seq}` },
});
const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
const snap = (seq: number, epoch = 'e1'): Snapshot => ({
  topic: TOPIC,
  epoch,
  seq,
  status: null,
  statistics: { total_attempts: 0, successful: 0, failed: 0, success_rate: 0, active_instances: 0 },
  instances: [],
});

/** A log the REST reads come from, with optional trimming and a gate that holds reads back. */
class FakeLog {
  epoch = 'e1';
  head = 0;
  /** Events at or below this seq are trimmed (410). */
  base = 0;
  reads: { after: number; limit: number }[] = [];
  private gate: Promise<void> = Promise.resolve();
  private open = () => {};

  append(to: number): void {
    this.head = to;
  }

  /** Reads wait until `release()`. */
  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }

  release(): void {
    this.open();
  }

  fetchPage = async (after: number, limit: number): Promise<EventsPage> => {
    this.reads.push({ after, limit });
    await this.gate;
    if (after < this.base)
      throw new Error(`events after ${after} of ${TOPIC} are no longer retained (oldest kept: ${this.base + 1})`);
    return {
      epoch: this.epoch,
      head: this.head,
      events: range(after + 1, Math.min(this.head, after + limit)).map((seq) => ev(seq, this.epoch)),
    };
  };
}

function follower(log: FakeLog, since: number | null, pageSize?: number) {
  const emitted: PulseEvent[] = [];
  const notes: string[] = [];
  const failures: { message: string; usage: boolean }[] = [];
  const tail = new TailFollower({
    topic: TOPIC,
    since,
    fetchPage: log.fetchPage,
    emit: (event) => emitted.push(event),
    note: (message) => notes.push(message),
    fail: (message, usage) => failures.push({ message, usage }),
    ...(pageSize ? { pageSize } : {}),
  });
  return { tail, emitted, notes, failures, seqs: () => emitted.map((event) => event.seq) };
}

describe('TailFollower', () => {
  it('without --since, prints only what comes after the first snapshot', async () => {
    const log = new FakeLog();
    log.append(10);
    const t = follower(log, null);
    t.tail.onSnapshot(snap(10), 'initial');
    for (const seq of [11, 12]) t.tail.onEvent(ev(seq));
    await t.tail.idle();
    expect(t.seqs()).toEqual([11, 12]);
    expect(log.reads).toEqual([]);
    expect(t.notes).toEqual(['following demo after seq 10 (epoch e1); Ctrl-C to stop']);
    expect(t.tail.position()).toEqual({ seq: 12, epoch: 'e1' });
  });

  it('with --since, reads up to the snapshot in pages while live events wait their turn', async () => {
    const log = new FakeLog();
    log.append(2500);
    log.hold();
    const t = follower(log, 3, 1000);
    t.tail.onSnapshot(snap(2500), 'initial');
    // Live events (and a duplicate) arrive while the pages are still being read.
    for (const seq of [2500, 2501, 2502]) t.tail.onEvent(ev(seq));
    log.append(2502);
    log.release();
    await t.tail.idle();
    expect(t.seqs()).toEqual(range(4, 2502));
    expect(log.reads).toEqual([
      { after: 3, limit: 1000 },
      { after: 1003, limit: 1000 },
      { after: 2003, limit: 497 },
    ]);
    expect(t.failures).toEqual([]);
  });

  it('refuses a --since beyond the head as a usage error', async () => {
    const log = new FakeLog();
    log.append(5);
    const t = follower(log, 9);
    t.tail.onSnapshot(snap(5), 'initial');
    t.tail.onEvent(ev(6));
    await t.tail.idle();
    expect(t.failures).toEqual([
      { message: '--since 9 is beyond the head 5 of demo; use a seq from 0 to 5', usage: true },
    ]);
    expect(t.emitted).toEqual([]);
  });

  it('fails when the events after --since are trimmed', async () => {
    const log = new FakeLog();
    log.append(50);
    log.base = 20;
    const t = follower(log, 3);
    t.tail.onSnapshot(snap(50), 'initial');
    await t.tail.idle();
    expect(t.failures).toEqual([
      {
        message:
          'cannot read the events of demo after seq 3: events after 3 of demo are no longer retained (oldest kept: 21)',
        usage: false,
      },
    ]);
  });

  it('after a resync, prints the events the snapshot skipped when the log still has them', async () => {
    const log = new FakeLog();
    log.append(10);
    const t = follower(log, null);
    t.tail.onSnapshot(snap(10), 'initial');
    t.tail.onEvent(ev(11));
    log.append(40);
    t.tail.onSnapshot(snap(40), 'not_recovered');
    t.tail.onEvent(ev(41));
    await t.tail.idle();
    expect(t.seqs()).toEqual(range(11, 41));
    expect(t.notes).toContain('resynced: snapshot at seq 40 (not recovered)');
  });

  it('after a resync whose hole is trimmed, says which events are not shown and goes on', async () => {
    const log = new FakeLog();
    log.append(10);
    const t = follower(log, null);
    t.tail.onSnapshot(snap(10), 'initial');
    log.append(40);
    log.base = 30;
    t.tail.onSnapshot(snap(40), 'trimmed');
    t.tail.onEvent(ev(41));
    await t.tail.idle();
    expect(t.seqs()).toEqual([41]);
    expect(t.notes).toContain('resynced: snapshot at seq 40 (trimmed)');
    expect(
      t.notes.some((note) =>
        note.startsWith('events 11..40 of demo are not shown: events after 10 of demo are no longer retained'),
      ),
    ).toBe(true);
  });

  it('when the log is replaced, says so and prints the new log from its start', async () => {
    const log = new FakeLog();
    log.append(10);
    const t = follower(log, null);
    t.tail.onSnapshot(snap(10), 'initial');
    log.epoch = 'e2';
    log.append(3);
    t.tail.onSnapshot(snap(3, 'e2'), 'epoch_changed');
    t.tail.onEvent(ev(11)); // a straggler of the old log
    t.tail.onEvent(ev(4, 'e2'));
    await t.tail.idle();
    expect(t.emitted.map((event) => `${event.epoch}:${event.seq}`)).toEqual(['e2:1', 'e2:2', 'e2:3', 'e2:4']);
    expect(t.notes).toContain('the log of demo was replaced (epoch e1 -> e2); printing the new log from its start');
  });

  it('fills a hole in the live events from the log rather than skip it', async () => {
    const log = new FakeLog();
    log.append(12);
    const t = follower(log, null);
    t.tail.onSnapshot(snap(5), 'initial');
    t.tail.onEvent(ev(6));
    t.tail.onEvent(ev(9));
    t.tail.onEvent(ev(8));
    await t.tail.idle();
    expect(t.seqs()).toEqual([6, 7, 8, 9]);
  });

  it('notes a recovery, and stops handing out events once stopped', async () => {
    const log = new FakeLog();
    log.append(1);
    const t = follower(log, null);
    t.tail.onSnapshot(snap(1), 'initial');
    t.tail.onRecovered({ missed: 3, gateway: 'http://b:2' });
    await t.tail.idle();
    t.tail.stop();
    t.tail.onEvent(ev(2));
    await t.tail.idle();
    expect(t.notes).toContain('reconnected to http://b:2, recovered 3 missed events');
    expect(t.emitted).toEqual([]);
  });
});
