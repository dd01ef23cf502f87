// Dashboard entry: one PulseClient, one followed topic at a time; views redraw once per frame on events and every second for clocks; the title and icon follow the alert count at once (a background tab runs no frames).
// First: zod must know it may not eval before any schema is built.
import './no-eval.js';
import { PulseClient, type SnapshotReason, type TopicSubscription } from '#pulse/client';
import type { PulseEvent, Snapshot } from '#pulse/contracts';
import { askForToken, mayAdminister, takeToken } from './access-token.js';
import { AlertBoard, faviconUrl, pageTitle, type ActiveAlert, type SilenceInfo } from './alert-board.js';
import { AlertsView } from './alerts-view.js';
import { ConnectionBadge } from './connection-badge.js';
import { required, setText } from './dom.js';
import { EventFeed } from './event-feed.js';
import { GatewayApi, PAGE_LIMIT } from './gateway-api.js';
import { gatewayUrls, tokenFor } from './gateways.js';
import { HistoryView } from './history-view.js';
import { InstancePanel } from './instance-panel.js';
import { InstanceTable } from './instance-table.js';
import { InstanceUptime } from './instance-uptime.js';
import { Projection } from './projection.js';
import { ServerClock } from './server-clock.js';
import { StatTiles } from './stat-tiles.js';
import { Throughput } from './throughput.js';
import { ThroughputChart } from './throughput-chart.js';
import { TopicPicker } from './topic-picker.js';
import { nextRetryMs } from './retry.js';

/** Pages of past events read after a snapshot, at most: enough for the chart's window on a busy topic. */
const MAX_BACKFILL_PAGES = 6;
const MINUTE_MS = 60_000;
/** Silences are read again this often: one created elsewhere, changed or removed shows within it. */
const SILENCES_EVERY_MS = 30_000;

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

/** The server's time as estimated from live events: every server timestamp is compared with it, not with the local clock. */
const clock = new ServerClock();
const notice = required(document, '[data-testid="notice"]');
const badge = new ConnectionBadge(required(document, '[data-testid="connection"]'));
const tiles = new StatTiles(document);
const panel = new InstancePanel(document, api);
const table = new InstanceTable(
  required<HTMLTableElement>(document, '[data-testid="instances"]'),
  (id) => void panel.open(shownTopic, id),
);
const uptime = new InstanceUptime(api, (list) => table.setUptimes(list));
const historyView = new HistoryView(document, api, clock, (range) => setParam('range', range), params.get('range'));
const instanceCount = required(document, '[data-testid="instance-count"]');
const feed = new EventFeed(
  required<HTMLOListElement>(document, '[data-testid="feed"]'),
  required<HTMLSelectElement>(document, '#feed-filter'),
);
const throughput = new Throughput();
const chartElement = required(document, '[data-testid="chart"]');
const chart = new ThroughputChart(chartElement);
const alertBoard = new AlertBoard();
const alertsView = new AlertsView(document, silenceForAnHour);
const favicon = required<HTMLLinkElement>(document, 'link[rel="icon"]');
/** The silences in force (read when the page may administer them): which alerts show "silenced until". */
let silences: SilenceInfo[] = [];
/** When the silences are read next (0: at the next second), and whether a read is on its way. */
let silencesDueAt = 0;
let silencesReading = false;
/** The pause before the next read of the silences after a failed one (0: the last read did not fail). */
let silencesRetryMs = 0;
/** The (server) time of the last everySecond: a silence that started since then changes what the card shows. */
let lastSecond = clock.now();
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
  if (changed.alerts) showFiringCount();
  frame ||= requestAnimationFrame(draw);
}

function draw(): void {
  frame = 0;
  const now = clock.now();
  if (dirty.instances) {
    const added = table.update(projection?.instances ?? new Map(), now);
    setText(instanceCount, projection ? `${table.size} known` : '');
    // A new instance's uptime is read soon; the once-a-minute read is the clock's (everySecond).
    if (added) uptime.refresh(table.ids(), Date.now());
  }
  if (dirty.statistics) tiles.render(projection?.statistics ?? null, projection?.instances.size ?? 0);
  if (dirty.status) tiles.renderTick(projection?.status ?? null, now);
  if (dirty.alerts) drawAlerts(now);
  dirty.statistics = dirty.instances = dirty.status = dirty.alerts = false;
}

/** The alerts card. */
function drawAlerts(now: number): void {
  alertsView.render(alertBoard, { topic: shownTopic, silences, admin: mayAdminister(token) }, now);
}

