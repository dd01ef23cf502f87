// History in the dashboard, in a real Chromium: the range charts load from the series endpoint and grow live without counting an event twice; uptime column, instance panel, instance.removed.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { SeriesResponse } from '#pulse/contracts';
import { PROJECT_ROOT } from '#pulse/stack';
import { startPulse, type PulseTestStack } from '#pulse/testing';
import { launchChromium, watchPageErrors } from './support/browser.js';
import { heartbeat, post } from './support/clients.js';
import { requireBuiltDashboard } from './support/dashboard-page.js';

const TICK_MS = 500;
/** An instance silent this long turns offline… */
const INSTANCE_TTL_MS = 4000;
/** …and this long after it was last seen, it is removed. The others are kept alive by heartbeats. */
const FORGET_MS = 8000;
const ARTIFACTS = join(PROJECT_ROOT, 'test', 'artifacts');

let testStack: PulseTestStack | undefined;
let browser: Browser | undefined;
let page: Page | undefined;
const pageErrors: string[] = [];
let keepAlive: ReturnType<typeof setInterval> | undefined;

const topic = `hist-${Date.now().toString(36)}-${process.pid}`;
/** Attempts posted (answered 201), in total and per instance. */
let posted = 0;
const postedBy = new Map<string, number>();

beforeAll(async () => {
  requireBuiltDashboard();
  testStack = await startPulse({
    gateways: 1,
    workers: 1,
    env: {
      PULSE_TICK_MS: String(TICK_MS),
      PULSE_INSTANCE_TTL_MS: String(INSTANCE_TTL_MS),
      PULSE_INSTANCE_FORGET_MS: String(FORGET_MS),
      LOG_LEVEL: 'warn',
    },
  });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' });
  watchPageErrors(page, (text) => pageErrors.push(text));
  mkdirSync(ARTIFACTS, { recursive: true });
}, 60_000);

afterAll(async () => {
  clearInterval(keepAlive);
  await browser?.close();
  await testStack?.stop();
}, 60_000);

const gateway = () => {
  const url = testStack?.processes.gateways[0]?.url;
  if (!url) throw new Error('the stack did not start');
  return url;
};

function thePage(): Page {
  if (!page) throw new Error('the browser did not start');
  return page;
}

async function postOk(events: { type: string; data: object }[]): Promise<void> {
  const answer = await post(gateway(), topic, { events });
  if (answer.status !== 201) throw new Error(`POST ${topic} answered ${answer.status} ${JSON.stringify(answer.body)}`);
  for (const event of events) {
    if (event.type !== 'attempt.recorded') continue;
    const id = (event.data as { instanceId: string }).instanceId;
    posted += 1;
    postedBy.set(id, (postedBy.get(id) ?? 0) + 1);
  }
}

let round = 0;
/** An attempt with a duration; every fourth one fails. */
function timedAttempt(instanceId: string) {
  round += 1;
  return {
    type: 'attempt.recorded',
    data: { instanceId, outcome: round % 4 === 0 ? 'failure' : 'success', durationMs: 40 + ((round * 37) % 200) },
  };
}

/** What the history card, the table and the panel show (values from data-* attributes). */
async function view() {
  return thePage().evaluate(() => {
    const history = document.querySelector<HTMLElement>('[data-testid="history"]')!;
    const panel = document.querySelector<HTMLDialogElement>('[data-testid="instance-panel"]')!;
    return {
      range: history.dataset.range ?? '',
      loaded: history.dataset.loaded === 'true',
      attempts: Number(history.dataset.attempts ?? NaN),
      failures: Number(history.dataset.failures ?? NaN),
      points: Number(history.dataset.points ?? NaN),
      canvases: history.querySelectorAll('canvas').length,
      state: document.querySelector('[data-testid="history-state"]')?.textContent ?? '',
      loopCount: Number(document.querySelector('[data-testid="loop-count"]')?.getAttribute('data-value') || NaN),
      rows: [...document.querySelectorAll<HTMLTableRowElement>('[data-testid="instance-row"]')].map((row) => ({
        id: row.dataset.id ?? '',
        uptime: row.querySelector<HTMLElement>('td.uptime')?.dataset.uptime ?? null,
      })),
      feedTypes: [...document.querySelectorAll<HTMLLIElement>('[data-testid="feed"] li')].map(
        (li) => li.dataset.type ?? '',
      ),
      panel: {
        open: panel.open,
        id: panel.dataset.id ?? '',
        loaded: panel.dataset.loaded === 'true',
        attempts: Number(panel.dataset.attempts ?? NaN),
        uptime: ['24h', '7d', '30d'].map(
          (w) => panel.querySelector(`[data-testid="uptime-${w}"]`)?.getAttribute('data-value') ?? '',
        ),
      },
    };
  });
}
type View = Awaited<ReturnType<typeof view>>;

