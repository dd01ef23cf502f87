// A simulated fleet of monitored instances that posts heartbeats and attempts, so a fresh stack shows live data.
import { randomBytes } from 'node:crypto';
import { MAX_INGEST_BATCH, type IngestBody, type IngestEvent } from '#pulse/contracts';

/** Sends one ingest body to a topic; rejects when the events were not appended. */
export type IngestPost = (topic: string, body: IngestBody) => Promise<void>;

export interface DemoFleetOptions {
  /** Topic the fleet posts to. @default 'demo' */
  topic?: string;
  /** Number of simulated instances, named `demo-01`, `demo-02`, … @default 12 */
  size?: number;
  /** Delivers one batch of events; see `createHttpPoster`. */
  post: IngestPost;
  /** Source of randomness in [0, 1), injectable for reproducible tests. @default Math.random */
  random?: () => number;
  /** Clock in ms since 1970. @default Date.now */
  now?: () => number;
  /** Where post failures (`warn`, once per failure streak) and recoveries (`log`) go. @default silent */
  log?: { warn(msg: string): void; log?(msg: string): void };
  /** The gateways' instance TTL: silent spells last longer than this so instances show offline. @default 30000 */
  instanceTtlMs?: number;
  /** Interval of the heartbeats that keep every online instance fresh; also the retry interval. @default 2000 */
  heartbeatMs?: number;
}

type SimState = 'idle' | 'working' | 'cooldown' | 'silent';

interface SimInstance {
  id: string;
  state: SimState;
  /** Next state change; while silent, the moment it comes back. */
  nextActionAt: number;
  /** Chance that an attempt fails. */
  failureRate: number;
  /** When it next goes silent; null for instances that never do. */
  silenceAt: number | null;
  /** The attempt in progress, decided when work starts. */
  attempt: { outcome: 'success' | 'failure'; durationMs: number } | null;
  /** Counter of its idempotency keys. */
  keySeq: number;
}

// Cycle timings (ms), chosen so a dashboard shows every state within seconds.
const IDLE_MS = [1_000, 5_000] as const;
const WORK_MS = [500, 3_000] as const;
const COOLDOWN_MS = [2_000, 8_000] as const;
// Instances that go silent first do so soon after start, so offline rows appear without a long wait.
const FIRST_SILENCE_MS = [5_000, 20_000] as const;
const UPTIME_BETWEEN_SILENCES_MS = [60_000, 180_000] as const;
// Now and then an "upstream incident" makes most attempts fail for a minute or two, so a failure-rate
// alert fires and resolves by itself. The first one comes after a couple of minutes, once the fleet
// has a baseline; the timings are drawn only then, so the first minutes play the same as before.
const FIRST_INCIDENT_MS = 150_000;
const INCIDENT_MS = [60_000, 120_000] as const;
const BETWEEN_INCIDENTS_MS = [240_000, 480_000] as const;
const INCIDENT_FAILURE_RATE = 0.75;
// Events kept for retry while posts fail; beyond it the oldest are dropped (and counted).
const MAX_OUTBOX = 10_000;
const SOURCE = 'demo-fleet';
const META = { version: '2.4.1', region: 'eu-west-1' } as const;
const ERRORS = [
  'ETIMEDOUT: upstream did not answer within 2500 ms',
  'HTTP 502 Bad Gateway from upstream',
  'ECONNRESET: socket hang up',
  'HTTP 429 Too Many Requests (retry after 5 s)',
  'TLS handshake timed out',
  'invalid response: Unexpected end of JSON input',
] as const;

/**
 * A dozen simulated instances cycling idle → working → cooldown → idle, each state change posted
 * as a heartbeat with its `nextActionAt`, each attempt as `attempt.recorded`. A fleet-wide beat
 * re-sends every online instance's heartbeat so none goes stale, and retries what failed. A few
 * instances go silent for longer than the instance TTL, then come back, and now and then a
 * fleet-wide incident makes most attempts fail for a minute or two: offline and failure-rate
 * alerts fire and resolve by themselves.
 *
 * One timer drives everything: what is due at the same moment goes out as one post. Posts are
 * sequential; events that could not be posted keep their idempotency key, so a retry cannot
 * append twice.
 */
export class DemoFleet {
  readonly topic: string;
  readonly size: number;
  private readonly post: IngestPost;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly log: { warn(msg: string): void; log?(msg: string): void } | undefined;
  private readonly ttlMs: number;
  private readonly heartbeatMs: number;