/**
 * The number firing, in the title and the icon: set when it may have changed, not in a frame —
 * a background tab runs no animation frames, and its tab is where the count is read.
 */
function showFiringCount(): void {
  const firing = projection ? alertBoard.firingCount : 0;
  const title = pageTitle(followed, firing);
  if (document.title !== title) document.title = title;
  if (favicon.dataset.firing === String(firing)) return;
  favicon.href = faviconUrl(firing);
  favicon.dataset.firing = String(firing);
}

/** Clocks, countdowns and the chart move every second, on the second (ages and windows on the server's clock). */
function everySecond(): void {
  const local = Date.now();
  const now = clock.now(local);
  table.tick(now);
  uptime.refresh(table.ids(), local);
  alertsView.tick(now);
  // A silence that ended takes its "silenced until" note with it; one that started brings it.
  const inForce = silences.filter(
    (silence) => silence.cron !== undefined || silence.endsAt === undefined || silence.endsAt > now,
  );
  const started = inForce.some((silence) => {
    const startsAt = silence.startsAt ?? silence.createdAt ?? 0;
    return startsAt > lastSecond && startsAt <= now;
  });
  lastSecond = now;
  if (inForce.length !== silences.length || started) {
    silences = inForce;
    invalidate({ alerts: true });
  }
  if (local >= silencesDueAt) void readSilences();
  tiles.renderTick(projection?.status ?? null, now);
  const series = throughput.series(now);
  chart.update(series);
  tiles.renderRecent(projection ? (series.attempts.at(-1) ?? 0) : null);
  setTimeout(everySecond, 1000 - (Date.now() % 1000) + 5);
}

let noticeTimer: ReturnType<typeof setTimeout> | undefined;

/** Whether the notice shown is a subscription's refusal (cleared once the topic is followed again). */
let followWarning = false;
/** Whether the notice shown is a failed read of the recent events (cleared once they are read). */
let backfillWarning = false;

/** A line under the top bar; `forMs` hides it after a while (for news, not for a lasting condition). */
function showNotice(text: string | null, tone: 'info' | 'warn' = 'info', forMs?: number): void {
  followWarning = false;
  backfillWarning = false;
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
  void loadRules(topic, generation);
  void readSilences();
}

/** A pause of `ms`, as text. */
const inSeconds = (ms: number) => `${Math.round(ms / 1000)} s`;

/**
 * Calls `read` until it succeeds, pausing 2 s, then twice as long after each failure (up to a
 * minute); `failed` hears of each failure and the pause before the next try. Null once the topic
 * or snapshot `gen` is no longer the one shown (its answers are no longer wanted).
 */
async function untilRead<T>(
  gen: number,
  read: () => Promise<T>,
  failed: (error: Error, retryInMs: number) => void,
): Promise<{ value: T } | null> {
  for (let pauseMs = nextRetryMs(0); ; pauseMs = nextRetryMs(pauseMs)) {
    try {
      const value = await read();
      return gen === generation ? { value } : null;
    } catch (error) {
      if (gen !== generation) return null;
      failed(error as Error, pauseMs);
    }
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
    if (gen !== generation) return null;
  }
}

/** The topic's rules (the snapshot does not carry them); while they cannot be read, the card says so. */
async function loadRules(topic: string, gen: number): Promise<void> {
  const read = await untilRead(
    gen,
    () => api.rules(topic),
    (error, retryInMs) =>
      alertsView.problem('rules', `Could not read the rules (${error.message}); retrying in ${inSeconds(retryInMs)}.`),
  );
  if (!read) return;
  alertsView.problem('rules', null);
  alertBoard.setRules(read.value);
  invalidate({ alerts: true });
}

/**
 * For admins, the silences in force: read on every snapshot and every 30 s (one created
 * elsewhere or starting later shows); after a failure the card says so and the read is tried
 * again after a growing pause, the silences known so far kept meanwhile.
 */
async function readSilences(): Promise<void> {
  if (silencesReading) return;
  if (!mayAdminister(token)) {
    silences = [];
    silencesDueAt = Date.now() + SILENCES_EVERY_MS;
    return;
  }
  silencesReading = true;
  try {
    silences = await api.silences();
    silencesRetryMs = 0;
    silencesDueAt = Date.now() + SILENCES_EVERY_MS;
    alertsView.problem('silences', null);
  } catch (error) {
    silencesRetryMs = nextRetryMs(silencesRetryMs);
    silencesDueAt = Date.now() + silencesRetryMs;
    alertsView.problem(
      'silences',
      `Could not read the silences (${(error as Error).message}): an alert may lack its “silenced until”; retrying in ${inSeconds(silencesRetryMs)}.`,
    );
  } finally {
    silencesReading = false;
  }
  invalidate({ alerts: true });
}

