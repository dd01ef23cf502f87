// What every bench module shares: the one clock, progress lines, bounded waits, an ordered cleanup list, the run's bound and its Pulse stack.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleepFor } from 'node:timers/promises';
import { PulseStack, within, type PulseStackOptions } from '#pulse/stack';

/** Milliseconds since 1970 with sub-ms resolution: the single clock for send and receipt times. */
function now(): number {
  return performance.timeOrigin + performance.now();
}

/** Milliseconds on the machine's monotonic clock (CLOCK_MONOTONIC): the same in every thread and process here. */
export function hrnow(): number {
  return Number(process.hrtime.bigint() / 1000n) / 1000;
}

export async function sleep(ms: number): Promise<void> {
  await sleepFor(Math.max(0, ms));
}

const benchStarted = now();

/** One progress line on stderr (stdout carries the report only), stamped with the seconds since start. */
export function progress(message: string): void {
  process.stderr.write(`[bench ${((now() - benchStarted) / 1000).toFixed(1).padStart(5)}s] ${message}\n`);
}

/** Seconds since the bench started. */
export function elapsedSeconds(): number {
  return (now() - benchStarted) / 1000;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

interface CleanupStep {
  name: string;
  stop: () => Promise<void> | void;
  /** Synchronous last resort if the process exits before `stop` ran (e.g. SIGKILL to a child). */
  kill?: () => void;
  done: boolean;
}

/** Everything the bench started, stopped in reverse order; each stop is attempted even when an earlier one fails. */
export class Cleanup {
  private readonly steps: CleanupStep[] = [];
  private running: Promise<void> | null = null;

  constructor() {
    // A crash skips the orderly stop: children and files must not outlive the bench even then.
    process.once('exit', () => this.killRemaining());
  }

  /** True once stopping began: the measurements must not go on. */
  get started(): boolean {
    return this.running !== null;
  }

  /** Throws when stopping began, so that a run being stopped does not start its next measurement. */
  checkpoint(): void {
    if (this.started) throw new Error('stopped before the end of the run');
  }

  add(name: string, stop: () => Promise<void> | void, kill?: () => void): void {
    this.steps.push({ name, stop, kill, done: false });
  }

  /** Runs every step once; later calls wait for the same run. */
  async run(): Promise<void> {
    this.running ??= this.runSteps();
    return this.running;
  }

  private async runSteps(): Promise<void> {
    for (const step of [...this.steps].reverse()) {
      try {
        await within(`stopping ${step.name}`, Promise.resolve(step.stop()), 20_000);
        step.done = true;
      } catch (error) {
        progress(`cleanup: stopping ${step.name} failed: ${errorMessage(error)}`);
      }
    }
  }

  private killRemaining(): void {
    for (const step of [...this.steps].reverse()) {
      if (step.done || !step.kill) continue;
      try {
        step.kill();
      } catch (error) {
        process.stderr.write(`cleanup at exit: ${step.name}: ${errorMessage(error)}\n`);
      }
    }
  }
}

/**
 * Bounds a run: past `budgetMs`, or on SIGINT / SIGTERM, everything `cleanup` holds is stopped and
 * the process exits (1, 130, 143). Answers the disarm, for a run that ended in time.
 */
export function boundRun(cleanup: Cleanup, budgetMs: number): () => void {
  const abort = (why: string, code: number) => {
    progress(`${why}: stopping everything this run started…`);
    void cleanup.run().finally(() => process.exit(code));
  };
  const watchdog = setTimeout(() => abort(`the run passed its time bound of ${budgetMs / 1000} s`, 1), budgetMs);
  process.once('SIGINT', () => abort('interrupted', 130));
  process.once('SIGTERM', () => abort('terminated', 143));
  return () => clearTimeout(watchdog);
}

/**
 * Starts a Pulse stack on a redis-server of its own in a new temporary folder (`pulse-<name>-…`,
 * no AOF), saying so with `what` (its processes); both go on `cleanup`: the stack is stopped (its
 * processes killed if the bench exits first) and the folder removed.
 */
export async function startStack(
  cleanup: Cleanup,
  name: string,
  what: string,
  options: Omit<PulseStackOptions, 'redisDir' | 'redisAppendOnly'>,
): Promise<PulseStack> {
  const dir = mkdtempSync(join(tmpdir(), `pulse-${name}-`));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  cleanup.add('temporary folder', removeDir, removeDir);
  progress(`starting redis-server (in ${dir}, no AOF) and ${what}…`);
  const starting = PulseStack.start({ ...options, redisDir: dir, redisAppendOnly: false });
  let started: PulseStack | null = null;
  cleanup.add(
    'Pulse stack',
    async () => (await starting.catch(() => null))?.stop(),
    () => {
      for (const child of [...(started?.workers ?? []), ...(started?.gateways ?? [])]) child.kill('SIGKILL');
      started?.redis?.signal('SIGKILL');
    },
  );
  started = await starting;
  return started;
}
