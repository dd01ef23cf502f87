// Dashboard entry: one PulseClient, one followed topic at a time; views redraw once per frame on events and every second for clocks.
// First: zod must know it may not eval before any schema is built.
import './no-eval.js';
import { PulseClient, type SnapshotReason, type TopicSubscription } from '#pulse/client';
import type { PulseEvent, Snapshot } from '#pulse/contracts';
import { askForToken, mayAdminister, takeToken } from './access-token.js';
import { AlertBoard, faviconUrl, pageTitle, type ActiveAlert, type SilenceInfo } from './alert-board.js';
import { AlertsView } from './alerts-view.js';
import { ConnectionBadge } from './connection-badge.js';
import { required } from './dom.js';
import { EventFeed } from './event-feed.js';
import { GatewayApi, PAGE_LIMIT } from './gateway-api.js';
import { gatewayUrls, tokenFor } from './gateways.js';
import { HistoryView } from './history-view.js';
import { InstancePanel } from './instance-panel.js';
import { InstanceTable } from './instance-table.js';
import { InstanceUptime } from './instance-uptime.js';
import { Projection } from './projection.js';
import { StatTiles } from './stat-tiles.js';
import { Throughput } from './throughput.js';
import { ThroughputChart } from './throughput-chart.js';
import { TopicPicker } from './topic-picker.js';

/** Pages of past events read after a snapshot, at most: enough for the chart's window on a busy topic. */
const MAX_BACKFILL_PAGES = 6;

const params = new URLSearchParams(location.search);
/** The token, when the gateways require one: sent on every connection and REST call. */
let token = takeToken();
const client = new PulseClient({
  urls: gatewayUrls(params.get('gateways'), location, token !== null),
  token: (gateway) => tokenFor(gateway, location.origin, token) ?? '',
});
const api = new GatewayApi(
  () => [location.origin, client.gateway],
  (base) => tokenFor(base, location.origin, token),
);
/** The token already refused: asked for a new one once, not on every reconnect attempt. */
let refusedToken: string | null | undefined;
client.onError((error) => {
  if (error.code !== 'UNAUTHORIZED') return showNotice(`The gateway refused the connection: ${error.message}`, 'warn');
  showNotice(`Sign-in needed: ${error.message}`, 'warn');
  if (refusedToken === token) return;
  refusedToken = token;
  token = askForToken(error.message) ?? token;
});

const notice = required(document, '[data-testid="notice"]');
const badge = new ConnectionBadge(required(document, '[data-testid="connection"]'));
const tiles = new StatTiles(document);
const panel = new InstancePanel(document, api);
const table = new InstanceTable(
  required<HTMLTableElement>(document, '[data-testid="instances"]'),
  (id) => void panel.open(shownTopic, id),
);
const uptime = new InstanceUptime(api, (list) => table.setUptimes(list));
const historyView = new HistoryView(document, api, (range) => setParam('range', range), params.get('range'));
const instanceCount = required(document, '[data-testid="instance-count"]');
const feed = new EventFeed(
  required<HTMLOListElement>(document, '[data-testid="feed"]'),
  required<HTMLSelectElement>(document, '#feed-filter'),
);
const throughput = new Throughput();
const chart = new ThroughputChart(required(document, '[data-testid="chart"]'));
const alertBoard = new AlertBoard();
const alertsView = new AlertsView(document, silenceForAnHour);
const favicon = required<HTMLLinkElement>(document, 'link[rel="icon"]');
/** The silences in force (read when the page may administer them): which alerts show "silenced until". */
let silences: SilenceInfo[] = [];
const picker = new TopicPicker(required<HTMLSelectElement>(document, '#topic'), api, (topic) => follow(topic));

let projection: Projection | null = null;
/** The topic of the last snapshot: what the table shows. */
let shownTopic = '';
/** The topic chosen (shown in the title even before its snapshot). */
let followed = '';
let subscription: TopicSubscription | null = null;
/** Bumped on every topic switch and snapshot: late answers of an older one are dropped. */
let generation = 0;

// ---- rendering: events mark what changed, one animation frame draws it ----

const dirty = { statistics: false, instances: false, status: false, alerts: false };
let frame = 0;

