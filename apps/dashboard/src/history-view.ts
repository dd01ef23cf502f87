// The History card: a range selector and four charts (attempts, success rate, duration, active instances), loaded from the series endpoint (read again until it answers) and extended live.
import type { PulseEvent } from '#pulse/contracts';
import { required, setText } from './dom.js';
import { formatCount, formatPercent } from './format.js';
import type { GatewayApi } from './gateway-api.js';
import { LiveSeries, type ChartPoint } from './live-series.js';
import { SeriesChart } from './series-chart.js';
import type { ServerClock } from './server-clock.js';
import { isRangeKey, RANGES, seriesQuery, type RangeKey } from './series-range.js';
import { nextRetryMs } from './retry.js';

const accent = { color: '--accent', fallback: '#6366f1' };
const bad = { color: '--bad', fallback: '#dc2626' };
const warn = { color: '--warn', fallback: '#d97706' };
const ok = { color: '--ok', fallback: '#16a34a' };

/** Moves the window on even when nothing happens (a new bucket starts, an old one drops out). */
const SLIDE_MS = 5_000;

export class HistoryView {
  private readonly attempts: SeriesChart;
  private readonly rate: SeriesChart;
  private readonly duration: SeriesChart;
  private readonly active: SeriesChart;
  private readonly buttons: HTMLButtonElement[];
  private readonly state: HTMLElement;
  private readonly root: HTMLElement;
  private range: RangeKey;
  private topic: string | null = null;
  private live: LiveSeries | null = null;
  /** Bumped on every reload: a late answer for an older range or topic is dropped. */
  private generation = 0;
  private frame = 0;
  /** The pause before the next read after a failed one (0: the last read did not fail). */
  private retryMs = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  constructor(
    document: ParentNode,
    private readonly api: GatewayApi,
    /** The server's time as the page estimates it: the buckets and the fallback watermark are on its clock. */
    private readonly clock: ServerClock,
    /** Called with the chosen range, to keep it in the URL. */
    private readonly onRange: (range: RangeKey) => void,
    initial: string | null,
  ) {
    this.root = required(document, '[data-testid="history"]');
    this.state = required(this.root, '[data-testid="history-state"]');
    this.range = isRangeKey(initial) ? initial : 'live';
    this.buttons = [...this.root.querySelectorAll<HTMLButtonElement>('[data-range]')];
    for (const button of this.buttons) button.addEventListener('click', () => this.choose(button.dataset.range ?? ''));
    const chart = (id: string) => required(this.root, `[data-testid="history-${id}"]`);
    this.attempts = new SeriesChart(chart('attempts'), {
      lines: [
        { label: 'attempts', ...accent, bars: true },
        { label: 'failures', ...bad, bars: true },
      ],
    });
    this.rate = new SeriesChart(chart('rate'), {
      lines: [{ label: 'success rate', ...ok, fill: true }],
      yRange: [0, 100],
      format: (v) => `${v} %`,
    });
    this.duration = new SeriesChart(chart('duration'), {
      lines: [
        { label: 'avg', ...accent },
        { label: 'max', ...warn },
      ],
      format: (v) => `${v} ms`,
    });
    this.active = new SeriesChart(chart('active'), { lines: [{ label: 'active instances', ...accent, fill: true }] });
    this.markRange();
    setInterval(() => this.invalidate(), SLIDE_MS);
  }

  /** Starts over for `topic`: on a topic switch and on every snapshot (events before it are in the series). */
  follow(topic: string): void {
    this.topic = topic;
    this.reload();
  }

  /** Every live event of the followed topic, in seq order. */
  add(event: PulseEvent): void {
    if (this.live?.add(event)) this.invalidate();
  }

  private choose(range: string): void {
    if (!isRangeKey(range) || range === this.range) return;
    this.range = range;
    this.markRange();
    this.onRange(range);
    this.reload();
  }

