// Prometheus metrics of one gateway process: what it appends, reads, delivers and replays, and how its parts are doing.
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Server } from 'socket.io';
import type { PulseEvent } from '#pulse/contracts';
import { EventStore, REDIS, type RedisConnection } from '#pulse/event-store';
import { bounded, MonitorQueueService } from '../admin/monitor-queue.service.js';
import { SocketGuard } from '../auth/socket-guard.js';
import { LiveHub, topicRoom } from '../live/live-hub.js';
import { LogTail } from '../live/log-tail.js';

/** Seconds buckets for delays from a millisecond to half a minute. */
const DELAY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Distinct topic label values per gateway; later topics are counted under topic="other" (a bounded /metrics page and Prometheus series count). */
export const MAX_TOPIC_LABELS = 1000;

@Injectable()
export class MetricsService implements OnModuleInit {
  readonly registry = new Registry();
  private server: Server | null = null;
  /** Topics that have a label of their own (the first MAX_TOPIC_LABELS seen). */
  private readonly labelledTopics = new Set<string>();

  private readonly appendedTotal = new Counter({
    name: 'pulse_events_appended_total',
    help: 'Events appended through this gateway (REST ingest), by topic and type',
    labelNames: ['topic', 'type'],
    registers: [this.registry],
  });
  private readonly tailedTotal = new Counter({
    name: 'pulse_events_tailed_total',
    help: 'Events read from the log by this gateway for its subscribers (ingest and ticks), by topic and type',
    labelNames: ['topic', 'type'],
    registers: [this.registry],
  });
  private readonly deliveriesTotal = new Counter({
    name: 'pulse_deliveries_total',
    help: 'Events sent to live sockets of this gateway (one per event and socket), by topic',
    labelNames: ['topic'],
    registers: [this.registry],
  });
  private readonly appendToEmit = new Histogram({
    name: 'pulse_append_to_emit_seconds',
    help: "From an event's append (its ts) to its emit to this gateway's live sockets",
    buckets: DELAY_BUCKETS,
    registers: [this.registry],
  });
  private readonly subscribesTotal = new Counter({
    name: 'pulse_subscribes_total',
    help: 'Subscribe answers: snapshot (no since), recovered (missed events replayed), not_recovered (since given, snapshot instead), refused',
    labelNames: ['result'],
    registers: [this.registry],
  });
  private readonly replaysTotal = new Counter({
    name: 'pulse_replays_total',
    help: 'Replay answers (replay requests), by result',
    labelNames: ['result'],
    registers: [this.registry],
  });
  private readonly replayedEventsTotal = new Counter({
    name: 'pulse_replayed_events_total',
    help: 'Events sent in subscribe-with-since and replay answers',
    registers: [this.registry],
  });
  private readonly tickDelay = new Histogram({
    name: 'pulse_tick_delay_seconds',
    help: "Monitor ticks seen by this gateway's tail: from the scheduled tick time to the append of its status_update",
    buckets: DELAY_BUCKETS,
    registers: [this.registry],
  });
  private readonly refusalsTotal = new Counter({
    name: 'pulse_refusals_total',
    help: 'Requests and handshakes refused by access control or limits, by edge (rest, socket) and reason (TOKEN_EXPIRED, RATE_LIMITED, …)',
    labelNames: ['edge', 'reason'],
    registers: [this.registry],
  });
  private readonly redisReconnects = new Counter({
    name: 'pulse_redis_reconnects_total',
    help: 'Times a Redis connection of this gateway became ready again after losing Redis',
    labelNames: ['connection'],
    registers: [this.registry],
  });

