// Dashboard e2e: the built page in a real Chromium, served by gateway A and fed through gateway B; live updates, topic switch, a restart of A, and the tiles against the server's projection.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { Snapshot, Statistics } from '#pulse/contracts';
import { PROJECT_ROOT, PulseStack } from '#pulse/stack';
import { startPulse, type PulseTestStack } from '#pulse/testing';
import { launchChromium, watchPageErrors } from './support/browser.js';
import { attempt, heartbeat, post, RecordingClient } from './support/clients.js';
import { pause, poll } from './support/wait.js';
import { requireBuiltDashboard } from './support/dashboard-page.js';

const TICK_MS = 500;
/** Short enough that an instance that stops reporting turns offline within the test. */
const INSTANCE_TTL_MS = 4000;
const ARTIFACTS = join(PROJECT_ROOT, 'test', 'artifacts');
const STAT_KEYS: (keyof Statistics)[] = ['total_attempts', 'successful', 'failed', 'success_rate', 'active_instances'];

let stack: PulseStack | undefined;
let testStack: PulseTestStack | undefined;
let browser: Browser | undefined;
let page: Page | undefined;
const sockets: RecordingClient[] = [];

/** Everything the page reported as an error, with whether gateway A was being restarted at the time. */
const pageErrors: { text: string; duringRestart: boolean }[] = [];
let restarting = false;

const suffix = `${Date.now().toString(36)}-${process.pid}`;
const topic = `dash-${suffix}`;
const otherTopic = `dash-other-${suffix}`;
/** Attempts posted to `topic` (answered 201), to check the tiles against. */
let postedAttempts = 0;

beforeAll(async () => {
  requireBuiltDashboard();
  testStack = await startPulse({
    gateways: 2,
    workers: 1,
    env: { PULSE_TICK_MS: String(TICK_MS), PULSE_INSTANCE_TTL_MS: String(INSTANCE_TTL_MS), LOG_LEVEL: 'warn' },
  });
  stack = testStack.processes;
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' });
  watchErrors(page);
}, 60_000);

/** Records the page's console errors and uncaught exceptions for the last test. */
function watchErrors(target: Page): void {
  watchPageErrors(target, (text) => pageErrors.push({ text, duringRestart: restarting }));
}

afterAll(async () => {
  for (const socket of sockets.splice(0)) socket.close();
  await browser?.close();
  await testStack?.stop();
}, 60_000);

// ---- helpers ----

function theStack(): PulseStack {
  if (!stack) throw new Error('the stack did not start');
  return stack;
}

function thePage(): Page {
  if (!page) throw new Error('the browser did not start');
  return page;
}

/** Gateway A serves the page; B takes the posts. */
const gatewayA = () => theStack().gateways[0]!.url;
const gatewayB = () => theStack().gateways[1]!.url;

/** One ingest event, as POST /api/v1/topics/:topic/events takes it. */
type Fact = { type: string; data: object };

async function postOk(url: string, to: string, events: Fact[]): Promise<void> {
  const answer = await post(url, to, { events });
  if (answer.status !== 201)
    throw new Error(`POST ${url} ${to} answered ${answer.status} ${JSON.stringify(answer.body)}`);
  if (to === topic) postedAttempts += events.filter((event) => event.type === 'attempt.recorded').length;
}

