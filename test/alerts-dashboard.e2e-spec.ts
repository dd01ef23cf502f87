// Alerts in the dashboard, in a real Chromium against a real stack with auth: the card folds alert events live (firing first, then resolved), shows the rules, counts in the title and icon, and offers admins a one-hour silence.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { Silence } from '#pulse/contracts';
import { PROJECT_ROOT } from '#pulse/stack';
import { startPulse, type PulseTestStack } from '#pulse/testing';
import { launchChromium, watchPageErrors } from './support/browser.js';
import { restJson } from './support/rest.js';
import { requireBuiltDashboard } from './support/dashboard-page.js';

const TICK_MS = 500;
/** An instance silent this long turns offline, and its instance_offline alert fires. */
const INSTANCE_TTL_MS = 3000;
const ARTIFACTS = join(PROJECT_ROOT, 'test', 'artifacts');

let testStack: PulseTestStack | undefined;
let browser: Browser | undefined;
let admin = '';
let viewer = '';
const pageErrors: string[] = [];
let keepAlive: ReturnType<typeof setInterval> | undefined;
/** Instances kept alive by heartbeats; one leaves the set to go offline. */
const alive = new Set(['a', 'b', 'c']);

/** Heartbeats of every instance kept alive. */
const beats = () => [...alive].map((instanceId) => ({ type: 'instance.heartbeat' as const, data: { instanceId } }));

const topic = `alerts-ui-${Date.now().toString(36)}-${process.pid}`;

beforeAll(async () => {
  requireBuiltDashboard();
  testStack = await startPulse({
    gateways: 1,
    workers: 1,
    auth: true,
    env: { PULSE_TICK_MS: String(TICK_MS), PULSE_INSTANCE_TTL_MS: String(INSTANCE_TTL_MS), LOG_LEVEL: 'warn' },
  });
  admin = await testStack.token({ sub: 'ops', role: 'admin' });
  viewer = await testStack.token({ sub: 'eve', role: 'viewer', topics: [topic] });
  browser = await launchChromium();
  mkdirSync(ARTIFACTS, { recursive: true });
}, 60_000);

afterAll(async () => {
  clearInterval(keepAlive);
  await browser?.close();
  await testStack?.stop();
}, 60_000);

function stack(): PulseTestStack {
  if (!testStack) throw new Error('the stack did not start');
  return testStack;
}

const api = <T>(method: string, path: string, body?: unknown) =>
  restJson<T>(stack().urls[0]!, admin, method, path, body);

async function open(token: string, viewport = { width: 1280, height: 900 }): Promise<Page> {
  if (!browser) throw new Error('the browser did not start');
  const page = await browser.newPage({ viewport, colorScheme: 'light' });
  watchPageErrors(page, (text) => pageErrors.push(text));
  await page.goto(`${stack().urls[0]}/?topic=${topic}#token=${token}`);
  return page;
}

/** What the alerts card shows. */
async function card(page: Page) {
  return page.evaluate(() => {
    const root = document.querySelector<HTMLElement>('[data-testid="alerts"]')!;
    const rows = (selector: string) =>
      [...root.querySelectorAll<HTMLLIElement>(`${selector} li`)].map((li) => ({
        id: li.dataset.alertId ?? '',
        severity: li.dataset.severity ?? '',
        silenced: li.dataset.silenced === 'true',
        button: li.querySelector('[data-testid="alert-silence"]') !== null,
        text: li.textContent ?? '',
      }));
    return {
      firing: Number(root.dataset.firing),
      count: root.querySelector('[data-testid="alerts-count"]')?.textContent ?? '',
      active: rows('[data-testid="alerts-firing"]'),
      resolved: rows('[data-testid="alerts-resolved"]'),
      rules: [...root.querySelectorAll<HTMLTableRowElement>('[data-testid="rules"] tbody tr')].map(
        (tr) => tr.dataset.ruleId ?? '',
      ),
      title: document.title,
      icon: document.querySelector<HTMLLinkElement>('link[rel="icon"]')?.dataset.firing ?? '',
    };
  });
}
type Card = Awaited<ReturnType<typeof card>>;

