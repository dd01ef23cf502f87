// A time chart (uPlot): a few lines or bars over time, sized to its box, coloured from the CSS theme; the throughput and history charts.
import uPlot from 'uplot';

export interface LineSpec {
  label: string;
  /** A CSS variable of the theme, e.g. `--accent`. */
  color: string;
  fallback: string;
  /** Fill under the line. @default false */
  fill?: boolean;
  /** Values as bars (counts per bucket) rather than a line. @default false */
  bars?: boolean;
  /** Line width in px. @default 1.5 */
  width?: number;
}

export interface ChartSpec {
  lines: LineSpec[];
  /** Fixed y range (percentages); otherwise from 0 to a little above the largest value. */
  yRange?: [number, number];
  /** Tick labels of the y axis. */
  format?: (value: number) => string;
  /** Height for a width. @default 150 px under 480 px wide, else 170 px */
  height?: (width: number) => number;
}

export class SeriesChart {
  private plot: uPlot | null = null;
  private data: uPlot.AlignedData;

  constructor(
    private readonly container: HTMLElement,
    private readonly spec: ChartSpec,
  ) {
    this.data = [[], ...spec.lines.map(() => [])];
    // Resized in the next frame: resizing inside the observer's callback could re-trigger it in the same frame.
    let pending = 0;
    new ResizeObserver(() => {
      pending ||= requestAnimationFrame(() => {
        pending = 0;
        this.resize();
      });
    }).observe(container);
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => this.rebuild());
    this.rebuild();
  }

  /** `x`: bucket starts in ms; one array of values (null: unknown) per line. */
  update(x: number[], values: (number | null)[][]): void {
    this.data = [x.map((t) => t / 1000), ...values];
    this.plot?.setData(this.data);
  }

  private size(): { width: number; height: number } {
    const width = Math.max(160, Math.floor(this.container.clientWidth));
    return { width, height: this.spec.height?.(width) ?? (width < 480 ? 150 : 170) };
  }

  private resize(): void {
    const { width, height } = this.size();
    if (this.plot && (this.plot.width !== width || this.plot.height !== height)) this.plot.setSize({ width, height });
  }

  private rebuild(): void {
    this.plot?.destroy();
    const css = getComputedStyle(this.container);
    const color = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
    const muted = color('--muted', '#64748b');
    const grid = color('--grid', 'rgba(100, 116, 139, 0.15)');
    const axis = {
      stroke: muted,
      grid: { stroke: grid, width: 1 },
      ticks: { show: false },
      font: '11px system-ui, sans-serif',
    };
    const { yRange, format } = this.spec;
    const bars = uPlot.paths.bars?.({ size: [0.8, 12] });
    const options: uPlot.Options = {
      ...this.size(),
      padding: [8, 8, 0, 0],
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      scales: {
        x: { time: true },
        y: { range: yRange ? () => yRange : (_u, _min, max) => [0, Math.max(4, Math.ceil((max || 0) * 1.15))] },
      },
      axes: [
        axis,
        { ...axis, size: 48, ...(format ? { values: (_u: uPlot, ticks: number[]) => ticks.map(format) } : {}) },
      ],
      series: [
        {},
        ...this.spec.lines.map((line): uPlot.Series => {
          const stroke = color(line.color, line.fallback);
          return {
            label: line.label,
            stroke,
            width: line.bars ? 0 : (line.width ?? 1.5),
            // A value between gaps (one bucket with attempts, the first tick) has no line to draw: show it as a dot.
            points: {
              show: line.bars ? false : (u, i, i0, i1) => hasLoneValue(u.data[i] ?? [], i0, i1),
              size: 5,
              fill: stroke,
            },
            spanGaps: false,
            ...(line.fill || line.bars ? { fill: line.bars ? `${stroke}cc` : `${stroke}22` } : {}),
            ...(line.bars && bars ? { paths: bars } : {}),
          };
        }),
      ],
    };
    this.plot = new uPlot(options, this.data, this.container);
  }
}

/** Some value in [i0, i1] has no value on either side, so a line cannot show it. */
function hasLoneValue(values: ArrayLike<number | null | undefined>, i0: number, i1: number): boolean {
  for (let i = i0; i <= i1; i++) {
    if (values[i] == null) continue;
    if (values[i - 1] == null && values[i + 1] == null) return true;
  }
  return false;
}
