// Delivery histories of test clients and the checker that holds them against the log: gaps, duplicates, reorders, missing snapshots, latency.

/** One thing a client's handlers saw, in the order they saw it. */
export type Delivery =
  | {
      kind: 'event';
      topic: string;
      epoch: string;
      seq: number;
      type?: string;
      data?: unknown;
      ts: number;
      receivedAt: number;
    }
  /** `epoch: null`: the topic had no events (seq 0); its first events may carry any epoch. */
  | { kind: 'snapshot'; topic: string; epoch: string | null; seq: number; reason: string; receivedAt: number };

/** What one client saw, in order (all its topics). */
export class History {
  readonly deliveries: Delivery[] = [];

  constructor(readonly client: string) {}

  event(
    event: { topic: string; epoch: string; seq: number; type?: string; data?: unknown; ts: number },
    receivedAt = Date.now(),
  ): void {
    this.deliveries.push({
      kind: 'event',
      topic: event.topic,
      epoch: event.epoch,
      seq: event.seq,
      type: event.type,
      data: event.data,
      ts: event.ts,
      receivedAt,
    });
  }

  snapshot(
    snapshot: { topic: string; epoch: string | null; seq: number },
    reason: string,
    receivedAt = Date.now(),
  ): void {
    this.deliveries.push({
      kind: 'snapshot',
      topic: snapshot.topic,
      epoch: snapshot.epoch,
      seq: snapshot.seq,
      reason,
      receivedAt,
    });
  }

  /** The last position the client holds on `topic` (event or snapshot; epoch null: an empty log), or null. */
  position(topic: string): { epoch: string | null; seq: number } | null {
    for (let i = this.deliveries.length - 1; i >= 0; i--) {
      const delivery = this.deliveries[i]!;
      if (delivery.topic === topic) return { epoch: delivery.epoch, seq: delivery.seq };
    }
    return null;
  }
}

/** The ground truth of one topic: its current log (XRANGE), which is what a client must end up agreeing with. */
export interface TopicLog {
  topic: string;
  epoch: string;
  /** Last seq appended. */
  head: number;
  /** Retained entries, by seq (trimmed ones are absent); `ts`: when the appending process sent them. */
  entries: Map<number, { type: string; data: unknown; ts: number }>;
}

/** One violation, precise enough to find in the history. */
export interface Finding {
  client: string;
  topic: string;
  kind: 'gap' | 'duplicate' | 'reorder' | 'missing-snapshot' | 'mismatch' | 'behind' | 'no-start';
  detail: string;
}

export interface CheckOptions {
  /** Every client must end at the log's head (it has seen everything). @default true */
  complete?: boolean;
}

export interface Summary {
  clients: number;
  events: number;
  gaps: number;
  duplicates: number;
  reorders: number;
  /** Snapshots after the first one of a client's topic: each is an explicit resync. */
  resyncs: number;
  missingSnapshots: number;
  mismatches: number;
  /** Append-to-handler latency of every event (ms), from the event's `ts`. */
  p50: number;
  p99: number;
  max: number;
}

export interface CheckResult {
  summary: Summary;
  findings: Finding[];
}

/**
 * Walks each client's history per topic and holds it against the log:
 * - within an epoch, each event must be the seq right after the client's position (a snapshot or
 *   the previous event); a higher one is a gap, one already seen a duplicate, a lower unseen one a reorder;
 * - an event of another epoch than the client's position must follow a snapshot of that epoch;
 * - an event of the log's epoch must be the log's entry at that seq (type and data), when retained;
 * - with `complete`, the client's final position is at least the log's head, in the log's epoch.
 */
