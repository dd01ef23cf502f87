// A redis-server child process on a free loopback port: for `npm start` and for tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { inheritedEnv } from '#pulse/config';
import { freePort } from './free-port.js';

/** Where redis-server is on this machine, or null. */
export function findRedisServer(path = inheritedEnv().PATH ?? ''): string | null {
  const dirs = [...path.split(delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin'];
  for (const dir of dirs) {
    const candidate = join(dir, 'redis-server');
    if (dir && existsSync(candidate)) return candidate;
  }
  return null;
}

export interface RedisServerOptions {
  /** Data directory (AOF and RDB files). */
  dir: string;
  /** Keep an append-only file so that a restart keeps the logs. @default true */
  appendOnly?: boolean;
  /** A fixed port, e.g. to restart on the same one. @default a free port */
  port?: number;
  /** Extra `redis-server` arguments. */
  args?: string[];
  /**
   * Run it in a process group of its own, so that a terminal's Ctrl-C (SIGINT to the whole
   * foreground group) does not stop it before the processes that use it: whoever starts it stops
   * it, last. @default false (a test run's Ctrl-C stops it with everything else)
   */
  ownProcessGroup?: boolean;
}

/** A running redis-server child. */
export class RedisServer {
  private exited: Promise<void>;

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    private readonly output: string[],
  ) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Starts redis-server and resolves once it accepts connections. */
  static async start(options: RedisServerOptions): Promise<RedisServer> {
    const binary = findRedisServer();
    if (!binary) {
      throw new Error(
        'redis-server is not installed. Install it (Debian/Ubuntu: sudo apt-get install -y redis-server; macOS: brew install redis) or set REDIS_URL to a running Redis.',
      );
    }
    mkdirSync(options.dir, { recursive: true });
    const port = options.port ?? (await freePort());
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      options.dir,
      '--appendonly',
      options.appendOnly === false ? 'no' : 'yes',
      '--appendfsync',
      'everysec',
      '--save',
      '',
      '--maxmemory-policy',
      'noeviction',
      '--protected-mode',
      'yes',
      ...(options.args ?? []),
    ];
    const child = spawn(binary, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: options.ownProcessGroup ?? false,
    });
    const output: string[] = [];
    const server = new RedisServer(child, port, output);
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        const text = chunk.toString();
        output.push(text);
        if (text.includes('Ready to accept connections')) {
          child.stdout.off('data', onData);
          resolve();
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()));
      child.once('exit', (code) =>
        reject(
          new Error(`redis-server exited with code ${code} before it was ready:\n${output.join('').slice(-2000)}`),
        ),
      );
      child.once('error', reject);
    });
    return server;
  }

  /** Stops redis-server (SIGTERM, then SIGKILL after `graceMs`) and waits for it to exit. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Sends a signal, e.g. SIGKILL to lose everything not yet on disk, or SIGSTOP to freeze it. */
  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Resolves when the process has exited. */
  async waitExit(): Promise<void> {
    await this.exited;
  }
}
