// ROUGE-1/2/L F-measures (as Google's rouge_score computes them with its default
// tokenizer: lower-case, non-alphanumerics as separators, no stemming) and a
// normalized string match, for seq2seq setups that report them.
import { sqlLex } from './sql-text.js';

const words = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim().split(' ').filter(Boolean);

function ngrams(toks: string[], n: number): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i + n <= toks.length; i++) {
    const k = toks.slice(i, i + n).join('\u0000');
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

function fmeasure(overlap: number, predTotal: number, refTotal: number): number {
  if (overlap === 0 || predTotal === 0 || refTotal === 0) return 0;
  const p = overlap / predTotal;
  const r = overlap / refTotal;
  return (2 * p * r) / (p + r);
}

function rougeN(pred: string[], ref: string[], n: number): number {
  const a = ngrams(pred, n);
  const b = ngrams(ref, n);
  let overlap = 0;
  for (const [k, c] of a) overlap += Math.min(c, b.get(k) ?? 0);
  const total = (m: Map<string, number>) => [...m.values()].reduce((x, y) => x + y, 0);
  return fmeasure(overlap, total(a), total(b));
}

function lcs(a: string[], b: string[]): number {
  let prev = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    const cur = new Array<number>(b.length + 1).fill(0);
    for (let j = 1; j <= b.length; j++) {
      cur[j] = a[i - 1] === b[j - 1] ? prev[j - 1]! + 1 : Math.max(prev[j]!, cur[j - 1]!);
    }
    prev = cur;
  }
  return prev[b.length]!;
}

export interface RougeScores {
  rouge1: number;
  rouge2: number;
  rougeL: number;
}

export function rouge(pred: string, ref: string): RougeScores {
  const p = words(pred);
  const r = words(ref);
  return { rouge1: rougeN(p, r, 1), rouge2: rougeN(p, r, 2), rougeL: fmeasure(lcs(p, r), p.length, r.length) };
}

/** Lower-cased SQL tokens outside strings, single-spaced, trailing ';' dropped. */
export function normalizeSql(s: string): string {
  const toks = sqlLex(s.trim())
    .filter((t) => !/^\s+$/.test(t))
    .map((t) => (t.startsWith("'") || t.startsWith('"') ? t : t.toLowerCase()));
  while (toks.length > 0 && toks[toks.length - 1] === ';') toks.pop();
  return toks.join(' ');
}
