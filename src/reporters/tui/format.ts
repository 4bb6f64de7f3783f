// Pure text helpers for the TUI: durations, numbers, bars and sparklines.
// Kept free of React and chalk so frames can be reasoned about as plain text.

export { formatDuration, formatNumber } from '../format.js';

const PARTIAL = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/** Progress bar of exactly `width` cells, with eighth-cell resolution. */
export function progressBar(fraction: number, width: number): string {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const eighths = Math.round(f * width * 8);
  const full = Math.floor(eighths / 8);
  const part = PARTIAL[eighths % 8] ?? '';
  const filled = '█'.repeat(full) + part;
  return filled + '░'.repeat(Math.max(0, width - filled.length));
}

const SPARKS = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/** Sparkline of at most `width` cells; longer series are averaged into buckets. */
export function sparkline(values: readonly number[], width: number): string {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0 || width <= 0) return '';
  const points = finite.length <= width ? finite : bucketAverage(finite, width);
  const min = Math.min(...points);
  const max = Math.max(...points);
  const span = max - min;
  return points
    .map((v) => SPARKS[span === 0 ? 3 : Math.round(((v - min) / span) * (SPARKS.length - 1))])
    .join('');
}

function bucketAverage(values: readonly number[], buckets: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < buckets; b++) {
    const from = Math.floor((b * values.length) / buckets);
    const to = Math.max(from + 1, Math.floor(((b + 1) * values.length) / buckets));
    let sum = 0;
    for (let i = from; i < to; i++) sum += values[i]!;
    out.push(sum / (to - from));
  }
  return out;
}

/** Pad or cut plain text to exactly `width` cells (ids and labels are ASCII in practice). */
export function fit(text: string, width: number): string {
  if (width <= 0) return '';
  if (text.length > width) return width === 1 ? '…' : text.slice(0, width - 1) + '…';
  return text.padEnd(width);
}

/**
 * Make a child's output line safe to place in a fixed layout: keep what a terminal
 * would show after the last carriage return (tqdm-style redraws), expand tabs, and
 * drop escape sequences and control characters that would move the cursor.
 */
export function sanitizeLogLine(line: string): string {
  const lastCr = line.lastIndexOf('\r', line.length - 2);
  const visible = lastCr >= 0 ? line.slice(lastCr + 1) : line;
  return visible
    .replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '')
    .replace(/\x1b\][^\x07\x1b]*(\x07|\x1b\\)?/g, '')
    .replace(/\t/g, '    ')
    .replace(/[\x00-\x1f\x7f]/g, '');
}
