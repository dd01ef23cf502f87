// The dashboard over time, in the background and at fleet scale, in a real Chromium against a real stack: the uptime column moves with the clock, the title counts alerts in a hidden tab, one changed instance redraws one row, and the alerts card lists a bounded number of alerts.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import { startPulse, type PulseTestStack } from '#pulse/testing';
import { launchChromium } from './support/browser.js';
import { attempt, heartbeat } from './support/clients.js';
import { openDashboard, postFacts, restNoAuth, untilPage, requireBuiltDashboard } from './support/dashboard-page.js';

const TICK_MS = 500;
/** An instance silent this long turns offline (and its instance_offline alert fires). */
const INSTANCE_TTL_MS = 3000;

let testStack: PulseTestStack | undefined;
let browser: Browser | undefined;
const pageErrors: string[] = [];
const suffix = `${Date.now().toString(36)}-${process.pid}`;

beforeAll(async () => {
  requireBuiltDashboard();
  testStack = await startPulse({
    gateways: 1,
    workers: 1,
    env: { PULSE_TICK_MS: String(TICK_MS), PULSE_INSTANCE_TTL_MS: String(INSTANCE_TTL_MS), LOG_LEVEL: 'warn' },
  });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await testStack?.stop();
}, 60_000);

function base(): string {
  if (!testStack) throw new Error('the stack did not start');
  return testStack.urls[0]!;
}

const postOk = (topic: string, events: object[]) => postFacts(base(), topic, events);
const putRule = (topic: string, ruleId: string, rule: object) =>
  restNoAuth(base(), 'PUT', `/api/v1/topics/${topic}/rules/${ruleId}`, rule);
const until = untilPage;

/** A fresh page on `topic`, its errors collected; `prepare` runs before the dashboard loads. */
function open(topic: string, prepare?: (page: Page) => Promise<unknown>): Promise<Page> {
  if (!browser) throw new Error('the browser did not start');
  return openDashboard(browser, base(), topic, { onError: (text) => pageErrors.push(text), prepare });
}

const rowsOf = () =>
  [...document.querySelectorAll<HTMLTableRowElement>('[data-testid="instance-row"]')].map((tr) => ({
    id: tr.dataset.id ?? '',
    status: tr.dataset.status ?? '',
    attempts: Number(tr.querySelector('[data-value]')?.getAttribute('data-value')),
    uptime: tr.querySelector<HTMLElement>('td.uptime')?.dataset.uptime ?? null,
  }));

