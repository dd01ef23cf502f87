// Load generator thread: a few hundred clients (socket.io-client for Pulse and the baseline, plain ws for the ceiling) that check and time every event.
import { performance } from 'node:perf_hooks';
import { parentPort } from 'node:worker_threads';
import * as hdr from 'hdr-histogram-js';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import type { PulseEvent, SubscribeAck } from '#pulse/contracts';
import { within } from '#pulse/stack';
import { errorMessage, hrnow } from './common.js';
import { BENCH_EVENT, baselineRoom } from './payload.js';

export type ClientKind = 'pulse' | 'baseline' | 'ws';

/**
 * What a Pulse client adds to its `subscribe` request besides topic and since: `{ batch: true }`
 * gets `events` frames (as the SDK asks), `{}` one message per event under its type (a plain
 * socket.io-client). Other options (e.g. `presence`) pass through as given.
 */
export type SubscribeOptions = { batch?: boolean } & Record<string, unknown>;

/** Main → worker. Every request is answered with `{ id, result }` or `{ id, error }`. */
export type FleetRequest = { id: number } & (
  | {
      op: 'connect';
      group: string;
      kind: ClientKind;
      urls: string[];
      topic: string;
      subscribe: SubscribeOptions;
    }
  | { op: 'arm'; group: string; t0: number; intervalMs: number; base: number; count: number }
  | { op: 'drain'; group: string; timeoutMs: number }
  | { op: 'collect'; group: string; order: number[] | null }
  | { op: 'away'; group: string }
  | { op: 'back'; group: string; base: number; target: number }
  | { op: 'close'; group: string }
);

/** What one thread's clients of a group saw during a run. */
export interface GroupResult {
  clients: number;
  delivered: number;
  lost: number;
  clientsWithLoss: number;
  duplicates: number;
  outOfOrder: number;
  unexpected: number;
  disconnects: number;
  resyncs: number;
  /** Messages (frames) the clients received: fewer than `delivered` when events come batched. */
  frames: number;
  /** Send → receipt latency (µs), HdrHistogram compressed. */
  histogram: string;
  /** Event loop utilisation of this thread over the run (0..1): near 1, the load generator was the bottleneck. */
  elu: number;
  /** Catch-up runs: ms from reconnecting until the client had the target seq (null: never), and whether the answer was a snapshot. */
  catchUp: { ms: number | null; snapshot: boolean }[];
}

/** Highest latency kept in the histogram (µs); later receipts count at this value. */
const MAX_LATENCY_US = 600_000_000;

class Client {
  socket: Socket | null = null;
  ws: WebSocket | null = null;
  received = new Uint8Array(0);
  /** Timed runs: receipt time (hrnow) of the event at each position of the run; latency is taken from it at collect. */
  arrivals = new Float64Array(0);
  base = 0;
  count = 0;
  distinct = 0;
  duplicates = 0;
  outOfOrder = 0;
  unexpected = 0;
  last = 0;
  /** Highest seq ever received (across runs): where a returning client resumes. */
  maxSeq = 0;
  epoch: string | null = '';
  disconnects = 0;
  resyncs = 0;
  frames = 0;
  snapshot = false;
  reachedAt: number | null = null;

  constructor(
    readonly kind: ClientKind,
    readonly url: string,
  ) {}
}

