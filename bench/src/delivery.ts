// Checks what a fleet received against what was sent: loss, duplicates, order per client, and send-to-receipt latency.
import type { ReceiptLog } from './client-fleet.js';
import { summarize, type Summary } from './stats.js';

export interface DeliveryReport {
  clients: number;
  /** Events the producer sent successfully (each client should get all of them). */
  eventsSent: number;
  /** clients × eventsSent. */
  expected: number;
  /** Distinct sent events received, summed over clients. */
  delivered: number;
  lost: number;
  clientsWithLoss: number;
  duplicates: number;
  /** Receipts of a seq lower than one the same client already had. */
  outOfOrder: number;
  /** Receipts of a seq the producer never sent. */
  unexpected: number;
  /** Disconnections during the run, over all clients. */
  disconnects: number;
  /** Send → receipt (ms), first receipt of each measured (not warm-up) event at each client. */
  latency: Summary | null;
  /** The same per server (gateway), in server order. */
  latencyPerServer: (Summary | null)[];
  /** Send → receipt of the warm-up events, kept apart so that start-up costs are visible but do not blur the steady state. */
  warmupLatency: Summary | null;
}

interface ClientCheck {
  latencies: number[];
  warmupLatencies: number[];
  distinct: number;
  duplicates: number;
  outOfOrder: number;
  unexpected: number;
}

function checkClient(log: ReceiptLog, sentAt: ReadonlyMap<number, number>, warmup: ReadonlySet<number>): ClientCheck {
  const seen = new Set<number>();
  const check: ClientCheck = { latencies: [], warmupLatencies: [], distinct: 0, duplicates: 0, outOfOrder: 0, unexpected: 0 };
  let highest = 0;
  log.seqs.forEach((seq, i) => {
    const sent = sentAt.get(seq);
    if (sent === undefined) {
      check.unexpected += 1;
      return;
    }
    if (seen.has(seq)) {
      check.duplicates += 1;
      return;
    }
    seen.add(seq);
    if (seq < highest) check.outOfOrder += 1;
    highest = Math.max(highest, seq);
    (warmup.has(seq) ? check.warmupLatencies : check.latencies).push(log.at[i]! - sent);
  });
  check.distinct = seen.size;
  return check;
}

/**
 * @param sentAt send time of every event the producer sent successfully, by seq
 * @param warmup seqs checked for loss, duplicates and order but left out of the latency figures
 */
export function checkDelivery(logs: readonly ReceiptLog[], sentAt: ReadonlyMap<number, number>, servers: number, warmup: ReadonlySet<number>): DeliveryReport {
  const perServer: number[][] = Array.from({ length: servers }, () => []);
  const warmupLatencies: number[] = [];
  const report: DeliveryReport = {
    clients: logs.length,
    eventsSent: sentAt.size,
    expected: logs.length * sentAt.size,
    delivered: 0,
    lost: 0,
    clientsWithLoss: 0,
    duplicates: 0,
    outOfOrder: 0,
    unexpected: 0,
    disconnects: 0,
    latency: null,
    latencyPerServer: [],
    warmupLatency: null,
  };
  for (const log of logs) {
    const check = checkClient(log, sentAt, warmup);
    report.delivered += check.distinct;
    report.lost += sentAt.size - check.distinct;
    if (check.distinct < sentAt.size) report.clientsWithLoss += 1;
    report.duplicates += check.duplicates;
    report.outOfOrder += check.outOfOrder;
    report.unexpected += check.unexpected;
    report.disconnects += log.disconnects.length;
    for (const latency of check.latencies) perServer[log.server]!.push(latency);
    for (const latency of check.warmupLatencies) warmupLatencies.push(latency);
  }
  report.latency = summarize(perServer.flat());
  report.latencyPerServer = perServer.map((samples) => summarize(samples));
  report.warmupLatency = summarize(warmupLatencies);
  return report;
}