export function checkHistories(histories: History[], logs: TopicLog[], options: CheckOptions = {}): CheckResult {
  const complete = options.complete ?? true;
  const logOf = new Map(logs.map((log) => [log.topic, log]));
  const findings: Finding[] = [];
  const latencies: number[] = [];
  const summary: Summary = {
    clients: histories.length,
    events: 0,
    gaps: 0,
    duplicates: 0,
    reorders: 0,
    resyncs: 0,
    missingSnapshots: 0,
    mismatches: 0,
    p50: 0,
    p99: 0,
    max: 0,
  };
  const find = (finding: Finding) => {
    if (findings.length < 200) findings.push(finding);
  };

  for (const history of histories) {
    const topics = new Map<string, Delivery[]>();
    for (const delivery of history.deliveries) {
      let list = topics.get(delivery.topic);
      if (!list) topics.set(delivery.topic, (list = []));
      list.push(delivery);
    }
    for (const [topic, deliveries] of topics) {
      const log = logOf.get(topic);
      let position: { epoch: string | null; seq: number } | null = null;
      let snapshots = 0;
      /** Seqs seen per epoch, to tell a duplicate from a late (reordered) event. */
      const seen = new Map<string, Set<number>>();
      const at = (d: Delivery, i: number) => `#${i} ${d.kind} ${d.epoch}/${d.seq}`;
      deliveries.forEach((delivery, i) => {
        if (delivery.kind === 'snapshot') {
          snapshots += 1;
          if (snapshots > 1) summary.resyncs += 1;
          position = { epoch: delivery.epoch, seq: delivery.seq };
          return;
        }
        summary.events += 1;
        latencies.push(delivery.receivedAt - delivery.ts);
        let seqs = seen.get(delivery.epoch);
        if (!seqs) seen.set(delivery.epoch, (seqs = new Set()));
        // An empty log's first events start its first epoch.
        const current = position?.epoch === null ? { epoch: delivery.epoch, seq: position.seq } : position;
        if (!current) {
          find({
            client: history.client,
            topic,
            kind: 'no-start',
            detail: `${at(delivery, i)} arrived before any snapshot or starting position`,
          });
          summary.gaps += 1;
        } else if (delivery.epoch !== current.epoch) {
          summary.missingSnapshots += 1;
          find({
            client: history.client,
            topic,
            kind: 'missing-snapshot',
            detail: `${at(delivery, i)} follows ${current.epoch}/${current.seq} without a snapshot of epoch ${delivery.epoch}`,
          });
        } else if (delivery.seq <= current.seq) {
          if (seqs.has(delivery.seq)) {
            summary.duplicates += 1;
            find({
              client: history.client,
              topic,
              kind: 'duplicate',
              detail: `${at(delivery, i)} was already handed over`,
            });
          } else {
            summary.reorders += 1;
            find({ client: history.client, topic, kind: 'reorder', detail: `${at(delivery, i)} after ${current.seq}` });
          }
          seqs.add(delivery.seq);
          return; // The position does not move back.
        } else if (delivery.seq > current.seq + 1) {
          summary.gaps += 1;
          find({
            client: history.client,
            topic,
            kind: 'gap',
            detail: `${at(delivery, i)}: ${current.seq + 1}..${delivery.seq - 1} missing`,
          });
        }
        seqs.add(delivery.seq);
        position = { epoch: delivery.epoch, seq: delivery.seq };
        if (log && delivery.epoch === log.epoch && delivery.type !== undefined) {
          const entry = log.entries.get(delivery.seq);
          if (entry && (entry.type !== delivery.type || canonical(entry.data) !== canonical(delivery.data))) {
            summary.mismatches += 1;
            find({
              client: history.client,
              topic,
              kind: 'mismatch',
              detail: `${at(delivery, i)} is ${delivery.type} ${canonical(delivery.data)}; the log has ${entry.type} ${canonical(entry.data)}`,
            });
          }
        }
      });
      const last = position as { epoch: string | null; seq: number } | null;
      // Past the head is fine: the log was read while appends went on, and the events themselves were checked above.
      if (complete && log && (!last || last.epoch !== log.epoch || last.seq < log.head)) {
        summary.gaps += 1;
        find({
          client: history.client,
          topic,
          kind: 'behind',
          detail: `ends at ${last ? `${last.epoch}/${last.seq}` : 'nothing'}; the log is at ${log.epoch}/${log.head}`,
        });
      }
    }
  }
  latencies.sort((a, b) => a - b);
  summary.p50 = percentile(latencies, 0.5);
  summary.p99 = percentile(latencies, 0.99);
  summary.max = latencies.at(-1) ?? 0;
  return { summary, findings };
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/** JSON with sorted object keys: Redis's cjson does not keep key order. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : 1)))
      : inner,
  );
}

/** The one summary line of a scenario. */
export function summaryLine(scenario: string, summary: Summary, extra = ''): string {
  const s = summary;
  return `[chaos] ${scenario}: clients=${s.clients} events=${s.events} gaps=${s.gaps} duplicates=${s.duplicates} reorders=${s.reorders} resyncs=${s.resyncs} missing-snapshots=${s.missingSnapshots} mismatches=${s.mismatches} p50=${s.p50}ms p99=${s.p99}ms${extra ? ` ${extra}` : ''}`;
}

/** One notification a receiver accepted: its Pulse-Delivery-Id, kind and the alert episodes it listed. */
export interface AlertDelivery {
  deliveryId: string;
  kind: string;
  alerts: { alertId: string; activeSince: number }[];
}

export interface DeliveryCheck {
  /** alert.firing and alert.resolved events of the log (each must be notified once on the channel). */
  transitions: number;
  /** Distinct delivery ids received. */
  deliveries: number;
  /** Receptions of a delivery id already received (at-least-once: a try that died after sending); receivers dedupe on the id. */
  redeliveries: number;
  /** Transitions listed by two different delivery ids. */
  duplicates: number;
  /** Transitions no delivery listed. */
  misses: number;
  /** Transitions listed that the log does not have. */
  phantoms: number;
  findings: string[];
}

/**
 * Holds the notifications one channel received against the topic's log: every alert transition
 * (kind, alert id, activeSince) must be listed by exactly one delivery id, and nothing else.
 * Use it where no silence applies and every rule notifies the channel.
 */
export function checkAlertDeliveries(log: TopicLog, received: AlertDelivery[]): DeliveryCheck {
  const key = (kind: string, alert: { alertId: string; activeSince: number }) =>
    `${kind} ${alert.alertId} since ${alert.activeSince}`;
  const transitions = new Set<string>();
  for (const entry of log.entries.values()) {
    if (entry.type === 'alert.firing')
      transitions.add(key('firing', entry.data as { alertId: string; activeSince: number }));
    if (entry.type === 'alert.resolved')
      transitions.add(key('resolved', entry.data as { alertId: string; activeSince: number }));
  }
  const byId = new Map<string, AlertDelivery>();
  for (const delivery of received) byId.set(delivery.deliveryId, delivery);
  const listedBy = new Map<string, Set<string>>();
  for (const delivery of byId.values()) {
    for (const alert of delivery.alerts) {
      const k = key(delivery.kind, alert);
      if (!listedBy.has(k)) listedBy.set(k, new Set());
      listedBy.get(k)!.add(delivery.deliveryId);
    }
  }
  const findings: string[] = [];
  let duplicates = 0;
  let phantoms = 0;
  for (const [k, ids] of listedBy) {
    if (!transitions.has(k)) {
      phantoms++;
      findings.push(`phantom: ${k} (delivery ${[...ids].join(', ')})`);
    } else if (ids.size > 1) {
      duplicates++;
      findings.push(`duplicate: ${k} in deliveries ${[...ids].join(', ')}`);
    }
  }
  const missed = [...transitions].filter((k) => !listedBy.has(k));
  for (const k of missed) findings.push(`miss: ${k}`);
  return {
    transitions: transitions.size,
    deliveries: byId.size,
    redeliveries: received.length - byId.size,
    duplicates,
    misses: missed.length,
    phantoms,
    findings,
  };
}

/** The notes of a scenario's row for its deliveries. */
export function deliveryNotes(check: DeliveryCheck): string {
  return `transitions=${check.transitions} deliveries=${check.deliveries} delivery-duplicates=${check.duplicates} delivery-misses=${check.misses} phantoms=${check.phantoms} redeliveries=${check.redeliveries}`;
}
