/**
 * Confidence bounds on the accuracy a pruned model loses, from paired
 * outcomes: the unpruned and the pruned model classify the same images, and
 * only the images on which they disagree carry information.
 *
 *   n10: the unpruned model right, the pruned one wrong
 *   n01: the reverse
 *   drop = (n10 - n01) / n
 *
 * The upper bound is exact: an exact unconditional test (Berger & Boos 1994)
 * of H0 "drop >= d" built on Tango's score statistic for the difference of
 * two paired proportions (Tango 1998), inverted over d. Exact means its
 * coverage is at least the confidence for every true drop and disagreement
 * rate, not only in large samples; the price is a bound a few hundredths of
 * a point above Tango's asymptotic one. ARCHITECTURE.md says why this one.
 */

/** What two models' predictions on the same labelled images come to. */
export interface PairedCounts {
  /** Images compared. */
  n: number;
  /** The reference (unpruned) model right, the other wrong. */
  n10: number;
  /** The reference wrong, the other right. */
  n01: number;
}

/** Counts of two models' correctness on the same images (1 = right). */
export function pairedCounts(reference: Uint8Array, other: Uint8Array): PairedCounts {
  if (reference.length !== other.length) throw new Error(`paired counts of ${reference.length} and ${other.length} images`);
  let n10 = 0;
  let n01 = 0;
  for (let i = 0; i < reference.length; i++) {
    if (reference[i] > other[i]) n10++;
    else if (reference[i] < other[i]) n01++;
  }
  return { n: reference.length, n10, n01 };
}

/** Share of the nuisance parameter's confidence set (Berger & Boos): the test's p-value is the sup over it plus this. */
const NUISANCE_LEVEL = 0.001;
/** Points of the nuisance grid the sup is taken over. */
const NUISANCE_GRID = 48;
/** Bisection steps over the drop (the bracket is at most 1 wide: 2^-28 is below 1e-8). */
const BISECTION_STEPS = 28;

/** log(k!) for k = 0..n, one table per n (bounds are computed many times on the same split). */
const logFactorials = new Map<number, Float64Array>();
function logFactorial(n: number): Float64Array {
  let table = logFactorials.get(n);
  if (table === undefined) {
    table = new Float64Array(n + 1);
    for (let k = 1; k <= n; k++) table[k] = table[k - 1] + Math.log(k);
    if (logFactorials.size > 16) logFactorials.clear();
    logFactorials.set(n, table);
  }
  return table;
}

/** P(X = k) for X ~ Binomial(n, p). */
function binomialPmf(lf: Float64Array, k: number, n: number, p: number): number {
  if (p <= 0) return k === 0 ? 1 : 0;
  if (p >= 1) return k === n ? 1 : 0;
  return Math.exp(lf[n] - lf[k] - lf[n - k] + k * Math.log(p) + (n - k) * Math.log1p(-p));
}

/** Continued fraction of the regularized incomplete beta function (Numerical Recipes' betacf). */
function betaFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 500; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const step = d * c;
    h *= step;
    if (Math.abs(step - 1) < 1e-15) break;
  }
  return h;
}

/** P(X <= k) for X ~ Binomial(n, p), through the regularized incomplete beta function I_{1-p}(n - k, k + 1). */
function binomialCdf(lf: Float64Array, k: number, n: number, p: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  if (p <= 0) return 1;
  if (p >= 1) return 0;
  const [a, b, x] = [n - k, k + 1, 1 - p];
  // log B(a, b) with integer arguments: log((a-1)! (b-1)! / (a+b-1)!)
  const front = Math.exp(lf[a + b - 1] - lf[a - 1] - lf[b - 1] + a * Math.log(x) + b * Math.log(p));
  return x < (a + 1) / (a + b + 2) ? (front * betaFraction(a, b, x)) / a : 1 - (front * betaFraction(b, a, p)) / b;
}

/** One-sided Clopper-Pearson bound of a binomial proportion at level `alpha` (k successes of n). */
function clopperPearson(lf: Float64Array, k: number, n: number, alpha: number, side: 'upper' | 'lower'): number {
  if (side === 'upper' && k === n) return 1;
  if (side === 'lower' && k === 0) return 0;
  let [lo, hi] = [0, 1];
  for (let i = 0; i < 50; i++) {
    const p = (lo + hi) / 2;
    // upper: the largest p with P(X <= k) > alpha; lower: the smallest p with P(X >= k) > alpha
    const tail = side === 'upper' ? binomialCdf(lf, k, n, p) : 1 - binomialCdf(lf, k - 1, n, p);
    if (side === 'upper' ? tail > alpha : tail < alpha) lo = p;
    else hi = p;
  }
  return side === 'upper' ? hi : lo;
}

/**
 * Tango's score statistic for H0 "drop = d": (n10 - n01 - n d) over its
 * standard error at the restricted maximum-likelihood estimate of the
 * disagreement rate. Large when the observed drop exceeds d.
 */