function invalidate(changed: Partial<typeof dirty>): void {
  dirty.statistics ||= changed.statistics ?? false;
  dirty.instances ||= changed.instances ?? false;
  dirty.status ||= changed.status ?? false;
  dirty.alerts ||= changed.alerts ?? false;
  frame ||= requestAnimationFrame(draw);
}

function draw(): void {
  frame = 0;
  const now = Date.now();
  if (dirty.instances) {
    table.update(projection?.instances.values() ?? [], now);
    instanceCount.textContent = projection ? `${table.size} known` : '';
    uptime.refresh(table.ids(), now);
  }
  if (dirty.statistics) tiles.render(projection?.statistics ?? null, projection?.instances.size ?? 0);
  if (dirty.status) tiles.renderTick(projection?.status ?? null, now);
  if (dirty.alerts) drawAlerts(now);
  dirty.statistics = dirty.instances = dirty.status = dirty.alerts = false;
}

/** The alerts card, and the number firing in the title and the icon. */
function drawAlerts(now: number): void {
  alertsView.render(alertBoard, { topic: shownTopic, silences, admin: mayAdminister(token) }, now);
  const firing = projection ? alertBoard.firingCount : 0;
  document.title = pageTitle(followed, firing);
  const icon = faviconUrl(firing);
  if (favicon.href !== icon) favicon.href = icon;
  favicon.dataset.firing = String(firing);
}

/** Clocks, countdowns and the chart move every second, on the second. */
function everySecond(): void {
  const now = Date.now();
  table.tick(now);
  alertsView.tick(now);
  // A silence that ended takes its "silenced until" note with it.
  const inForce = silences.filter(
    (silence) => silence.cron !== undefined || silence.endsAt === undefined || silence.endsAt > now,
  );
  if (inForce.length !== silences.length) {
    silences = inForce;
    invalidate({ alerts: true });
  }
  tiles.renderTick(projection?.status ?? null, now);
  const series = throughput.series(now);
  chart.update(series);
  tiles.renderRecent(projection ? (series.attempts.at(-1) ?? 0) : null);
  setTimeout(everySecond, 1000 - (Date.now() % 1000) + 5);
}

let noticeTimer: ReturnType<typeof setTimeout> | undefined;

/** Whether the notice shown is a subscription's refusal (cleared once the topic is followed again). */
let followWarning = false;

/** A line under the top bar; `forMs` hides it after a while (for news, not for a lasting condition). */
function showNotice(text: string | null, tone: 'info' | 'warn' = 'info', forMs?: number): void {
  followWarning = false;
  clearTimeout(noticeTimer);
  notice.hidden = text === null;
  notice.dataset.tone = tone;
  notice.textContent = text ?? '';
  if (text !== null && forMs !== undefined) noticeTimer = setTimeout(() => showNotice(null), forMs);
}

// ---- the followed topic ----

function follow(topic: string): void {
  subscription?.unsubscribe();
  followed = topic;
  generation += 1;
  projection = null;
  throughput.clear();
  feed.clear();
  badge.viewers(null);
  badge.clearRecovered();
  alertBoard.reset([]);
  invalidate({ statistics: true, instances: true, status: true, alerts: true });
  showNotice(null);
  picker.choose(topic);
  document.title = pageTitle(topic, 0);
  setParam('topic', topic);

  subscription = client.subscribe(topic, {
    onSnapshot: (snapshot, reason) => onSnapshot(topic, snapshot, reason),
    onEvent: onEvent,
    onRecovered: ({ missed, gateway }) => {
      badge.recovered(missed, gateway, Date.now());
      // A refusal the client retried (UNAVAILABLE, RATE_LIMITED) has passed: its warning goes.
      if (followWarning) showNotice(null);
    },
    onPresence: (viewers) => badge.viewers(viewers),
    onError: (error) => {
      showNotice(`Cannot follow “${topic}”: ${error.message}`, 'warn');
      followWarning = true;
    },
  });
}

/** Keeps the page's state in its URL (a reload or a shared link shows the same). */
function setParam(name: string, value: string): void {
  const url = new URL(location.href);
  url.searchParams.set(name, value);
  history.replaceState(null, '', url);
}