/** Reads the card until `check` holds; on timeout, fails naming `what` and showing the last reading. */
async function until(page: Page, what: string, check: (card: Card) => boolean, timeoutMs = 20_000): Promise<Card> {
  const deadline = Date.now() + timeoutMs;
  let last = await card(page);
  while (!check(last)) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; the card shows ${JSON.stringify(last)}`);
    // The page redraws on events; 50 ms between reads is plenty.
    await new Promise((resolve) => setTimeout(resolve, 50));
    last = await card(page);
  }
  return last;
}

describe('alerts dashboard', () => {
  let page: Page;

  it('shows the rules, then each alert as it fires: critical before warning, counted in the title and the icon', async () => {
    await api('PUT', `/api/v1/topics/${topic}/rules/offline`, {
      kind: 'instance_offline',
      severity: 'critical',
      description: 'an instance stopped sending heartbeats',
    });
    await api('PUT', `/api/v1/topics/${topic}/rules/errors`, {
      kind: 'failure_rate',
      params: { windowMs: 300_000, thresholdPct: 50, minAttempts: 4 },
      severity: 'warning',
    });
    await stack().publish(topic, beats());
    keepAlive = setInterval(
      () =>
        void stack()
          .publish(topic, beats())
          .catch(() => undefined),
      700,
    );

    page = await open(admin);
    let shown = await until(page, 'the two rules and no alert', (c) => c.rules.length === 2 && c.firing === 0);
    expect(shown.rules).toEqual(['errors', 'offline']);
    expect(shown.count).toBe('all clear');
    expect(shown.title).toBe(`${topic} · Pulse`);

    // Failures first (a warning), then b falls silent (critical): the critical one goes on top.
    await stack().publish(
      topic,
      [1, 2, 3, 4, 5].map(() => ({
        type: 'attempt.recorded' as const,
        data: { instanceId: 'a', outcome: 'failure' as const },
      })),
    );
    await until(page, 'the failure rate alert', (c) => c.active.some((a) => a.id === 'errors'));
    alive.delete('b');
    shown = await until(page, 'b offline', (c) => c.firing === 2, INSTANCE_TTL_MS + 20_000);
    expect(shown.active.map((a) => [a.id, a.severity])).toEqual([
      ['offline:b', 'critical'],
      ['errors', 'warning'],
    ]);
    expect(shown.count).toBe('2 firing');
    expect(shown.title).toBe(`(2) ${topic} · Pulse`);
    expect(shown.icon).toBe('2');
    expect(shown.active.every((a) => a.button)).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'alerts.png') });
  }, 60_000);

  it('starts from the snapshot’s alerts on a reload', async () => {
    await page.reload();
    const shown = await until(page, 'the alerts after a reload', (c) => c.firing === 2);
    expect(shown.active.map((a) => a.id)).toEqual(['offline:b', 'errors']);
  }, 30_000);

  it('silences an alert for an hour from its button, and the server has the silence', async () => {
    await page.click('[data-alert-id="offline:b"] [data-testid="alert-silence"]');
    const shown = await until(
      page,
      'offline:b silenced',
      (c) => c.active.find((a) => a.id === 'offline:b')?.silenced === true,
    );
    // A silence stops notifications, not the alert.
    expect(shown.firing).toBe(2);
    expect(shown.active.find((a) => a.id === 'offline:b')?.text).toMatch(/silenced until \d\d:\d\d/);
    const silences = await api<Silence[]>('GET', '/api/v1/silences');
    const made = silences.find((s) => s.matchers.topic === topic);
    expect(made?.matchers).toEqual({ topic, ruleId: 'offline', instanceId: 'b' });
    expect(made!.endsAt! - made!.startsAt!).toBe(3_600_000);
  }, 30_000);

  it('moves a resolved alert to "recently resolved" and counts down', async () => {
    alive.add('b');
    const shown = await until(
      page,
      'offline:b resolved',
      (c) => c.firing === 1 && c.resolved.some((r) => r.id === 'offline:b'),
      20_000,
    );
    expect(shown.resolved[0]).toMatchObject({ id: 'offline:b', severity: 'critical' });
    expect(shown.title).toBe(`(1) ${topic} · Pulse`);
    expect(shown.icon).toBe('1');
    await page.screenshot({ path: join(ARTIFACTS, 'alerts-resolved.png') });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.locator('[data-testid="alerts"]').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(ARTIFACTS, 'alerts-phone.png') });
    await page.close();
  }, 40_000);

  it('shows a viewer the alerts and the rules, without the silence button', async () => {
    const viewerPage = await open(viewer, { width: 390, height: 844 });
    const shown = await until(viewerPage, 'the alerts for a viewer', (c) => c.firing === 1 && c.rules.length === 2);
    expect(shown.active.map((a) => [a.id, a.button])).toEqual([['errors', false]]);
    await viewerPage.close();
    expect(pageErrors).toEqual([]);
  }, 30_000);
});