  private instances: SimInstance[] = [];
  private outbox: IngestEvent[] = [];
  private running = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private nextBeatAt = 0;
  private keyPrefix = '';
  private inflight: Promise<void> | undefined;
  private failedPosts = 0;
  private dropped = 0;
  /** The current or next incident; `endsAt` is drawn when it starts. */
  private incident: { startsAt: number; endsAt: number | null } = { startsAt: 0, endsAt: null };

  constructor(options: DemoFleetOptions) {
    this.topic = options.topic ?? 'demo';
    this.size = options.size ?? 12;
    this.post = options.post;
    this.random = options.random ?? (() => Math.random());
    this.now = options.now ?? (() => Date.now());
    this.log = options.log;
    this.ttlMs = options.instanceTtlMs ?? 30_000;
    this.heartbeatMs = options.heartbeatMs ?? 2_000;
  }

  /** Starts the simulation; the first heartbeats go out at once. Does nothing if it runs. */
  start(): void {
    if (this.running) return;
    this.running = true;
    // A new prefix per run: the key counters restart, and keys must never repeat within the window.
    this.keyPrefix = randomBytes(4).toString('hex');
    this.outbox = [];
    this.failedPosts = 0;
    this.dropped = 0;
    const now = this.now();
    const width = Math.max(2, String(this.size).length);
    this.instances = Array.from({ length: this.size }, (_, index) => ({
      id: `demo-${String(index + 1).padStart(width, '0')}`,
      state: 'idle' as const,
      // Staggered so the instances do not move in lockstep.
      nextActionAt: now + this.betweenMs(0, IDLE_MS[1]),
      // Two flaky instances per dozen pull the success rate down to about 85%.
      failureRate: index % 6 === 2 ? this.between(0.3, 0.45) : this.between(0.05, 0.12),
      silenceAt: index % 6 === 4 ? now + this.betweenMs(...FIRST_SILENCE_MS) : null,
      attempt: null,
      keySeq: 0,
    }));
    this.incident = { startsAt: now + FIRST_INCIDENT_MS, endsAt: null };
    this.nextBeatAt = now;
    this.wake();
  }

  /** Stops every timer, then waits for the post in flight, if any. Unsent events are discarded. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.inflight;
  }

  /** Advances every instance that is due, sends the beat when due, posts, and re-arms the timer. */
  private wake(): void {
    this.timer = undefined;
    if (!this.running) return;
    const now = this.now();
    const beat = now >= this.nextBeatAt;
    // Heartbeats still queued from earlier are superseded by this beat's; attempts are facts and stay.
    if (beat) this.outbox = this.outbox.filter((event) => event.type !== 'instance.heartbeat');
    const heartbeatSent = new Set<string>();
    for (const inst of this.instances) {
      if (this.dueAt(inst) <= now && this.step(inst, now)) heartbeatSent.add(inst.id);
    }
    if (beat) {
      for (const inst of this.instances) {
        if (inst.state !== 'silent' && !heartbeatSent.has(inst.id)) this.heartbeat(inst);
      }
      // After a stall (a suspended laptop), the beat resumes its rhythm instead of catching up.
      this.nextBeatAt =
        this.nextBeatAt + this.heartbeatMs > now ? this.nextBeatAt + this.heartbeatMs : now + this.heartbeatMs;
    }
    // During a failure streak only the beat retries, so a down gateway is not hammered.
    if (beat || this.failedPosts === 0) this.flush();
    let next = this.nextBeatAt;
    for (const inst of this.instances) next = Math.min(next, this.dueAt(inst));
    this.timer = setTimeout(() => this.wake(), Math.max(0, next - now));
  }

  private dueAt(inst: SimInstance): number {
    if (inst.state === 'silent' || inst.silenceAt === null) return inst.nextActionAt;
    return Math.min(inst.nextActionAt, inst.silenceAt);
  }

