// What every chart shares: its size, its font, and the PNG drawn from its SVG
// by resvg. Text in the PNG needs a system font: fonts-dejavu-core on Debian,
// which the SVG also names first.

import { Resvg } from '@resvg/resvg-js';

export interface Chart {
  svg: string;
  png: Buffer;
  /** PNG size in pixels. */
  width: number;
  height: number;
}

/** Chart size in CSS pixels: the whole view (axes, legend) is exactly this. */
export const CHART_WIDTH = 640;
export const CHART_HEIGHT = 360;
/** PNGs are drawn at twice the SVG size so they stay sharp on high-density screens. */
export const PNG_SCALE = 2;

export const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';
/** Where resvg finds glyphs: without any system font, PNG text silently comes out blank. */
export const PNG_FONTS = { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' };

/** The chart of an SVG: the SVG itself and its PNG at PNG_SCALE. */
export function withPng(svg: string): Chart {
  const image = new Resvg(svg, { fitTo: { mode: 'zoom', value: PNG_SCALE }, font: PNG_FONTS }).render();
  return { svg, png: image.asPng(), width: image.width, height: image.height };
}