function onSnapshot(topic: string, snapshot: Snapshot, reason: SnapshotReason): void {
  generation += 1;
  shownTopic = topic;
  historyView.follow(topic);
  uptime.follow(topic);
  projection = new Projection();
  projection.reset(snapshot);
  alertBoard.reset(snapshot.alerts);
  throughput.clear();
  feed.clear();
  invalidate({ statistics: true, instances: true, status: true, alerts: true });
  if (reason === 'initial') showNotice(null);
  else
    showNotice(
      `The missed events could not be replayed (${reason.replace('_', ' ')}): showing a fresh snapshot; the chart restarts from the log.`,
      'warn',
      20_000,
    );
  void backfill(topic, snapshot, generation);
  void loadRulesAndSilences(topic, generation);
}

/** The topic's rules (the snapshot does not carry them) and, for admins, the silences in force. */
async function loadRulesAndSilences(topic: string, gen: number): Promise<void> {
  const [rules, known] = await Promise.all([
    api.rules(topic).catch((error: unknown) => {
      console.warn(`Pulse: could not read the rules of ${topic}: ${(error as Error).message}`);
      return null;
    }),
    mayAdminister(token) ? api.silences().catch(() => []) : Promise.resolve([]),
  ]);
  if (gen !== generation) return;
  if (rules) alertBoard.setRules(rules);
  silences = known;
  invalidate({ alerts: true });
}

/** The "Silence 1 h" button: a one-off silence of that rule (and instance) on this topic, from now for an hour. */
async function silenceForAnHour(alert: ActiveAlert): Promise<void> {
  const now = Date.now();
  const matchers = {
    topic: shownTopic,
    ruleId: alert.ruleId,
    ...(alert.instanceId !== undefined ? { instanceId: alert.instanceId } : {}),
  };
  const body = {
    matchers,
    startsAt: now,
    endsAt: now + 3_600_000,
    comment: `silenced for 1 h from the dashboard (${alert.alertId})`,
  };
  silences = [...silences, { id: await api.createSilence(body), ...body }];
  showNotice(
    `Notifications for ${alert.alertId} silenced for 1 h; the alert stays on the board until it resolves.`,
    'info',
    8_000,
  );
  invalidate({ alerts: true });
}

function onEvent(event: PulseEvent): void {
  if (!projection) return;
  invalidate(projection.apply(event));
  const alertChange = alertBoard.apply(event);
  if (alertChange.alerts || alertChange.rules) invalidate({ alerts: true });
  if (event.type === 'attempt.recorded') throughput.add(event.ts, event.data.outcome === 'failure');
  feed.push(event);
  historyView.add(event);
}

/**
 * Reads the events up to the snapshot, newest pages first, until the chart's window is covered:
 * after a load the chart and the feed show the recent past, not only what arrives from now on.
 * Live events are all after the snapshot, so nothing is counted twice.
 */
async function backfill(topic: string, snapshot: Snapshot, gen: number): Promise<void> {
  const since = Date.now() - throughput.windowMs;
  const pages: PulseEvent[][] = [];
  let to = snapshot.seq;
  try {
    for (let i = 0; i < MAX_BACKFILL_PAGES && to > 0; i++) {
      const after = Math.max(0, to - PAGE_LIMIT);
      const page = await api.events(topic, after, to - after);
      if (gen !== generation) return;
      if (!page || page.epoch !== snapshot.epoch) break;
      const events = page.events.filter((event) => event.seq <= to);
      pages.unshift(events);
      if (after === 0 || (events[0]?.ts ?? 0) < since) break;
      to = after;
    }
  } catch (error) {
    console.warn(`Pulse: could not read the recent events of ${topic}: ${(error as Error).message}`);
  }
  if (gen !== generation) return;
  const history = pages.flat();
  for (const event of history) {
    if (event.type === 'attempt.recorded' && event.ts >= since)
      throughput.add(event.ts, event.data.outcome === 'failure');
  }
  feed.history(history);
  alertBoard.history(history);
  invalidate({ alerts: true });
  chart.update(throughput.series(Date.now()));
}

// ---- start ----

client.onState((state, gateway) => badge.show(state, gateway ?? client.gateway));
badge.show(client.state, client.gateway);
follow(params.get('topic')?.trim() || 'demo');
client.connect();
void picker.refresh();
everySecond();
