// A small line-chart writer: SVG by hand, no plotting dependency. Log or linear axes, one colour per series, a legend.
export interface Series {
  name: string;
  points: [number, number][];
  /** Dashed line (e.g. a ceiling or a threshold). */
  dashed?: boolean;
}

export interface Chart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  logX?: boolean;
  logY?: boolean;
  /** Fixed x range (e.g. gateway counts); otherwise the data's. */
  xDomain?: [number, number];
  /** Horizontal reference lines (e.g. a latency bound), drawn dashed in grey. */
  hLines?: { y: number; label: string }[];
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#7f7f7f'];
const W = 720;
const H = 420;
const M = { left: 70, right: 190, top: 40, bottom: 55 };

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function ticks(min: number, max: number, log: boolean): number[] {
  if (log) {
    const out: number[] = [];
    for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++)
      for (const m of [1, 2, 5]) out.push(m * 10 ** e);
    return out.filter((v) => v >= min && v <= max);
  }
  const step = 10 ** Math.floor(Math.log10((max - min) / 5 || 1));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => (max - min) / s <= 8) ?? step * 10;
  const out: number[] = [];
  for (let v = Math.ceil(min / nice) * nice; v <= max + 1e-9; v += nice) out.push(v);
  return out;
}

const label = (v: number) => (Math.abs(v) >= 1000 ? `${+(v / 1000).toFixed(1)}k` : `${+v.toPrecision(3)}`);

export function lineChart(chart: Chart): string {
  const points = chart.series
    .flatMap((s) => s.points)
    .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!chart.logX || x > 0) && (!chart.logY || y > 0));
  const xs = points.map(([x]) => x);
  const ys = points.map(([, y]) => y);
  let [x0, x1] = [Math.min(...xs, Infinity), Math.max(...xs, -Infinity)];
  let [y0, y1] = [Math.min(...ys, Infinity), Math.max(...ys, -Infinity)];
  if (!points.length) [x0, x1, y0, y1] = [1, 10, 1, 10];
  if (!chart.logY) y0 = Math.min(0, y0);
  if (!chart.logX && x0 > 0 && x0 < x1 / 3) x0 = 0;
  for (const line of chart.hLines ?? []) [y0, y1] = [Math.min(y0, line.y), Math.max(y1, line.y)];
  if (x0 === x1) [x0, x1] = [x0 * 0.9 || 0, x1 * 1.1 || 1];
  if (y0 === y1) [y0, y1] = [y0 * 0.9 || 0, y1 * 1.1 || 1];
  // Log axes span whole decades, so that they carry ticks at both ends.
  if (chart.logX) [x0, x1] = [10 ** Math.floor(Math.log10(x0)), 10 ** Math.ceil(Math.log10(x1))];
  if (chart.logY) [y0, y1] = [10 ** Math.floor(Math.log10(y0)), 10 ** Math.ceil(Math.log10(y1))];
  if (chart.xDomain) [x0, x1] = chart.xDomain;
  if (!chart.logY) y1 *= 1.05;
  const fx = (x: number) => (chart.logX ? Math.log10(x) : x);
  const fy = (y: number) => (chart.logY ? Math.log10(y) : y);
  const px = (x: number) => M.left + ((fx(x) - fx(x0)) / (fx(x1) - fx(x0))) * (W - M.left - M.right);
  const py = (y: number) => H - M.bottom - ((fy(y) - fy(y0)) / (fy(y1) - fy(y0))) * (H - M.top - M.bottom);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - M.right / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${escape(chart.title)}</text>`,
  ];
  for (const t of ticks(x0, x1, chart.logX ?? false)) {
    out.push(
      `<line x1="${px(t)}" x2="${px(t)}" y1="${M.top}" y2="${H - M.bottom}" stroke="#eee"/>`,
      `<text x="${px(t)}" y="${H - M.bottom + 16}" text-anchor="middle">${label(t)}</text>`,
    );
  }
  for (const t of ticks(y0, y1, chart.logY ?? false)) {
    out.push(
      `<line x1="${M.left}" x2="${W - M.right}" y1="${py(t)}" y2="${py(t)}" stroke="#eee"/>`,
      `<text x="${M.left - 6}" y="${py(t) + 4}" text-anchor="end">${label(t)}</text>`,
    );
  }
  out.push(
    `<rect x="${M.left}" y="${M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="none" stroke="#888"/>`,
    `<text x="${(M.left + W - M.right) / 2}" y="${H - 12}" text-anchor="middle">${escape(chart.xLabel)}</text>`,
    `<text transform="translate(16 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">${escape(chart.yLabel)}</text>`,
  );
  for (const line of chart.hLines ?? []) {
    out.push(
      `<line x1="${M.left}" x2="${W - M.right}" y1="${py(line.y).toFixed(1)}" y2="${py(line.y).toFixed(1)}" stroke="#999" stroke-dasharray="3 3"/>`,
      `<text x="${W - M.right - 4}" y="${(py(line.y) - 4).toFixed(1)}" text-anchor="end" fill="#666">${escape(line.label)}</text>`,
    );
  }
  chart.series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length]!;
    const visible = s.points.filter(([x, y]) => (!chart.logX || x > 0) && (!chart.logY || y > 0));
    if (visible.length) {
      const path = visible.map(([x, y], j) => `${j ? 'L' : 'M'}${px(x).toFixed(1)} ${py(y).toFixed(1)}`).join(' ');
      out.push(
        `<path d="${path}" fill="none" stroke="${colour}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      );
      for (const [x, y] of visible)
        out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${colour}"/>`);
    }
    const ly = M.top + 10 + i * 20;
    out.push(
      `<line x1="${W - M.right + 12}" x2="${W - M.right + 36}" y1="${ly}" y2="${ly}" stroke="${colour}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${W - M.right + 42}" y="${ly + 4}">${escape(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