  private markRange(): void {
    for (const button of this.buttons) button.setAttribute('aria-pressed', String(button.dataset.range === this.range));
    this.root.dataset.range = this.range;
  }

  /** Reads the series of the range chosen, from the start (a failed read's pause is forgotten). */
  private reload(): void {
    if (this.topic === null) return;
    clearTimeout(this.retryTimer);
    this.retryMs = 0;
    this.root.dataset.loaded = 'false';
    this.show(`loading ${RANGES[this.range].label}…`);
    this.read(this.topic, ++this.generation);
  }

  /**
   * A new LiveSeries holds the events that arrive from now on, then the series is read: it
   * includes every event delivered before this point (they were appended before it), so the
   * held events at or below its watermark are dropped and only later ones are added. A failed
   * read holds nothing (the next read includes those events too) and is tried again after a
   * pause that grows from 2 s to a minute; a read that overflowed its LiveSeries is made again.
   */
  private read(topic: string, generation: number): void {
    const query = seriesQuery(this.range, this.clock.now());
    const live = new LiveSeries(query.stepMs, query.count);
    this.live = live;
    void this.api.series(topic, query.step, query.from, query.to).then(
      (page) => {
        if (generation !== this.generation) return;
        if (live.overflowed) return this.read(topic, generation);
        this.retryMs = 0;
        live.load(page ?? { topic, step: query.step, from: query.from, to: query.to, points: [] }, this.clock.now());
        this.root.dataset.watermark = page?.seq === undefined ? 'time' : String(page.seq);
        this.show(null);
        this.invalidate();
      },
      (error: Error) => {
        if (generation !== this.generation) return;
        this.live = null;
        this.retryMs = nextRetryMs(this.retryMs);
        this.show(`history unavailable: ${error.message}; retrying in ${Math.round(this.retryMs / 1000)} s`);
        this.retryTimer = setTimeout(() => {
          if (generation === this.generation) this.read(topic, generation);
        }, this.retryMs);
      },
    );
  }

  private show(text: string | null): void {
    setText(this.state, text ?? `per ${RANGES[this.range].step === '1m' ? 'minute' : 'hour'}`);
  }

  private invalidate(): void {
    this.frame ||= requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  private draw(): void {
    if (!this.live?.loaded) return;
    const points = this.live.points(this.clock.now());
    const x = points.map((p) => p.t);
    const column = (pick: (p: ChartPoint) => number | null) => points.map(pick);
    this.attempts.update(x, [column((p) => p.attempts), column((p) => p.failures)]);
    // Set once the loaded range is drawn (tests wait for it; the totals below belong to it).
    this.root.dataset.loaded = 'true';
    this.rate.update(x, [column((p) => p.success_rate)]);
    this.duration.update(x, [column((p) => p.duration_avg), column((p) => p.duration_max)]);
    this.active.update(x, [column((p) => p.active_instances)]);
    this.summarize(points);
  }

  /** Totals over the range, in the captions and as data-* for tests. */
  private summarize(points: ChartPoint[]): void {
    let attempts = 0;
    let successes = 0;
    let failures = 0;
    for (const p of points) {
      attempts += p.attempts;
      successes += p.successes;
      failures += p.failures;
    }
    const lastActive = points.findLast((p) => p.active_instances !== null)?.active_instances ?? null;
    Object.assign(this.root.dataset, {
      attempts: String(attempts),
      failures: String(failures),
      points: String(points.length),
    });
    setText(
      required(this.root, '[data-testid="history-sum-attempts"]'),
      `${formatCount(attempts)} · ${formatCount(failures)} failed`,
    );
    setText(
      required(this.root, '[data-testid="history-sum-rate"]'),
      attempts > 0 ? formatPercent(Math.round((successes * 10_000) / attempts) / 100) : '–',
    );
    setText(
      required(this.root, '[data-testid="history-sum-active"]'),
      lastActive === null ? '–' : `now ${formatCount(lastActive)}`,
    );
  }
}
