// Shared numerics for the BatchNorm kernels: shifted one-pass sums and the per-channel constants.
//
// NOTE: f32 E[x²]−E[x]² loses every digit of the variance at mean 1e4, std 0.1. We sum d = x − K and
// d² with K a shift near the channel mean (the f32-rounded mean of a first sample, taken in f64, so a
// constant channel has K equal to its value and d = 0 exactly; K = 0 where that mean is within a
// standard deviation of 0). f32 partial sums cover at most 32
// terms per lane before they are flushed into f64, so the sums keep ~1e-6 relative accuracy, and
// M2 = Σd² − (Σd)²/M has no cancellation beyond (mean − K)²/var, which is tiny.
// see: Chan, Golub, LeVeque, "Algorithms for computing the sample variance", 1983 (shifted data);
//      https://en.wikipedia.org/wiki/Algorithms_for_calculating_variance#Computing_shifted_data

/** Values summed in f64 to choose a channel's shift (any shift near the mean will do). */
// see: docs/performance.md#shift-sample
export const SHIFT_SAMPLE: i32 = 32;
/** f32x4 terms per accumulator before a flush into f64 (≤ 32 terms: ≤ 2e-6 relative error). */
export const FLUSH: i32 = 32;
/** Fold y = x·a + b when |mean·a| ≤ this: x·a then rounds at most ~16 ulps of an O(1) output. */
export const FOLD_LIMIT: f64 = 16;

// Mode flags of the kernels' inner loops, passed as type arguments (`isInteger<On>()` is true): each
// instantiation is compiled on its own, branch-free. Literal arguments of @inline functions are not
// enough where several copies are inlined into one function (binaryen's code folding merges them).
// see: docs/performance.md#mode-flags
export type On = i32;
export type Off = f32;

// Results of the helpers below (AssemblyScript has no tuples; these never leave a kernel call).
export let sum1: f64 = 0;
export let sum2: f64 = 0;
export let kS: f32 = 0;
export let kA: f32 = 0;
export let kB: f32 = 0;
export let kC: f32 = 0;

/** Starts the two sums. */
// @ts-ignore: decorator
@inline export function sumsReset(): void {
  sum1 = 0; sum2 = 0;
}

/** Adds the four f32 lanes of `v` to the four f64 values at `p`. */
// @ts-ignore: decorator
@inline export function flush4(p: usize, v: v128): void {
  v128.store(p, f64x2.add(v128.load(p), f64x2.promote_low_f32x4(v)));
  v128.store(p, f64x2.add(v128.load(p, 16), f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1))), 16);
}

/**
 * The f32 shift for a channel from `n` of its values `stride` bytes apart: 0 where their mean is
 * within one standard deviation of 0 (then Σx, Σx² lose < 1 bit and the loop saves a subtraction),
 * else their mean, summed in f64 (a constant channel gets its own value: d = 0 exactly).
 */
export function shiftOf(p: usize, n: i32, stride: usize): f32 {
  if (n <= 0) return 0;
  let s: f64 = 0;
  for (let i = 0; i < n; i++) s += <f64>load<f32>(p + <usize>i * stride);
  let mean = s / <f64>n;
  let q: f64 = 0;
  for (let i = 0; i < n; i++) {
    let d = <f64>load<f32>(p + <usize>i * stride) - mean;
    q += d * d;
  }
  return mean * mean <= q / <f64>n ? 0 : <f32>mean;
}

