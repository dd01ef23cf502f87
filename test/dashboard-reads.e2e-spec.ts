// The dashboard's REST reads in a real Chromium against a real stack: a failed read of the series, the rules, the silences or the recent events is said on the page and tried again until it succeeds; silences are read again and shown when they start.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, Page, Route } from 'playwright-core';
import { startPulse, type PulseTestStack } from '#pulse/testing';
import { launchChromium } from './support/browser.js';
import { attempt, heartbeat } from './support/clients.js';
import { openDashboard, postFacts, restNoAuth, untilPage, requireBuiltDashboard } from './support/dashboard-page.js';

const TICK_MS = 500;

let testStack: PulseTestStack | undefined;
let browser: Browser | undefined;
const pageErrors: string[] = [];
const suffix = `${Date.now().toString(36)}-${process.pid}`;

beforeAll(async () => {
  requireBuiltDashboard();
  testStack = await startPulse({
    gateways: 1,
    workers: 1,
    // Instances stay online for the whole suite: no alert changes but the ones a test makes.
    env: { PULSE_TICK_MS: String(TICK_MS), PULSE_INSTANCE_TTL_MS: '600000', LOG_LEVEL: 'warn' },
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

const until = untilPage;

/** A fresh page on `topic`, its errors collected; `prepare` runs before the dashboard loads. */
function open(topic: string, prepare?: (page: Page) => Promise<unknown>): Promise<Page> {
  if (!browser) throw new Error('the browser did not start');
  return openDashboard(browser, base(), topic, { onError: (text) => pageErrors.push(text), prepare });
}

/**
 * Answers the first `failures` GETs of `pattern` with a 503, then lets them through; counts them all.
 * (Chromium logs each failed resource load as a console error: the suite's error check allows those.)
 */
async function failFirst(page: Page, pattern: string, failures: number): Promise<{ asked: () => number }> {
  let asked = 0;
  await page.route(pattern, async (route: Route) => {
    if (route.request().method() !== 'GET') return route.fallback();
    asked += 1;
    if (asked <= failures) return route.fulfill({ status: 503, json: { ok: false, code: 'UNAVAILABLE' } });
    return route.fallback();
  });
  return { asked: () => asked };
}

/** A topic with one online instance and a rule that fires at once (fewer than five active). */
async function firingTopic(topic: string): Promise<void> {
  await postFacts(base(), topic, [heartbeat('a')]);
  await restNoAuth(base(), 'PUT', `/api/v1/topics/${topic}/rules/need-five`, {
    kind: 'instances_below',
    params: { min: 5 },
    severity: 'critical',
  });
}

const alertCard = () => {
  const root = document.querySelector<HTMLElement>('[data-testid="alerts"]')!;
  const line = (id: string) => {
    const element = root.querySelector<HTMLElement>(`[data-testid="${id}"]`);
    return element && !element.hidden ? (element.textContent ?? '') : null;
  };
  return {
    alerts: [...root.querySelectorAll<HTMLLIElement>('[data-testid="alerts-firing"] li[data-alert-id]')].map((li) => ({
      id: li.dataset.alertId ?? '',
      silenced: li.dataset.silenced === 'true',
    })),
    rules: [...root.querySelectorAll<HTMLTableRowElement>('[data-testid="rules"] tbody tr')].map(
      (tr) => tr.dataset.ruleId ?? '',
    ),
    rulesError: line('rules-error'),
    noRules: line('rules-empty'),
    silencesError: line('silences-error'),
  };
};

describe('dashboard reads', () => {
  it('reads the history series again after failed reads, with a growing pause, and then charts it', async () => {
    const topic = `series-${suffix}`;
    await postFacts(base(), topic, [heartbeat('a'), attempt('a'), attempt('a'), attempt('a', 'failure')]);
    let series: { asked: () => number } | undefined;
    const page = await open(topic, async (target) => {
      series = await failFirst(target, '**/api/v1/topics/*/series?*', 2);
    });
    const history = () => {
      const root = document.querySelector<HTMLElement>('[data-testid="history"]')!;
      return {
        loaded: root.dataset.loaded ?? '',
        attempts: root.dataset.attempts ?? '',
        state: document.querySelector('[data-testid="history-state"]')?.textContent ?? '',
      };
    };
    const failed = await until(page, 'the history card to say the read failed', history, (shown) =>
      shown.state.startsWith('history unavailable'),
    );
    expect(failed.state).toMatch(/^history unavailable: .*HTTP 503; retrying in \d+ s$/);
    const shown = await until(page, 'the history charted after the retries', history, (h) => h.loaded === 'true');
    expect(shown).toMatchObject({ attempts: '3', state: 'per minute' });
    expect(series?.asked()).toBe(3);
    await page.close();
  });

  it('says in the card that the rules could not be read, and shows them once a retry reads them', async () => {
    const topic = `rules-${suffix}`;
    await firingTopic(topic);
    const page = await open(topic, (target) => failFirst(target, '**/api/v1/topics/*/rules', 2));
    const failed = await until(page, 'the card to say the rules could not be read', alertCard, (c) => !!c.rulesError);
    expect(failed.rulesError).toMatch(/^Could not read the rules \(.*HTTP 503\); retrying in \d+ s\.$/);
    // It does not claim that the topic has no rules.
    expect(failed.noRules).toBeNull();
    const shown = await until(page, 'the rules read on a retry', alertCard, (c) => c.rules.length === 1);
    expect(shown).toMatchObject({ rules: ['need-five'], rulesError: null });
    await page.close();
  });

  it('says that the recent events could not be read, and fills the chart and the feed once a retry reads them', async () => {
    const topic = `backfill-${suffix}`;
    await postFacts(base(), topic, [heartbeat('a'), ...Array.from({ length: 5 }, () => attempt('a'))]);
    const page = await open(topic, (target) => failFirst(target, '**/api/v1/topics/*/events?after=*', 1));
    const view = () => ({
      notice: document.querySelector<HTMLElement>('[data-testid="notice"]')!.hidden
        ? null
        : document.querySelector('[data-testid="notice"]')!.textContent,
      chartTotal: Number(document.querySelector<HTMLElement>('[data-testid="chart"]')?.dataset.total ?? 0),
      feedAttempts: document.querySelectorAll('[data-testid="feed"] li[data-type="attempt.recorded"]').length,
    });
    const failed = await until(page, 'the notice about the recent events', view, (v) => v.notice !== null);
    expect(failed.notice).toMatch(
      new RegExp(`^Could not read the recent events of “${topic}” \\(.*HTTP 503\\): .*retrying in \\d+ s\\.$`),
    );
    const shown = await until(page, 'the chart and the feed backfilled', view, (v) => v.chartTotal === 5);
    expect(shown).toEqual({ notice: null, chartTotal: 5, feedAttempts: 5 });
    await page.close();
  });

  it('marks an alert silenced when a silence read earlier starts, with no alert changing', async () => {
    const topic = `silence-later-${suffix}`;
    await firingTopic(topic);
    const startsAt = Date.now() + 6000;
    await restNoAuth(base(), 'POST', '/api/v1/silences', {
      matchers: { topic, ruleId: 'need-five' },
      startsAt,
      endsAt: startsAt + 3_600_000,
      comment: 'starts in 6 s',
    });
    const page = await open(topic);
    const before = await until(page, 'the alert, not silenced yet', alertCard, (c) => c.alerts.length === 1);
    expect(Date.now()).toBeLessThan(startsAt);
    expect(before.alerts).toEqual([{ id: 'need-five', silenced: false }]);
    const after = await until(page, 'the alert silenced once the silence started', alertCard, (c) =>
      c.alerts.every((alert) => alert.silenced),
    );
    expect(after.alerts).toEqual([{ id: 'need-five', silenced: true }]);
    await page.close();
  });

  it('says that the silences could not be read, retries, and reads them again every 30 s (one created elsewhere shows)', async () => {
    const topic = `silence-elsewhere-${suffix}`;
    await firingTopic(topic);
    const page = await open(topic, async (target) => {
      // The test moves the page's clock on by half a minute instead of waiting for it.
      await target.clock.install();
      await failFirst(target, '**/api/v1/silences', 1);
    });
    const failed = await until(page, 'the card to say the silences could not be read', alertCard, (c) =>
      Boolean(c.silencesError),
    );
    expect(failed.silencesError).toMatch(/^Could not read the silences \(.*HTTP 503\): .*retrying in \d+ s\.$/);
    await until(
      page,
      'the silences read on a retry, the alert not silenced',
      alertCard,
      (c) => c.silencesError === null && c.alerts.length === 1 && !c.alerts[0]!.silenced,
    );
    const now = Date.now();
    await restNoAuth(base(), 'POST', '/api/v1/silences', {
      matchers: { topic, ruleId: 'need-five' },
      startsAt: now,
      endsAt: now + 3_600_000,
      comment: 'made with the CLI',
    });
    await page.clock.setSystemTime(now + 31_000);
    const shown = await until(page, 'the alert silenced by the silence read again', alertCard, (c) =>
      c.alerts.every((alert) => alert.silenced),
    );
    expect(shown.alerts).toEqual([{ id: 'need-five', silenced: true }]);
    await page.close();
  });

  it('logged no console error and threw nothing, apart from the loads the tests failed on purpose', () => {
    const unexpected = pageErrors.filter(
      (text) => !/^Failed to load resource: the server responded with a status of 503/.test(text),
    );
    expect(unexpected).toEqual([]);
  });
});
