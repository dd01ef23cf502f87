// A bench child process (baseline server, ws ceiling, producer): started with the memory hook, talked to over IPC by request id.
import { fork, type ChildProcess } from 'node:child_process';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { within } from '#pulse/stack';
import { errorMessage } from './common.js';
import { MEMORY_LINE } from './mem-hook.js';

const HOOK = new URL('./mem-hook.js', import.meta.url).href;
const READY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;

/** Child → parent: the first message once it serves; then one reply per request. */
export type ChildNotice =
  | { kind: 'ready'; port: number }
  | { kind: 'failed'; message: string }
  | { kind: 'reply'; id: number; result?: unknown; error?: string };
/** Parent → child. */
export type ChildRequest = { kind: 'request'; id: number; body: unknown } | { kind: 'stop' };

export interface MemoryUsage {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** Open TCP sockets of the process (clients and its own Redis connections). */
  sockets: number;
}

function isNotice(message: unknown): message is ChildNotice {
  return typeof message === 'object' && message !== null && 'kind' in message;
}

export class ChildServer {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private readonly memoryWaiters: ((usage: MemoryUsage) => void)[] = [];
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly name: string,
    readonly port: number,
  ) {
    this.exited =
      child.exitCode === null ? new Promise((resolve) => child.once('exit', () => resolve())) : Promise.resolve();
    child.on('message', (message: unknown) => {
      if (!isNotice(message) || message.kind !== 'reply') return;
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.error !== undefined) waiter?.reject(new Error(`${name}: ${message.error}`));
      else waiter?.resolve(message.result);
    });
    child.once('exit', (code, signal) => {
      for (const waiter of this.pending.values())
        waiter.reject(new Error(`${name} exited (code ${code}, signal ${signal})`));
      this.pending.clear();
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith(MEMORY_LINE))
        this.memoryWaiters.shift()?.(JSON.parse(line.slice(MEMORY_LINE.length)) as MemoryUsage);
      else process.stderr.write(`[${name}] ${line}\n`);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Forks `entry` (a file next to this one in dist) with `args`, and resolves once it says it is ready. */
  static async start(entry: string, name: string, args: string[]): Promise<ChildServer> {
    const child = fork(fileURLToPath(new URL(entry, import.meta.url)), args, {
      execArgv: ['--import', HOOK],
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    const ready = new Promise<number>((resolve, reject) => {
      child.on('message', (message: unknown) => {
        if (!isNotice(message)) return;
        if (message.kind === 'ready') resolve(message.port);
        else if (message.kind === 'failed') reject(new Error(`${name} failed to start: ${message.message}`));
      });
      child.once('exit', (code) => reject(new Error(`${name} exited (code ${code}) before it was ready`)));
    });
    try {
      return new ChildServer(child, name, await within(`${name} to be ready`, ready, READY_TIMEOUT_MS));
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Sends a request; resolves with the child's reply. */
  async request<T>(body: unknown, timeoutMs: number): Promise<T> {
    const id = this.nextId++;
    const reply = new Promise<unknown>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    const message: ChildRequest = { kind: 'request', id, body };
    this.child.send(message);
    return (await within(`${this.name} to answer`, reply, timeoutMs)) as T;
  }

  /** Memory after a full GC (through the memory hook). */
  async memory(): Promise<MemoryUsage> {
    const usage = new Promise<MemoryUsage>((resolve) => this.memoryWaiters.push(resolve));
    this.child.kill('SIGWINCH');
    return within(`${this.name} to report its memory`, usage, 10_000);
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const message: ChildRequest = { kind: 'stop' };
    if (this.child.connected) this.child.send(message);
    else this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }
}

/** The child side: answers requests with `handle`, stops on request or when the parent goes away. */
export function serveParent(handle: (body: unknown) => Promise<unknown>, stop: () => Promise<void>): void {
  // The parent is gone (maybe with Redis): exit at once, nothing else would stop this process.
  process.on('disconnect', () => process.exit(0));
  if (!process.connected) process.exit(0);
  process.on('message', (message: ChildRequest) => {
    if (message.kind === 'stop') {
      void stop().finally(() => process.exit(0));
      return;
    }
    handle(message.body).then(
      (result) => process.send?.({ kind: 'reply', id: message.id, result } satisfies ChildNotice),
      (error: unknown) =>
        process.send?.({
          kind: 'reply',
          id: message.id,
          error: error instanceof Error ? error.message : String(error),
        } satisfies ChildNotice),
    );
  });
}

export function notifyParent(notice: ChildNotice): void {
  process.send?.(notice);
}

/**
 * The child side's start: runs `start`, then tells the parent that the child is ready, on the port
 * `start` answers (0 when it serves no HTTP), or that it failed, and exits.
 */
export function runChild(start: () => Promise<number>): void {
  start().then(
    (port) => notifyParent({ kind: 'ready', port }),
    (error: unknown) => {
      notifyParent({ kind: 'failed', message: errorMessage(error) });
      process.exit(1);
    },
  );
}

/** Listens on a random loopback port; answers the port. */
export async function listenOnLoopback(http: Server): Promise<number> {
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return (http.address() as AddressInfo).port;
}