/** sum1 += Σ(x − K), sum2 += Σ(x − K)² over `n` contiguous values. */
export function shiftedSums(p: usize, n: i32, k: f32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    // four independent pairs of accumulators: enough adds in flight to hide their latency
    let kv = f32x4.splat(k);
    let f1 = f64x2.splat(0), f2 = f64x2.splat(0);
    let n16 = n & ~15;
    while (i < n16) {
      let end = min(n16, i + FLUSH * 16);
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      let q0 = f32x4.splat(0), q1 = f32x4.splat(0), q2 = f32x4.splat(0), q3 = f32x4.splat(0);
      if (k == 0) {
        for (; i < end; i += 16) {
          let q = p + (<usize>i << 2);
          let e0 = v128.load(q), e1 = v128.load(q, 16), e2 = v128.load(q, 32), e3 = v128.load(q, 48);
          a0 = f32x4.add(a0, e0); q0 = f32x4.add(q0, f32x4.mul(e0, e0));
          a1 = f32x4.add(a1, e1); q1 = f32x4.add(q1, f32x4.mul(e1, e1));
          a2 = f32x4.add(a2, e2); q2 = f32x4.add(q2, f32x4.mul(e2, e2));
          a3 = f32x4.add(a3, e3); q3 = f32x4.add(q3, f32x4.mul(e3, e3));
        }
      } else {
        for (; i < end; i += 16) {
          let q = p + (<usize>i << 2);
          let e0 = f32x4.sub(v128.load(q), kv), e1 = f32x4.sub(v128.load(q, 16), kv);
          let e2 = f32x4.sub(v128.load(q, 32), kv), e3 = f32x4.sub(v128.load(q, 48), kv);
          a0 = f32x4.add(a0, e0); q0 = f32x4.add(q0, f32x4.mul(e0, e0));
          a1 = f32x4.add(a1, e1); q1 = f32x4.add(q1, f32x4.mul(e1, e1));
          a2 = f32x4.add(a2, e2); q2 = f32x4.add(q2, f32x4.mul(e2, e2));
          a3 = f32x4.add(a3, e3); q3 = f32x4.add(q3, f32x4.mul(e3, e3));
        }
      }
      f1 = f64x2.add(f1, widen(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3))));
      f2 = f64x2.add(f2, widen(f32x4.add(f32x4.add(q0, q1), f32x4.add(q2, q3))));
    }
    sum1 += f64x2.extract_lane(f1, 0) + f64x2.extract_lane(f1, 1);
    sum2 += f64x2.extract_lane(f2, 0) + f64x2.extract_lane(f2, 1);
  }
  // the scalar path (tails, and everything in the scalar build) sums in f64: as fast as f32 there
  let s1: f64 = 0, s2: f64 = 0;
  for (; i < n; i++) {
    let e = <f64>(load<f32>(p + (<usize>i << 2)) - k);
    s1 += e; s2 += e * e;
  }
  sum1 += s1; sum2 += s2;
}

/** The four f32 lanes of v added in pairs into two f64 lanes. */
// @ts-ignore: decorator
@inline function widen(v: v128): v128 {
  return f64x2.add(f64x2.promote_low_f32x4(v), f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1)));
}

/** As shiftedSums over two runs of `n` values, at p and p + gap, read side by side (SIMD build, beyond the caches). */
// see: docs/performance.md#two-streams
export function shiftedSums2(p: usize, gap: usize, n: i32, k: f32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) i = sideBySide(p, gap, n, k);
  // the tails of both runs
  if (i < n) {
    shiftedSums(p + (<usize>i << 2), n - i, k);
    shiftedSums(p + gap + (<usize>i << 2), n - i, k);
  }
}

/** shiftedSums2's vector part: values 0..n − n % 8 of both runs. Returns n − n % 8. */
// @ts-ignore: decorator
@inline function sideBySide(p: usize, gap: usize, n: i32, k: f32): i32 {
  let i = 0;
  let kv = f32x4.splat(k), f1 = f64x2.splat(0), f2 = f64x2.splat(0), z = f32x4.splat(0);
  for (let n8 = n & ~7; i < n8;) {
    let end = min(n8, i + FLUSH * 8);
    // one term of 4 vectors (tree-summed) a step: FLUSH terms per lane before the f64 flush
    let a = z, b = z;
    for (; i < end; i += 8) {
      let q = p + (<usize>i << 2), u = q + gap;
      let d0 = f32x4.sub(v128.load(q), kv), d1 = f32x4.sub(v128.load(q, 16), kv);
      let d2 = f32x4.sub(v128.load(u), kv), d3 = f32x4.sub(v128.load(u, 16), kv);
      a = f32x4.add(a, f32x4.add(f32x4.add(d0, d1), f32x4.add(d2, d3)));
      b = f32x4.add(b, f32x4.add(f32x4.add(f32x4.mul(d0, d0), f32x4.mul(d1, d1)), f32x4.add(f32x4.mul(d2, d2), f32x4.mul(d3, d3))));
    }
    f1 = f64x2.add(f1, widen(a));
    f2 = f64x2.add(f2, widen(b));
  }
  sum1 += f64x2.extract_lane(f1, 0) + f64x2.extract_lane(f1, 1);
  sum2 += f64x2.extract_lane(f2, 0) + f64x2.extract_lane(f2, 1);
  return i;
}

