// Few-shot example retrieval for spider-sft, after DAIL-SQL (arXiv 2308.15363):
// training examples are ranked by the similarity of their questions to the
// target question, with the words that name the schema and the values masked
// first, so that "How many singers are there?" finds "How many pets are there?"
// (the question's shape) rather than other questions about singers.
// Similarity is BM25 over the masked words (no model).

import { fill, type TableSchema } from './schema-text.js';

/** DAIL-SQL's tokens: <mask> for a word of the schema, <unk> for a value. */
export const SCHEMA_MASK = '<mask>';
export const VALUE_MASK = '<unk>';

/** Words too common to count as naming the schema even where a column's name holds them ("year of birth"). */
const STOP = new Set(['a', 'an', 'and', 'are', 'as', 'at', 'by', 'for', 'from', 'in', 'is', 'of', 'on', 'or', 'the', 'to', 'with', 'what', 'which', 'who', 'how', 'many', 'all', 'each', 'their', 'its', 'number', 'id']);

/** A word as compared with the schema's: lowercase, a plural's last s dropped (singers ~ singer, countries ~ country). */
const norm = (w: string) => {
  const l = w.toLowerCase();
  if (l.length > 3 && l.endsWith('ies')) return `${l.slice(0, -3)}y`;
  if (l.length > 3 && l.endsWith('s') && !l.endsWith('ss')) return l.slice(0, -1);
  return l;
};

/**
 * The words of a schema's table and column names, natural (tables.json's table_names,
 * column_names) and original (split at underscores and camelCase), normalised.
 */
export function schemaWords(t: TableSchema & { table_names?: string[]; column_names?: Array<[number, string]> }): Set<string> {
  const names = [
    ...t.table_names_original,
    ...t.column_names_original.map((c) => c[1]),
    ...(t.table_names ?? []),
    ...(t.column_names ?? []).map((c) => c[1]),
  ];
  const words = new Set<string>();
  for (const n of names) {
    for (const w of n.replace(/([a-z])([A-Z])/g, '$1 $2').split(/[^A-Za-z0-9]+/)) {
      if (w && w !== '*' && !STOP.has(w.toLowerCase())) words.add(norm(w));
    }
  }
  return words;
}

// A quoted span (double quotes, curly quotes, or single quotes that open after a space and close
// before one: not the apostrophe of "singer's"), a number, a word, or one other character.
const TOKEN = /"[^"]*"|“[^”]*”|(?<=^|\s)'[^']+'(?=$|[\s.,?!;:])|\d+(?:[.,]\d+)*|[A-Za-z_][A-Za-z0-9_]*|[^\sA-Za-z0-9_]/g;

