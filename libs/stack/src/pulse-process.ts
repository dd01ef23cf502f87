// A Pulse gateway or worker started as production starts it (node dist/…/main.js), for npm start and tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type PulseRole = 'gateway' | 'worker';

/** The project folder: the nearest one above this file with a package.json (from dist/ or from the sources). */
export const PROJECT_ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();

const ENTRY: Record<PulseRole, string> = {
  gateway: 'dist/apps/gateway/src/main.js',
  worker: 'dist/apps/worker/src/main.js',
};
const READY: Record<PulseRole, RegExp> = {
  gateway: /Pulse gateway listening on (http:\/\/\S+)/,
  worker: /Pulse worker ready/,
};

export interface PulseProcessOptions {
  role: PulseRole;
  /** The whole environment of the child (nothing is inherited implicitly). */
  env: Record<string, string | undefined>;
  /** Label in logs. @default the role */
  name?: string;
  /** Each line the child prints (stdout and stderr). */
  onLine?: (line: string) => void;
  /** How long it may take to become ready. @default 30000 */
  readyTimeoutMs?: number;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running gateway or worker child process. */
export class PulseProcess {
  /** The gateway's base URL (empty for a worker). */
  url = '';
  readonly exited: Promise<ExitStatus>;
  private readonly lines: string[] = [];

  private constructor(
    readonly child: ChildProcess,
    readonly name: string,
  ) {
    // 'close', not 'exit': only then has all its output been read (on 'exit' the last lines, such
    // as the drain's summary, may still be in the pipe).
    this.exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last `last` lines it printed (of the 500 kept), for error messages; `Infinity`: all kept. */
  output(last = 60): string {
    return this.lines.slice(-last).join('\n');
  }

  /** Starts the process and resolves once it says it is ready; rejects with its output if it exits or times out first. */
  static async start(options: PulseProcessOptions): Promise<PulseProcess> {
    const child = spawn(process.execPath, ['--enable-source-maps', ENTRY[options.role]], {
      cwd: PROJECT_ROOT,
      env: { NO_COLOR: '1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc = new PulseProcess(child, options.name ?? options.role);
    const ready = READY[options.role];
    const timeoutMs = options.readyTimeoutMs ?? 30_000;
    await new Promise<void>((resolve, reject) => {
      let done = false;
      const finish = (error?: Error) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      };
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        finish(new Error(`${proc.name} was not ready after ${timeoutMs} ms. Its output:\n${proc.output()}`));
      }, timeoutMs);
      for (const stream of [child.stdout, child.stderr]) {
        createInterface({ input: stream }).on('line', (line) => {
          proc.lines.push(line);
          if (proc.lines.length > 500) proc.lines.shift();
          options.onLine?.(line);
          const match = ready.exec(line);
          if (match) {
            proc.url = match[1] ?? '';
            finish();
          }
        });
      }
      child.once('error', (error) => finish(error));
      void proc.exited.then(({ code, signal }) =>
        finish(
          new Error(
            `${proc.name} exited (code ${code}, signal ${signal}) before it was ready. Its output:\n${proc.output()}`,
          ),
        ),
      );
    });
    return proc;
  }

  /** Asks it to stop (SIGTERM), kills it after `graceMs`, and resolves with how it exited. */
  async stop(graceMs = 10_000): Promise<ExitStatus> {
    if (this.running) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      const status = await this.exited;
      clearTimeout(timer);
      return status;
    }
    return this.exited;
  }

  /** Sends a signal as is, e.g. SIGKILL for a crash. */
  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}
