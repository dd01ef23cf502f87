// The history checker catches each violation it exists for, and passes a clean history.
import { describe, expect, it } from '@jest/globals';
import { checkAlertDeliveries, checkHistories, History, summaryLine, type TopicLog } from './history.js';

const topic = 't';
function logOf(epoch: string, head: number): TopicLog {
  const entries: TopicLog['entries'] = new Map();
  for (let seq = 1; seq <= head; seq++)
    entries.set(seq, { type: 'instance.heartbeat', data: { instanceId: `i-${seq}` }, ts: 1000 });
  return { topic, epoch, head, entries };
}
const event = (epoch: string, seq: number, ts = 1000) => ({
  topic,
  epoch,
  seq,
  type: 'instance.heartbeat',
  data: { instanceId: `i-${seq}` },
  ts,
});

/** A client that took a snapshot at `from` and then saw `seqs` of epoch `e1`. */
function history(from: number, seqs: number[], epoch = 'e1'): History {
  const h = new History('c1');
  h.snapshot({ topic, epoch, seq: from }, 'initial', 1000);
  for (const seq of seqs) h.event(event(epoch, seq), 1010);
  return h;
}

describe('checkHistories', () => {
  it('passes a clean history that ends at the head, and reports its latency', () => {
    const { summary, findings } = checkHistories([history(2, [3, 4, 5])], [logOf('e1', 5)]);
    expect(findings).toEqual([]);
    expect(summary).toMatchObject({
      clients: 1,
      events: 3,
      gaps: 0,
      duplicates: 0,
      reorders: 0,
      resyncs: 0,
      missingSnapshots: 0,
      mismatches: 0,
      p50: 10,
      p99: 10,
    });
    expect(summaryLine('clean', summary)).toContain('clients=1 events=3 gaps=0 duplicates=0 reorders=0 resyncs=0');
  });

  it('catches a gap', () => {
    const { summary, findings } = checkHistories([history(0, [1, 2, 4, 5])], [logOf('e1', 5)]);
    expect(summary.gaps).toBe(1);
    expect(findings).toEqual([
      expect.objectContaining({ kind: 'gap', detail: expect.stringContaining('3..3 missing') }),
    ]);
  });

  it('catches a duplicate', () => {
    const { summary, findings } = checkHistories([history(0, [1, 2, 3, 3, 4, 5])], [logOf('e1', 5)]);
    expect(summary.duplicates).toBe(1);
    expect(findings.map((f) => f.kind)).toEqual(['duplicate']);
  });

  it('catches a reorder (a lower seq arriving late), and the gap it leaves', () => {
    const { summary, findings } = checkHistories([history(0, [1, 3, 2, 4, 5])], [logOf('e1', 5)]);
    expect(summary.reorders).toBe(1);
    expect(summary.gaps).toBe(1);
    expect(findings.map((f) => f.kind)).toEqual(['gap', 'reorder']);
  });

  it('catches a missing snapshot: a new epoch taken as continuous, a reused seq accepted', () => {
    const h = history(0, [1, 2, 3]);
    h.event(event('e2', 4), 1010); // the log was lost and restarted; seq 4 of e2 is not seq 4 of e1
    h.event(event('e2', 5), 1010);
    const { summary, findings } = checkHistories([h], [logOf('e2', 5)]);
    expect(summary.missingSnapshots).toBe(1);
    expect(findings.map((f) => f.kind)).toEqual(['missing-snapshot']);
  });

  it('accepts a new epoch after a snapshot of it, and counts the resync', () => {
    const h = history(0, [1, 2, 3]);
    h.snapshot({ topic, epoch: 'e2', seq: 3 }, 'epoch_changed');
    h.event(event('e2', 4));
    h.event(event('e2', 5));
    const { summary, findings } = checkHistories([h], [logOf('e2', 5)]);
    expect(findings).toEqual([]);
    expect(summary.resyncs).toBe(1);
  });

  it('catches an event whose content differs from the log', () => {
    const h = history(0, [1, 2]);
    h.event({ ...event('e1', 3), data: { instanceId: 'someone-else' } });
    const { summary, findings } = checkHistories([h], [logOf('e1', 3)]);
    expect(summary.mismatches).toBe(1);
    expect(findings.map((f) => f.kind)).toEqual(['mismatch']);
  });

  it('catches a client that stops short of the head, and one that never started', () => {
    const never = new History('c2');
    never.event(event('e1', 1));
    const { findings } = checkHistories([history(0, [1, 2, 3]), never], [logOf('e1', 5)]);
    expect(findings.map((f) => f.kind).sort()).toEqual(['behind', 'behind', 'no-start']);
  });

  it('accepts a client past the head it was read at (appends went on while the log was read)', () => {
    expect(checkHistories([history(0, [1, 2, 3, 4])], [logOf('e1', 3)]).findings).toEqual([]);
  });

  it('does not insist on the head when told the history may be partial', () => {
    expect(checkHistories([history(0, [1, 2, 3])], [logOf('e1', 5)], { complete: false }).findings).toEqual([]);
  });
});

describe('checkAlertDeliveries', () => {
  const alertLog = (): TopicLog => {
    const entries: TopicLog['entries'] = new Map([
      [1, { type: 'alert.firing', data: { alertId: 'down:a', activeSince: 10 }, ts: 1000 }],
      [2, { type: 'alert.firing', data: { alertId: 'down:b', activeSince: 10 }, ts: 1000 }],
      [3, { type: 'alert.resolved', data: { alertId: 'down:a', activeSince: 10 }, ts: 1000 }],
    ]);
    return { topic, epoch: 'e1', head: 3, entries };
  };
  const a = { alertId: 'down:a', activeSince: 10 };
  const b = { alertId: 'down:b', activeSince: 10 };

  it('passes one delivery per transition, counting a redelivered id apart', () => {
    const firing = { deliveryId: 'd1', kind: 'firing', alerts: [a, b] };
    const check = checkAlertDeliveries(alertLog(), [
      firing,
      firing,
      { deliveryId: 'd2', kind: 'resolved', alerts: [a] },
    ]);
    expect(check).toEqual({
      transitions: 3,
      deliveries: 2,
      redeliveries: 1,
      duplicates: 0,
      misses: 0,
      phantoms: 0,
      findings: [],
    });
  });

  it('catches a transition in two deliveries, one in none, and one the log does not have', () => {
    const check = checkAlertDeliveries(alertLog(), [
      { deliveryId: 'd1', kind: 'firing', alerts: [a, b] },
      { deliveryId: 'd3', kind: 'firing', alerts: [b] },
      { deliveryId: 'd4', kind: 'resolved', alerts: [b] },
    ]);
    expect(check).toMatchObject({ duplicates: 1, misses: 1, phantoms: 1 });
    expect(check.findings).toEqual([
      'duplicate: firing down:b since 10 in deliveries d1, d3',
      'phantom: resolved down:b since 10 (delivery d4)',
      'miss: resolved down:a since 10',
    ]);
  });
});
