// The one way SQL is shown in a markdown table (the wrong-predictions tables, compare's per-item view).

/**
 * SQL as a markdown code span in a table cell, shown as written. Inside a code span markdown
 * takes every character literally and an HTML renderer escapes it, so an entity written here
 * would show as `&gt;`: only what would end the span or the cell is handled. `|` is escaped
 * (GFM cuts cells before it reads spans), and a fence one backtick longer than the longest run
 * in the SQL, padded with spaces, keeps its backticks (MySQL's quoted names) inside.
 */
export function sqlCell(s: string, max = 300): string {
  const t = (s.length > max ? `${s.slice(0, max - 1)}…` : s).replace(/\s*\n\s*/g, ' ');
  if (t === '') return '';
  const longest = Math.max(0, ...(t.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = longest > 0 || t.startsWith(' ') || t.endsWith(' ') ? ' ' : '';
  return `${fence}${pad}${t.replace(/\|/g, '\\|')}${pad}${fence}`;
}