/** The question's words, with schema words replaced by <mask> and values (numbers, quoted text) by <unk>. */
export function maskQuestion(question: string, words: Set<string>): string[] {
  return (question.match(TOKEN) ?? []).map((tok) => {
    // A quoted span or a number (a lone quote character, as the apostrophe of "singer's", is neither).
    if (/^\d/.test(tok) || (tok.length > 1 && /^["“']/.test(tok))) return VALUE_MASK;
    if (/^[A-Za-z_]/.test(tok) && words.has(norm(tok))) return SCHEMA_MASK;
    return tok.toLowerCase();
  });
}

/** The question's words, lowercase, unmasked (mask: false). */
export const plainWords = (question: string) => (question.match(TOKEN) ?? []).map((t) => t.toLowerCase());

export interface PoolItem {
  db_id: string;
  /** The words it is found by (masked or not). */
  words: string[];
}

/** Okapi BM25's usual constants: term-frequency saturation and length normalisation. */
const K1 = 1.2;
const B = 0.75;

/**
 * A BM25 index over the pool (the training split). rank() returns pool indices by decreasing
 * score, ties by pool order, never an item on `db` (the target's own database: Spider's train
 * and dev share no database, so no prompt, train or dev, shows an example from its own).
 *
 * Written here rather than taken from a search library: the mask token is in nearly every
 * question, so nearly every item matches every query, and MiniSearch (tried first) built a result
 * object per match: 60 ms of CPU a prompt on full Spider, 10 minutes for its 9,700 prompts. Scores
 * summed into one array per query: 3.4 ms a prompt, ranking and the budget included (same machine).
 */
export function bm25Index(pool: PoolItem[]): { rank(words: string[], db: string): number[] } {
  // Punctuation carries no shape worth matching; the mask tokens do (how many <mask> ...).
  const terms = (words: string[]) => words.filter((w) => /[A-Za-z0-9<]/.test(w));
  const docs = pool.map((p) => terms(p.words));
  const n = docs.length;
  const avgdl = docs.reduce((s, d) => s + d.length, 0) / Math.max(n, 1) || 1;
  /** term -> the items holding it and the term's weight in each (its saturated frequency). */
  const postings = new Map<string, { items: number[]; weights: number[] }>();
  docs.forEach((d, i) => {
    const tf = new Map<string, number>();
    for (const t of d) tf.set(t, (tf.get(t) ?? 0) + 1);
    const norm = K1 * (1 - B + (B * d.length) / avgdl);
    for (const [t, f] of tf) {
      let p = postings.get(t);
      if (!p) postings.set(t, (p = { items: [], weights: [] }));
      p.items.push(i);
      p.weights.push((f * (K1 + 1)) / (f + norm));
    }
  });
  const scores = new Float64Array(n);
  return {
    rank(words, db) {
      const touched: number[] = [];
      for (const t of new Set(terms(words))) {
        const p = postings.get(t);
        if (!p) continue;
        const idf = Math.log(1 + (n - p.items.length + 0.5) / (p.items.length + 0.5));
        p.items.forEach((i, j) => {
          if (scores[i] === 0) touched.push(i);
          scores[i] += idf * p.weights[j]!;
        });
      }
      const ranked = touched.filter((i) => pool[i]!.db_id !== db).map((i) => ({ i, s: scores[i]! }));
      for (const i of touched) scores[i] = 0;
      return ranked.sort((a, b) => b.s - a.s || a.i - b.i).map((r) => r.i);
    },
  };
}

export interface FewShotOptions {
  k: number;
  mask: boolean;
  max_chars?: number;
  header: string;
  example: string;
}

interface Example {
  db_id: string;
  question: string;
  query: string;
}

/** How far down the ranking a prompt looks for examples that fit its budget: k·SCAN candidates. */
const SCAN = 10;

/**
 * Chooses each prompt's examples from `pool` (the training split): the k best ranked that keep
 * the whole prompt within max_chars, in rank order. `promptLength(block)` is the length of the
 * item's prompt with `block` (the rendered examples) in it, so the budget counts the schema, the
 * question and the examples together.
 */
export function exampleChooser(pool: Example[], tables: Map<string, TableSchema>, o: FewShotOptions) {
  const words = new Map<string, Set<string>>();
  const wordsOf = (x: { db_id: string; question: string }) => {
    if (!o.mask) return plainWords(x.question);
    let s = words.get(x.db_id);
    if (!s) words.set(x.db_id, (s = schemaWords(tables.get(x.db_id)!)));
    return maskQuestion(x.question, s);
  };
  const index = bm25Index(pool.map((x) => ({ db_id: x.db_id, words: wordsOf(x) })));
  const render = (chosen: number[]) =>
    chosen.length ? o.header + chosen.map((i) => fill(o.example, { question: pool[i]!.question, query: pool[i]!.query })).join('') : '';
  return {
    /** The examples for `x` (indices into the pool, best first) and their rendered block. */
    choose(x: { db_id: string; question: string }, promptLength: (block: string) => number): { chosen: number[]; block: string } {
      const chosen: number[] = [];
      for (const i of index.rank(wordsOf(x), x.db_id).slice(0, o.k * SCAN)) {
        if (chosen.length === o.k) break;
        if (o.max_chars === undefined || promptLength(render([...chosen, i])) <= o.max_chars) chosen.push(i);
      }
      return { chosen, block: render(chosen) };
    },
  };
}

