// The comparison statistics against scipy on the same vectors, in the tests' Python env:
// McNemar's exact p-value against scipy.stats.binomtest, exactly; the bootstrap interval
// two ways. (1) The same draws: the resample indices flow's generator makes are handed to
// numpy, whose percentile of the resampled means must equal flow's to the last digit (this
// pins the statistic, the pairing and the percentile rule). (2) scipy.stats.bootstrap
// (paired, percentile) with its own generator: two Monte Carlo estimates of the same
// endpoints, so they agree up to resampling noise. With B = 10,000 resamples the standard
// error of a 2.5% endpoint is about 0.027 bootstrap SDs (sqrt(.025*.975/B) / phi(1.96)), so
// two estimates differ by ~0.04 SD; the tolerance is 0.2 SD (5 of those) plus one step of
// the grid the means live on (1/n), since both take order statistics of discrete means.
// An unpaired resampling (the classic mistake) would widen the interval well past that.

import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { binomialTwoSided, bootstrapIndices, comparePaired, mcnemarExact, pairedBootstrap, percentile, spread } from '../src/experiments/stats.js';
import { testPython } from './helpers/python.js';

let python: string;
beforeAll(async () => {
  python = await testPython();
}, 600_000);

function py(script: string, input: unknown): any {
  return JSON.parse(execFileSync(python, ['-c', script], { input: JSON.stringify(input), encoding: 'utf8', maxBuffer: 1 << 28 }));
}

/**
 * Fixed 0/1 vectors from simple arithmetic, shaped like two models on one test set: a right on
 * ~ra% of the items, b the same verdicts except some of a's wrong items fixed (~up%) and some
 * of its right ones broken (~down%). The verdicts agree on most items, which is what makes
 * pairing matter: an unpaired resampling gives a much wider interval (seen failing this test).
 */
function vectors(n: number, ra: number, up: number, down = 5): { a: number[]; b: number[] } {
  const a = Array.from({ length: n }, (_, i) => ((i * 7 + 3) % 100 < ra ? 1 : 0));
  const b = a.map((x, i) => (x ? ((i * 13 + 1) % 100 < down ? 0 : 1) : (i * 11 + 5) % 100 < up ? 1 : 0));
  return { a, b };
}

const BINOM = `
import json, sys
from scipy.stats import binomtest
cases = json.load(sys.stdin)
print(json.dumps([binomtest(k, n, 0.5, alternative='two-sided').pvalue if n else 1.0 for k, n in cases]))
`;

describe("McNemar's exact test", () => {
  it('equals scipy.stats.binomtest on the discordant counts, small and large', () => {
    const cases: Array<[number, number]> = [[0, 0], [0, 1], [1, 3], [3, 3], [2, 10], [5, 11], [10, 40], [45, 100], [400, 1000], [480, 1000], [700, 2000], [1000, 2100]];
    const want = py(BINOM, cases) as number[];
    cases.forEach(([k, n], i) => expect(binomialTwoSided(k, n)).toBeCloseTo(want[i]!, 12));
    // Relative agreement where the p-value is tiny, too.
    expect(Math.abs(binomialTwoSided(400, 1000) / want[8]! - 1)).toBeLessThan(1e-9);
  });

  it('counts the discordant pairs of two 0/1 vectors', () => {
    const { a, b } = vectors(200, 55, 20);
    const r = mcnemarExact(a, b);
    let onlyA = 0;
    let onlyB = 0;
    a.forEach((x, i) => (x && !b[i] ? onlyA++ : !x && b[i] ? onlyB++ : 0));
    expect(r).toMatchObject({ onlyA, onlyB });
    expect(r.p).toBeCloseTo((py(BINOM, [[onlyA, onlyA + onlyB]]) as number[])[0]!, 12);
  });
});

describe('paired bootstrap interval', () => {
  it('is numpy\'s percentile of the same resampled means', () => {
    const { a, b } = vectors(150, 50, 25);
    const resamples = 2000;
    const seed = 7;
    const idx = bootstrapIndices(a.length, resamples, seed).map((r) => [...r]);
    const want = py(
      `
import json, sys
import numpy as np
d = json.load(sys.stdin)
a, b, idx = np.array(d['a']), np.array(d['b']), np.array(d['idx'])
means = (b - a)[idx].mean(axis=1)
print(json.dumps([np.percentile(means, 2.5), np.percentile(means, 97.5)]))
`,
      { a, b, idx },
    ) as number[];
    const got = pairedBootstrap(a, b, { resamples, seed });
    expect(got.low).toBeCloseTo(want[0]!, 12);
    expect(got.high).toBeCloseTo(want[1]!, 12);
  });

  it('agrees with scipy.stats.bootstrap (paired, percentile) within resampling noise', () => {
    const cases = ([[200, 55, 20], [400, 60, 8], [120, 40, 40]] as const).map(([n, ra, rb]) => vectors(n, ra, rb));
    const want = py(
      `
import json, sys
import numpy as np
from scipy.stats import bootstrap
out = []
for d in json.load(sys.stdin):
    a, b = np.array(d['a'], float), np.array(d['b'], float)
    res = bootstrap((a, b), lambda x, y, axis: np.mean(y - x, axis=axis), paired=True, vectorized=True,
                    method='percentile', n_resamples=10000, confidence_level=0.95, rng=np.random.default_rng(0))
    out.append({'low': res.confidence_interval.low, 'high': res.confidence_interval.high, 'se': res.standard_error})
print(json.dumps(out))
`,
      cases,
    ) as Array<{ low: number; high: number; se: number }>;
    cases.forEach(({ a, b }, i) => {
      const r = want[i]!;
      const got = pairedBootstrap(a, b);
      const tol = 0.2 * r.se + 1 / a.length;
      expect(Math.abs(got.low - r.low), `n=${a.length} low ${got.low} vs scipy ${r.low}`).toBeLessThan(tol);
      expect(Math.abs(got.high - r.high), `n=${a.length} high ${got.high} vs scipy ${r.high}`).toBeLessThan(tol);
      // Deterministic: the same vectors, the same interval.
      expect(pairedBootstrap(a, b)).toEqual(got);
    });
  });

  it('is a point when the systems agree on every item, and comparePaired puts it together', () => {
    const a = [1, 0, 1, 1, 0];
    expect(pairedBootstrap(a, a)).toEqual({ low: 0, high: 0 });
    const c = comparePaired(a, a);
    expect(c).toMatchObject({ n: 5, delta: 0, onlyA: 0, onlyB: 0, p: 1, significant: false });
    const { a: x, b: y } = vectors(200, 30, 60);
    const s = comparePaired(x, y);
    expect(s.significant).toBe(true);
    expect(s.low).toBeLessThanOrEqual(s.delta);
    expect(s.high).toBeGreaterThanOrEqual(s.delta);
  });
});

describe('spread over repeats', () => {
  it('mean, sample std and range as numpy computes them', () => {
    const xs = [0.61, 0.64, 0.6, 0.655];
    const want = py(`
import json, sys
import numpy as np
x = np.array(json.load(sys.stdin))
print(json.dumps([x.mean(), x.std(ddof=1), x.min(), x.max()]))
`, xs) as number[];
    const s = spread(xs);
    expect([s.mean, s.std, s.min, s.max].map((v, i) => v - want[i]!).every((d) => Math.abs(d) < 1e-12)).toBe(true);
    expect(spread([0.5]).std).toBeNaN();
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
  });
});
