// Many socket.io-client connections spread over several servers, each recording every event it receives with its receipt time.
import { io, type Socket } from 'socket.io-client';
import type { ClientToServerEvents, PulseEvent, ServerToClientEvents } from '#pulse/contracts';
import { now, withTimeout } from './common.js';

export type BenchSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** What one client received, in arrival order. */
export class ReceiptLog {
  readonly seqs: number[] = [];
  /** Receipt time of each entry of `seqs` (see `now`). */
  readonly at: number[] = [];
  /** Highest seq received so far. */
  maxSeq = 0;
  disconnects: string[] = [];

  /** @param server index of the server (gateway) this client is connected to */
  constructor(readonly server: number) {}
}

/** How the clients of one run talk to their servers. */
export interface ClientSetup {
  /** Registers the listeners that hand received events to `record`. */
  listen(socket: BenchSocket, record: (events: readonly PulseEvent[]) => void): void;
  /** Runs once connected, before the run starts (e.g. subscribe with ack). */
  ready(socket: BenchSocket): Promise<void>;
}

const CONNECT_TIMEOUT_MS = 15_000;

async function connected(socket: BenchSocket): Promise<void> {
  if (socket.connected) return;
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (error) => reject(error));
  });
}

/** Waits until every client has received a seq at or past `target`. */
interface DrainWaiter {
  target: number;
  reached: number;
  resolve: () => void;
}

export class ClientFleet {
  readonly logs: ReceiptLog[] = [];
  private readonly sockets: BenchSocket[] = [];
  private waiter: DrainWaiter | null = null;

  /** Connects `perServer` clients to each URL (websocket only, no reconnection) and readies them all. */
  static async connect(urls: string[], perServer: number, setup: ClientSetup): Promise<ClientFleet> {
    const fleet = new ClientFleet();
    const starting = urls.flatMap((url, server) => Array.from({ length: perServer }, () => fleet.add(url, server, setup)));
    try {
      await withTimeout(Promise.all(starting), CONNECT_TIMEOUT_MS, `${starting.length} clients to connect and subscribe`);
    } catch (error) {
      fleet.close();
      throw error;
    }
    return fleet;
  }

  private async add(url: string, server: number, setup: ClientSetup): Promise<void> {
    const socket: BenchSocket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
    const log = new ReceiptLog(server);
    this.sockets.push(socket);
    this.logs.push(log);
    setup.listen(socket, (events) => this.record(log, events));
    socket.on('disconnect', (reason) => log.disconnects.push(reason));
    await connected(socket);
    await setup.ready(socket);
  }

  private record(log: ReceiptLog, events: readonly PulseEvent[]): void {
    const at = now();
    const before = log.maxSeq;
    for (const event of events) {
      log.seqs.push(event.seq);
      log.at.push(at);
      if (event.seq > log.maxSeq) log.maxSeq = event.seq;
    }
    const waiter = this.waiter;
    if (waiter && before < waiter.target && log.maxSeq >= waiter.target && ++waiter.reached === this.logs.length) waiter.resolve();
  }

  /** True once every client has a seq at or past `target`; false when `timeoutMs` pass first. */
  async allReached(target: number, timeoutMs: number): Promise<boolean> {
    const reached = this.logs.filter((log) => log.maxSeq >= target).length;
    if (reached === this.logs.length) return true;
    let timer: NodeJS.Timeout | undefined;
    const done = await new Promise<boolean>((resolve) => {
      this.waiter = { target, reached, resolve: () => resolve(true) };
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    clearTimeout(timer);
    this.waiter = null;
    return done;
  }

  /** Disconnects every client. */
  close(): void {
    for (const socket of this.sockets) {
      socket.removeAllListeners();
      socket.disconnect();
    }
  }
}
