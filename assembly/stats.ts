// Shared numerics for the BatchNorm kernels: exact per-chunk statistics and their f64 merge.
//
// NOTE: f32 accumulation of E[x²]−E[x]² loses every digit of the variance at mean 1e4, std 0.1.
// Each chunk (≤ CHUNK values, so it stays in L1) is read twice: once to sum in f64 (exact for
// f32 inputs: a constant chunk gives its value back bit for bit), once to sum d = x − hi and d² in
// f32, where hi is the chunk mean rounded to f32, so d is small and exact (Sterbenz). The chunks
// are then merged in f64 with Chan's parallel update.
// see: Chan, Golub, LeVeque, "Algorithms for computing the sample variance", 1983 (corrected
//      two-pass and the pairwise merge); https://en.wikipedia.org/wiki/Algorithms_for_calculating_variance

/**
 * Values per statistics chunk: 4 KiB of f32, read twice while it sits in L1. It also bounds the
 * f32 partial sums (≤ 128 terms per SIMD lane, ≤ 1e-5 relative error even in the worst case).
 */
export const CHUNK: i32 = 1024;

// Results of the helpers below (AssemblyScript has no tuples; these globals never leave a call).
export let chunkMean: f64 = 0;
export let chunkM2: f64 = 0;
export let dotA: f64 = 0;
export let dotB: f64 = 0;

/** Horizontal sum of an f32x4 in a fixed order (deterministic). */
// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** Merges (n, chunkMean, chunkM2) into a mean and M2 stored as f64 at pm, pq after `count` values. */
export function mergeInto(pm: usize, pq: usize, count: f64, n: f64): void {
  if (count == 0) {
    store<f64>(pm, chunkMean); store<f64>(pq, chunkM2);
    return;
  }
  let total = count + n;
  let mean = load<f64>(pm);
  let delta = chunkMean - mean;
  store<f64>(pm, mean + delta * (n / total));
  store<f64>(pq, load<f64>(pq) + chunkM2 + delta * delta * (count * n / total));
}

/** Mean and M2 = Σ(x − mean)² of `n` contiguous f32 at `p` (n ≥ 1), into chunkMean/chunkM2. */
export function chunkStats(p: usize, n: i32): void {
  let i = 0;
  let sum: f64 = 0;
  if (ASC_FEATURE_SIMD) {
    let a0 = f64x2.splat(0), a1 = f64x2.splat(0), a2 = f64x2.splat(0), a3 = f64x2.splat(0);
    for (; i + 8 <= n; i += 8) {
      let q = p + (<usize>i << 2);
      let v0 = v128.load(q), v1 = v128.load(q, 16);
      a0 = f64x2.add(a0, f64x2.promote_low_f32x4(v0));
      a1 = f64x2.add(a1, f64x2.promote_low_f32x4(i32x4.shuffle(v0, v0, 2, 3, 0, 1)));
      a2 = f64x2.add(a2, f64x2.promote_low_f32x4(v1));
      a3 = f64x2.add(a3, f64x2.promote_low_f32x4(i32x4.shuffle(v1, v1, 2, 3, 0, 1)));
    }
    let s = f64x2.add(f64x2.add(a0, a1), f64x2.add(a2, a3));
    sum = f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
  }
  for (; i < n; i++) sum += <f64>load<f32>(p + (<usize>i << 2));
  let mean = sum / <f64>n;
  let hi = <f32>mean;
  let lo = mean - <f64>hi;
  i = 0;
  let sd: f64 = 0, sq: f64 = 0;
  if (ASC_FEATURE_SIMD) {
    let h = f32x4.splat(hi);
    let d0 = f32x4.splat(0), d1 = f32x4.splat(0), q0 = f32x4.splat(0), q1 = f32x4.splat(0);
    for (; i + 8 <= n; i += 8) {
      let q = p + (<usize>i << 2);
      let e0 = f32x4.sub(v128.load(q), h), e1 = f32x4.sub(v128.load(q, 16), h);
      d0 = f32x4.add(d0, e0); q0 = f32x4.add(q0, f32x4.mul(e0, e0));
      d1 = f32x4.add(d1, e1); q1 = f32x4.add(q1, f32x4.mul(e1, e1));
    }
    sd = <f64>hsum(f32x4.add(d0, d1)); sq = <f64>hsum(f32x4.add(q0, q1));
  }
  // the scalar path (tails, and the whole chunk in the scalar build) sums in f64: as fast as f32 there
  for (; i < n; i++) {
    let e = <f64>(load<f32>(p + (<usize>i << 2)) - hi);
    sd += e; sq += e * e;
  }
  // Σ(x − mean)² = Σ(d − lo)² = Σd² − 2·lo·Σd + n·lo²
  let m2 = sq - 2 * lo * sd + <f64>n * lo * lo;
  chunkMean = mean;
  chunkM2 = m2 < 0 ? 0 : m2; // rounding can dip below 0; NaN stays NaN
}