class Group {
  readonly clients: Client[] = [];
  t0 = 0;
  intervalMs = 0;
  timed = false;
  target = Infinity;
  startedAt = 0;
  histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: MAX_LATENCY_US,
    numberOfSignificantValueDigits: 3,
  });
  done = 0;
  onDone: (() => void) | null = null;
  elu = performance.eventLoopUtilization();

  constructor(
    readonly kind: ClientKind,
    readonly topic: string,
    readonly subscribe: SubscribeOptions,
  ) {}

  record(client: Client, seq: number, at: number): void {
    if (seq > client.maxSeq) client.maxSeq = seq;
    const i = seq - client.base - 1;
    if (i < 0 || i >= client.count) {
      client.unexpected += 1;
      return;
    }
    if (client.received[i]) {
      client.duplicates += 1;
      return;
    }
    client.received[i] = 1;
    client.distinct += 1;
    if (seq < client.last) client.outOfOrder += 1;
    else client.last = seq;
    if (this.timed) client.arrivals[i] = at;
    if (client.reachedAt === null && client.maxSeq >= this.target) {
      client.reachedAt = at;
      if (++this.done === this.clients.length) this.onDone?.();
    }
  }

  arm(base: number, count: number): void {
    this.histogram.reset();
    this.done = 0;
    this.target = base + count;
    for (const client of this.clients) {
      client.received = new Uint8Array(count);
      client.arrivals = new Float64Array(this.timed ? count : 0);
      client.base = base;
      client.count = count;
      client.distinct =
        client.duplicates =
        client.outOfOrder =
        client.unexpected =
        client.disconnects =
        client.resyncs =
        client.frames =
          0;
      client.last = 0;
      client.snapshot = false;
      client.reachedAt = client.maxSeq >= this.target ? hrnow() : null;
      if (client.reachedAt !== null) this.done += 1;
    }
    this.elu = performance.eventLoopUtilization();
  }
}

const groups = new Map<string, Group>();

function group(name: string): Group {
  const found = groups.get(name);
  if (!found) throw new Error(`no client group ${name}`);
  return found;
}

const CONNECT_TIMEOUT_MS = 20_000;

async function connectSocketIo(g: Group, client: Client, since: boolean): Promise<void> {
  const socket = io(client.url, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    timeout: CONNECT_TIMEOUT_MS,
  });
  client.socket = socket;
  const record = (event: PulseEvent) => {
    client.frames += 1;
    g.record(client, event.seq, hrnow());
  };
  if (g.kind === 'pulse' && g.subscribe.batch) {
    socket.on('events', (events: PulseEvent[]) => {
      const at = hrnow();
      client.frames += 1;
      for (const event of events) g.record(client, event.seq, at);
    });
  } else {
    // Pulse without batch, and the baseline: one message per event, under the event's type.
    socket.on(BENCH_EVENT.type, record);
  }
  if (g.kind === 'pulse') socket.on('resync', () => (client.resyncs += 1));
  socket.on('disconnect', (reason) => {
    if (reason !== 'io client disconnect') client.disconnects += 1;
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (error) => reject(error));
  });
  if (g.kind === 'pulse') {
    const request =
      since && client.epoch
        ? { ...g.subscribe, topic: g.topic, since: { seq: client.maxSeq, epoch: client.epoch } }
        : { ...g.subscribe, topic: g.topic };
    const ack = (await socket.timeout(CONNECT_TIMEOUT_MS).emitWithAck('subscribe', request)) as SubscribeAck;
    if (!ack.ok) throw new Error(`subscribe to ${g.topic} failed: ${ack.code} ${ack.message}`);
    client.epoch = ack.epoch;
    const at = hrnow();
    if (ack.snapshot) {
      client.snapshot = since;
      // A snapshot stands for every event up to its seq: the client is current up to there.
      if (since) for (let seq = client.base + 1; seq <= ack.snapshot.seq; seq++) g.record(client, seq, at);
      else client.maxSeq = Math.max(client.maxSeq, ack.snapshot.seq);
    }
    for (const event of ack.events) g.record(client, event.seq, at);
  } else {
    await socket.timeout(CONNECT_TIMEOUT_MS).emitWithAck('join', baselineRoom(g.topic));
  }
}

async function connectWs(g: Group, client: Client): Promise<void> {
  const ws = new WebSocket(client.url.replace(/^http/, 'ws'), { perMessageDeflate: false });
  client.ws = ws;
  ws.on('message', (data: Buffer) => {
    client.frames += 1;
    g.record(client, (JSON.parse(data.toString()) as PulseEvent).seq, hrnow());
  });
  ws.on('close', () => (client.disconnects += 1));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
}

const connect = (g: Group, client: Client, since = false) =>
  g.kind === 'ws' ? connectWs(g, client) : connectSocketIo(g, client, since);

/** Disconnects the client; resolves once its WebSocket is closed (a socket.io server has then run its disconnect handlers). */
async function disconnect(client: Client): Promise<void> {
  const engine = client.socket?.io.engine;
  const closed =
    engine && engine.readyState !== 'closed'
      ? new Promise<void>((resolve) => engine.once('close', () => resolve()))
      : Promise.resolve();
  client.socket?.removeAllListeners();
  client.socket?.disconnect();
  client.socket = null;
  client.ws?.removeAllListeners();
  client.ws?.terminate();
  client.ws = null;
  await closed;
}

