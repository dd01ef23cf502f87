// Driving the built dashboard in Chromium for the dashboard-* suites: open a page on a topic, read it until a condition holds, set up a topic over REST (auth off).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { PROJECT_ROOT } from '#pulse/stack';
import { post } from './clients.js';
import { poll } from './wait.js';

/** Fails, saying what to run, when the dashboard the gateway serves was not built. */
export function requireBuiltDashboard(): void {
  if (!existsSync(join(PROJECT_ROOT, 'apps', 'dashboard', 'dist', 'index.html'))) {
    throw new Error('apps/dashboard/dist is not built: run `npm run build` first (it runs tsc and vite build)');
  }
}

/** A fresh page (its own context) on `topic` of the gateway at `base`; `prepare` runs before the dashboard loads (routes, init scripts, a clock). */
export async function openDashboard(
  browser: Browser,
  base: string,
  topic: string,
  options: { onError: (text: string) => void; prepare?: (page: Page) => Promise<unknown> },
): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' });
  page.on('console', (message) => {
    if (message.type() === 'error') options.onError(message.text());
  });
  page.on('pageerror', (error) => options.onError(`uncaught: ${error.stack ?? error.message}`));
  await options.prepare?.(page);
  await page.goto(`${base}/?topic=${topic}`);
  return page;
}

/** Reads `read` in the page until `check` holds and returns that reading; on timeout, fails naming `what` and the last reading. */
export async function untilPage<T>(
  page: Page,
  what: string,
  read: () => T,
  check: (value: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  let last: T | undefined;
  const answer = await poll(
    () => `${what}; the page shows ${JSON.stringify(last)}`,
    async () => {
      last = await page.evaluate(read);
      return check(last) && { value: last };
    },
    // The page redraws on events and every second; 100 ms between reads is plenty.
    { timeoutMs, pauseMs: 100 },
  );
  return answer.value;
}

/** Posts ingest facts to `topic`, 500 a request; fails naming the answer unless each is 201. */
export async function postFacts(base: string, topic: string, events: object[]): Promise<void> {
  for (let i = 0; i < events.length; i += 500) {
    const answer = await post(base, topic, { events: events.slice(i, i + 500) });
    if (answer.status !== 201)
      throw new Error(`POST ${topic} answered ${answer.status} ${JSON.stringify(answer.body)}`);
  }
}

/** `method path` with a JSON body on a gateway without auth; resolves with the JSON answer, fails naming the status otherwise. */
export async function restNoAuth<T>(base: string, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status} ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}
