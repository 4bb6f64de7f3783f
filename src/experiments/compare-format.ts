// The comparison's details (compare-details.ts) as text or markdown: the
// params/loss/duration table, the significance table, repeats over seeds,
// the provenance line (or the loud warning when it differs), and the
// per-item view.

import prettyMs from 'pretty-ms';
import type { CompareTable } from './compare.js';
import { type CompareDetails, type DisagreeingItem, IGNORE_PROVENANCE, shortValue } from './compare-details.js';
import { sqlCell } from './sql-cell.js';
import { renderTable } from './table.js';

type Format = 'text' | 'md';

/** Markdown cells must not break the table or carry markup; text cells are shown as they are. */
function cellFor(format: Format): (s: string) => string {
  if (format === 'text') return (s) => s.replace(/\s*\n\s*/g, ' ');
  return (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

const num = (v: number | null) => (v === null || Number.isNaN(v) ? '-' : v.toFixed(3));
const signed = (v: number) => (v === 0 ? '0.000' : `${v > 0 ? '+' : '-'}${Math.abs(v).toFixed(3)}`);
/** Four decimals (what a reader checks against another tool); tiny values in exponent form. */
const pValue = (p: number) => (p >= 1e-4 ? p.toFixed(4) : p.toExponential(1));
/**
 * A duration as every flow output writes it (pretty-ms): `45ms`, `12.3s`, `4m 5s`, `2h 3m`; the same
 * rule as the reporters' (src/reporters/format.ts), which may import only events.
 */
export function formatDuration(ms: number): string {
  return prettyMs(ms, { secondsDecimalDigits: ms < 60_000 ? 1 : 0, keepDecimalsOnWholeSeconds: true, unitCount: 2 });
}
const duration = (ms: number | null) => (ms === null ? '-' : formatDuration(ms));
const paramText = (v: unknown) => (v === undefined ? '-' : typeof v === 'string' ? v : JSON.stringify(v));

/** Comma-separated fields, a new line before a field that would pass `width` columns. */
function wrap(fields: string[], width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const f of fields) {
    const next = line ? `${line}, ${f}` : f;
    if (line && next.length > width) {
      lines.push(`${line},`);
      line = f;
    } else line = next;
  }
  return [...lines, line].join('\n');
}

function heading(format: Format, text: string): string {
  return format === 'md' ? `### ${text}\n\n` : `${text}\n`;
}

/** The loud line that says these numbers were measured differently; empty when they were not. */
export function provenanceWarning(d: CompareDetails, format: Format): string {
  if (!d.provenanceDiffers.length) return '';
  const cell = cellFor(format);
  const fields = d.provenanceDiffers.map((f) => `${f.field}: ${f.values.map(shortValue).join(' | ')}`).join('; ');
  const text = `WARNING: these numbers were measured differently (${IGNORE_PROVENANCE}), so their differences mix model and measurement: ${fields}`;
  return format === 'md' ? `> **${cell(text)}**\n\n` : `${text}\n\n`;
}

export function formatDetails(table: CompareTable, d: CompareDetails, format: Format): string {
  const cell = cellFor(format);
  const out: string[] = [];

  // As `dvc exp show`: the params that differ, the final loss and the time beside each row.
  const headers = [table.labelTitle, ...d.params, 'final loss', 'duration'];
  const rows = d.rows.map((r) => [cell(r.label), ...d.params.map((p) => cell(paramText(r.params[p]))), num(r.finalLoss), duration(r.durationMs)]);
  out.push(heading(format, 'Params that differ, final training loss, duration of the steps') + renderTable(format, headers.map(cell), rows, `l${'l'.repeat(d.params.length)}rr`));

  if (d.statsNote) out.push(`${cell(d.statsNote)}\n`);
  if (d.pairs.length) {
    const metric = table.metric.toUpperCase();
    const { resamples, seed, alpha } = d.bootstrap;
    const lines: string[][] = [];
    const notes: string[] = [];
    for (const p of d.pairs) {
      if (p.note) notes.push(`${p.b} vs ${p.a}: ${p.note}`);
      p.groups.forEach((g, i) =>
        lines.push([
          i === 0 ? cell(p.b) : '',
          cell(g.group),
          String(g.n),
          num(g.a),
          num(g.b),
          signed(g.delta),
          `[${signed(g.low)}, ${signed(g.high)}]`,
          `${pValue(g.p)}${g.significant ? '' : ' n.s.'}`,
        ]),
      );
    }
    out.push(
      heading(format, `Δ${metric} against ${cell(d.pairs[0]!.a)}, paired on the items both scored`) +
        `95% paired bootstrap interval (${resamples} resamples, seed ${seed}); p: McNemar's exact test; n.s.: p >= ${alpha}\n` +
        (format === 'md' ? '\n' : '') +
        (lines.length ? renderTable(format, [table.labelTitle, 'group', 'n', 'A', 'B', `Δ${metric}`, '95% interval', 'p'], lines, 'llrrrrrl') : '') +
        notes.map((n) => `${format === 'md' ? '- ' : ''}${cell(n)}\n`).join(''),
    );
  }

  if (d.seeds.length) {
    const cols = table.columns.filter((c) => d.seeds.some((s) => s.values[c]));
    const rows = d.seeds.map((s) => [
      cell(s.label),
      String(s.seeds.length),
      ...cols.map((c) => {
        const v = s.values[c];
        return v ? `${num(v.mean)} ± ${num(v.std)} (${num(v.min)}–${num(v.max)})` : '-';
      }),
    ]);
    out.push(heading(format, `Over seeds: mean ± std (range)`) + renderTable(format, ['variant', 'seeds', ...cols.map(cell)], rows));
  }

  if (d.provenance) out.push(heading(format, 'Provenance (the same for every row)') + formatProvenance(d, format));
  if (d.provenanceUnknown.length) {
    out.push(`No provenance recorded for: ${cell(d.provenanceUnknown.join(', '))} (scored before flow recorded it)\n`);
  }
  return out.map((s) => `\n${s}`).join('');
}

/** The provenance fields every row shares, `field=value`, digests shortened. */
export function formatProvenance(d: CompareDetails, format: Format): string {
  const cell = cellFor(format);
  const fields = Object.entries(d.provenance ?? {}).map(([k, v]) => cell(`${k}=${shortValue(v)}`));
  return `${wrap(fields, format === 'md' ? Infinity : 100)}\n`;
}

export function formatDisagreements(
  x: { a: string; b: string; onlyA: DisagreeingItem[]; onlyB: DisagreeingItem[] },
  format: Format,
  limit = Infinity,
): string {
  const cell = cellFor(format);
  const code = (s: string | undefined) => (format === 'md' ? sqlCell(s ?? '', Infinity) : cell(s ?? ''));
  const block = (title: string, items: DisagreeingItem[]) => {
    if (!items.length) return heading(format, `${title}: none`);
    const shown = items.slice(0, limit);
    const more = items.length > shown.length ? ` (the first ${shown.length})` : '';
    if (format === 'md') {
      const rows = shown.map((it) => [String(it.index), cell(it.group), cell(it.question ?? ''), code(it.gold), code(it.predA), code(it.predB)]);
      return heading(format, `${title}: ${items.length}${more}`) + renderTable('md', ['item', 'group', 'question', 'gold', `${cell(x.a)}`, `${cell(x.b)}`], rows, 'llllll');
    }
    const lines = shown.flatMap((it) => [
      `#${it.index}${it.group ? ` (${it.group})` : ''}${it.question ? ` ${cell(it.question)}` : ''}`,
      `  gold: ${cell(it.gold ?? '')}`,
      `  A:    ${cell(it.predA ?? '')}`,
      `  B:    ${cell(it.predB ?? '')}`,
    ]);
    return `${heading(format, `${title}: ${items.length}${more}`)}${lines.join('\n')}\n`;
  };
  const intro = format === 'text' ? `A: ${x.a}\nB: ${x.b}\n\n` : '';
  return `${intro}${block(`Right in ${cell(x.a)}, wrong in ${cell(x.b)}`, x.onlyA)}\n${block(`Wrong in ${cell(x.a)}, right in ${cell(x.b)}`, x.onlyB)}`;
}
