// Scale run, load generator thread: a few thousand socket.io-clients, each following one topic (Pulse plain or batch, or the baseline's room), checking every event by seq.
import { performance } from 'node:perf_hooks';
import { parentPort } from 'node:worker_threads';
import * as hdr from 'hdr-histogram-js';
import { io, type Socket } from 'socket.io-client';
import type { PulseEvent, SubscribeAck } from '#pulse/contracts';
import { errorMessage, hrnow } from './common.js';
import { baselineRoom } from './payload.js';

/** How a client gets its events: Pulse `batch: true` (`events` frames), Pulse one message per event, or the baseline's room (one message per event). */
export type ScaleMode = 'batch' | 'plain' | 'baseline';

export interface ScaleClientSpec {
  url: string;
  topic: string;
  mode: ScaleMode;
}

/** Main → thread; every request is answered with `{ id, result }` or `{ id, error }`. */
export type ScaleRequest = { id: number } & (
  | { op: 'connect'; clients: ScaleClientSpec[]; concurrency: number; clockBase: number }
  | { op: 'mark' }
  | { op: 'window' }
  | { op: 'drop' }
  | { op: 'rejoin'; targets: Record<string, number>; timeoutMs: number; gapIsLoss: boolean }
  | { op: 'settle'; heads: Record<string, number>; timeoutMs: number; gapIsLoss: boolean }
  | { op: 'verify'; heads: Record<string, number> }
  | { op: 'close' }
);

/** Thread → main, unasked: connection progress. */
export interface ScaleProgress {
  progress: { connected: number; failed: number };
}

export interface ConnectResult {
  connected: number;
  failed: number;
  firstError: string | null;
  ms: number;
}

/** Deliveries since the last `mark`. */
export interface WindowResult {
  delivered: number;
  frames: number;
  /** Send → receipt (µs) of the timed (producer) events, HdrHistogram compressed. */
  histogram: string;
  elu: number;
}

/** The reconnect storm, this thread's clients. */
export interface RejoinResult {
  clients: number;
  /** ms from the storm's start until each client was current (null: not within the bound). */
  currentMs: (number | null)[];
  failed: number;
  firstError: string | null;
  /** Subscribe answers that were not `recovered` (a snapshot instead of the missed events). */
  notRecovered: number;
  /** Events the clients received in their subscribe answers (Pulse: the missed ones). */
  replayed: number;
  /** Attempts that failed and were tried again after socket.io-client's backoff. */
  retries: number;
  /** Event loop utilisation of this thread during the storm. */
  elu: number;
  /** Seqs missing below each client's last once the storm is over (B: what it lost while away). */
  gaps: number;
}

export interface VerifyResult {
  clients: number;
  delivered: number;
  /** Seqs up to the topic's head the client never received. */
  lost: number;
  clientsWithLoss: number;
  duplicates: number;
  outOfOrder: number;
  disconnects: number;
  resyncs: number;
}

/** Highest latency kept (µs); later receipts count at this value. */
const MAX_LATENCY_US = 600_000_000;
/** socket.io-client's own defaults: connect timeout, and the reconnection backoff (1 s doubling to 5 s, ±50 %). */
const CONNECT_TIMEOUT_MS = 20_000;
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 5000;
const RETRY_RANDOMIZATION = 0.5;

class Client {
  socket: Socket | null = null;
  epoch: string | null = null;
  /** Highest seq received. */
  last = 0;
  /** Seqs below `last` not received (yet). */
  readonly missing = new Set<number>();
  delivered = 0;
  duplicates = 0;
  outOfOrder = 0;
  disconnects = 0;
  resyncs = 0;
  subscribed = false;
  /** Storm: the seq that makes the client current, and when it got there. */
  target = Infinity;
  reachedAt: number | null = null;

  constructor(readonly spec: ScaleClientSpec) {}
}

let clients: Client[] = [];
let clockBase = 0;
let measuring = false;
let windowDelivered = 0;
let windowFrames = 0;
let elu = performance.eventLoopUtilization();
const histogram = hdr.build({
  lowestDiscernibleValue: 1,
  highestTrackableValue: MAX_LATENCY_US,
  numberOfSignificantValueDigits: 3,
});
/** Storm bookkeeping. */
let stormStart = 0;
let gapIsLoss = false;
let waiting = 0;
let onAllReached: (() => void) | null = null;

function reachedCheck(client: Client, at: number): void {
  if (client.reachedAt !== null || !client.subscribed || client.last < client.target) return;
  if (!gapIsLoss && client.missing.size > 0) return;
  client.reachedAt = at;
  if (--waiting === 0) onAllReached?.();
}

function record(client: Client, event: PulseEvent, at: number): void {
  const { seq } = event;
  if (seq === client.last + 1) client.last = seq;
  else if (seq > client.last) {
    for (let missing = client.last + 1; missing < seq; missing++) client.missing.add(missing);
    client.last = seq;
  } else if (client.missing.delete(seq)) client.outOfOrder += 1;
  else {
    client.duplicates += 1;
    return;
  }
  client.delivered += 1;
  if (measuring) {
    windowDelivered += 1;
    // Producer events carry their send time (ms after the run's clock base) as durationMs.
    const sent = (event.data as { durationMs?: unknown } | null)?.durationMs;
    if (event.type === 'attempt.recorded' && typeof sent === 'number')
      histogram.recordValue(Math.min(MAX_LATENCY_US, Math.max(1, Math.round((at - clockBase - sent) * 1000))));
  }
  if (client.target !== Infinity) reachedCheck(client, at);
}