/** Reads the page until `check` holds; on timeout, fails naming `what` and showing the last view. */
async function until(what: string, check: (view: View) => boolean, timeoutMs = 15_000): Promise<View> {
  const deadline = Date.now() + timeoutMs;
  let last = await view();
  while (!check(last)) {
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}; the page shows ${JSON.stringify({ ...last, feedTypes: last.feedTypes.slice(0, 5) })}`,
      );
    // The page redraws on events; 50 ms between reads is plenty.
    await new Promise((resolve) => setTimeout(resolve, 50));
    last = await view();
  }
  return last;
}

/** The attempts the series endpoint counts over the last hour, for the page to agree with. */
async function seriesAttempts(): Promise<number> {
  const now = Date.now();
  const response = await fetch(
    `${gateway()}/api/v1/topics/${topic}/series?step=1m&from=${now - 3_600_000}&to=${now + 60_000}`,
  );
  const body = (await response.json()) as SeriesResponse;
  return body.points.reduce((sum, point) => sum + point.attempts, 0);
}

describe('history dashboard', () => {
  it('loads the range from the series, then adds live attempts once each; another range reloads it', async () => {
    await postOk([heartbeat('i-1'), heartbeat('i-2'), heartbeat('i-3'), heartbeat('gone-1')]);
    await postOk(['i-1', 'i-1', 'i-2', 'i-3', 'gone-1', 'i-2', 'i-1'].map(timedAttempt));
    // The three fleet instances stay online for the whole test; gone-1 falls silent and is forgotten.
    keepAlive = setInterval(
      () => void postOk([heartbeat('i-1'), heartbeat('i-2'), heartbeat('i-3')]).catch(() => undefined),
      700,
    );

    await thePage().goto(`${gateway()}/?topic=${topic}&range=1h`);
    let shown = await until(
      'the 1 h history to load with the 7 attempts',
      (v) => v.loaded && v.range === '1h' && v.attempts === 7,
    );
    expect(shown.points).toBe(60);
    expect(shown.canvases).toBe(4);

    // Live: each attempt is added to the current bucket once, on top of what the series counted.
    for (let i = 0; i < 5; i++) await postOk([timedAttempt('i-1'), timedAttempt('i-2'), timedAttempt('i-3')]);
    shown = await until(`the live attempts to reach ${posted}`, (v) => v.attempts === posted);
    // Two more ticks later (each brings status_update and statistics_update), still no event counted twice.
    await until('two more ticks', (v) => v.loopCount >= shown.loopCount + 2);
    shown = await view();
    expect(shown.attempts).toBe(posted);
    expect(shown.attempts).toBe(await seriesAttempts());

    await thePage().click('[data-testid="range-picker"] button[data-range="24h"]');
    shown = await until('the 24 h range to load', (v) => v.loaded && v.range === '24h' && v.attempts === posted);
    expect(shown.points).toBe(1440);
    expect(new URL(thePage().url()).searchParams.get('range')).toBe('24h');
    await postOk([timedAttempt('i-3')]);
    await until(`the 24 h range to count the new attempt (${posted})`, (v) => v.attempts === posted);
    await thePage().click('[data-testid="range-picker"] button[data-range="live"]');
    await until(
      'the live 10 min range',
      (v) => v.loaded && v.range === 'live' && v.points === 10 && v.attempts === posted,
    );
  }, 60_000);

  it('shows each instance’s 24 h uptime, and its panel on a click', async () => {
    // 100 unless a keep-alive heartbeat came later than the TTL on a loaded machine: then a little less.
    const shown = await until('an uptime for each of the fleet', (v) =>
      ['i-1', 'i-2', 'i-3'].every((id) => Number(v.rows.find((row) => row.id === id)?.uptime) > 50),
    );
    expect(shown.rows.map((row) => row.id)).toEqual(expect.arrayContaining(['i-1', 'i-2', 'i-3']));
    // Sorting by uptime puts the least available first.
    await thePage().click('th[data-key="uptime"] button');
    expect(await thePage().getAttribute('th[data-key="uptime"]', 'aria-sort')).toBe('ascending');
    const sorted = (await view()).rows.map((row) => Number(row.uptime ?? Infinity));
    expect(sorted).toEqual([...sorted].sort((a, b) => a - b));
    await thePage().screenshot({ path: join(ARTIFACTS, 'history.png'), fullPage: true });

    await thePage().click('[data-testid="instance-row"][data-id="i-1"]');
    const opened = await until('the panel of i-1', (v) => v.panel.open && v.panel.id === 'i-1' && v.panel.loaded);
    expect(opened.panel.attempts).toBe(postedBy.get('i-1'));
    // First seen minutes ago: each window starts then, so the three agree.
    const [day, week, month] = opened.panel.uptime.map(Number);
    expect(day).toBeGreaterThan(50);
    expect([week, month]).toEqual([day, day]);
    await thePage().screenshot({ path: join(ARTIFACTS, 'history-panel.png') });

    await thePage().setViewportSize({ width: 390, height: 844 });
    await thePage().screenshot({ path: join(ARTIFACTS, 'history-panel-phone.png') });
    await thePage().click('[data-testid="panel-close"]');
    await until('the panel to close', (v) => !v.panel.open);
    await thePage().screenshot({ path: join(ARTIFACTS, 'history-phone.png'), fullPage: true });
    await thePage().setViewportSize({ width: 1280, height: 900 });
  }, 60_000);

  it('drops an instance forgotten by the tick (instance.removed), and keeps its attempts in the history', async () => {
    // Ticks fill the feed quickly: show only the removals.
    await thePage().selectOption('[data-testid="feed-filter"]', 'instance.removed');
    const shown = await until(
      'gone-1 to be removed',
      (v) => !v.rows.some((row) => row.id === 'gone-1') && v.feedTypes.includes('instance.removed'),
      FORGET_MS + 15_000,
    );
    expect(shown.rows.map((row) => row.id).sort()).toEqual(['i-1', 'i-2', 'i-3']);
    expect(shown.attempts).toBe(posted);
    expect(pageErrors).toEqual([]);
  }, 60_000);
});
