// The report's "wrong predictions" section: the first N items per hardness an
// evaluation step got wrong, read from its results.jsonl (one JSON object per
// item: hardness, ex, em, pred, gold, error, and question when recorded).

import { breakdownOrder } from '../charts/bars.js';
import { readItems } from './items.js';
import { sqlCell } from './sql-cell.js';
import type { ExecRecord } from './records.js';
import { variantText } from './records.js';

export const WRONG_PER_HARDNESS = 5;

/** Text safe inside a markdown table cell, inert once rendered to HTML, and not too long to read. */
function cell(s: string, max = 300): string {
  const t = s.length > max ? `${s.slice(0, max - 1)}…` : s;
  return t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

/** Markdown lines: one table per evaluation step that has results, wrong items grouped by hardness. */
export function wrongPredictions(execs: ExecRecord[], perHardness: number): string[] {
  const out: string[] = [];
  for (const e of execs) {
    const path = e.outputs?.results;
    if (!path || (e.status !== 'done' && e.status !== 'cached')) continue;
    const items = readItems(path);
    if (!items) continue;
    // EX is the verdict when it was evaluated; EM otherwise.
    const wrong = items.filter((it) => (typeof it.ex === 'number' ? it.ex === 0 : it.em === 0));
    if (wrong.length === 0) continue;
    const hasQuestion = wrong.some((it) => typeof it.question === 'string');
    const header = ['hardness', ...(hasQuestion ? ['question'] : []), 'gold', 'predicted', 'error'];
    const rows: string[] = [];
    // The groups in the order the step's metrics list them (its count by group), then any others.
    const counted = e.metrics?.count && typeof e.metrics.count === 'object' ? Object.keys(e.metrics.count) : [];
    const levels = breakdownOrder([...counted, ...wrong.map((it) => it.hardness ?? '?')]).filter((l) => l !== 'all' && wrong.some((it) => (it.hardness ?? '?') === l));
    for (const level of levels) {
      const some = wrong.filter((it) => (it.hardness ?? '?') === level);
      for (const it of some.slice(0, perHardness)) {
        const cells = [
          `${level} (${some.length} wrong)`,
          ...(hasQuestion ? [cell(it.question ?? '')] : []),
          sqlCell(it.gold ?? ''),
          sqlCell(it.pred ?? ''),
          cell(it.error ?? ''),
        ];
        rows.push(`| ${cells.join(' | ')} |`);
      }
    }
    out.push(
      `## Wrong predictions: ${cell(e.stepId)} ${cell(variantText(e.variant))}`.trimEnd(),
      '',
      `The first ${perHardness} of ${wrong.length} wrong items per hardness (of ${items.length}).`,
      '',
      `| ${header.join(' | ')} |`,
      `|${header.map(() => '---').join('|')}|`,
      ...rows,
      '',
    );
  }
  return out;
}
