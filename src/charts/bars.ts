// Accuracy by hardness as a grouped bar chart, written as SVG by hand rather
// than through Vega: this is the chart every sql-eval step draws, and loading
// and running Vega for it cost about 0.5 s of CPU per evaluation (more than the
// rest of the step's own work on small sets), while the chart itself is a few
// dozen rectangles on a fixed 0..1 axis. The look follows the Vega-Lite charts
// of `flow plot` (same size, font, palette and layout).

import { CHART_HEIGHT, CHART_WIDTH, FONT, type Chart, withPng } from './png.js';

export interface BarPoint {
  group: string;
  hardness: string;
  /** null: the group has no value for this column (not evaluated), drawn as "n/a", never as a 0 bar. */
  value: number | null;
  /** Items behind the value (metrics.json's count), shown on the axis or the bar. */
  count?: number;
}

/**
 * A breakdown's columns in the order the step wrote them (its metrics' keys: sql-eval's easy to
 * extra then all, BIRD's simple to challenging then all); flow itself knows no level names.
 */
export function breakdownOrder(keys: Iterable<string>): string[] {
  return [...new Set(keys)];
}
/** Vega's default categorical scheme (tableau10), so these bars match the other charts' colours. */
const PALETTE = ['#4c78a8', '#f58518', '#e45756', '#72b7b2', '#54a24b', '#eeca3b', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac'];
const Y_TICKS = [0, 0.2, 0.4, 0.6, 0.8, 1];
const LEGEND_ROW = 16;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const num = (x: number) => String(Math.round(x * 100) / 100);

function text(x: number, y: number, body: string, attrs: Record<string, string | number> = {}): string {
  const a = Object.entries(attrs).map(([k, v]) => ` ${k}="${v}"`).join('');
  return `<text x="${num(x)}" y="${num(y)}"${a}>${esc(body)}</text>`;
}

/**
 * Accuracy per hardness level, one bar per group (variant or metric) side by
 * side, each labelled with its value; the item count per hardness goes under
 * the axis label (or on each bar when groups counted differently). A 0 reads
 * "0.000" over an empty bar; a missing value reads "n/a" and draws no bar.
 * Values are accuracies: the axis is 0..1, and a value outside it is clamped.
 */
export function hardnessBarsSvg(points: BarPoint[], title: string, yTitle: string): string {
  const hardness = breakdownOrder(points.map((p) => p.hardness));
  const groups = [...new Set(points.map((p) => p.group))];
  const countsOf = (h: string) => new Set(points.filter((p) => p.hardness === h && p.count !== undefined).map((p) => p.count));
  const uniform = hardness.every((h) => countsOf(h).size <= 1);
  const axisLabel = (h: string) => {
    const c = [...countsOf(h)][0];
    return uniform && c !== undefined ? `${h} (n=${c})` : h;
  };
  const labelOf = (p: BarPoint) => (p.value === null ? 'n/a' : p.value.toFixed(3)) + (!uniform && p.count !== undefined ? ` n=${p.count}` : '');
  // More than three bars per level leave no room for level text: it turns upright and smaller,
  // and the plot leaves room above a full bar for the longest (about 5 px a character at 8 px).
  const upright = groups.length > 3;
  const headroom = upright ? 4 + 5 * Math.max(...points.map((p) => labelOf(p).length)) : 14;

  const W = CHART_WIDTH;
  const H = CHART_HEIGHT;
  const left = 56;
  const right = W - 12;
  const top = 30 + headroom;
  const legendTop = H - 8 - groups.length * LEGEND_ROW;
  const bottom = legendTop - 34;
  const y = (v: number) => bottom - Math.min(1, Math.max(0, v)) * (bottom - top);

  // d3's band scale with paddingInner 0.2 and paddingOuter 0.1; a level's bars touch.
  const step = (right - left) / Math.max(1, hardness.length);
  const band = step * 0.8;
  const bandX = (i: number) => left + step * 0.1 + i * step;
  const barW = band / Math.max(1, groups.length);

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="${esc(FONT)}">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    text(W / 2, 20, title, { 'text-anchor': 'middle', 'font-size': 13, 'font-weight': 'bold', fill: '#000' }),
  ];
  // Y axis: grid, ticks, labels, title.
  for (const t of Y_TICKS) {
    const ty = num(y(t));
    out.push(`<line x1="${left}" x2="${right}" y1="${ty}" y2="${ty}" stroke="#ddd"/>`);
    out.push(`<line x1="${left - 5}" x2="${left}" y1="${ty}" y2="${ty}" stroke="#888"/>`);
    out.push(text(left - 7, y(t) + 3.5, t.toFixed(1), { 'text-anchor': 'end', 'font-size': 10, fill: '#000' }));
  }
  out.push(`<line x1="${left}" x2="${left}" y1="${num(top)}" y2="${num(bottom)}" stroke="#888"/>`);
  out.push(`<text transform="translate(18,${num((top + bottom) / 2)}) rotate(-90)" text-anchor="middle" font-size="11" font-weight="bold" fill="#000">${esc(yTitle)}</text>`);
  // X axis: domain line, one tick and label per level.
  out.push(`<line x1="${left}" x2="${right}" y1="${num(bottom)}" y2="${num(bottom)}" stroke="#888"/>`);
  hardness.forEach((h, i) => {
    const cx = bandX(i) + band / 2;
    out.push(`<line x1="${num(cx)}" x2="${num(cx)}" y1="${num(bottom)}" y2="${num(bottom + 5)}" stroke="#888"/>`);
    out.push(text(cx, bottom + 16, axisLabel(h), { 'text-anchor': 'middle', 'font-size': 10, fill: '#000' }));
  });
  // Bars and their values.
  for (const p of points) {
    const gi = groups.indexOf(p.group);
    const x = bandX(hardness.indexOf(p.hardness)) + gi * barW;
    const barTop = y(p.value ?? 0);
    const label = labelOf(p);
    if (p.value !== null) {
      out.push(
        `<rect x="${num(x)}" y="${num(barTop)}" width="${num(barW)}" height="${num(bottom - barTop)}" fill="${PALETTE[gi % PALETTE.length]}" role="graphics-symbol" aria-roledescription="bar" aria-label="${esc(`${p.group}, ${p.hardness}: ${label}`)}"/>`,
      );
    }
    const fill = p.value === null ? '#999999' : '#333333';
    const cx = x + barW / 2;
    if (upright) out.push(`<text transform="translate(${num(cx + 3)},${num(barTop - 2)}) rotate(-90)" font-size="8" fill="${fill}">${esc(label)}</text>`);
    else out.push(text(cx, barTop - 3, label, { 'text-anchor': 'middle', 'font-size': 10, fill }));
  }
  // Legend: one row per group, below the axis.
  groups.forEach((g, i) => {
    const ly = legendTop + i * LEGEND_ROW;
    out.push(`<rect x="${left}" y="${ly}" width="10" height="10" fill="${PALETTE[i % PALETTE.length]}"/>`);
    out.push(text(left + 16, ly + 9, g, { 'font-size': 11, fill: '#000' }));
  });
  out.push('</svg>');
  return out.join('\n');
}

