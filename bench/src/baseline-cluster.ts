// Starts and stops the baseline Socket.IO servers (baseline-server.js children) and feeds events to the first one.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { PulseEvent } from '#pulse/contracts';
import type { BaselineCommand, BaselineNotice } from './baseline-server.js';
import { withTimeout } from './common.js';

const ENTRY = fileURLToPath(new URL('./baseline-server.js', import.meta.url));
const READY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;

function isNotice(message: unknown): message is BaselineNotice {
  return typeof message === 'object' && message !== null && 'kind' in message && (message.kind === 'ready' || message.kind === 'failed');
}

/** One running baseline server. */
export class BaselineServer {
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
  ) {
    this.exited = child.exitCode === null ? new Promise((resolve) => child.once('exit', () => resolve())) : Promise.resolve();
  }

  static async start(redisUrl: string): Promise<BaselineServer> {
    const child = fork(ENTRY, [redisUrl], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const ready = new Promise<number>((resolve, reject) => {
      child.on('message', (message: unknown) => {
        if (!isNotice(message)) return;
        if (message.kind === 'ready') resolve(message.port);
        else reject(new Error(`baseline server failed to start: ${message.message}`));
      });
      child.once('exit', (code) => reject(new Error(`baseline server exited (code ${code}) before it was ready`)));
    });
    try {
      const port = await withTimeout(ready, READY_TIMEOUT_MS, 'a baseline server to be ready');
      return new BaselineServer(child, `http://127.0.0.1:${port}`);
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
  }

  /** Hands one event to this server, which emits it to every socket of the cluster. */
  async emit(event: PulseEvent): Promise<void> {
    const command: BaselineCommand = { kind: 'emit', event };
    await new Promise<void>((resolve, reject) => this.child.send(command, (error) => (error ? reject(error) : resolve())));
  }

  /** Kills it at once (last resort when the bench itself is exiting). */
  kill(): void {
    this.child.kill('SIGKILL');
  }

  /** Asks it to stop, kills it after a grace period, and waits for it to exit. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const command: BaselineCommand = { kind: 'stop' };
    if (this.child.connected) this.child.send(command);
    else this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }
}
