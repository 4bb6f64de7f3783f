// Statistics for "is B better than A, and how sure": two systems scored on the
// same items (1 right, 0 wrong), compared item by item. Nothing here knows
// what an item or a metric is; callers pair the items and pick the groups.
//
// - ΔEX's interval: a paired percentile bootstrap (Efron & Tibshirani ch. 13):
//   resample items with replacement, the mean of b - a per resample, the
//   2.5th and 97.5th percentiles of those means. Pairing matters: the two
//   systems' scores on one item are correlated, so resampling each on its own
//   would make the interval too wide. Deterministic: a fixed number of
//   resamples from a seeded generator, so the same vectors always print the
//   same interval. Percentiles interpolate linearly between order statistics
//   (numpy's default, which scipy.stats.bootstrap's percentile method uses).
// - The p-value: McNemar's exact test, the two-sided binomial test (p = 1/2)
//   on the discordant items (right in one, wrong in the other); concordant
//   items carry no information about which system is better.
// - Repeats (a matrix over seeds): mean, sample standard deviation, range.

export const BOOTSTRAP_RESAMPLES = 10_000;
export const BOOTSTRAP_SEED = 1;
/** Below this p-value a difference is called significant; above it is marked "n.s.". */
export const ALPHA = 0.05;

export interface PairedComparison {
  /** Items scored by both. */
  n: number;
  /** Mean of a and of b over the paired items. */
  a: number;
  b: number;
  /** mean(b) - mean(a). */
  delta: number;
  /** The 95% (or `level`) paired bootstrap interval of delta. */
  low: number;
  high: number;
  /** Discordant items: a right and b wrong, a wrong and b right. */
  onlyA: number;
  onlyB: number;
  /** McNemar's exact two-sided p-value. */
  p: number;
  significant: boolean;
}

export interface BootstrapOptions {
  resamples?: number;
  seed?: number;
  /** Confidence level of the interval; default 0.95. */
  level?: number;
}

/** mulberry32: a small, well-mixed 32-bit generator; a seed gives the same stream on every machine. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** numpy's default percentile (linear interpolation between order statistics) of sorted values; q in [0, 100]. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const at = (q / 100) * (n - 1);
  const lo = Math.floor(at);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

/**
 * The resampled means of b - a: `resamples` draws of n item indices with replacement.
 * Exported so a test can hand the same draws to numpy.
 */
export function bootstrapIndices(n: number, resamples: number, seed: number): Uint32Array[] {
  const random = seededRandom(seed);
  const out: Uint32Array[] = [];
  for (let r = 0; r < resamples; r++) {
    const idx = new Uint32Array(n);
    for (let i = 0; i < n; i++) idx[i] = Math.floor(random() * n);
    out.push(idx);
  }
  return out;
}

/** The paired bootstrap interval of mean(b - a). */
export function pairedBootstrap(a: readonly number[], b: readonly number[], opts: BootstrapOptions = {}): { low: number; high: number } {
  if (a.length !== b.length) throw new Error(`paired vectors differ in length (${a.length} vs ${b.length})`);
  const n = a.length;
  if (n === 0) return { low: NaN, high: NaN };
  const resamples = opts.resamples ?? BOOTSTRAP_RESAMPLES;
  const level = opts.level ?? 0.95;
  const d = a.map((x, i) => b[i]! - x);
  const random = seededRandom(opts.seed ?? BOOTSTRAP_SEED);
  const means = new Float64Array(resamples);
  // The same draws as bootstrapIndices, without keeping them.
  for (let r = 0; r < resamples; r++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += d[Math.floor(random() * n)]!;
    means[r] = sum / n;
  }
  means.sort();
  const tail = ((1 - level) / 2) * 100;
  return { low: percentile(means, tail), high: percentile(means, 100 - tail) };
}

/** log C(n, k) for k = 0..n. */
function logBinomials(n: number): Float64Array {
  const out = new Float64Array(n + 1);
  for (let k = 1; k <= n; k++) out[k] = out[k - 1]! + Math.log(n - k + 1) - Math.log(k);
  return out;
}

/**
 * Two-sided exact binomial test of k successes in n trials at p = 1/2 (McNemar's exact
 * test when n is the discordant count): 2 P(X <= min(k, n-k)), at most 1. Summed in log
 * space: 2^-n underflows past n = 1074.
 */
export function binomialTwoSided(k: number, n: number): number {
  if (n === 0) return 1;
  const m = Math.min(k, n - k);
  const lc = logBinomials(n);
  const ln2n = n * Math.LN2;
  let max = -Infinity;
  for (let i = 0; i <= m; i++) max = Math.max(max, lc[i]! - ln2n);
  let sum = 0;
  for (let i = 0; i <= m; i++) sum += Math.exp(lc[i]! - ln2n - max);
  return Math.min(1, 2 * Math.exp(max) * sum);
}

/** McNemar's exact p-value for paired 0/1 scores. */
export function mcnemarExact(a: readonly number[], b: readonly number[]): { onlyA: number; onlyB: number; p: number } {
  let onlyA = 0;
  let onlyB = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i]! > 0 && !(b[i]! > 0)) onlyA++;
    else if (!(a[i]! > 0) && b[i]! > 0) onlyB++;
  }
  return { onlyA, onlyB, p: binomialTwoSided(onlyA, onlyA + onlyB) };
}

const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

/** Everything `flow compare` says about B against A on the paired items. */
export function comparePaired(a: readonly number[], b: readonly number[], opts: BootstrapOptions = {}): PairedComparison {
  const { low, high } = pairedBootstrap(a, b, opts);
  const { onlyA, onlyB, p } = mcnemarExact(a, b);
  const ma = a.length ? mean(a) : NaN;
  const mb = b.length ? mean(b) : NaN;
  return { n: a.length, a: ma, b: mb, delta: mb - ma, low, high, onlyA, onlyB, p, significant: p < ALPHA };
}

export interface Spread {
  n: number;
  mean: number;
  /** Sample standard deviation (n - 1 in the denominator); NaN for one value. */
  std: number;
  min: number;
  max: number;
}

/** Mean ± std and range of repeats (the same setup over several seeds). */
export function spread(xs: readonly number[]): Spread {
  const n = xs.length;
  const m = n ? mean(xs) : NaN;
  const std = n > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (n - 1)) : NaN;
  return { n, mean: m, std, min: Math.min(...xs), max: Math.max(...xs) };
}
