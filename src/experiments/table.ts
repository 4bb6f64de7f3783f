// Renders a table of already formatted cells as aligned plain text, a
// markdown table or CSV. By default the first column is a label (left
// aligned) and the rest are numbers (right aligned).

import { stringify } from 'csv-stringify/sync';

export type TableFormat = 'text' | 'md' | 'csv';

/** align: one letter per column, 'l' or 'r'; default 'lrrr...'. */
export function renderTable(format: TableFormat, headers: string[], rows: string[][], align?: string): string {
  if (format === 'csv') return stringify([headers, ...rows]);
  const left = (c: number) => (align ? align[c] !== 'r' : c === 0);
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const cell = (s: string, c: number) => (left(c) ? s.padEnd(widths[c]!) : s.padStart(widths[c]!));
  if (format === 'md') {
    const line = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`;
    const rule = `|${widths.map((w, c) => (left(c) ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
    return [line(headers), rule, ...rows.map(line)].join('\n') + '\n';
  }
  const line = (cells: string[]) => cells.map(cell).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}