/** What the page shows, read in one go (values from data-* attributes, not formatted text). */
async function view() {
  return thePage().evaluate(() => {
    const attr = (selector: string, name: string) => document.querySelector(selector)?.getAttribute(name) ?? null;
    const tiles: Record<string, number | null> = {};
    for (const key of ['total_attempts', 'successful', 'failed', 'success_rate', 'active_instances']) {
      const value = attr(`[data-testid="tile-${key}"]`, 'data-value');
      tiles[key] = value ? Number(value) : null;
    }
    const rows = [...document.querySelectorAll<HTMLTableRowElement>('[data-testid="instance-row"]')].map((row) => ({
      id: row.dataset.id ?? '',
      status: row.dataset.status ?? '',
      offline: row.classList.contains('offline'),
      attempts: Number(row.querySelector('[data-value]')?.getAttribute('data-value')),
      lastSeen: row.cells[2]?.textContent ?? '',
      nextAction: row.cells[3]?.textContent ?? '',
    }));
    const feed = [...document.querySelectorAll<HTMLLIElement>('[data-testid="feed"] li')].map((li) => ({
      type: li.dataset.type ?? '',
      seq: Number(li.dataset.seq),
    }));
    return {
      state: attr('[data-testid="connection"]', 'data-state'),
      gateway: document.querySelector('[data-testid="connection-gateway"]')?.textContent ?? '',
      viewers: Number(attr('[data-testid="viewers"]', 'data-value') || NaN),
      recovered: attr('[data-testid="recovered"]', 'data-missed'),
      loopCount: Number(attr('[data-testid="loop-count"]', 'data-value') || NaN),
      nextTick: document.querySelector('[data-testid="next-tick"]')?.textContent ?? '',
      tickTitle: attr('[data-testid="tick-status"]', 'title'),
      chartTotal: Number(attr('[data-testid="chart"]', 'data-total') || 0),
      chartPoints: Number(attr('[data-testid="chart"]', 'data-points') || 0),
      hasCanvas: document.querySelector('[data-testid="chart"] canvas') !== null,
      topic: document.querySelector<HTMLSelectElement>('[data-testid="topic-picker"]')?.value ?? '',
      notice: document.querySelector('[data-testid="notice"]')?.textContent ?? '',
      tiles,
      rows,
      feed,
      /** Set by the test; a reload would clear it. */
      marker: (window as unknown as { __pulseMarker?: string }).__pulseMarker ?? null,
    };
  });
}
type View = Awaited<ReturnType<typeof view>>;

/** Reads the page until `check` holds; on timeout, fails naming `what` and showing the last view. */
async function until(what: string, check: (view: View) => boolean, timeoutMs = 10_000): Promise<View> {
  let last: View | undefined;
  const shows = () => {
    if (!last) return 'nothing yet';
    const { feed, ...rest } = last;
    return JSON.stringify({ ...rest, feed: feed.slice(0, 5) }, null, 1);
  };
  // The page re-renders on events and every second; 50 ms between reads is plenty.
  return poll(
    () => `${what}; the page shows ${shows()}`,
    async () => {
      last = await view();
      return check(last) && last;
    },
    { timeoutMs, pauseMs: 50 },
  );
}

async function snapshot(url: string, of: string): Promise<Snapshot> {
  const response = await fetch(`${url}/api/v1/topics/${of}/snapshot`);
  if (!response.ok) throw new Error(`GET snapshot of ${of} answered ${response.status}`);
  return (await response.json()) as Snapshot;
}

const tilesOf = (statistics: Statistics) => Object.fromEntries(STAT_KEYS.map((key) => [key, statistics[key]]));

/** Posts attempts through `url` until stopped; for traffic that keeps coming during a restart. */
function keepPosting(url: string) {
  let stopped = false;
  let round = 0;
  const done = (async () => {
    while (!stopped) {
      round += 1;
      await postOk(url, topic, [attempt(`i-${1 + (round % 3)}`, round % 4 === 0 ? 'failure' : 'success')]);
      await pause(40);
    }
  })();
  return {
    rounds: () => round,
    stop: async () => {
      stopped = true;
      await done;
    },
  };
}

// ---- the journey: one page, one topic, as a user would watch it ----

