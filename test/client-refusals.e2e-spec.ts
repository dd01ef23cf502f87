// Client SDK e2e against built gateways with tight limits: refused subscribes (retried or final), resumes larger than one answer, and reconnects of empty topics.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { ConnectionState, PulseClient, TopicSubscription } from '#pulse/client';
import type { ErrorBody, IngestEvent } from '#pulse/contracts';
import { startPulse, type PulseTestStack } from '#pulse/testing';
import { Changes, pause } from './support/wait.js';

// Every subscribe a socket may have is 3; a resume costs one rate point per event it replays (a
// connection has 200 a second), and an answer carries at most 16 KiB of events (the rest follows
// as catch-up frames).
const MAX_SUBSCRIPTIONS = 3;
let pulse: PulseTestStack | undefined;
const clients: PulseClient[] = [];

beforeAll(async () => {
  pulse = await startPulse({
    workers: 0,
    auth: true,
    env: {
      PULSE_MAX_SUBSCRIPTIONS: String(MAX_SUBSCRIPTIONS),
      PULSE_RATE_LIMIT_EVENTS_PER_POINT: '1',
      PULSE_MAX_ACK_BYTES: '16384',
    },
  });
}, 60_000);

afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

afterAll(async () => {
  await pulse?.stop();
}, 60_000);

// ---- helpers ----

function thePulse(): PulseTestStack {
  if (!pulse) throw new Error('the Pulse test stack did not start');
  return pulse;
}

let topicCount = 0;
/** A topic name no other test (or run) uses. */
function uniqueTopic(name: string): string {
  topicCount += 1;
  return `refusals-${name}-${Date.now().toString(36)}-${process.pid}-${topicCount}`;
}

const attempts = (count: number): IngestEvent[] =>
  Array.from({ length: count }, (_, i) => ({
    type: 'attempt.recorded',
    data: { instanceId: `i-${i % 7}`, outcome: i % 5 === 0 ? 'failure' : 'success' },
  }));

/**
 * A client of the stack whose token function can be held: while `hold()` is in force every
 * (re)connection waits for `release()`, so that events pile up while it is away.
 */
class HeldClient extends Changes {
  readonly client: PulseClient;
  readonly states: ConnectionState[] = [];
  private gate: Promise<void> | null = null;
  private open: () => void = () => undefined;

  constructor(token: string, options: { staleAfterMs?: number } = {}) {
    super();
    this.client = thePulse().client({
      ...options,
      token: async () => {
        if (this.gate) await this.gate;
        return token;
      },
    });
    clients.push(this.client);
    this.client.onState((state) => {
      this.states.push(state);
      this.changed();
    });
  }

  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }

  release(): void {
    this.gate = null;
    this.open();
  }

  /** Follows `topic`, recording every handler call in order (`event 3`, `snapshot 0 initial`, `recovered 500`, `error RATE_LIMITED/…`). */
  follow(topic: string): Followed {
    const followed: Followed = { topic, calls: [], errors: [], subscription: undefined! };
    const note = (call: string) => {
      followed.calls.push(call);
      this.changed();
    };
    followed.subscription = this.client.subscribe(topic, {
      onEvent: (event) => note(`event ${event.seq}`),
      onSnapshot: (snapshot, reason) => note(`snapshot ${snapshot.seq} ${reason}`),
      onRecovered: ({ missed }) => note(`recovered ${missed}`),
      onError: (error) => {
        followed.errors.push(error);
        note(`error ${error.code}/${error.reason ?? '-'}`);
      },
    });
    return followed;
  }

  seq(followed: Followed): number {
    return followed.subscription.position()?.seq ?? 0;
  }

  async live(what: string): Promise<void> {
    await this.until(
      () => `${what} (state ${this.client.state}, states ${this.states.join(' → ')})`,
      () => this.client.state === 'live',
      20_000,
    );
  }

  async atSeq(followed: Followed[], seq: number): Promise<void> {
    await this.until(
      () => `every topic at seq ${seq} (at ${followed.map((one) => this.seq(one)).join(', ')}, ${this.client.state})`,
      () => followed.every((one) => this.seq(one) >= seq),
      20_000,
    );
  }
}

interface Followed {
  readonly topic: string;
  readonly calls: string[];
  readonly errors: ErrorBody[];
  subscription: TopicSubscription;
}

const range = (from: number, to: number): string[] =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => `event ${from + i}`);

// ---- the tests ----