  /**
   * Moves one instance on. Every step leaves its due time after `now`, so one step per wake is
   * enough. Answers whether it queued a heartbeat.
   */
  private step(inst: SimInstance, now: number): boolean {
    if (inst.state === 'silent') {
      // Back as if restarted: a fresh idle period and a later silent spell.
      inst.state = 'idle';
      inst.nextActionAt = now + this.betweenMs(...IDLE_MS);
      inst.silenceAt = now + this.betweenMs(...UPTIME_BETWEEN_SILENCES_MS);
      this.heartbeat(inst);
      return true;
    }
    if (inst.silenceAt !== null && inst.silenceAt <= now) {
      // Long enough past the TTL for the tick to derive `instance.offline` before it returns.
      inst.state = 'silent';
      inst.attempt = null;
      inst.nextActionAt =
        now + this.ttlMs + this.betweenMs(Math.max(this.ttlMs / 2, 10_000), Math.max(this.ttlMs, 20_000));
      return false;
    }
    switch (inst.state) {
      case 'idle': {
        const durationMs = this.betweenMs(...WORK_MS);
        const failureRate = this.inIncident(now) ? Math.max(inst.failureRate, INCIDENT_FAILURE_RATE) : inst.failureRate;
        inst.attempt = { outcome: this.random() < failureRate ? 'failure' : 'success', durationMs };
        inst.state = 'working';
        inst.nextActionAt = now + durationMs;
        break;
      }
      case 'working': {
        const attempt = inst.attempt ?? { outcome: 'success', durationMs: 0 };
        inst.attempt = null;
        const error = attempt.outcome === 'failure' ? ERRORS[Math.floor(this.random() * ERRORS.length)] : undefined;
        this.enqueue({
          type: 'attempt.recorded',
          data: {
            instanceId: inst.id,
            outcome: attempt.outcome,
            durationMs: attempt.durationMs,
            ...(error === undefined ? {} : { error }),
          },
          idempotencyKey: this.nextKey(inst),
        });
        inst.state = 'cooldown';
        inst.nextActionAt = now + this.betweenMs(...COOLDOWN_MS);
        break;
      }
      case 'cooldown':
        inst.state = 'idle';
        inst.nextActionAt = now + this.betweenMs(...IDLE_MS);
        break;
    }
    this.heartbeat(inst);
    return true;
  }

  /** Whether an incident is on at `now`; moves on to the next one when the current one is over. */
  private inIncident(now: number): boolean {
    for (;;) {
      if (now < this.incident.startsAt) return false;
      if (this.incident.endsAt === null) {
        this.incident.endsAt = this.incident.startsAt + this.betweenMs(...INCIDENT_MS);
        this.log?.log?.(
          `demo fleet: simulated upstream incident for ${Math.round((this.incident.endsAt - this.incident.startsAt) / 1000)} s: most attempts fail until it ends`,
        );
      }
      if (now < this.incident.endsAt) return true;
      this.incident = { startsAt: this.incident.endsAt + this.betweenMs(...BETWEEN_INCIDENTS_MS), endsAt: null };
    }
  }

  private heartbeat(inst: SimInstance): void {
    this.enqueue({
      type: 'instance.heartbeat',
      data: { instanceId: inst.id, status: inst.state, nextActionAt: inst.nextActionAt, meta: { ...META } },
      idempotencyKey: this.nextKey(inst),
    });
  }

  private enqueue(event: IngestEvent): void {
    this.outbox.push(event);
    if (this.outbox.length > MAX_OUTBOX) this.dropped += this.outbox.splice(0, this.outbox.length - MAX_OUTBOX).length;
  }

  private nextKey(inst: SimInstance): string {
    inst.keySeq += 1;
    return `${this.keyPrefix}:${inst.id}:${inst.keySeq}`;
  }

  /** Starts draining the outbox unless a drain is already running (it will pick up new events). */
  private flush(): void {
    if (this.inflight !== undefined || this.outbox.length === 0) return;
    this.inflight = this.drain().finally(() => {
      this.inflight = undefined;
    });
  }

  /** Posts the outbox in batches until it is empty, the fleet stops, or a post fails. Never rejects. */
  private async drain(): Promise<void> {
    while (this.running && this.outbox.length > 0) {
      const batch = this.outbox.splice(0, MAX_INGEST_BATCH);
      try {
        await this.post(this.topic, { events: batch, source: SOURCE });
      } catch (error) {
        // Back in front, in order, for the next beat; their keys make the retry safe.
        this.outbox.unshift(...batch);
        if (this.outbox.length > MAX_OUTBOX)
          this.dropped += this.outbox.splice(0, this.outbox.length - MAX_OUTBOX).length;
        if (this.failedPosts === 0) {
          const reason = error instanceof Error ? error.message : String(error);
          this.log?.warn(
            `demo fleet: posting to topic "${this.topic}" failed, retrying every ${this.heartbeatMs} ms: ${reason}`,
          );
        }
        this.failedPosts += 1;
        return;
      }
      if (this.failedPosts > 0) {
        const lost = this.dropped > 0 ? `; ${this.dropped} events were dropped meanwhile` : '';
        this.log?.log?.(
          `demo fleet: posting to topic "${this.topic}" works again after ${this.failedPosts} failed posts${lost}`,
        );
        this.failedPosts = 0;
        this.dropped = 0;
      }
    }
  }

  private between(min: number, max: number): number {
    return min + this.random() * (max - min);
  }

  /** A whole number of ms, so timestamps and timer delays stay integral. */
  private betweenMs(min: number, max: number): number {
    return Math.round(this.between(min, max));
  }
}
