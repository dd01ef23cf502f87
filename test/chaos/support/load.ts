// The chaos suite's producers: posts spread over the gateways at a rate, every answer kept, and the check that 201 means appended and nothing else does.
import type { ChaosStack } from './stack.js';
import type { TopicLog } from './history.js';
import { pause, poll } from '../../support/wait.js';

/** Posts events and answers the status and body (never throws on an HTTP status). */
export async function postEvents(
  url: string,
  topic: string,
  events: unknown[],
): Promise<{ status: number; seqs?: number[]; epoch?: string; error?: string }> {
  try {
    const response = await fetch(`${url}/api/v1/topics/${topic}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await response.json().catch(() => null)) as { seqs?: number[]; epoch?: string } | null;
    return { status: response.status, seqs: body?.seqs, epoch: body?.epoch };
  } catch (error) {
    // No answer: say why (ECONNREFUSED: never sent; ECONNRESET or a timeout: cut in flight).
    const cause = (error as { cause?: { code?: string } }).cause;
    return { status: 0, error: cause?.code ?? (error as Error).name };
  }
}

export interface LoadOptions {
  /**
   * Send a batch answered 503 again, with the same keys, for up to this long, as a producer that
   * follows the 503's advice does. For a Redis that goes away with commands in flight: one it ran
   * before its reply was lost is answered 503 though it appended, and only a resend tells. Off
   * (0) where a 503 must prove that nothing was appended.
   * @default 0
   */
  resendUnavailableMs?: number;
}

/**
 * Producers posting `rate` events a second to `topics`, spread over the running gateways, until
 * stopped. Every answer is kept: a 201's seqs must be in the log, anything else must not be.
 */
export class Load {
  readonly accepted: { topic: string; epoch: string; seqs: number[] }[] = [];
  readonly refused: { status: number; topic: string; error?: string }[] = [];
  /** Batches cut in flight and sent again. */
  retried = 0;
  /** Keeps this producer's idempotency keys apart from another's on the same topic. */
  private readonly id = Math.random().toString(36).slice(2, 8);
  private timer: ReturnType<typeof setInterval> | null = null;
  private inFlight = new Set<Promise<void>>();
  private n = 0;

  constructor(
    private readonly urls: () => string[],
    private readonly topics: string[],
    private readonly ratePerSecond: number,
    private readonly options: LoadOptions = {},
  ) {}

  /**
   * Posts a batch; one cut in flight (ECONNRESET: a draining gateway closed the kept-alive
   * connection as the request went out) is sent again, with the same keys, to the next gateway.
   * With `resendUnavailableMs`, a 503 is recorded in `refused` and the batch sent again too, until
   * it is accepted or that time has passed.
   */
  private async post(url: string, topic: string, events: unknown[]): ReturnType<typeof postEvents> {
    const giveUpAt = Date.now() + (this.options.resendUnavailableMs ?? 0);
    let answer = await postEvents(url, topic, events);
    let cutOnce = false;
    for (;;) {
      const cut = answer.status === 0 && (answer.error === 'ECONNRESET' || answer.error === 'UND_ERR_SOCKET');
      const resendable = answer.status === 503 && Date.now() < giveUpAt;
      if (cut && !cutOnce) cutOnce = true;
      else if (resendable) {
        this.refused.push({ status: answer.status, topic });
        await pause(250);
      } else return answer;
      this.retried += 1;
      const urls = this.urls();
      url = urls[(urls.indexOf(url) + 1) % urls.length] ?? url;
      answer = await postEvents(url, topic, events);
    }
  }

  start(): this {
    const everyMs = 50;
    const perTick = Math.max(1, Math.round((this.ratePerSecond * everyMs) / 1000));
    this.timer = setInterval(() => {
      const urls = this.urls();
      if (urls.length === 0) return;
      for (const topic of this.topics) {
        const n = (this.n += 1);
        const url = urls[n % urls.length]!;
        // Keyed, as a producer that retries keys its events: the log appends each key at most once.
        const events = Array.from({ length: Math.max(1, Math.round(perTick / this.topics.length)) }, (_, i) => ({
          ...(i % 3 === 2
            ? {
                type: 'attempt.recorded',
                data: { instanceId: `i-${(n + i) % 9}`, outcome: (n + i) % 5 ? 'success' : 'failure' },
              }
            : { type: 'instance.heartbeat', data: { instanceId: `i-${(n + i) % 9}` } }),
          idempotencyKey: `load-${this.id}-${n}-${i}`,
        }));
        const request = this.post(url, topic, events).then((answer) => {
          if (answer.status === 201) this.accepted.push({ topic, epoch: answer.epoch!, seqs: answer.seqs! });
          else this.refused.push({ status: answer.status, topic, ...(answer.error ? { error: answer.error } : {}) });
        });
        this.inFlight.add(request);
        void request.finally(() => this.inFlight.delete(request));
      }
    }, everyMs);
    return this;
  }

  /** Resolves once a post was accepted (the topic exists). */
  async firstAccepted(timeoutMs = 10_000): Promise<void> {
    await poll('a first accepted post', () => this.accepted.length > 0, { timeoutMs, pauseMs: 20 });
  }

  /** Stops posting and waits for the answers in flight. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.all([...this.inFlight]);
  }

  get count(): number {
    return this.accepted.reduce((sum, batch) => sum + batch.seqs.length, 0);
  }
}

const INGEST_TYPES = new Set(['instance.heartbeat', 'attempt.recorded']);

/**
 * Ingest events of the log's epoch that no producer was answered 201 for, and acknowledged seqs
 * missing from the log: both must be empty (a refused or cut request appended nothing).
 */
export async function unacknowledged(
  stack: ChaosStack,
  topic: string,
  load: Load,
  epochs: (epoch: string, log: TopicLog) => boolean = (epoch, log) => epoch === log.epoch,
): Promise<{ appendedWithoutAck: number[]; ackedButMissing: number[] }> {
  const log = await stack.readLog(topic);
  const inLog = new Set([...log.entries].filter(([, entry]) => INGEST_TYPES.has(entry.type)).map(([seq]) => seq));
  const acked = new Set(
    load.accepted.filter((batch) => batch.topic === topic && epochs(batch.epoch, log)).flatMap((batch) => batch.seqs),
  );
  return {
    appendedWithoutAck: [...inLog].filter((seq) => !acked.has(seq)).sort((a, b) => a - b),
    ackedButMissing: [...acked].filter((seq) => !inLog.has(seq)).sort((a, b) => a - b),
  };
}
