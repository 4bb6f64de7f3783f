// Text-level rewrites exec_eval.py applies before running SQL.

/** postprocess(): '> =' -> '>=' etc. (model outputs often carry the space). */
export function postprocess(q: string): string {
  return q.replaceAll('> =', '>=').replaceAll('< =', '<=').replaceAll('! =', '!=');
}

/** replace_cur_year(): YEAR(CURDATE()) -> 2020, as the official executor does. */
export function replaceCurYear(q: string): string {
  return q.replace(/YEAR\s*\(\s*CURDATE\s*\(\s*\)\s*\)\s*/gi, '2020');
}

/**
 * Lexes SQL the way sqlparse splits it for remove_distinct(): quoted strings,
 * comments and words are single tokens, so only a bare DISTINCT keyword goes.
 */
const LEX = /\s+|--[^\n]*|\/\*[\s\S]*?(?:\*\/|$)|'(?:[^']|'')*'?|"(?:[^"]|"")*"?|`[^`]*`?|\[[^\]]*\]?|[\p{L}\p{N}_$]+|[\s\S]/gu;

export function sqlLex(s: string): string[] {
  return s.match(LEX) ?? [];
}

/**
 * remove_distinct(): drops every DISTINCT token, keeping all other text byte for
 * byte. The official one keeps only sqlparse's first statement, so text after
 * the first top-level ';' is dropped too (`firstOnly`, test-suite compat).
 */
export function removeDistinct(s: string, firstOnly: boolean): string {
  let toks = sqlLex(s);
  if (firstOnly) {
    const semi = toks.indexOf(';');
    if (semi >= 0) {
      let end = semi + 1;
      // sqlparse keeps the whitespace after ';' up to the end of the line with the statement.
      const ws = toks[end];
      if (ws !== undefined && /^\s+$/.test(ws)) {
        const nl = ws.indexOf('\n');
        toks = [...toks.slice(0, end), nl < 0 ? ws : ws.slice(0, nl + 1)];
      } else toks = toks.slice(0, end);
    }
  }
  return toks.filter((t) => t.toLowerCase() !== 'distinct').join('');
}

/** The official order test: 'order by' anywhere in the (processed) gold text. */
export function orderBySubstring(gold: string): boolean {
  return gold.toLowerCase().includes('order by');
}

/** strict mode: ORDER BY of the outermost query only (outside parentheses, strings and comments). */
export function orderByTopLevel(gold: string): boolean {
  let depth = 0;
  let prev = '';
  for (const t of sqlLex(gold)) {
    if (/^\s+$/.test(t) || t.startsWith('--') || t.startsWith('/*')) continue;
    if (t === '(') depth++;
    else if (t === ')') depth--;
    else if (depth === 0 && prev === 'order' && t.toLowerCase() === 'by') return true;
    prev = depth === 0 ? t.toLowerCase() : '';
  }
  return false;
}

// ---- plug_value

const isLiteral = (t: string) => t.startsWith("'") || t.startsWith('"') || /^[-+]?(\d+(\.\d*)?|\.\d+)$/.test(t);

/** Literal values of a query: quoted strings and numbers that are not part of a name. */
export function literalValues(q: string): string[] {
  return sqlLex(q).filter((t, i, all) => isLiteral(t) && !(i > 0 && all[i - 1] === '.'));
}

/**
 * plug_value: every way of filling the prediction's literal slots with the gold's
 * literal values (the official get_all_preds_for_execution), capped at `limit`.
 */
export function* plugValues(gold: string, pred: string, limit = 10_000): Generator<string> {
  const values = [...new Set(literalValues(gold))];
  const toks = sqlLex(pred);
  const slots = toks.map((t, i) => (isLiteral(t) && !(i > 0 && toks[i - 1] === '.') ? i : -1)).filter((i) => i >= 0);
  if (values.length === 0 || slots.length === 0) return;
  const total = values.length ** slots.length;
  for (let n = 0; n < Math.min(total, limit); n++) {
    const out = toks.slice();
    let k = n;
    for (let s = slots.length - 1; s >= 0; s--) {
      out[slots[s]!] = values[k % values.length]!;
      k = Math.floor(k / values.length);
    }
    yield out.join('');
  }
}