/** sum1 += Σdy, sum2 += Σdy·(x − K) over `n` contiguous values. */
export function dotSums(px: usize, pdy: usize, n: i32, k: f32): void {
  dotSumsMode(px, pdy, n, k, 0, 0, 0, false);
}

/** Where BN+ReLU's output is positive: (x − s)·a + b > 0 with the forward's constants (lanes all 1s or 0s). */
// @ts-ignore: decorator
@inline export function reluMask(x: v128, s: v128, a: v128, b: v128): v128 {
  return f32x4.gt(f32x4.add(f32x4.mul(f32x4.sub(x, s), a), b), f32x4.splat(0));
}

/**
 * As dotSums, for BN followed by ReLU: dy counts only where the forward's output was positive,
 * recomputed from x with the forward's constants fs, fa, fb (bit-identical to the forward).
 */
export function dotSumsRelu(px: usize, pdy: usize, n: i32, k: f32, fs: f32, fa: f32, fb: f32): void {
  dotSumsMode(px, pdy, n, k, fs, fa, fb, true);
}

// One body for both, inlined once into each (so a literal `relu` is enough: see On/Off above): each
// copy is branch-free and both sum in the same order (BN+ReLU fused equals BN then ReLU bit for bit).
// @ts-ignore: decorator
@inline function dotSumsMode(px: usize, pdy: usize, n: i32, k: f32, fs: f32, fa: f32, fb: f32, relu: bool): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let kv = f32x4.splat(k), sv = f32x4.splat(fs), av = f32x4.splat(fa), bv = f32x4.splat(fb);
    let f1 = f64x2.splat(0), f2 = f64x2.splat(0);
    let n8 = n & ~7;
    while (i < n8) {
      let end = min(n8, i + FLUSH * 8);
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), b0 = f32x4.splat(0), b1 = f32x4.splat(0);
      for (; i < end; i += 8) {
        let o = <usize>i << 2;
        let x0 = v128.load(px + o), x1 = v128.load(px + o, 16);
        let g0 = v128.load(pdy + o), g1 = v128.load(pdy + o, 16);
        if (relu) {
          g0 = v128.and(g0, reluMask(x0, sv, av, bv));
          g1 = v128.and(g1, reluMask(x1, sv, av, bv));
        }
        a0 = f32x4.add(a0, g0); a1 = f32x4.add(a1, g1);
        b0 = f32x4.add(b0, f32x4.mul(g0, f32x4.sub(x0, kv)));
        b1 = f32x4.add(b1, f32x4.mul(g1, f32x4.sub(x1, kv)));
      }
      let a = f32x4.add(a0, a1), b = f32x4.add(b0, b1);
      f1 = f64x2.add(f1, f64x2.add(f64x2.promote_low_f32x4(a), f64x2.promote_low_f32x4(i32x4.shuffle(a, a, 2, 3, 0, 1))));
      f2 = f64x2.add(f2, f64x2.add(f64x2.promote_low_f32x4(b), f64x2.promote_low_f32x4(i32x4.shuffle(b, b, 2, 3, 0, 1))));
    }
    sum1 += f64x2.extract_lane(f1, 0) + f64x2.extract_lane(f1, 1);
    sum2 += f64x2.extract_lane(f2, 0) + f64x2.extract_lane(f2, 1);
  }
  // the scalar path (tails, and everything in the scalar build) sums in f64: as fast as f32 there
  let s1: f64 = 0, s2: f64 = 0;
  for (; i < n; i++) {
    let o = <usize>i << 2;
    let x = load<f32>(px + o);
    let g: f64 = !relu || (x - fs) * fa + fb > 0 ? <f64>load<f32>(pdy + o) : 0;
    s1 += g; s2 += g * <f64>(x - k);
  }
  sum1 += s1; sum2 += s2;
}

/**
 * The shift for the backward sums Σdy·(x − K): 0 where |mean| ≤ σ (Σdy·x then cancels less than a
 * bit and the loop saves a subtraction), else the mean rounded to f32.
 */
export function backwardShift(mean: f64, invstd: f64): f32 {
  return Math.abs(mean) * invstd <= 1 ? 0 : <f32>mean;
}