/** Resolves once every client of the group has the target seq, or when `timeoutMs` pass (false). */
async function reached(g: Group, timeoutMs: number): Promise<boolean> {
  if (g.done === g.clients.length) return true;
  let timer: NodeJS.Timeout | undefined;
  const done = await new Promise<boolean>((resolve) => {
    g.onDone = () => resolve(true);
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  clearTimeout(timer);
  g.onDone = null;
  return done;
}

/**
 * Latency of every event a client got: receipt → its scheduled send time. `order[p]` is the
 * schedule index of the event appended at position p of the run (null: positions and schedule
 * agree), so that events appended out of schedule (concurrent REST requests) are timed from
 * their own send time, not their neighbour's.
 */
function recordLatencies(g: Group, order: number[] | null): void {
  g.histogram.reset();
  if (!g.timed) return;
  for (const client of g.clients)
    for (let i = 0; i < client.arrivals.length; i++) {
      if (!client.received[i]) continue;
      const due = g.t0 + (order?.[i] ?? i) * g.intervalMs;
      g.histogram.recordValue(Math.min(MAX_LATENCY_US, Math.max(1, Math.round((client.arrivals[i]! - due) * 1000))));
    }
}

function collect(g: Group, order: number[] | null): GroupResult {
  recordLatencies(g, order);
  const result: GroupResult = {
    clients: g.clients.length,
    delivered: 0,
    lost: 0,
    clientsWithLoss: 0,
    duplicates: 0,
    outOfOrder: 0,
    unexpected: 0,
    disconnects: 0,
    resyncs: 0,
    frames: 0,
    histogram: hdr.encodeIntoCompressedBase64(g.histogram),
    elu: performance.eventLoopUtilization(g.elu).utilization,
    catchUp: [],
  };
  for (const client of g.clients) {
    result.delivered += client.distinct;
    result.lost += client.count - client.distinct;
    if (client.distinct < client.count) result.clientsWithLoss += 1;
    result.duplicates += client.duplicates;
    result.outOfOrder += client.outOfOrder;
    result.unexpected += client.unexpected;
    result.disconnects += client.disconnects;
    result.resyncs += client.resyncs;
    result.frames += client.frames;
    result.catchUp.push({
      ms: client.reachedAt === null ? null : client.reachedAt - g.startedAt,
      snapshot: client.snapshot,
    });
  }
  return result;
}

async function handle(request: FleetRequest): Promise<unknown> {
  switch (request.op) {
    case 'connect': {
      const g = new Group(request.kind, request.topic, request.subscribe);
      groups.set(request.group, g);
      for (const url of request.urls) g.clients.push(new Client(request.kind, url));
      await Promise.all(g.clients.map((client) => connect(g, client)));
      return null;
    }
    case 'arm': {
      const g = group(request.group);
      g.t0 = request.t0;
      g.intervalMs = request.intervalMs;
      g.timed = true;
      g.arm(request.base, request.count);
      return null;
    }
    case 'drain':
      return reached(group(request.group), request.timeoutMs);
    case 'collect':
      return collect(group(request.group), request.order);
    case 'away':
      await Promise.all(group(request.group).clients.map(disconnect));
      return null;
    case 'back': {
      const g = group(request.group);
      g.timed = false;
      g.arm(request.base, request.target - request.base);
      g.startedAt = hrnow();
      await Promise.all(g.clients.map((client) => connect(g, client, true)));
      return null;
    }
    case 'close': {
      const g = groups.get(request.group);
      groups.delete(request.group);
      await within(`${request.group} to close`, Promise.all((g?.clients ?? []).map(disconnect)), CONNECT_TIMEOUT_MS);
      return null;
    }
  }
}

parentPort!.on('message', (request: FleetRequest) => {
  handle(request).then(
    (result) => parentPort!.postMessage({ id: request.id, result }),
    (error: unknown) => parentPort!.postMessage({ id: request.id, error: errorMessage(error) }),
  );
});
