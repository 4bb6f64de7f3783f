// Charts as Vega-Lite specs, rendered headless by Vega to SVG and rasterised
// by resvg to PNG. Text in the PNG needs a system font: fonts-dejavu-core on
// Debian, which the SVG also names first.

import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { type TopLevelSpec, compile } from 'vega-lite';

export interface Chart {
  svg: string;
  png: Buffer;
  /** PNG size in pixels. */
  width: number;
  height: number;
}

/** Chart size in CSS pixels; autosize 'fit' makes the whole view (axes, legend) exactly this. */
export const CHART_WIDTH = 640;
export const CHART_HEIGHT = 360;
/** PNGs are drawn at twice the SVG size so they stay sharp on high-density screens. */
export const PNG_SCALE = 2;

const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';
/** Where resvg finds glyphs: without any system font, PNG text silently comes out blank. */
export const PNG_FONTS = { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' };
const HARDNESS = ['easy', 'medium', 'hard', 'extra', 'all'];

export async function renderChart(spec: TopLevelSpec): Promise<Chart> {
  const full = {
    width: CHART_WIDTH,
    height: CHART_HEIGHT,
    autosize: { type: 'fit', contains: 'padding' },
    background: 'white',
    config: { font: FONT },
    ...spec,
  } as TopLevelSpec;
  const view = new vega.View(vega.parse(compile(full).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    const image = new Resvg(svg, { fitTo: { mode: 'zoom', value: PNG_SCALE }, font: PNG_FONTS }).render();
    return { svg, png: image.asPng(), width: image.width, height: image.height };
  } finally {
    view.finalize();
  }
}

export interface LossPoint {
  series: string;
  step: number;
  loss: number;
}

/** Training loss against step, one line per variant. */
export function lossCurvesSpec(points: LossPoint[], title = 'Training loss'): TopLevelSpec {
  return {
    title,
    data: { values: points },
    mark: { type: 'line', point: points.length <= 60 },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step' },
      y: { field: 'loss', type: 'quantitative', title: 'loss', scale: { zero: false } },
      color: { field: 'series', type: 'nominal', sort: [...new Set(points.map((p) => p.series))], title: null, legend: { orient: 'bottom', direction: 'vertical', labelLimit: 600 } },
    },
  } as TopLevelSpec;
}

export interface BarPoint {
  group: string;
  hardness: string;
  /** null: the group has no value for this column (not evaluated), drawn as "n/a", never as a 0 bar. */
  value: number | null;
  /** Items behind the value (metrics.json's count), shown on the axis or the bar. */
  count?: number;
}

/**
 * Accuracy per hardness level, one bar per group (variant or metric) side by
 * side, each labelled with its value; the item count per hardness goes under
 * the axis label (or on each bar when groups counted differently). A 0 reads
 * "0.000" over an empty bar; a missing value reads "n/a" and draws no bar.
 */
export function hardnessBarsSpec(points: BarPoint[], title: string, yTitle: string): TopLevelSpec {
  const hardness = [...HARDNESS.filter((h) => points.some((p) => p.hardness === h))];
  for (const p of points) if (!hardness.includes(p.hardness)) hardness.push(p.hardness);
  const groups = [...new Set(points.map((p) => p.group))];
  const countsOf = (h: string) => new Set(points.filter((p) => p.hardness === h && p.count !== undefined).map((p) => p.count));
  const uniform = hardness.every((h) => countsOf(h).size <= 1);
  const axisLabel = (h: string) => {
    const c = [...countsOf(h)][0];
    return uniform && c !== undefined ? `${h} (n=${c})` : h;
  };
  const values = points.map((p) => ({
    ...p,
    axis: axisLabel(p.hardness),
    bar: p.value ?? 0,
    text:
      (p.value === null ? 'n/a' : p.value.toFixed(3)) + (!uniform && p.count !== undefined ? ` n=${p.count}` : ''),
  }));
  const x = { field: 'axis', type: 'nominal', sort: hardness.map(axisLabel), title: null, axis: { labelAngle: 0 } };
  const xOffset = { field: 'group', type: 'nominal', sort: groups };
  return {
    title,
    data: { values },
    encoding: { x, xOffset },
    layer: [
      {
        transform: [{ filter: 'datum.value !== null' }],
        mark: { type: 'bar', tooltip: true },
        encoding: {
          y: { field: 'bar', type: 'quantitative', title: yTitle, scale: { domain: [0, 1] } },
          color: { field: 'group', type: 'nominal', sort: groups, title: null, legend: { orient: 'bottom', direction: 'vertical', labelLimit: 600 } },
        },
      },
      {
        mark: { type: 'text', baseline: 'bottom', dy: -2, fontSize: groups.length > 3 ? 8 : 10, angle: groups.length > 3 ? 270 : 0, align: groups.length > 3 ? 'left' : 'center' },
        encoding: {
          y: { field: 'bar', type: 'quantitative' },
          text: { field: 'text' },
          color: { condition: { test: 'datum.value === null', value: '#999999' }, value: '#333333' },
        },
      },
    ],
  } as unknown as TopLevelSpec;
}

/**
 * The sql-eval step's own chart: EX (and EM, when evaluated) per hardness
 * from one metrics.json ({"ex": {easy, ..., all}, "em": {...}}).
 */
export async function hardnessBarsChart(metrics: object): Promise<{ svg: string; png: Buffer }> {
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
  const { svg, png } = await renderChart(hardnessBarsSpec(points, 'Accuracy by hardness', 'accuracy'));
  return { svg, png };
}
