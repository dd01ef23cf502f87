// Waits for tests, each bounded and each naming what it waited for: on what a test is told (Changes), on what it must ask (poll).
import { within } from '#pulse/stack';

/** Resolves with a promise, or rejects naming `what` once `ms` pass (from libs/stack: the bench and the libs' specs use it too). */
export { within };

/** What a wait waits for: a string, or a function asked at the deadline so the message shows the state then. */
export type What = string | (() => string);

const describe = (what: What): string => (typeof what === 'string' ? what : what());

/**
 * Waits on what a test is told. A recorder calls `changed()` after each arrival (an event, a line,
 * a state) and every `until()` re-checks its condition then. The condition reads what was recorded,
 * so an arrival before the wait began counts: nothing is lost between a trigger and its await.
 */
export class Changes {
  private readonly watchers = new Set<() => void>();

  changed(): void {
    for (const watcher of [...this.watchers]) watcher();
  }

  /** Resolves when `check` holds, re-checked on each `changed()`; fails after `timeoutMs` naming `what`. */
  async until(what: What, check: () => boolean, timeoutMs = 15_000): Promise<void> {
    if (check()) return;
    await new Promise<void>((resolve, reject) => {
      const watcher = () => {
        if (!check()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${describe(what)}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.watchers.delete(watcher);
      };
      this.watchers.add(watcher);
    });
  }
}

/** A value that ends a poll: anything but false, 0, '', null or undefined. */
export type Answer<T> = Exclude<T, false | 0 | '' | null | undefined>;

export interface PollOptions {
  /** @default 15000 */
  timeoutMs?: number;
  /** Between two asks. @default 50 */
  pauseMs?: number;
}

/**
 * Waits on what a test must ask about (HTTP, Redis, a queue, a page): asks until `ask` answers a
 * truthy value, and returns it. An ask that throws counts as "not yet" (a restarting gateway refuses
 * connections); the last error is in the timeout's message.
 */
export async function poll<T>(what: What, ask: () => T | Promise<T>, options: PollOptions = {}): Promise<Answer<T>> {
  const { timeoutMs = 15_000, pauseMs = 50 } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let failure: unknown;
    try {
      // An ask that hangs (a fetch to a frozen process) is bounded too.
      const answer = await within('an answer', Promise.resolve().then(ask), Math.max(1, deadline - Date.now()));
      if (answer) return answer as Answer<T>;
    } catch (error) {
      failure = error;
    }
    if (Date.now() >= deadline) {
      const last =
        failure === undefined
          ? ''
          : ` (the last ask failed: ${failure instanceof Error ? failure.message : JSON.stringify(failure)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${describe(what)}${last}`);
    }
    await pause(pauseMs);
  }
}

/** Lets time pass: to pace a load or let a phase of a scenario run. Never to wait for something to happen (that is `Changes` or `poll`). */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
