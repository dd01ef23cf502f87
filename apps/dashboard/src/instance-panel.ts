// The instance panel (a dialog): one instance's uptime over 24 h / 7 d / 30 d and its hourly attempts and failures.
import { required, setText } from './dom.js';
import { formatCount, formatUptime } from './format.js';
import type { InstanceHistory } from '#pulse/contracts';
import type { GatewayApi } from './gateway-api.js';
import { SeriesChart } from './series-chart.js';

const WEEK_MS = 7 * 24 * 3_600_000;
const WINDOWS = ['24h', '7d', '30d'] as const;

export class InstancePanel {
  private readonly dialog: HTMLDialogElement;
  private readonly chart: SeriesChart;
  /** The instance shown; a late answer for another one is dropped. */
  private current: { topic: string; id: string } | null = null;

  constructor(
    document: ParentNode,
    private readonly api: GatewayApi,
  ) {
    this.dialog = required<HTMLDialogElement>(document, '[data-testid="instance-panel"]');
    required(this.dialog, '[data-testid="panel-close"]').addEventListener('click', () => this.dialog.close());
    // A click on the backdrop (outside the dialog's box) closes it too.
    this.dialog.addEventListener('click', (event) => {
      if (event.target === this.dialog) this.dialog.close();
    });
    this.dialog.addEventListener('close', () => (this.current = null));
    this.chart = new SeriesChart(required(this.dialog, '[data-testid="panel-chart"]'), {
      lines: [
        { label: 'attempts', color: '--accent', fallback: '#6366f1', bars: true },
        { label: 'failures', color: '--bad', fallback: '#dc2626', bars: true },
      ],
    });
  }

  async open(topic: string, id: string): Promise<void> {
    this.current = { topic, id };
    this.dialog.dataset.id = id;
    this.dialog.dataset.loaded = 'false';
    setText(required(this.dialog, '[data-testid="panel-title"]'), id);
    this.fillStatus(null);
    for (const window of WINDOWS) this.fillUptime(window, null);
    this.chart.update([], [[], []]);
    this.note('loading…');
    if (!this.dialog.open) this.dialog.showModal();
    const now = Date.now();
    try {
      const history = await this.api.instance(topic, id, now - WEEK_MS, now);
      if (this.current?.topic !== topic || this.current.id !== id) return;
      if (!history)
        return this.note(
          `${id} is not (or no longer) an instance of ${topic}: instances offline for longer than the forget time are removed, their history stays in the topic's series.`,
        );
      this.fill(history);
    } catch (error) {
      if (this.current?.id === id) this.note(`Could not read the history of ${id}: ${(error as Error).message}`);
    }
  }

  /** The id shown while open, or null. */
  get shown(): string | null {
    return this.dialog.open ? (this.current?.id ?? null) : null;
  }

  private fill(history: InstanceHistory): void {
    this.fillStatus(history.status);
    for (const window of WINDOWS) this.fillUptime(window, history.uptime[window]);
    const points = history.series.points;
    this.chart.update(
      points.map((p) => p.t),
      [points.map((p) => p.attempts), points.map((p) => p.failures)],
    );
    const attempts = points.reduce((sum, p) => sum + p.attempts, 0);
    const failures = points.reduce((sum, p) => sum + p.failures, 0);
    setText(
      required(this.dialog, '[data-testid="panel-sum"]'),
      `${formatCount(attempts)} · ${formatCount(failures)} failed`,
    );
    Object.assign(this.dialog.dataset, { attempts: String(attempts), failures: String(failures), loaded: 'true' });
    this.note(null);
  }

  private fillStatus(status: string | null): void {
    const badge = required(this.dialog, '[data-testid="panel-status"]');
    badge.dataset.status = status ?? '';
    badge.hidden = status === null;
    setText(badge, status ?? '');
  }

  private fillUptime(window: (typeof WINDOWS)[number], percent: number | null): void {
    const cell = required(this.dialog, `[data-testid="uptime-${window}"]`);
    setText(cell, percent === null ? '–' : formatUptime(percent));
    cell.dataset.value = percent === null ? '' : String(percent);
  }

  private note(text: string | null): void {
    const note = required(this.dialog, '[data-testid="panel-note"]');
    note.hidden = text === null;
    setText(note, text ?? '');
  }
}