/** An error's message, with the transport's cause when socket.io-client has one (its `websocket error` says nothing alone). */
function failure(error: unknown): string {
  const description = (error as { description?: { message?: unknown; error?: { message?: unknown; code?: unknown } } })
    ?.description;
  const cause = description?.error ?? description;
  const detail = [cause?.message, (cause as { code?: unknown } | undefined)?.code].filter(Boolean).join(' ');
  return detail ? `${errorMessage(error)} (${detail})` : errorMessage(error);
}

const isEnvelope = (value: unknown): value is PulseEvent =>
  typeof value === 'object' && value !== null && typeof (value as PulseEvent).seq === 'number';

async function open(client: Client, resume: boolean): Promise<{ recovered: boolean; replayed: number }> {
  const { url, topic, mode } = client.spec;
  const socket = io(url, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    timeout: CONNECT_TIMEOUT_MS,
  });
  client.socket = socket;
  if (mode === 'batch') {
    socket.on('events', (events: PulseEvent[]) => {
      const at = hrnow();
      if (measuring) windowFrames += 1;
      for (const event of events) record(client, event, at);
    });
  } else {
    // One message per event, under its type: every type the topic carries (attempts, heartbeats, the tick's three, offline…).
    socket.onAny((_name: string, payload: unknown) => {
      if (!isEnvelope(payload)) return; // hello, presence
      if (measuring) windowFrames += 1;
      record(client, payload, hrnow());
    });
  }
  socket.on('resync', () => (client.resyncs += 1));
  socket.on('disconnect', (reason) => {
    if (reason !== 'io client disconnect') client.disconnects += 1;
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (error) => reject(error));
  });
  if (mode === 'baseline') {
    await socket.timeout(CONNECT_TIMEOUT_MS).emitWithAck('join', baselineRoom(topic));
    client.subscribed = true;
    return { recovered: false, replayed: 0 };
  }
  const request =
    resume && client.epoch
      ? { topic, batch: mode === 'batch', since: { seq: client.last, epoch: client.epoch } }
      : { topic, batch: mode === 'batch' };
  // The answer is taken in the ack callback itself: event frames right behind it in the same read
  // are handled after it (an `await` would let them run first and look like a reorder).
  return new Promise((resolve, reject) => {
    socket.timeout(CONNECT_TIMEOUT_MS).emit('subscribe', request, (error: Error | null, ack: SubscribeAck) => {
      if (error) return reject(error);
      if (!ack.ok) return reject(new Error(`subscribe to ${topic} failed: ${ack.code} ${ack.message}`));
      client.epoch = ack.epoch;
      client.subscribed = true;
      const at = hrnow();
      if (ack.snapshot && !resume) {
        // A first subscribe: the snapshot stands for everything up to its seq; live events follow it.
        client.last = Math.max(client.last, ack.snapshot.seq);
      } else if (ack.snapshot) {
        // A resume answered with a snapshot: the missed events are not delivered. They stay missing (counted lost).
        client.resyncs += 1;
      }
      for (const event of ack.events) record(client, event, at);
      if (client.target !== Infinity) reachedCheck(client, at);
      resolve({ recovered: ack.recovered, replayed: ack.events.length });
    });
  });
}

/** Resolves once the client's WebSocket is closed, or after `waitMs`. */
async function shut(client: Client, waitMs = CONNECT_TIMEOUT_MS): Promise<void> {
  const socket = client.socket;
  client.socket = null;
  client.subscribed = false;
  if (!socket) return;
  const engine = socket.io.engine;
  const closed =
    engine && engine.readyState !== 'closed'
      ? new Promise<void>((resolve) => engine.once('close', () => resolve()))
      : Promise.resolve();
  socket.removeAllListeners();
  socket.offAny();
  socket.disconnect();
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, waitMs))]);
}

/** Runs `task` over `items` with at most `concurrency` at once (Infinity: all at once). */
async function pool<T>(items: T[], concurrency: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(items.length, concurrency) }, async () => {
    while (next < items.length) await task(items[next++]!);
  });
  await Promise.all(lanes);
}

async function connect(request: ScaleRequest & { op: 'connect' }): Promise<ConnectResult> {
  const started = hrnow();
  clockBase = request.clockBase;
  const fresh = request.clients.map((spec) => new Client(spec));
  clients.push(...fresh);
  const result: ConnectResult = { connected: 0, failed: 0, firstError: null, ms: 0 };
  let reported = hrnow();
  await pool(fresh, request.concurrency, async (client) => {
    try {
      await open(client, false);
      result.connected += 1;
    } catch (error) {
      result.failed += 1;
      result.firstError ??= failure(error);
      await shut(client);
    }
    if (hrnow() - reported > 2000) {
      reported = hrnow();
      parentPort!.postMessage({
        progress: { connected: result.connected, failed: result.failed },
      } satisfies ScaleProgress);
    }
  });
  result.ms = hrnow() - started;
  return result;
}

