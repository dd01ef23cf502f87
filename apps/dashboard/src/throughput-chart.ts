// The throughput chart: attempts and failures per minute over the last minutes, the numbers behind it in data-* for tests.
import { SeriesChart } from './series-chart.js';
import type { ThroughputSeries } from './throughput.js';

export class ThroughputChart {
  private readonly chart: SeriesChart;

  constructor(private readonly container: HTMLElement) {
    this.chart = new SeriesChart(container, {
      lines: [
        { label: 'attempts/min', color: '--accent', fallback: '#6366f1', fill: true, width: 2 },
        { label: 'failures/min', color: '--bad', fallback: '#ef4444', fill: true },
      ],
      height: (width) => (width < 480 ? 180 : 230),
    });
  }

  update(series: ThroughputSeries): void {
    this.chart.update(
      series.x.map((second) => second * 1000),
      [series.attempts, series.failures],
    );
    this.container.dataset.total = String(series.total);
    this.container.dataset.points = String(series.attempts.filter((value) => value > 0).length);
  }
}
