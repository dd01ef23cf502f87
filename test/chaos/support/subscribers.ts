// The chaos suite's clients: SDK, wire (plain socket.io-client) and CLI subscribers that record histories, and the waits until they have caught up.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { io } from 'socket.io-client';
import type { PulseClient, PulseClientOptions } from '#pulse/client';
import { EVENT_TYPES, type PulseEvent, type SubscribeAck } from '#pulse/contracts';
import { PROJECT_ROOT } from '#pulse/stack';
import type { PulseClientSocket } from '../../support/clients.js';
import type { Changes } from '../../support/wait.js';
import { History } from './history.js';
import type { ChaosStack } from './stack.js';

/** A subscriber that records what it is handed: the SDK (its handlers) or the wire (every frame, unfiltered). */
export interface Subscriber {
  readonly history: History;
  readonly topic: string;
  /** Resumes answered `recovered: true`. */
  readonly recovered?: number;
  close(): void;
}

/** An SDK client following one topic; its handlers record the history. */
export class SdkSubscriber implements Subscriber {
  readonly history: History;
  readonly client: PulseClient;
  recovered = 0;

  constructor(
    stack: ChaosStack,
    readonly topic: string,
    name: string,
    changes: Changes,
    options: Partial<PulseClientOptions> = {},
  ) {
    this.history = new History(name);
    this.client = stack.client(options);
    this.client.subscribe(topic, {
      onEvent: (event) => {
        this.history.event(event);
        changes.changed();
      },
      onSnapshot: (snapshot, reason) => {
        this.history.snapshot(snapshot, reason);
        changes.changed();
      },
      onRecovered: () => {
        this.recovered += 1;
      },
    });
  }

  close(): void {
    this.client.close();
  }
}

/**
 * A plain socket.io-client that records every frame as it arrives (no dedupe, no hole filling: the
 * checker sees what the server sent). When the connection drops it resumes on the next gateway
 * with `since` = the last seq it recorded; on `resync` it subscribes again for a snapshot.
 */
export class WireSubscriber implements Subscriber {
  readonly history: History;
  socket: PulseClientSocket | null = null;
  /** The gateway it is connected to (or trying). */
  url = '';
  private index: number;
  private closed = false;
  reconnects = 0;
  recovered = 0;

  constructor(
    private readonly urls: () => string[],
    readonly topic: string,
    name: string,
    private readonly changes: Changes,
    private readonly options: { batch?: boolean; start?: number; from?: { epoch: string; seq: number } } = {},
  ) {
    this.history = new History(name);
    // A client coming back: it holds this position and resumes from it.
    if (options.from) this.history.snapshot({ topic, ...options.from }, 'held before');
    this.index = options.start ?? 0;
    this.open();
  }

  private open(): void {
    if (this.closed) return;
    const urls = this.urls();
    const url = urls[this.index % urls.length]!;
    this.url = url;
    const socket: PulseClientSocket = io(url, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      timeout: 5000,
    });
    this.socket = socket;
    const record = (event: PulseEvent) => {
      if (event.topic === this.topic) this.history.event(event);
    };
    // A change is signalled after the frame is recorded: socket.io-client runs onAny listeners before
    // the named ones, so an onAny signal re-checked waits before the last event was in the history.
    if (this.options.batch)
      socket.on('events', (events) => {
        events.forEach(record);
        this.changes.changed();
      });
    else
      for (const name of EVENT_TYPES)
        socket.on(name, (event: PulseEvent) => {
          record(event);
          this.changes.changed();
        });
    socket.on('resync', ({ topic }) => {
      if (topic === this.topic) this.subscribe(socket, false);
    });
    socket.on('connect', () => this.subscribe(socket, true));
    const lost = () => {
      if (this.socket !== socket) return;
      socket.removeAllListeners();
      socket.disconnect();
      this.socket = null;
      this.reconnects += 1;
      this.index += 1;
      setTimeout(() => this.open(), 20 + Math.random() * 80);
    };
    socket.on('disconnect', lost);
    socket.on('connect_error', lost);
  }

  private subscribe(socket: PulseClientSocket, resume: boolean): void {
    // A retry scheduled before close() or a reconnect: that connection is gone.
    if (this.closed || socket !== this.socket) return;
    const position = resume ? this.history.position(this.topic) : null;
    const since = position?.epoch ? { seq: position.seq, epoch: position.epoch } : undefined;
    socket
      .timeout(10_000)
      .emit(
        'subscribe',
        { topic: this.topic, since, batch: this.options.batch ?? false },
        (error: Error | null, ack: SubscribeAck) => {
          if (socket !== this.socket) return;
          if (error) return socket.disconnect();
          if (!ack.ok) {
            // A since beyond the head (Redis lost appends this client saw): subscribe afresh for a snapshot.
            if (ack.code === 'BAD_REQUEST' && since) return setTimeout(() => this.subscribe(socket, false), 50);
            // NOT_FOUND / UNAVAILABLE while Redis is away or empty: ask again shortly.
            return setTimeout(() => this.subscribe(socket, resume), 200);
          }
          if (ack.recovered) {
            this.recovered += 1;
            for (const event of ack.events) this.history.event(event);
          } else this.history.snapshot(ack.snapshot!, since ? 'not_recovered' : 'initial');
          this.changes.changed();
        },
      );
  }

  close(): void {
    this.closed = true;
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
    this.socket = null;
  }
}