async function rejoin(request: ScaleRequest & { op: 'rejoin' }): Promise<RejoinResult> {
  gapIsLoss = request.gapIsLoss;
  stormStart = hrnow();
  waiting = clients.length;
  for (const client of clients) {
    client.reachedAt = null;
    client.target = request.targets[client.spec.topic] ?? 0;
  }
  const all = new Promise<void>((resolve) => (onAllReached = resolve));
  const result: RejoinResult = {
    clients: clients.length,
    currentMs: [],
    failed: 0,
    firstError: null,
    notRecovered: 0,
    replayed: 0,
    retries: 0,
    elu: 0,
    gaps: 0,
  };
  const deadline = stormStart + request.timeoutMs;
  const stormElu = performance.eventLoopUtilization();
  // Everyone at once: no pacing, as after a network blip. A failed attempt is tried again after
  // socket.io-client's reconnection backoff, as a real client would, until the storm's bound.
  const opened = Promise.all(
    clients.map(async (client) => {
      for (let delay = RETRY_FIRST_MS; ; delay = Math.min(delay * 2, RETRY_MAX_MS)) {
        try {
          const answer = await open(client, true);
          if (!answer.recovered && client.spec.mode !== 'baseline') result.notRecovered += 1;
          result.replayed += answer.replayed;
          return;
        } catch (error) {
          result.firstError ??= failure(error);
          await shut(client, 1000);
          const wait = delay * (1 + (Math.random() * 2 - 1) * RETRY_RANDOMIZATION);
          if (hrnow() + wait > deadline) {
            result.failed += 1;
            return;
          }
          result.retries += 1;
          await new Promise((resolve) => setTimeout(resolve, wait));
        }
      }
    }),
  );
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    waiting === 0 ? Promise.resolve() : all,
    new Promise<void>((resolve) => (timer = setTimeout(resolve, request.timeoutMs))),
  ]);
  clearTimeout(timer);
  onAllReached = null;
  result.elu = performance.eventLoopUtilization(stormElu).utilization;
  await Promise.race([opened, new Promise((resolve) => setTimeout(resolve, 1000))]);
  for (const client of clients) {
    result.currentMs.push(client.reachedAt === null ? null : client.reachedAt - stormStart);
    result.gaps += client.missing.size;
    client.target = Infinity;
  }
  return result;
}

/** Resolves true once every connected client has its topic's head (and, unless gaps are for ever, no gap below it). */
async function settle(heads: Record<string, number>, timeoutMs: number, gapsStay: boolean): Promise<boolean> {
  const deadline = hrnow() + timeoutMs;
  const behind = () =>
    clients.some(
      (client) =>
        client.subscribed && (client.last < (heads[client.spec.topic] ?? 0) || (!gapsStay && client.missing.size > 0)),
    );
  while (behind()) {
    if (hrnow() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

function verify(heads: Record<string, number>): VerifyResult {
  const result: VerifyResult = {
    clients: clients.length,
    delivered: 0,
    lost: 0,
    clientsWithLoss: 0,
    duplicates: 0,
    outOfOrder: 0,
    disconnects: 0,
    resyncs: 0,
  };
  for (const client of clients) {
    const lost = client.missing.size + Math.max(0, (heads[client.spec.topic] ?? 0) - client.last);
    result.delivered += client.delivered;
    result.lost += lost;
    if (lost > 0) result.clientsWithLoss += 1;
    result.duplicates += client.duplicates;
    result.outOfOrder += client.outOfOrder;
    result.disconnects += client.disconnects;
    result.resyncs += client.resyncs;
  }
  return result;
}

async function handle(request: ScaleRequest): Promise<unknown> {
  switch (request.op) {
    case 'connect':
      return connect(request);
    case 'mark':
      histogram.reset();
      windowDelivered = windowFrames = 0;
      elu = performance.eventLoopUtilization();
      measuring = true;
      return null;
    case 'window': {
      measuring = false;
      const result: WindowResult = {
        delivered: windowDelivered,
        frames: windowFrames,
        histogram: hdr.encodeIntoCompressedBase64(histogram),
        elu: performance.eventLoopUtilization(elu).utilization,
      };
      return result;
    }
    case 'drop':
      await Promise.all(clients.map(shut));
      return null;
    case 'rejoin':
      return rejoin(request);
    case 'settle':
      return settle(request.heads, request.timeoutMs, request.gapIsLoss);
    case 'verify':
      return verify(request.heads);
    case 'close':
      await Promise.all(clients.map(shut));
      clients = [];
      return null;
  }
}

parentPort!.on('message', (request: ScaleRequest) => {
  handle(request).then(
    (result) => parentPort!.postMessage({ id: request.id, result }),
    (error: unknown) => parentPort!.postMessage({ id: request.id, error: errorMessage(error) }),
  );
});