// The shift K comes from a first sample (the first rows, or the first run): when the batch is
// unlike it (data sorted by class, say), the batch mean lies far from K and the shifted sums cancel,
// their rounding grown by 1 + (mean − K)²/var. Beyond RESHIFT the kernels take the sums again,
// shifted by the batch mean (a second read of x, only then).
/** (mean − K)²/var above which a channel's statistics are taken again. */
export const RESHIFT: f64 = 16;

/** Writes mean, biased var and invstd of one channel (f64) from its shift and shifted sums; true when the mean is far from the shift (RESHIFT). */
export function finishStats(k: f32, s1: f64, s2: f64, count: f64, eps: f64, pm: usize, pv: usize, pi: usize): bool {
  let m2 = s2 - s1 * s1 / count;
  let v = (m2 < 0 ? 0 : m2) / count; // rounding can dip below 0; NaN stays NaN
  let d = s1 / count;
  store<f64>(pm, <f64>k + d);
  store<f64>(pv, v);
  store<f64>(pi, 1 / Math.sqrt(v + eps));
  return d * d > RESHIFT * v;
}

// NOTE: y = (x − kS)·kA + kB. Folded (kS = 0) where |mean·a| ≤ FOLD_LIMIT; otherwise kS is the
// mean rounded to f32 and kB absorbs the remainder: x·a alone would be ~|mean|·invstd ≫ 1 at large
// offsets (3e-3 error at mean 1e4, std 0.1), while x − kS is exact near the mean and gives a
// constant channel exactly β.
/** Sets kS, kA, kB for normalizing channel `c`. */
export function setNormalize(c: i32, gamma: usize, beta: usize, mean: f64, invstd: f64): void {
  let g: f64 = gamma ? <f64>load<f32>(gamma + (<usize>c << 2)) : 1;
  let b: f64 = beta ? <f64>load<f32>(beta + (<usize>c << 2)) : 0;
  let a = g * invstd;
  let s: f64 = Math.abs(mean * a) <= FOLD_LIMIT ? 0 : <f64><f32>mean;
  kS = <f32>s;
  kA = <f32>finiteScale(a);
  kB = <f32>(b - (mean - s) * a);
}

/** The largest finite f32. */
export const F32_MAX: f64 = 3.4028234663852886e38;

// NOTE: γ·invstd overflows f32 where var + eps underflows (eps = 5e-324 on a constant channel:
// invstd ≈ 4.5e161): kA = ±F32_MAX keeps (x − kS)·kA = 0 there, so y = β as in f64, not 0·∞ = NaN.
/** a clamped to ±F32_MAX (NaN stays NaN). */
// @ts-ignore: decorator
@inline export function finiteScale(a: f64): f64 {
  return a > F32_MAX ? F32_MAX : a < -F32_MAX ? -F32_MAX : a;
}

/**
 * Sets kS, kA, kB, kC for channel `ch` so that dx = kA·dy − kB·(x − kS) − kC, from
 * sdy = Σdy and sdyd = Σdy·(x − K) (K = backwardShift(mean, invstd)), and adds to dgamma, dbeta.
 * Training: dx = γ·invstd/M·(M·dy − dβ − x̂·dγ); eval (fixed statistics): dx = γ·invstd·dy.
 */
export function setBackward(ch: i32, m: f64, gamma: usize, mean: f64, invstd: f64, sdy: f64, sdyd: f64, dgamma: usize, dbeta: usize, train: i32): void {
  let hi = <f64><f32>mean;
  let kb = <f64>backwardShift(mean, invstd);
  let dg = (sdyd - (mean - kb) * sdy) * invstd; // Σdy·(x − mean)·invstd
  let o = <usize>ch << 2;
  if (dgamma) store<f32>(dgamma + o, load<f32>(dgamma + o) + <f32>dg);
  if (dbeta) store<f32>(dbeta + o, load<f32>(dbeta + o) + <f32>sdy);
  let g: f64 = gamma ? <f64>load<f32>(gamma + o) : 1;
  let a = g * invstd;
  kA = <f32>a;
  if (train) {
    // dx = a·dy − b·(x − mean) − a·dβ/M with b = a·invstd·dγ/M; (x − mean) folded like setNormalize
    let b = a * invstd * dg / m;
    let s: f64 = Math.abs(mean) * invstd <= FOLD_LIMIT ? 0 : hi;
    kS = <f32>s;
    kB = <f32>b;
    kC = <f32>(a * sdy / m - b * (mean - s));
  } else {
    kS = 0; kB = 0; kC = 0;
  }
}