describe('PulseClient with subscribes refused', () => {
  it('asks again after retryAfterMs when a resume is refused RATE_LIMITED: every topic recovers what it missed, then live', async () => {
    const admin = await thePulse().token({ sub: `admin-${topicCount}`, role: 'admin' });
    const held = new HeldClient(admin);
    const followed = [uniqueTopic('busy-a'), uniqueTopic('busy-b'), uniqueTopic('busy-c')].map((topic) =>
      held.follow(topic),
    );
    await held.live('live after the first subscribes');
    for (const { topic } of followed) await thePulse().publish(topic, attempts(1));
    await held.atSeq(followed, 1);

    // Away while 150 events are appended to each: each resume costs 151 of the connection's 200
    // points a second. The second is counted in full while the window has room; the third is
    // refused RATE_LIMITED until the window ends.
    held.hold();
    held.client.dropConnection();
    for (const { topic } of followed) await thePulse().publish(topic, attempts(150));
    held.release();

    await held.atSeq(followed, 151);
    await held.live('live after every resume');
    const refusals = followed.flatMap(({ errors }) => errors);
    expect(refusals).toEqual([
      expect.objectContaining({ code: 'RATE_LIMITED', reason: 'RATE_LIMITED', retryAfterMs: expect.any(Number) }),
    ]);
    for (const { topic, calls } of followed) {
      const log = await thePulse().log(topic);
      expect(log.at(-1)?.seq).toBe(151);
      // Told once, then the retry resumed it like the others: every missed event, then onRecovered.
      expect(calls.filter((call) => !call.startsWith('error'))).toEqual([
        'snapshot 0 initial',
        ...range(1, 151),
        'recovered 150',
      ]);
    }
  }, 60_000);

  it('does not retry TOO_MANY_SUBSCRIPTIONS, and the topic refused does not keep the client from live', async () => {
    const admin = await thePulse().token({ sub: `admin-${topicCount}`, role: 'admin' });
    const held = new HeldClient(admin);
    const allowed = Array.from({ length: MAX_SUBSCRIPTIONS }, (_, i) => held.follow(uniqueTopic(`cap-${i}`)));
    await held.live('live with the allowed subscriptions');
    const over = held.follow(uniqueTopic('cap-over'));
    await held.until(
      () => `the refusal of the subscription over the cap (calls ${over.calls.join(', ')})`,
      () => over.errors.length > 0,
    );
    expect(over.errors).toEqual([expect.objectContaining({ code: 'RATE_LIMITED', reason: 'TOO_MANY_SUBSCRIPTIONS' })]);
    await held.live('live with one topic refused for good');

    // The others go on; the refused one is not asked again (a retry would be refused, and told, again).
    for (const { topic } of allowed) await thePulse().publish(topic, attempts(2));
    await held.atSeq(allowed, 2);
    await pause(1500);
    expect(over.calls).toEqual(['error RATE_LIMITED/TOO_MANY_SUBSCRIPTIONS']);
    expect(held.client.state).toBe('live');
  }, 60_000);

  it('reaches live with a topic refused FORBIDDEN, on the first connection and after a reconnect', async () => {
    const prefix = uniqueTopic('open');
    const viewer = await thePulse().token({ sub: `viewer-${topicCount}`, role: 'viewer', topics: [`${prefix}*`] });
    const held = new HeldClient(viewer, { staleAfterMs: 60_000 });
    const open = held.follow(`${prefix}-a`);
    const secret = held.follow(uniqueTopic('secret'));
    await held.live('live with the forbidden topic refused');
    expect(secret.errors).toEqual([expect.objectContaining({ code: 'FORBIDDEN', reason: 'TOPIC_FORBIDDEN' })]);
    await thePulse().publish(open.topic, attempts(1));
    await held.atSeq([open], 1);

    const before = held.states.length;
    held.client.dropConnection();
    await held.live('live again after the reconnect');
    expect(held.states.slice(before)).toEqual(['recovering', 'live']);
    expect(open.calls).toEqual(['snapshot 0 initial', 'event 1', 'recovered 0']);
  }, 60_000);
});

describe('PulseClient resuming', () => {
  it('calls onRecovered once every missed event was handed over, when they did not fit in one answer', async () => {
    const admin = await thePulse().token({ sub: `admin-${topicCount}`, role: 'admin' });
    const held = new HeldClient(admin);
    const big = held.follow(uniqueTopic('big'));
    await held.live('live after the first subscribe');
    await thePulse().publish(big.topic, attempts(1));
    await held.atSeq([big], 1);

    held.hold();
    held.client.dropConnection();
    // 500 events are far more than the 16 KiB an answer carries: most come as catch-up frames.
    await thePulse().publish(big.topic, attempts(500));
    const statesAway = held.states.length;
    held.release();
    await held.atSeq([big], 501);
    await held.live('live after the catch-up');

    expect(big.calls).toEqual(['snapshot 0 initial', ...range(1, 501), 'recovered 500']);
    expect(held.states.slice(statesAway)).toEqual(['live']);
  }, 60_000);

  it('says not_recovered for a topic that was empty when it was last answered and got events while away (nothing missed: onRecovered 0)', async () => {
    const admin = await thePulse().token({ sub: `admin-${topicCount}`, role: 'admin' });
    const held = new HeldClient(admin);
    const filled = held.follow(uniqueTopic('empty-filled'));
    const still = held.follow(uniqueTopic('empty-still'));
    await held.live('live on two empty topics');

    held.hold();
    held.client.dropConnection();
    await thePulse().publish(filled.topic, attempts(3));
    held.release();
    await held.until(
      () => `a second answer for ${filled.topic} (calls ${filled.calls.join(', ')})`,
      () => filled.calls.length >= 2,
    );
    await held.live('live after the reconnect');

    // Seqs 1..3 were folded into the snapshot, never handed to onEvent: the reason says so.
    expect(filled.calls).toEqual(['snapshot 0 initial', 'snapshot 3 not_recovered']);
    expect(still.calls).toEqual(['snapshot 0 initial', 'recovered 0']);

    await thePulse().publish(filled.topic, attempts(1));
    await thePulse().publish(still.topic, attempts(1));
    await held.atSeq([filled], 4);
    await held.atSeq([still], 1);
    expect(filled.calls.at(-1)).toBe('event 4');
    expect(still.calls.at(-1)).toBe('event 1');
  }, 60_000);
});
