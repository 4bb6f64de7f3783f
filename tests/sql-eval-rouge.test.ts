// ROUGE and the normalized string match of sql-eval, against values worked out
// by hand the way Google's rouge_score computes them (lower-case, anything not
// [a-z0-9] separates words, no stemming; F-measure of n-gram overlap, and of
// the longest common subsequence for ROUGE-L).
import { describe, expect, test } from 'vitest';
import { normalizeSql, rouge } from '../steps/sql-eval/rouge.js';

const close = (got: { rouge1: number; rouge2: number; rougeL: number }, want: [number, number, number]) => {
  expect(got.rouge1).toBeCloseTo(want[0], 12);
  expect(got.rouge2).toBeCloseTo(want[1], 12);
  expect(got.rougeL).toBeCloseTo(want[2], 12);
};

describe('rouge', () => {
  test('identical words score 1 whatever the case', () => {
    close(rouge('SELECT a FROM t', 'select a from t'), [1, 1, 1]);
  });

  test('the same words in another order: all unigrams, no bigram, LCS of 2 of 3', () => {
    close(rouge('select a b', 'select b a'), [1, 0, 2 / 3]);
  });

  test('repeated words count up to the smaller count', () => {
    // unigrams a:3 vs a:2 -> overlap 2, P 2/3, R 1; bigrams (a a):2 vs 1 -> P 1/2, R 1; LCS 2.
    close(rouge('a a a', 'a a'), [0.8, 2 / 3, 0.8]);
  });

  test('punctuation and underscores separate words', () => {
    // t1 name x vs name x t1: bigrams (t1 name)(name x) vs (name x)(x t1); LCS "name x".
    close(rouge('T1.name_x', 'name x t1'), [1, 0.5, 2 / 3]);
  });

  test('no words, or a single word, gives zeros where nothing can overlap', () => {
    close(rouge('', 'select a'), [0, 0, 0]);
    close(rouge('((( )))', ''), [0, 0, 0]);
    close(rouge('a', 'a'), [1, 0, 1]);
  });

  test('a long prediction against a short reference', () => {
    const pred = Array.from({ length: 2000 }, (_, i) => `w${i % 7}`).join(' ');
    // 2000 words cycling w0..w6; the reference "w0 w1" is one bigram that occurs in the prediction.
    const r = rouge(pred, 'w0 w1');
    close(r, [(2 * (2 / 2000)) / (2 / 2000 + 1), (2 * (1 / 1999)) / (1 / 1999 + 1), (2 * (2 / 2000)) / (2 / 2000 + 1)]);
  });
});

describe('normalizeSql', () => {
  test('lower-cases outside quotes, single-spaces tokens and drops trailing semicolons', () => {
    expect(normalizeSql("SELECT  Name FROM\tT WHERE x = 'Ab  C' ;;")).toBe("select name from t where x = 'Ab  C'");
    expect(normalizeSql('SELECT "Q r"\u00a0FROM t')).toBe('select "Q r" from t');
    expect(normalizeSql('select count(*) from t')).toBe('select count ( * ) from t');
  });
});
