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
  value: number;
}

/** Accuracy per hardness level, one bar per group (variant or metric) side by side. */
export function hardnessBarsSpec(points: BarPoint[], title: string, yTitle: string): TopLevelSpec {
  const hardness = [...HARDNESS.filter((h) => points.some((p) => p.hardness === h))];
  for (const p of points) if (!hardness.includes(p.hardness)) hardness.push(p.hardness);
  const groups = [...new Set(points.map((p) => p.group))];
  return {
    title,
    data: { values: points },
    mark: { type: 'bar', tooltip: true },
    encoding: {
      x: { field: 'hardness', type: 'nominal', sort: hardness, title: null, axis: { labelAngle: 0 } },
      xOffset: { field: 'group', type: 'nominal', sort: groups },
      y: { field: 'value', type: 'quantitative', title: yTitle, scale: { domain: [0, 1] } },
      color: { field: 'group', type: 'nominal', sort: groups, title: null, legend: { orient: 'bottom', direction: 'vertical', labelLimit: 600 } },
    },
  } as TopLevelSpec;
}

/**
 * The sql-eval step's own chart: EX (and EM, when evaluated) per hardness
 * from one metrics.json ({"ex": {easy, ..., all}, "em": {...}}).
 */
export async function hardnessBarsChart(metrics: object): Promise<{ svg: string; png: Buffer }> {
  const points: BarPoint[] = [];
  for (const metric of ['ex', 'em']) {
    const m = (metrics as Record<string, unknown>)[metric];
    if (!m || typeof m !== 'object') continue;
    for (const [hardness, value] of Object.entries(m)) {
      if (typeof value === 'number' && Number.isFinite(value)) points.push({ group: metric.toUpperCase(), hardness, value });
    }
  }
  if (points.length === 0) throw new Error('metrics have no ex or em accuracies by hardness to chart');
  const { svg, png } = await renderChart(hardnessBarsSpec(points, 'Accuracy by hardness', 'accuracy'));
  return { svg, png };
}
