// The throughput chart (uPlot): attempts and failures per minute, sized to its card, coloured from the CSS theme.
import uPlot from 'uplot';
import type { ThroughputSeries } from './throughput.js';

export class ThroughputChart {
  private plot: uPlot | null = null;
  private data: uPlot.AlignedData = [[], [], []];

  constructor(private readonly container: HTMLElement) {
    // Resized in the next frame: resizing inside the observer's callback could re-trigger it in the same frame.
    let pending = 0;
    new ResizeObserver(() => {
      pending ||= requestAnimationFrame(() => {
        pending = 0;
        this.resize();
      });
    }).observe(container);
    // Colours come from CSS variables: rebuild when the colour scheme flips.
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => this.rebuild());
    this.rebuild();
  }

  update(series: ThroughputSeries): void {
    this.data = [series.x, series.attempts, series.failures];
    this.container.dataset.total = String(series.total);
    this.container.dataset.points = String(series.attempts.filter((value) => value > 0).length);
    this.plot?.setData(this.data);
  }

  private size(): { width: number; height: number } {
    const width = Math.max(200, Math.floor(this.container.clientWidth));
    return { width, height: width < 480 ? 180 : 230 };
  }

  private resize(): void {
    const { width, height } = this.size();
    if (this.plot && (this.plot.width !== width || this.plot.height !== height)) this.plot.setSize({ width, height });
  }

  private rebuild(): void {
    this.plot?.destroy();
    const css = getComputedStyle(this.container);
    const color = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
    const accent = color('--accent', '#6366f1');
    const bad = color('--bad', '#ef4444');
    const muted = color('--muted', '#64748b');
    const grid = color('--grid', 'rgba(100, 116, 139, 0.15)');
    const axis = { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { show: false }, font: '11px system-ui, sans-serif' };
    const options: uPlot.Options = {
      ...this.size(),
      padding: [8, 8, 0, 0],
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(4, Math.ceil(max * 1.15))] } },
      axes: [axis, { ...axis, size: 44 }],
      series: [
        {},
        { label: 'attempts/min', stroke: accent, fill: `${accent}22`, width: 2, points: { show: false } },
        { label: 'failures/min', stroke: bad, fill: `${bad}1a`, width: 1.5, points: { show: false } },
      ],
    };
    this.plot = new uPlot(options, this.data, this.container);
  }
}