export function tangoScore(n10: number, n01: number, n: number, d: number): number {
  const a = 2 * n;
  const b = -n10 - n01 + (2 * n - n10 + n01) * d;
  const c = -n01 * d * (1 - d);
  const q = Math.min(Math.max((-b + Math.sqrt(Math.max(b * b - 4 * a * c, 0))) / (2 * a), Math.max(0, -d)), (1 - d) / 2);
  const variance = n * (2 * q + d * (1 - d));
  const excess = n10 - n01 - n * d;
  if (variance <= 0) return excess > 0 ? Number.POSITIVE_INFINITY : excess < 0 ? Number.NEGATIVE_INFINITY : 0;
  return excess / Math.sqrt(variance);
}

/**
 * P(score <= t) when the true drop is d and the rate of images only the
 * pruned model gets right is q: the disagreements are Binomial(n, 2q + d),
 * and of d' disagreements the pruned model's new errors Binomial(d', (q + d) / (2q + d)).
 * For a fixed d' the score grows with the new errors, so the event is "new
 * errors <= k*(d')", found by bisection.
 */
function scoreTail(lf: Float64Array, n: number, d: number, q: number, t: number): number {
  const rate = 2 * q + d;
  if (rate <= 0) return tangoScore(0, 0, n, d) <= t ? 1 : 0;
  const share = (q + d) / rate;
  const spread = Math.sqrt(n * rate * (1 - rate));
  const mode = Math.floor((n + 1) * rate);
  const [first, last] = [Math.max(0, Math.floor(mode - 10 * spread - 10)), Math.min(n, Math.ceil(mode + 10 * spread + 10))];
  let total = 0;
  for (let disagreements = first; disagreements <= last; disagreements++) {
    const weight = binomialPmf(lf, disagreements, n, rate);
    if (weight < 1e-17) continue;
    if (tangoScore(disagreements, 0, n, d) <= t) {
      total += weight;
      continue;
    }
    if (tangoScore(0, disagreements, n, d) > t) continue;
    let [low, high] = [0, disagreements]; // score(low) <= t < score(high)
    while (high - low > 1) {
      const mid = (low + high) >> 1;
      if (tangoScore(mid, disagreements - mid, n, d) <= t) low = mid;
      else high = mid;
    }
    total += weight * binomialCdf(lf, low, disagreements, share);
  }
  return total;
}

/**
 * The exact upper confidence bound (fraction) on the drop at level `alpha`
 * (one-sided: the true drop is at most the bound with probability >= 1 - alpha).
 */
export function dropUpperBound({ n, n10, n01 }: PairedCounts, alpha: number): number {
  if (!(alpha > NUISANCE_LEVEL && alpha < 1)) throw new RangeError(`alpha must lie in (${NUISANCE_LEVEL}, 1), got ${alpha}`);
  if (n === 0) return 1;
  const lf = logFactorial(n);
  const disagreements = n10 + n01;
  // Berger & Boos: the disagreement rate's (1 - level) confidence interval bounds the nuisance parameter.
  const rateLow = clopperPearson(lf, disagreements, n, NUISANCE_LEVEL / 2, 'lower');
  const rateHigh = clopperPearson(lf, disagreements, n, NUISANCE_LEVEL / 2, 'upper');
  const pValue = (d: number) => {
    const t = tangoScore(n10, n01, n, d);
    const low = Math.max(0, -d, (rateLow - d) / 2);
    const high = Math.min((1 - d) / 2, (rateHigh - d) / 2);
    if (high < low) return NUISANCE_LEVEL;
    let sup = 0;
    for (let i = 0; i <= NUISANCE_GRID && sup < 1; i++) sup = Math.max(sup, scoreTail(lf, n, d, low + ((high - low) * i) / NUISANCE_GRID, t));
    return sup + NUISANCE_LEVEL;
  };
  // The drop cannot exceed the disagreement rate.
  let [lo, hi] = [(n10 - n01) / n, Math.min(1, rateHigh)];
  if (pValue(hi) > alpha) return hi;
  for (let i = 0; i < BISECTION_STEPS; i++) {
    const mid = (lo + hi) / 2;
    if (pValue(mid) > alpha) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** The two-sided interval (fractions) at `confidence`: each side an exact one-sided bound at half the rest. */
export function dropInterval(counts: PairedCounts, confidence: number): [number, number] {
  const alpha = (1 - confidence) / 2;
  return [-dropUpperBound({ n: counts.n, n10: counts.n01, n01: counts.n10 }, alpha), dropUpperBound(counts, alpha)];
}

/** A drop and its bound in points, as the records keep them. */
export interface BoundedDrop extends PairedCounts {
  /** Accuracy points lost, (n10 - n01) / n. */
  drop: number;
  /** The one-sided upper confidence bound on it, points. */
  upperBound: number;
  /** The confidence the bound was taken at. */
  confidence: number;
}

/** The drop of `counts` with its upper bound at `confidence`, in points. */
export function boundedDrop(counts: PairedCounts, confidence: number): BoundedDrop {
  return { ...counts, drop: (100 * (counts.n10 - counts.n01)) / counts.n, upperBound: 100 * dropUpperBound(counts, 1 - confidence), confidence };
}