describe('dashboard', () => {
  it('loads from gateway A with what was posted through gateway B, then follows it live without a reload', async () => {
    const now = Date.now();
    await postOk(gatewayB(), topic, [
      { type: 'instance.heartbeat', data: { instanceId: 'i-1', status: 'working', nextActionAt: now + 45_000 } },
      { type: 'instance.heartbeat', data: { instanceId: 'i-2', status: 'idle', nextActionAt: now + 45_000 } },
      heartbeat('i-3'),
      heartbeat('i-4'),
      attempt('i-1'),
      attempt('i-1'),
      attempt('i-2', 'failure'),
      attempt('i-2'),
      attempt('i-3'),
      attempt('i-3'),
    ]);
    await postOk(gatewayB(), otherTopic, [heartbeat('o-1'), attempt('o-1', 'failure')]);

    await thePage().goto(`${gatewayA()}/?topic=${topic}`);
    let shown = await until(
      'the page to be live with the 6 attempts',
      (v) => v.state === 'live' && v.tiles.total_attempts === 6,
    );
    expect(shown.gateway).toBe(new URL(gatewayA()).host);
    expect(shown.topic).toBe(topic);
    expect(shown.tiles).toEqual({
      total_attempts: 6,
      successful: 5,
      failed: 1,
      success_rate: 83.33,
      active_instances: 4,
    });
    expect(shown.rows.map((row) => row.id)).toEqual(['i-1', 'i-2', 'i-3', 'i-4']);
    expect(shown.rows.map((row) => row.attempts)).toEqual([2, 2, 2, 0]);
    expect(shown.rows[0]).toMatchObject({ status: 'working', offline: false });
    expect(shown.rows[0]!.lastSeen).toMatch(/^(just now|\d+ s ago)$/);
    expect(shown.rows[0]!.nextAction).toMatch(/^in \d+ s$/);
    // The chart and the feed are filled from the log (backfill), not only from what arrives next.
    shown = await until(
      'the backfilled chart and feed',
      (v) => v.chartTotal === 6 && v.chartPoints > 0 && v.feed.some((item) => item.type === 'attempt.recorded'),
    );
    expect(shown.hasCanvas).toBe(true);
    expect(shown.feed.filter((item) => item.type === 'attempt.recorded')).toHaveLength(6);
    expect(shown.feed.map((item) => item.seq)).toEqual([...shown.feed.map((item) => item.seq)].sort((a, b) => b - a));
    shown = await until('the monitor loop count', (v) => v.loopCount > 0);
    expect(shown.nextTick).toMatch(/^next tick (due now|in \d+ s)$/);
    expect(shown.tickTitle).toBe('The monitor loop ticks every 500 ms');
    const loop = shown.loopCount;

    await thePage().evaluate(() => {
      (window as unknown as { __pulseMarker?: string }).__pulseMarker = 'same page';
    });
    await postOk(gatewayB(), topic, [
      attempt('i-1'),
      attempt('i-1', 'failure'),
      attempt('i-1'),
      attempt('i-4'),
      attempt('i-1', 'failure'),
    ]);
    shown = await until('the tiles to count 11 attempts', (v) => v.tiles.total_attempts === 11);
    expect(shown.tiles).toMatchObject({ total_attempts: 11, successful: 8, failed: 3, success_rate: 72.73 });
    shown = await until(
      'the table, chart, feed and loop to move',
      (v) => v.rows[0]?.attempts === 6 && v.chartTotal === 11 && v.loopCount > loop,
    );
    expect(shown.rows.find((row) => row.id === 'i-4')?.attempts).toBe(1);
    expect(shown.feed.filter((item) => item.type === 'attempt.recorded')).toHaveLength(11);
    expect(shown.marker).toBe('same page');
  });

  it('sorts the table by a clicked header and filters the feed by type', async () => {
    await thePage().click('th[data-key="attempts"] button');
    let shown = await until('rows sorted by attempts, most first', (v) => v.rows[0]?.id === 'i-1');
    expect(shown.rows.map((row) => row.attempts)).toEqual(
      [...shown.rows.map((row) => row.attempts)].sort((a, b) => b - a),
    );
    await thePage().click('th[data-key="id"] button');
    await until('rows sorted by id again', (v) => v.rows.map((row) => row.id).join() === 'i-1,i-2,i-3,i-4');

    await thePage().selectOption('[data-testid="feed-filter"]', 'statistics_update');
    await until(
      'a feed of statistics_update only',
      (v) => v.feed.length > 0 && v.feed.every((item) => item.type === 'statistics_update'),
    );
    await thePage().selectOption('[data-testid="feed-filter"]', '');
    shown = await until('the whole feed again', (v) => new Set(v.feed.map((item) => item.type)).size > 2);
    expect(shown.feed.length).toBeLessThanOrEqual(100);
  });

  it('greys out an instance that went offline', async () => {
    // i-4 reported once and stopped: the tick marks it offline after the TTL.
    const shown = await until(
      'i-4 offline',
      (v) => v.rows.find((row) => row.id === 'i-4')?.offline === true,
      INSTANCE_TTL_MS + 5000,
    );
    expect(shown.rows.find((row) => row.id === 'i-4')?.status).toBe('offline');
    expect(
      await thePage().$eval('tr[data-id="i-4"] td', (cell) => Number(getComputedStyle(cell).opacity)),
    ).toBeLessThan(1);
  });

  it('counts viewers on every gateway', async () => {
    await until('one viewer', (v) => v.viewers === 1);
    const other = new RecordingClient(gatewayB(), { batch: true });
    sockets.push(other);
    await other.connected();
    const ack = await other.subscribe({ topic, batch: true });
    expect(ack.ok).toBe(true);
    await until('two viewers (one on gateway B)', (v) => v.viewers === 2);
    other.close();
    await until('one viewer again', (v) => v.viewers === 1);
  });

  it('switches topics from the picker, and back', async () => {
    await thePage().selectOption('[data-testid="topic-picker"]', otherTopic);
    let shown = await until(
      `${otherTopic} on screen`,
      (v) => v.state === 'live' && v.tiles.total_attempts === 1 && v.rows.length === 1,
    );
    expect(shown.tiles).toMatchObject({ successful: 0, failed: 1 });
    expect(shown.rows[0]?.id).toBe('o-1');
    expect(new URL(thePage().url()).searchParams.get('topic')).toBe(otherTopic);
    await thePage().selectOption('[data-testid="topic-picker"]', topic);
    shown = await until(
      `${topic} on screen again`,
      (v) =>
        v.state === 'live' &&
        v.tiles.total_attempts === postedAttempts &&
        v.rows.length === 4 &&
        v.chartTotal === postedAttempts,
    );
    expect(shown.marker).toBe('same page');
  });

  it('shows recovering while gateway A restarts, then live with the missed events recovered', async () => {
    const stackA = theStack().gateways[0]!;
    const port = Number(new URL(stackA.url).port);
    const traffic = keepPosting(gatewayB());
    try {
      await until('traffic flowing', (v) => (v.tiles.total_attempts ?? -1) >= postedAttempts && traffic.rounds() >= 3);
      restarting = true;
      const recovering = thePage().waitForSelector('[data-testid="connection"][data-state="recovering"]', {
        timeout: 15_000,
      });
      recovering.catch(() => undefined); // awaited below; no unhandled rejection if stop() fails first
      await stackA.stop();
      await recovering;
      const roundsWhileDown = traffic.rounds();
      await theStack().addGateway(port);
      const shown = await until(
        'live again with recovered events',
        (v) => v.state === 'live' && v.recovered !== null,
        20_000,
      );
      restarting = false;
      expect(Number(shown.recovered)).toBeGreaterThan(0);
      expect(await thePage().textContent('[data-testid="recovered"]')).toMatch(/^recovered \d+ missed events?$/);
      expect(shown.gateway).toBe(new URL(gatewayA()).host);
      expect(traffic.rounds()).toBeGreaterThan(roundsWhileDown);
    } finally {
      restarting = false;
      await traffic.stop();
    }
    expect(thePage().url()).toContain(`topic=${topic}`);
    expect((await view()).marker).toBe('same page');
  });

  it('ends with the tiles equal to the server projection, then looks right on a desktop and a phone', async () => {
    // Nothing more is posted; ticks keep coming (and may mark instances offline): read until both agree.
    let server = await snapshot(gatewayB(), topic);
    let shown = await view();
    await poll(
      () =>
        `the tiles ${JSON.stringify(shown.tiles)} to show the projection ${JSON.stringify(tilesOf(server.statistics))}`,
      async () => {
        server = await snapshot(gatewayB(), topic);
        shown = await view();
        return JSON.stringify(shown.tiles) === JSON.stringify(tilesOf(server.statistics));
      },
      { timeoutMs: 10_000, pauseMs: 100 },
    );
    expect(shown.tiles).toEqual(tilesOf(server.statistics));
    expect(server.statistics.total_attempts).toBe(postedAttempts);
    // The chart is redrawn every second, from the same events.
    await until(`the chart to count the ${postedAttempts} attempts`, (v) => v.chartTotal === postedAttempts, 3000);

    mkdirSync(ARTIFACTS, { recursive: true });
    await thePage().screenshot({ path: join(ARTIFACTS, 'dashboard.png') });
    await thePage().setViewportSize({ width: 390, height: 844 });
    await thePage().evaluate(async () => new Promise((resolve) => requestAnimationFrame(resolve)));
    const overflow = await thePage().evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await thePage().screenshot({ path: join(ARTIFACTS, 'dashboard-phone.png'), fullPage: true });
  });

  it('logged no console error and threw nothing, apart from refused connections while gateway A was down', () => {
    const port = new URL(gatewayA()).port;
    // Chromium itself logs each refused connection attempt; the page cannot silence it: the
    // websocket's, and a REST read of the page's own gateway (the rules, silences or uptimes it
    // reads again on a timer), which the page retries.
    const refused = new RegExp(
      `^(WebSocket connection to 'ws://127\\.0\\.0\\.1:${port}/socket\\.io/\\?EIO=4&transport=websocket' failed: |Failed to load resource: net::ERR_CONNECTION_REFUSED$)`,
    );
    const unexpected = pageErrors.filter((error) => !(error.duringRestart && refused.test(error.text)));
    expect(unexpected).toEqual([]);
  });
});
