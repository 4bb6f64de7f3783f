// Charts as Vega-Lite specs (loss curves), rendered headless by Vega to SVG;
// the PNG is drawn by png.ts. Bar charts are drawn by hand in bars.ts.

import * as vega from 'vega';
import { type TopLevelSpec, compile } from 'vega-lite';
import { CHART_HEIGHT, CHART_WIDTH, FONT, type Chart, withPng } from './png.js';

export async function renderChart(spec: TopLevelSpec): Promise<Chart> {
  const full = {
    width: CHART_WIDTH,
    height: CHART_HEIGHT,
    autosize: { type: 'fit', contains: 'padding' },
    background: 'white',
    config: { font: FONT },
    ...spec,
  } as TopLevelSpec;
  // autosize 'fit' makes the whole view (axes, legend) exactly CHART_WIDTH x CHART_HEIGHT.
  const view = new vega.View(vega.parse(compile(full).spec), { renderer: 'none' });
  try {
    return withPng(await view.toSVG());
  } finally {
    view.finalize();
  }
}

export interface LossPoint {
  series: string;
  step: number;
  loss: number;
}

/** Training loss against step, one line per variant (or another figure against step: yTitle). */
export function lossCurvesSpec(points: LossPoint[], title = 'Training loss', yTitle = 'loss'): TopLevelSpec {
  return {
    title,
    data: { values: points },
    mark: { type: 'line', point: points.length <= 60 },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step' },
      y: { field: 'loss', type: 'quantitative', title: yTitle, scale: { zero: false } },
      color: { field: 'series', type: 'nominal', sort: [...new Set(points.map((p) => p.series))], title: null, legend: { orient: 'bottom', direction: 'vertical', labelLimit: 600 } },
    },
  } as TopLevelSpec;
}