  constructor(
    @Inject(LiveHub) private readonly hub: LiveHub,
    @Inject(LogTail) private readonly tail: LogTail,
    @Inject(SocketGuard) private readonly guard: SocketGuard,
    @Inject(MonitorQueueService) private readonly queue: MonitorQueueService,
    @Inject(REDIS) private readonly redis: RedisConnection,
    @Inject(EventStore) private readonly store: EventStore,
  ) {
    // prom-client samples the event-loop delay every 10 ms: an idle gateway wakes 100 times a second for it
    // (5-8 ms of CPU a second). Sampling every 100 ms saved that, but on this project's 2-core VM it raised
    // the light-load p50 of REST-fed delivery by 1-3 ms (npm run bench, --rate 300, A/B alternated): the
    // fewer wakes left the cores idling deeper, and each hop of a delivery woke them slower. Kept as it is.
    collectDefaultMetrics({ register: this.registry });
    // prom-client calls `collect` with the gauge as `this`: the service is reached through these.
    const server = () => this.server;
    const logTail = tail;
    const monitorQueue = queue;
    new Gauge({
      name: 'pulse_sockets',
      help: 'Sockets connected to this gateway',
      registers: [this.registry],
      collect() {
        this.set(server()?.of('/').sockets.size ?? 0);
      },
    });
    new Gauge({
      name: 'pulse_log_tail_topics',
      help: "Topics this gateway's log tail follows",
      registers: [this.registry],
      collect() {
        this.set(logTail.topics.length);
      },
    });
    new Gauge({
      name: 'pulse_log_tail_errors',
      help: 'Failed log tail reads in a row (0 while it reads)',
      registers: [this.registry],
      collect() {
        this.set(logTail.failures);
      },
    });
    new Gauge({
      name: 'pulse_scheduler_last_run_delay_seconds',
      help: 'The last finished monitor tick: how late it started after its scheduled time (from BullMQ)',
      registers: [this.registry],
      async collect() {
        const status = await monitorQueue.status().catch(() => null);
        if (status?.lastRun) this.set(status.lastRun.delayMs / 1000);
      },
    });
    const alertStore = this.store.alerts;
    new Gauge({
      name: 'pulse_alerts_firing',
      help: 'Firing alerts by topic and severity (recorded by the workers after each tick)',
      labelNames: ['topic', 'severity'],
      registers: [this.registry],
      async collect() {
        const firing = await bounded(alertStore.firing()).catch(() => null);
        if (!firing) return;
        this.reset();
        // Bounded like every topic label: past MAX_TOPIC_LABELS topics, the rest are summed under "other".
        const totals = new Map<string, number>();
        [...firing.keys()].sort().forEach((topic, i) => {
          for (const [severity, count] of Object.entries(firing.get(topic)!)) {
            const key = `${i < MAX_TOPIC_LABELS ? topic : 'other'}\t${severity}`;
            totals.set(key, (totals.get(key) ?? 0) + count);
          }
        });
        for (const [key, count] of totals) {
          const [topic, severity] = key.split('\t');
          this.set({ topic, severity }, count);
        }
      },
    });
    new Gauge({
      name: 'pulse_notifications_total',
      help: 'Alert notifications by channel type and outcome across workers: sent, retried (a try failed, another follows), failed (the last try failed)',
      labelNames: ['channel_type', 'outcome'],
      registers: [this.registry],
      async collect() {
        const counts = await bounded(alertStore.notificationCounts()).catch(() => null);
        if (!counts) return;
        for (const { type, outcome, count } of counts) this.set({ channel_type: type, outcome }, count);
      },
    });
    new Gauge({
      name: 'pulse_notify_queue_jobs',
      help: 'Jobs of the notify queue by state (from BullMQ)',
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        const status = await monitorQueue.notifyStatus().catch(() => null);
        if (status) for (const [state, count] of Object.entries(status.counts)) this.set({ state }, count);
      },
    });
    new Gauge({
      name: 'pulse_notify_oldest_job_age_seconds',
      help: 'How long the oldest due notify job (waiting or active) has waited since it was due',
      registers: [this.registry],
      async collect() {
        const status = await monitorQueue.notifyStatus().catch(() => null);
        if (status) this.set(status.oldestAgeSeconds);
      },
    });
    new Gauge({
      name: 'pulse_scheduler_next_run_timestamp_seconds',
      help: 'When the next monitor tick is due (from BullMQ)',
      registers: [this.registry],
      async collect() {
        const status = await monitorQueue.status().catch(() => null);
        if (status?.nextRunAt) this.set(status.nextRunAt / 1000);
      },
    });
  }

  onModuleInit(): void {
    // The hub is handed every batch the tail reads; count them on their way to the sockets.
    this.hub.observeDeliveries((topic, events) => this.delivering(topic, events));
    this.hub.observeAnswers((event, request, answer) => {
      if (!answer.ok) {
        (event === 'replay' ? this.replaysTotal : this.subscribesTotal).inc({ result: 'refused' });
        // Refusals made past the guard (TOO_MANY_SUBSCRIPTIONS) are counted like the guard's own.
        if (answer.reason !== undefined) this.refused('socket', answer.reason);
        return;
      }
      if (event === 'replay') this.replaysTotal.inc({ result: 'ok' });
      else if ('recovered' in answer)
        this.subscribesTotal.inc({
          result: answer.recovered
            ? 'recovered'
            : request && 'since' in request && request.since
              ? 'not_recovered'
              : 'snapshot',
        });
      this.replayedEventsTotal.inc(answer.events.length);
    });
    this.guard.observeRefusals((body) => this.refused('socket', body.reason ?? body.code));
    this.watchRedis(this.redis, 'commands');
  }

  /** A request refused by access control or a limit. */
  refused(edge: 'rest' | 'socket', reason: string): void {
    this.refusalsTotal.inc({ edge, reason });
  }

  /** The Socket.IO server, once the adapter made it. */
  attachServer(server: Server): void {
    this.server = server;
  }

  /** Counts a Redis connection's reconnects. */
  watchRedis(redis: RedisConnection, name: string): void {
    let lost = false;
    redis.on('close', () => (lost = true));
    redis.on('ready', () => {
      if (lost) this.redisReconnects.inc({ connection: name });
      lost = false;
    });
  }

  /** The topic's label value: its name, or "other" once MAX_TOPIC_LABELS topics have theirs. */
  private topicLabel(topic: string): string {
    if (this.labelledTopics.has(topic)) return topic;
    if (this.labelledTopics.size >= MAX_TOPIC_LABELS) return 'other';
    this.labelledTopics.add(topic);
    return topic;
  }

  /** Events this gateway appended through REST ingest. */
  appended(topic: string, events: { type: string }[]): void {
    const perType = new Map<string, number>();
    for (const event of events) perType.set(event.type, (perType.get(event.type) ?? 0) + 1);
    const label = this.topicLabel(topic);
    for (const [type, count] of perType) this.appendedTotal.inc({ topic: label, type }, count);
  }

  private delivering(topic: string, events: PulseEvent[]): void {
    const now = Date.now();
    const live = this.server?.of('/').adapter.rooms.get(topicRoom(topic))?.size ?? 0;
    // One labelled increment per type and batch: batches hold up to a thousand events on busy topics.
    const perType = new Map<string, number>();
    for (const event of events) {
      perType.set(event.type, (perType.get(event.type) ?? 0) + 1);
      if (live > 0) this.appendToEmit.observe(Math.max(0, now - event.ts) / 1000);
      if (event.type === 'status_update') this.tickDelay.observe(Math.max(0, event.ts - event.data.tick_at) / 1000);
    }
    const label = this.topicLabel(topic);
    for (const [type, count] of perType) this.tailedTotal.inc({ topic: label, type }, count);
    if (live > 0) this.deliveriesTotal.inc({ topic: label }, live * events.length);
  }

  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
