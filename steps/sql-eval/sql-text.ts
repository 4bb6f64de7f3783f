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
 * Tokens: a run of whitespace; `-- comment` to the end of the line; `/* comment *\/`
 * (or to the end); '...' and "..." with doubled quotes inside, unterminated to the
 * end; `...` and [...]; a run of letters, digits, _ and $; else one code point.
 * A scanner, not one regular expression: an alternation under `*` makes V8's
 * regex engine keep a backtrack entry per character, and a 10 MB string literal
 * overflowed its stack (RangeError).
 */
export function sqlLex(s: string): string[] {
  const out: string[] = [];
  const n = s.length;
  let i = 0;
  while (i < n) {
    const start = i;
    const c = s.charCodeAt(i);
    if (isSpace(c)) {
      i++;
      while (i < n && isSpace(s.charCodeAt(i))) i++;
    } else if (c === 0x2d /* - */ && s.charCodeAt(i + 1) === 0x2d) {
      const nl = s.indexOf('\n', i);
      i = nl < 0 ? n : nl;
    } else if (c === 0x2f /* / */ && s.charCodeAt(i + 1) === 0x2a /* * */) {
      const end = s.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
    } else if (c === 0x27 /* ' */ || c === 0x22 /* " */) {
      // Up to the closing quote; a doubled quote is part of the string.
      const q = s[i]!;
      i++;
      for (;;) {
        const close = s.indexOf(q, i);
        if (close < 0) {
          i = n;
          break;
        }
        if (s[close + 1] === q) i = close + 2;
        else {
          i = close + 1;
          break;
        }
      }
    } else if (c === 0x60 /* ` */ || c === 0x5b /* [ */) {
      const end = s.indexOf(c === 0x60 ? '`' : ']', i + 1);
      i = end < 0 ? n : end + 1;
    } else if (isAsciiWord(c)) {
      i++;
      while (i < n && isAsciiWord(s.charCodeAt(i))) i++;
      // A word that goes on in other scripts: the Unicode rule takes the whole run.
      if (i < n && s.charCodeAt(i) >= 0x80) i = unicodeWordEnd(s, start);
    } else if (c >= 0x80 && WORD_CHAR.test(String.fromCodePoint(s.codePointAt(i)!))) {
      i = unicodeWordEnd(s, start);
    } else {
      i += c >= 0xd800 && c <= 0xdbff && i + 1 < n && isLowSurrogate(s[i + 1]!) ? 2 : 1;
    }
    out.push(s.slice(start, i));
  }
  return out;
}

/** JavaScript's \s. */
export function isSpace(c: number): boolean {
  if (c < 0x80) return c === 0x20 || (c >= 0x09 && c <= 0x0d);
  return (
    c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff
  );
}

/** [A-Za-z0-9_$] */
function isAsciiWord(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x24;
}

function unicodeWordEnd(s: string, from: number): number {
  WORD_RUN.lastIndex = from;
  WORD_RUN.test(s);
  return WORD_RUN.lastIndex;
}

const WORD_CHAR = /^[\p{L}\p{N}_$]$/u;
// A run of one character class: V8 scans it without a backtrack entry per character.
const WORD_RUN = /[\p{L}\p{N}_$]+/uy;
const isLowSurrogate = (c: string) => c >= '\udc00' && c <= '\udfff';

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

/** The gold's distinct literal values and the positions of the prediction's literal slots among its tokens. */
function plugSlots(gold: string, pred: string): { values: string[]; toks: string[]; slots: number[] } {
  const values = [...new Set(literalValues(gold))];
  const toks = sqlLex(pred);
  const slots = toks.map((t, i) => (isLiteral(t) && !(i > 0 && toks[i - 1] === '.') ? i : -1)).filter((i) => i >= 0);
  return { values, toks, slots };
}

/** How many candidates plugValues() yields, without building them. */
export function plugValueCount(gold: string, pred: string, limit = PLUG_LIMIT): number {
  const { values, slots } = plugSlots(gold, pred);
  if (values.length === 0 || slots.length === 0) return 0;
  return Math.min(values.length ** slots.length, limit);
}

const PLUG_LIMIT = 10_000;

/**
 * plug_value: every way of filling the prediction's literal slots with the gold's
 * literal values (the official get_all_preds_for_execution), capped at `limit`.
 */
export function* plugValues(gold: string, pred: string, limit = PLUG_LIMIT): Generator<string> {
  const { values, toks, slots } = plugSlots(gold, pred);
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
