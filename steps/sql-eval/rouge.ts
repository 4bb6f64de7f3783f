// ROUGE-1/2/L F-measures (as Google's rouge_score computes them with its default
// tokenizer: lower-case, non-alphanumerics as separators, no stemming) and a
// normalized string match, for seq2seq setups that report them.
import { isSpace, sqlLex } from './sql-text.js';

/**
 * The tokens, as small integers (one id per distinct word across both texts), so
 * that counting n-grams and the LCS compare numbers rather than strings.
 */
function wordIds(s: string, ids: Map<string, number>): Int32Array {
  const toks = s.toLowerCase().match(/[a-z0-9]+/g) ?? [];
  const out = new Int32Array(toks.length);
  toks.forEach((w, i) => {
    let id = ids.get(w);
    if (id === undefined) ids.set(w, (id = ids.size));
    out[i] = id;
  });
  return out;
}

function fmeasure(overlap: number, predTotal: number, refTotal: number): number {
  if (overlap === 0 || predTotal === 0 || refTotal === 0) return 0;
  const p = overlap / predTotal;
  const r = overlap / refTotal;
  return (2 * p * r) / (p + r);
}

/** n-gram counts (n = 1 or 2); a bigram's key is first · vocabulary + second. */
function ngrams(toks: Int32Array, n: 1 | 2, vocab: number): Map<number, number> {
  const m = new Map<number, number>();
  for (let i = 0; i + n <= toks.length; i++) {
    const k = n === 1 ? toks[i]! : toks[i]! * vocab + toks[i + 1]!;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

function rougeN(pred: Int32Array, ref: Int32Array, n: 1 | 2, vocab: number): number {
  const a = ngrams(pred, n, vocab);
  const b = ngrams(ref, n, vocab);
  let overlap = 0;
  for (const [k, c] of a) overlap += Math.min(c, b.get(k) ?? 0);
  const total = (len: number) => Math.max(0, len - n + 1);
  return fmeasure(overlap, total(pred.length), total(ref.length));
}

function lcs(a: Int32Array, b: Int32Array): number {
  let prev = new Int32Array(b.length + 1);
  let cur = new Int32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    const ai = a[i - 1]!;
    for (let j = 1; j <= b.length; j++) {
      cur[j] = ai === b[j - 1] ? prev[j - 1]! + 1 : Math.max(prev[j]!, cur[j - 1]!);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[b.length]!;
}

export interface RougeScores {
  rouge1: number;
  rouge2: number;
  rougeL: number;
}

export function rouge(pred: string, ref: string): RougeScores {
  const ids = new Map<string, number>();
  const p = wordIds(pred, ids);
  const r = wordIds(ref, ids);
  const vocab = ids.size;
  return { rouge1: rougeN(p, r, 1, vocab), rouge2: rougeN(p, r, 2, vocab), rougeL: fmeasure(lcs(p, r), p.length, r.length) };
}

/** Lower-cased SQL tokens outside strings, single-spaced, trailing ';' dropped. */
export function normalizeSql(s: string): string {
  const toks: string[] = [];
  for (const t of sqlLex(s.trim())) {
    const c = t.charCodeAt(0);
    // A token that starts with white space is all white space.
    if (isSpace(c)) continue;
    toks.push(c === 0x27 /* ' */ || c === 0x22 /* " */ ? t : t.toLowerCase());
  }
  while (toks.length > 0 && toks[toks.length - 1] === ';') toks.pop();
  return toks.join(' ');
}