/** The "Silence 1 h" button: a one-off silence of that rule (and instance) on this topic, from now for an hour. */
async function silenceForAnHour(alert: ActiveAlert): Promise<void> {
  const now = clock.now();
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
  clock.observe(event.ts);
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
 * Live events are all after the snapshot, so nothing is counted twice. While the events cannot
 * be read, the notice says so and they are read again after a growing pause.
 */
async function backfill(topic: string, snapshot: Snapshot, gen: number): Promise<void> {
  const read = await untilRead(
    gen,
    () => recentEvents(topic, snapshot, gen),
    (error, retryInMs) => {
      showNotice(
        `Could not read the recent events of “${topic}” (${error.message}): the chart and the feed start from now; retrying in ${inSeconds(retryInMs)}.`,
        'warn',
      );
      backfillWarning = true;
    },
  );
  if (!read) return;
  if (backfillWarning) showNotice(null);
  const { since, events: history, coveredFrom } = read.value;
  for (const event of history) {
    if (event.type === 'attempt.recorded' && event.ts >= since)
      throughput.add(event.ts, event.data.outcome === 'failure');
  }
  feed.history(history);
  alertBoard.history(history);
  invalidate({ alerts: true });
  chart.update(throughput.series(clock.now()));
  if (coveredFrom !== null) await seedFromSeries(topic, since, coveredFrom, gen);
}

/**
 * The start of the chart's window that the events read did not reach (a busy topic has more
 * than MAX_BACKFILL_PAGES pages in it), from the per-minute series in one request: each minute
 * adds what its bucket counted beyond the attempts the chart already has in it. Without the
 * series the chart states where its events start (`data-covered-from`).
 */
async function seedFromSeries(topic: string, since: number, coveredFrom: number, gen: number): Promise<void> {
  chartElement.dataset.coveredFrom = String(coveredFrom);
  const page = await api.series(topic, '1m', since - (since % MINUTE_MS), coveredFrom + 1).catch((error: Error) => {
    console.warn(`Pulse: could not read the series of ${topic} for the chart: ${error.message}`);
    return null;
  });
  if (gen !== generation || !page) return;
  for (const point of page.points) {
    const end = Math.min(point.t + MINUTE_MS, coveredFrom);
    if (end <= point.t) continue;
    const counted = throughput.countIn(point.t, point.t + MINUTE_MS);
    const missing = point.attempts - counted.attempts;
    if (missing > 0) throughput.seed(point.t, end, missing, Math.max(0, point.failures - counted.failures));
  }
  delete chartElement.dataset.coveredFrom;
  chart.update(throughput.series(clock.now()));
}

/**
 * The events up to the snapshot back to `since` (the chart's window), at most MAX_BACKFILL_PAGES
 * pages; `coveredFrom`: the stamp of the oldest one read when the pages ran out before `since`
 * (null when they reached it). Throws when a page cannot be read.
 */
async function recentEvents(
  topic: string,
  snapshot: Snapshot,
  gen: number,
): Promise<{ since: number; events: PulseEvent[]; coveredFrom: number | null }> {
  const since = clock.now() - throughput.windowMs;
  const pages: PulseEvent[][] = [];
  let to = snapshot.seq;
  let complete = to === 0;
  for (let i = 0; i < MAX_BACKFILL_PAGES && !complete && gen === generation; i++) {
    const after = Math.max(0, to - PAGE_LIMIT);
    const page = await api.events(topic, after, to - after);
    if (!page || page.epoch !== snapshot.epoch) break;
    const events = page.events.filter((event) => event.seq <= to);
    pages.unshift(events);
    complete = after === 0 || (events[0]?.ts ?? 0) < since;
    to = after;
  }
  const oldest = pages[0]?.[0]?.ts;
  return {
    since,
    events: pages.flat(),
    coveredFrom: !complete && oldest !== undefined && oldest > since ? oldest : null,
  };
}

// ---- start ----

client.onState((state, gateway) => badge.show(state, gateway ?? client.gateway));
badge.show(client.state, client.gateway);
follow(params.get('topic')?.trim() || 'demo');
client.connect();
void picker.refresh();
everySecond();