/** `pulse tail <topic> --json` as a user runs it; stdout lines are its history. */
export class CliTail implements Subscriber {
  readonly history: History;
  readonly child: ChildProcess;
  readonly stderr: string[] = [];

  constructor(
    urls: string[],
    readonly topic: string,
    changes: Changes,
  ) {
    this.history = new History('cli-tail');
    this.child = spawn(
      process.execPath,
      [join(PROJECT_ROOT, 'bin/pulse.js'), ...urls.flatMap((url) => ['--url', url]), 'tail', topic, '--json'],
      { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const event = JSON.parse(line) as PulseEvent;
      // The tail prints from its first snapshot on: that position is where its history starts.
      if (this.history.deliveries.length === 0)
        this.history.snapshot({ topic, epoch: event.epoch, seq: event.seq - 1 }, 'initial');
      this.history.event(event);
      changes.changed();
    });
    createInterface({ input: this.child.stderr! }).on('line', (line) => this.stderr.push(line));
  }

  close(): void {
    this.child.kill('SIGKILL');
  }
}

/** Waits until every subscriber's position is its topic's head in `heads`, re-checked on each arrival. */
export async function untilCaughtUp(
  changes: Changes,
  subscribers: Subscriber[],
  heads: Map<string, { epoch: string; head: number }>,
  timeoutMs = 30_000,
): Promise<void> {
  const behind = () =>
    subscribers.filter((subscriber) => {
      const target = heads.get(subscriber.topic)!;
      const position = subscriber.history.position(subscriber.topic);
      return !position || position.epoch !== target.epoch || position.seq < target.head;
    });
  await changes.until(
    () => {
      const late = behind();
      return `${late.length} subscribers to reach the head (e.g. ${late
        .slice(0, 3)
        .map(
          (s) =>
            `${s.history.client} at ${JSON.stringify(s.history.position(s.topic))} of ${JSON.stringify(heads.get(s.topic))}`,
        )
        .join(', ')})`;
    },
    () => behind().length === 0,
    timeoutMs,
  );
}

/** Waits until every subscriber stands at its topic's head and the head stays there (ticks may still append), within `timeoutMs`. */
export async function settle(
  stack: ChaosStack,
  changes: Changes,
  subscribers: Subscriber[],
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const topics = [...new Set(subscribers.map((subscriber) => subscriber.topic))];
  const heads = async () =>
    new Map(await Promise.all(topics.map(async (topic) => [topic, await stack.head(topic)] as const)));
  for (;;) {
    const before = await heads();
    await untilCaughtUp(changes, subscribers, before, Math.max(1000, deadline - Date.now()));
    const after = await heads();
    if (
      topics.every(
        (topic) =>
          after.get(topic)!.head === before.get(topic)!.head && after.get(topic)!.epoch === before.get(topic)!.epoch,
      )
    )
      return;
  }
}