/** Mean and M2 of `n` f32 spaced `stride` bytes apart (scalar; channels-last tails). */
export function chunkStatsStrided(p: usize, n: i32, stride: usize): void {
  let sum: f64 = 0;
  for (let i = 0; i < n; i++) sum += <f64>load<f32>(p + <usize>i * stride);
  let mean = sum / <f64>n;
  let hi = <f32>mean;
  let lo = mean - <f64>hi;
  let sd: f64 = 0, sq: f64 = 0;
  for (let i = 0; i < n; i++) {
    let e = <f64>(load<f32>(p + <usize>i * stride) - hi);
    sd += e; sq += e * e;
  }
  let m2 = sq - 2 * lo * sd + <f64>n * lo * lo;
  chunkMean = mean;
  chunkM2 = m2 < 0 ? 0 : m2; // rounding can dip below 0; NaN stays NaN
}

/** Starts the two backward reductions. */
// @ts-ignore: decorator
@inline export function dotsReset(): void {
  dotA = 0; dotB = 0;
}

/** dotA += Σdy, dotB += Σdy·(x − hi) over `n` contiguous values (f32 inside, f64 across calls). */
export function chunkDots(px: usize, pdy: usize, n: i32, hi: f32): void {
  let i = 0;
  let sa: f64 = 0, sb: f64 = 0;
  if (ASC_FEATURE_SIMD) {
    let h = f32x4.splat(hi);
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), b0 = f32x4.splat(0), b1 = f32x4.splat(0);
    for (; i + 8 <= n; i += 8) {
      let o = <usize>i << 2;
      let g0 = v128.load(pdy + o), g1 = v128.load(pdy + o, 16);
      a0 = f32x4.add(a0, g0); a1 = f32x4.add(a1, g1);
      b0 = f32x4.add(b0, f32x4.mul(g0, f32x4.sub(v128.load(px + o), h)));
      b1 = f32x4.add(b1, f32x4.mul(g1, f32x4.sub(v128.load(px + o, 16), h)));
    }
    sa = <f64>hsum(f32x4.add(a0, a1)); sb = <f64>hsum(f32x4.add(b0, b1));
  }
  for (; i < n; i++) {
    let o = <usize>i << 2;
    let g = <f64>load<f32>(pdy + o);
    sa += g; sb += g * <f64>(load<f32>(px + o) - hi);
  }
  dotA += sa; dotB += sb;
}

/** dotA += Σdy, dotB += Σdy·(x − hi) over `n` values spaced `stride` bytes apart (scalar). */
export function chunkDotsStrided(px: usize, pdy: usize, n: i32, stride: usize, hi: f32): void {
  let sa: f64 = 0, sb: f64 = 0;
  for (let i = 0; i < n; i++) {
    let o = <usize>i * stride;
    let g = <f64>load<f32>(pdy + o);
    sa += g; sb += g * <f64>(load<f32>(px + o) - hi);
  }
  dotA += sa; dotB += sb;
}

// Per-channel constants of the current channel, set by setNormalize / setBackward.
export let kS: f32 = 0;
export let kA: f32 = 0;
export let kB: f32 = 0;
export let kC: f32 = 0;

// NOTE: y = (x − hi)·a + (β − lo·a), with the mean split as hi (f32) + lo. The folded form
// x·a + (β − mean·a) rounds x·a, which is ~|mean|·invstd ≫ 1 at large offsets (3e-3 error at
// mean 1e4, std 0.1); x − hi is exact near the mean and gives a constant channel exactly β.
// @ts-ignore: decorator
@inline export function setNormalize(c: i32, gamma: usize, beta: usize, mean: f64, invstd: f64): void {
  let g: f64 = gamma ? <f64>load<f32>(gamma + (<usize>c << 2)) : 1;
  let b: f64 = beta ? <f64>load<f32>(beta + (<usize>c << 2)) : 0;
  let hi = <f32>mean;
  let a = g * invstd;
  kS = hi;
  kA = <f32>a;
  kB = <f32>(b - (mean - <f64>hi) * a);
}

/**
 * Sets kS, kA, kB, kC for one channel from dbeta = Σdy and dot = Σdy·(x − mean), and accumulates
 * dgamma, dbeta. Training: dx = γ·invstd/M·(M·dy − dbeta − x̂·dgamma); eval: dx = γ·invstd·dy.
 */
export function setBackward(ch: i32, m: f64, gamma: usize, mean: f64, invstd: f64, sdy: f64, sdyd: f64, dgamma: usize, dbeta: usize, train: i32): void {
  let hi = <f32>mean;
  let lo = mean - <f64>hi;
  let dot = sdyd - lo * sdy; // Σdy·(x − hi − lo)
  let dg = dot * invstd;
  let o = <usize>ch << 2;
  if (dgamma) store<f32>(dgamma + o, load<f32>(dgamma + o) + <f32>dg);
  if (dbeta) store<f32>(dbeta + o, load<f32>(dbeta + o) + <f32>sdy);
  let g: f64 = gamma ? <f64>load<f32>(gamma + o) : 1;
  let a = g * invstd;
  kS = hi;
  kA = <f32>a;
  if (train) {
    // dx = a·dy − a·invstd·dgamma/M·(x − hi − lo) − a·dbeta/M
    let b = a * invstd * dg / m;
    kB = <f32>b;
    kC = <f32>(a * sdy / m - b * lo);
  } else {
    kB = 0; kC = 0;
  }
}