describe('dashboard over time and at scale', () => {
  it('reads the uptime column again once a minute from its clock, with no instance changing', async () => {
    const topic = `uptime-${suffix}`;
    await postOk(topic, [heartbeat('a'), heartbeat('b')]);
    let rewrite = false;
    const reads: string[] = [];
    const page = await open(topic, async (target) => {
      // The page's clock runs as the real one, and the test can move it on a minute.
      await target.clock.install();
      await target.route('**/api/v1/topics/*/uptime?*', async (route) => {
        reads.push(route.request().url());
        const response = await route.fetch();
        const list = (await response.json()) as { instances: { id: string; uptime: number | null }[] };
        // After the minute, a value the server cannot have computed: the column must show it.
        if (rewrite) for (const instance of list.instances) instance.uptime = 12.5;
        await route.fulfill({ response, json: list });
      });
    });
    // Both stop reporting: once offline, nothing about them changes any more.
    await until(
      page,
      'both instances offline with their uptime read',
      rowsOf,
      (rows) => rows.length === 2 && rows.every((row) => row.status === 'offline' && row.uptime !== null),
    );
    const readsBefore = reads.length;
    rewrite = true;
    await page.clock.setSystemTime(Date.now() + 61_000);
    const rows = await until(page, 'the uptime column read again a minute later', rowsOf, (shown) =>
      shown.every((row) => row.uptime === '12.5'),
    );
    expect(rows.map((row) => row.id)).toEqual(['a', 'b']);
    expect(reads.length).toBe(readsBefore + 1);
    await page.close();
  });

  it('counts a new alert in the title and the icon while the tab is hidden (no animation frames)', async () => {
    const topic = `hidden-${suffix}`;
    await postOk(topic, [heartbeat('a')]);
    const page = await open(topic, (target) =>
      // A background tab runs no requestAnimationFrame callbacks: hold them while `__hidden`.
      target.addInitScript(() => {
        const w = window as unknown as { __hidden: boolean; __held: FrameRequestCallback[]; __show: () => void };
        const realFrame = window.requestAnimationFrame.bind(window);
        w.__hidden = false;
        w.__held = [];
        window.requestAnimationFrame = (callback) => {
          if (!w.__hidden) return realFrame(callback);
          w.__held.push(callback);
          return w.__held.length;
        };
        w.__show = () => {
          w.__hidden = false;
          for (const callback of w.__held.splice(0)) realFrame(callback);
        };
      }),
    );
    const tab = () => ({
      title: document.title,
      icon: document.querySelector<HTMLLinkElement>('link[rel="icon"]')?.dataset.firing ?? '',
      card: document.querySelector<HTMLElement>('[data-testid="alerts"]')?.dataset.firing ?? '',
      live: document.querySelector('[data-testid="connection"]')?.getAttribute('data-state') === 'live',
    });
    await until(page, 'the page live with no alert', tab, (shown) => shown.live && shown.icon === '0');
    await page.evaluate(() => {
      (window as unknown as { __hidden: boolean }).__hidden = true;
    });
    await putRule(topic, 'need-five', { kind: 'instances_below', params: { min: 5 }, severity: 'critical' });
    const hidden = await until(page, 'the hidden tab to count one alert in its title', tab, (shown) =>
      shown.title.startsWith('(1) '),
    );
    expect(hidden).toMatchObject({ title: `(1) ${topic} · Pulse`, icon: '1' });
    // The card waits for a frame: proof that the tab ran none meanwhile.
    expect(hidden.card).toBe('0');
    await page.evaluate(() => (window as unknown as { __show: () => void }).__show());
    await until(page, 'the card to show the alert once the tab is shown', tab, (shown) => shown.card === '1');
    await page.close();
  });

  it('redraws only the row of the instance that changed, and re-sorts only when the sort column changed, at 2,000 instances', async () => {
    const topic = `fleet-${suffix}`;
    const ids = Array.from({ length: 2000 }, (_, i) => `host-${i}`);
    await postOk(
      topic,
      ids.map((instanceId) => ({ type: 'instance.heartbeat', data: { instanceId, meta: { region: 'eu' } } })),
    );
    const page = await open(topic, (target) =>
      // Counts every string comparison the page makes, through localeCompare or a collator.
      target.addInitScript(() => {
        const w = window as unknown as { __compares: number };
        w.__compares = 0;
        // eslint-disable-next-line @typescript-eslint/unbound-method -- called with its string below
        const localeCompare = String.prototype.localeCompare;
        String.prototype.localeCompare = function (this: string, ...args: Parameters<typeof localeCompare>) {
          w.__compares += 1;
          return localeCompare.apply(this, args);
        };
        const RealCollator = Intl.Collator;
        const Counting = function (...args: ConstructorParameters<typeof Intl.Collator>) {
          const collator = new RealCollator(...args);
          return {
            compare: (a: string, b: string) => {
              w.__compares += 1;
              return collator.compare(a, b);
            },
            resolvedOptions: () => collator.resolvedOptions(),
          };
        };
        Intl.Collator = Counting as unknown as typeof Intl.Collator;
      }),
    );
    // They all report once, then go offline together: wait until that wave has been drawn.
    const rows = await until(
      page,
      'the 2,000 rows, all offline',
      rowsOf,
      (shown) => shown.length === 2000 && shown.every((row) => row.status === 'offline'),
      60_000,
    );
    expect(rows.slice(0, 3).map((row) => row.id)).toEqual(['host-0', 'host-1', 'host-2']);
    await page.evaluate(() => {
      const w = window as unknown as { __touched: Set<string>; __compares: number };
      w.__touched = new Set();
      w.__compares = 0;
      const body = document.querySelector('[data-testid="instances"] tbody')!;
      new MutationObserver((records) => {
        for (const record of records) {
          const node = record.target instanceof Element ? record.target : record.target.parentElement;
          // Ages and countdowns move with the clock, and the uptime column is read on its own schedule, in every row.
          if (node?.closest('td.time, td.uptime')) continue;
          w.__touched.add(node?.closest<HTMLElement>('tr[data-id]')?.dataset.id ?? '(the body)');
        }
      }).observe(body, { attributes: true, childList: true, characterData: true, subtree: true });
    });
    await postOk(topic, [attempt('host-7')]);
    await until(
      page,
      'host-7 back online with one attempt',
      rowsOf,
      (shown) => shown.find((row) => row.id === 'host-7')?.attempts === 1,
    );
    const touched = () => {
      const w = window as unknown as { __touched: Set<string>; __compares: number };
      return { rows: [...w.__touched], compares: w.__compares };
    };
    // Sorted by id: an attempt cannot move a row.
    expect(await page.evaluate(touched)).toEqual({ rows: ['host-7'], compares: 0 });

    await page.click('th[data-key="attempts"] button');
    await until(page, 'host-7 first by attempts', rowsOf, (shown) => shown[0]?.id === 'host-7');
    await postOk(topic, [attempt('host-1500'), attempt('host-1500')]);
    const sorted = await until(
      page,
      'host-1500 first with two attempts',
      rowsOf,
      (shown) => shown[0]?.id === 'host-1500' && shown[0].attempts === 2,
    );
    expect(sorted.slice(0, 4).map((row) => row.id)).toEqual(['host-1500', 'host-7', 'host-0', 'host-1']);
    await page.close();
  }, 120_000);

  it('lists the first 200 firing alerts and counts the rest', async () => {
    const topic = `outage-${suffix}`;
    await putRule(topic, 'offline', { kind: 'instance_offline', params: {}, severity: 'critical' });
    await postOk(
      topic,
      Array.from({ length: 250 }, (_, i) => heartbeat(`node-${i}`)),
    );
    const page = await open(topic);
    const card = () => {
      const root = document.querySelector<HTMLElement>('[data-testid="alerts"]')!;
      const more = root.querySelector<HTMLElement>('[data-testid="alerts-more"]');
      return {
        firing: Number(root.dataset.firing),
        listed: root.querySelectorAll('[data-testid="alerts-firing"] li[data-alert-id]').length,
        more: more?.dataset.more ?? null,
        text: more?.textContent ?? '',
      };
    };
    const shown = await until(page, '250 alerts firing', card, (c) => c.firing === 250, 60_000);
    expect(shown).toEqual({
      firing: 250,
      listed: 200,
      more: '50',
      text: 'and 50 more firing (the first 200 are listed, the most severe and oldest first)',
    });
    expect(await page.title()).toBe(`(250) ${topic} · Pulse`);
    await page.close();
  });

  it('charts every attempt of the last minutes on a busy topic, past the pages of events it reads', async () => {
    const topic = `busy-${suffix}`;
    // 7,000 attempts: more than the 6 pages of 1,000 events the page reads after its snapshot.
    await postOk(topic, [
      heartbeat('a'),
      ...Array.from({ length: 7000 }, (_, i) => attempt('a', i % 10 ? 'success' : 'failure')),
    ]);
    const page = await open(topic);
    const chart = () => ({
      total: Number(document.querySelector<HTMLElement>('[data-testid="chart"]')?.dataset.total ?? 0),
      lastMinute: document.querySelector('[data-testid="tile-total_attempts"] .sub')?.textContent ?? '',
      feed: document.querySelectorAll('[data-testid="feed"] li').length,
    });
    const recent = (text: string) => Number(text.replace(/,/g, '').split(' ')[0]);
    // The minutes before the events read are known per minute, spread evenly over it: "in the last minute" is near, not exact.
    const shown = await until(
      page,
      'the chart to count the 7,000 attempts, and the tile most of them in the last minute',
      chart,
      (c) => c.total === 7000 && recent(c.lastMinute) > 6000,
      30_000,
    );
    expect(shown.feed).toBeGreaterThan(0);
    await page.close();
  });

  it('compares server times with the server clock when the browser clock is off (ahead or behind)', async () => {
    for (const skewMs of [90_000, -90_000]) {
      const topic = `skew-${skewMs > 0 ? 'ahead' : 'behind'}-${suffix}`;
      await postOk(topic, [heartbeat('a')]);
      const page = await open(topic, (target) =>
        target.addInitScript((ms) => {
          const real = Date.now.bind(Date);
          Date.now = () => real() + ms;
        }, skewMs),
      );
      const tiles = () => ({
        live: document.querySelector('[data-testid="connection"]')?.getAttribute('data-state') === 'live',
        health: document.querySelector<HTMLElement>('[data-testid="tick-status"]')?.dataset.health ?? '',
        nextTick: document.querySelector('[data-testid="next-tick"]')?.textContent ?? '',
        lastMinute: document.querySelector('[data-testid="tile-total_attempts"] .sub')?.textContent ?? '',
        chartTotal: Number(document.querySelector<HTMLElement>('[data-testid="chart"]')?.dataset.total ?? 0),
      });
      await until(page, `the page live (browser clock ${skewMs / 1000} s off)`, tiles, (t) => t.live);
      await postOk(
        topic,
        Array.from({ length: 100 }, () => attempt('a')),
      );
      const shown = await until(
        page,
        `the 100 attempts counted in the last minute (browser clock ${skewMs / 1000} s off)`,
        tiles,
        (t) => t.chartTotal === 100 && t.lastMinute === '100 in the last minute',
      );
      // The monitor loop ticks every 500 ms: the next tick is seconds away at most (a busy machine delays it), not 90 s.
      expect(shown.health).toBe('ok');
      expect(shown.nextTick).toMatch(/^next tick (due now|in [0-5] s|[0-5] s late)$/);
      await page.close();
    }
  });

  it('logged no console error and threw nothing', () => {
    expect(pageErrors).toEqual([]);
  });
});
