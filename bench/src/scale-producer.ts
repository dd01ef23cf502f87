// Scale run, the producers (one child process): open-loop ingest over many topics, each at its own rate — Pulse through its REST ingest, the baseline through @socket.io/redis-emitter with an emulated tick.
// Usage (through ChildServer): node scale-producer.js <redis-url>.
import { Agent, request as httpRequest } from 'node:http';
import { Emitter } from '@socket.io/redis-emitter';
import { Redis } from 'ioredis';
import type { PulseEvent } from '#pulse/contracts';
import type { NewEvent } from '#pulse/event-store';
import { runChild, serveParent } from './child-server.js';
import { errorMessage, hrnow } from './common.js';
import { BASELINE_EPOCH, baselineRoom } from './payload.js';

export interface TopicRate {
  topic: string;
  /** Events per second. */
  rate: number;
}

export type ScaleProducerRequest =
  | {
      op: 'start';
      system: 'A' | 'B';
      /** A: the gateways, used in turn. */
      urls: string[];
      topics: TopicRate[];
      /** hrnow() the clients subtract: an attempt's durationMs is its scheduled send time after it. */
      clockBase: number;
      /** B: the emulated monitor tick's period (three events per topic, as Pulse's worker appends). */
      tickMs: number;
    }
  | { op: 'seqs' }
  | { op: 'stop' };

export interface ScaleProducerStats {
  sent: number;
  failed: number;
  firstError: string | null;
  /** Worst delay between an event's scheduled time and its send (ms): the producer's own lag. */
  maxLagMs: number;
  /** Requests still unanswered at the worst moment. */
  maxInFlight: number;
  seconds: number;
  /** B: tick events emitted. */
  tickEvents: number;
}

/** Instances per topic the events are spread over. */
const INSTANCES = 3;
const PERIOD_MS = 10;

/** Event `n` of a topic: mostly attempts (stamped with their scheduled send time), every 5th a heartbeat. */
export function scaleEvent(n: number, stamp: number): NewEvent {
  const instanceId = `i-${n % INSTANCES}`;
  if (n % 5 === 4) return { type: 'instance.heartbeat', data: { instanceId, status: 'running' } };
  return {
    type: 'attempt.recorded',
    data: { instanceId, outcome: n % 20 === 7 ? 'failure' : 'success', durationMs: Math.round(stamp * 1000) / 1000 },
  };
}

interface Lane {
  topic: string;
  rate: number;
  phase: number;
  sent: number;
}

async function main(redisUrl: string): Promise<number> {
  const emitRedis = new Redis(redisUrl, { connectionName: 'bench:scale-emitter' });
  await emitRedis.ping();
  const emitter = new Emitter(emitRedis);
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  /** B: last seq emitted per topic. */
  const seqs = new Map<string, number>();
  let loop: NodeJS.Timeout | null = null;
  let ticker: NodeJS.Timeout | null = null;
  let inFlight = 0;
  const pending = new Set<Promise<void>>();
  let stats: ScaleProducerStats;
  let startedAt = 0;

  const emitB = (topic: string, type: string, data: unknown) => {
    const seq = (seqs.get(topic) ?? 0) + 1;
    seqs.set(topic, seq);
    const envelope: PulseEvent = { topic, seq, epoch: BASELINE_EPOCH, type, ts: Date.now(), data } as PulseEvent;
    emitter.to(baselineRoom(topic)).emit(type, envelope);
  };

  const post = (url: string, topic: string, event: NewEvent) =>
    new Promise<void>((resolve) => {
      const body = JSON.stringify({ events: [event] });
      const req = httpRequest(
        `${url}/api/v1/topics/${encodeURIComponent(topic)}/events`,
        {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => {
            if (res.statusCode !== 201) {
              stats.failed += 1;
              stats.firstError ??= `HTTP ${res.statusCode}: ${text.slice(0, 200)}`;
            } else stats.sent += 1;
            resolve();
          });
        },
      );
      req.on('error', (error) => {
        stats.failed += 1;
        stats.firstError ??= errorMessage(error);
        resolve();
      });
      req.end(body);
    });

  const start = (request: ScaleProducerRequest & { op: 'start' }) => {
    stats = { sent: 0, failed: 0, firstError: null, maxLagMs: 0, maxInFlight: 0, seconds: 0, tickEvents: 0 };
    const lanes: Lane[] = request.topics.map(({ topic, rate }) => ({ topic, rate, phase: Math.random(), sent: 0 }));
    const t0 = hrnow();
    startedAt = t0;
    let next = 0;
    const step = () => {
      const now = hrnow();
      for (const lane of lanes) {
        const due = Math.floor(((now - t0) * lane.rate) / 1000 + lane.phase);
        for (; lane.sent < due; lane.sent++) {
          const scheduled = t0 + ((lane.sent + 1 - lane.phase) * 1000) / lane.rate;
          stats.maxLagMs = Math.max(stats.maxLagMs, now - scheduled);
          const event = scaleEvent(lane.sent, scheduled - request.clockBase);
          if (request.system === 'B') {
            emitB(lane.topic, event.type, event.data);
            stats.sent += 1;
            continue;
          }
          inFlight += 1;
          stats.maxInFlight = Math.max(stats.maxInFlight, inFlight);
          const sending = post(request.urls[next++ % request.urls.length]!, lane.topic, event).finally(() => {
            inFlight -= 1;
            pending.delete(sending);
          });
          pending.add(sending);
        }
      }
    };
    loop = setInterval(step, PERIOD_MS);
    if (request.system === 'B') {
      let loopCount = 0;
      ticker = setInterval(() => {
        loopCount += 1;
        const tickAt = Date.now();
        for (const { topic } of request.topics) {
          const instances = Array.from({ length: INSTANCES }, (_, i) => ({
            id: `i-${i}`,
            status: 'running',
            last_seen: tickAt,
            next_action_at: null,
            attempts: loopCount,
            successes: loopCount,
            failures: 0,
          }));
          emitB(topic, 'status_update', {
            monitoring_active: true,
            loop_count: loopCount,
            active_instances: INSTANCES,
            tick_at: tickAt,
            next_tick_at: tickAt + request.tickMs,
          });
          emitB(topic, 'statistics_update', {
            total_attempts: loopCount,
            successful: loopCount,
            failed: 0,
            success_rate: 100,
            active_instances: INSTANCES,
          });
          emitB(topic, 'instances_update', { instances, full: false });
          stats.tickEvents += 3;
        }
      }, request.tickMs);
    }
  };

  const stop = async (): Promise<ScaleProducerStats> => {
    if (loop) clearInterval(loop);
    if (ticker) clearInterval(ticker);
    loop = ticker = null;
    await Promise.all([...pending]);
    await emitRedis.ping(); // answered after every PUBLISH before it
    stats.seconds = (hrnow() - startedAt) / 1000;
    return stats;
  };

  serveParent(
    async (body) => {
      const request = body as ScaleProducerRequest;
      if (request.op === 'start') return start(request) ?? null;
      if (request.op === 'seqs') {
        await emitRedis.ping();
        return Object.fromEntries(seqs);
      }
      return stop();
    },
    async () => {
      if (loop) clearInterval(loop);
      if (ticker) clearInterval(ticker);
      agent.destroy();
      await emitRedis.quit().catch(() => undefined);
    },
  );
  return 0;
}

runChild(() => main(process.argv[2] ?? 'redis://127.0.0.1:6379'));