/** The bar chart as SVG and PNG. */
export function hardnessBars(points: BarPoint[], title: string, yTitle: string): Chart {
  return withPng(hardnessBarsSvg(points, title, yTitle));
}

/**
 * The sql-eval step's own chart: EX (and EM, when evaluated) per hardness
 * from one metrics.json ({"ex": {easy, ..., all}, "em": {...}}).
 */
export function hardnessBarsChart(metrics: object): Chart {
  const points: BarPoint[] = [];
  const counts = (metrics as Record<string, unknown>).count as Record<string, unknown> | undefined;
  for (const metric of ['ex', 'em']) {
    const m = (metrics as Record<string, unknown>)[metric];
    if (!m || typeof m !== 'object') continue;
    for (const [hardness, value] of Object.entries(m)) {
      const count = typeof counts?.[hardness] === 'number' ? (counts[hardness] as number) : undefined;
      if (typeof value === 'number' && Number.isFinite(value)) points.push({ group: metric.toUpperCase(), hardness, value, count });
      else if (value === null) points.push({ group: metric.toUpperCase(), hardness, value: null, count });
    }
  }
  if (points.length === 0) throw new Error('metrics have no ex or em accuracies by hardness to chart');
  return hardnessBars(points, 'Accuracy by hardness', 'accuracy');
}
