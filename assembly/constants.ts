// Per-channel work of the channels-last kernels, two channels per f64x2: shifts, the end of the
// statistics, and the constants of the normalize and dx passes. Each lane performs the same IEEE
// operations in the same order as the one-channel helpers in stats.ts (which finish odd channel
// counts and do all of the scalar build), so the results are bit-identical to them.
// see: docs/performance.md#channel-pairs
import { FOLD_LIMIT, F32_MAX, RESHIFT, backwardShift, finishStats, setNormalize, setBackward, kS, kA, kB, kC } from './stats';

// @ts-ignore: decorator
@inline function f32pair(p: usize): v128 {
  return f64x2.promote_low_f32x4(v128.load64_zero(p));
}

// @ts-ignore: decorator
@inline function storePair(p: usize, v: v128): void {
  v128.store64_lane(p, f32x4.demote_f64x2_zero(v), 0);
}

// A channel is shifted when its mean is far from 0 against its spread: then Σx² − (Σx)²/n would
// cancel. Far = mean² > SHIFT_RATIO·var on the first SHIFT_ROWS rows: the f32 sums lose at most
// ~(1 + SHIFT_RATIO)× the rounding of Σx² to that cancellation; 16 rows, not 4, so that a zero-mean
// channel is almost never taken for shifted. see: docs/performance.md#shift-rows
/** Rows that decide whether a channel is shifted... */
const SHIFT_ROWS: i32 = 16;
/** ...when mean² > this × var over them... */
const SHIFT_RATIO: f32 = 4;
/** ...by the f64 mean of this many rows (a shift near the mean is all it takes; a constant channel gets its own value, d = 0 exactly). */
const SHIFT_MEAN_ROWS: i32 = 4;

/** The shift of the channel at p of channels-last x[m][·], rows `stride` bytes apart (see rowShifts). */
function rowShift(p: usize, m: i32, stride: usize): f32 {
  let n = min(m, SHIFT_ROWS);
  let s: f32 = 0, q: f32 = 0;
  for (let i = 0; i < n; i++) {
    let v = load<f32>(p + <usize>i * stride);
    s += v; q += v * v;
  }
  // mean² > R·var ⇔ s²·(1 + R) > R·n·q, without the cancellation; shifted too where either side
  // is not finite (|x| ≳ 1e18 overflows f32 there, and a NaN gets a NaN shift: its channel is NaN)
  let a = s * s * (1 + SHIFT_RATIO), b = q * (SHIFT_RATIO * <f32>n);
  if (!(a > b) && a < Infinity && b < Infinity) return 0;
  let k = min(m, SHIFT_MEAN_ROWS), t: f64 = 0;
  for (let i = 0; i < k; i++) t += <f64>load<f32>(p + <usize>i * stride);
  return <f32>(t / <f64>k);
}

/** All ones in the lanes where s²·(1 + R) > R·n·q (rn = R·n) or either side is not finite, as rowShift tests. */
// @ts-ignore: decorator
@inline function farMask(s: v128, q: v128, ratio1: v128, rn: v128): v128 {
  let a = f32x4.mul(f32x4.mul(s, s), ratio1), b = f32x4.mul(q, rn), inf = f32x4.splat(Infinity);
  return v128.or(f32x4.gt(a, b), v128.not(v128.and(f32x4.lt(a, inf), f32x4.lt(b, inf))));
}

/** Shifts of channels 0..c (f32 at pk) of channels-last x[m][c]; the vector lanes do as rowShift does. */
export function rowShifts(x: usize, m: i32, c: i32, pk: usize): void {
  let stride = <usize>c << 2;
  let ch = 0;
  if (ASC_FEATURE_SIMD && m > 0) {
    let c4 = c & ~3, n = min(m, SHIFT_ROWS), k = min(m, SHIFT_MEAN_ROWS);
    let ratio1 = f32x4.splat(1 + SHIFT_RATIO), rn = f32x4.splat(SHIFT_RATIO * <f32>n);
    // which channels are shifted (lane masks at pk), 16 then 4 a step in f32 (a 64-byte line of
    // each row: rows 4 KiB apart would otherwise load each line four times)...
    for (; ch + 16 <= c4; ch += 16) {
      let p = x + (<usize>ch << 2), z = f32x4.splat(0);
      let s0 = z, s1 = z, s2 = z, s3 = z, q0 = z, q1 = z, q2 = z, q3 = z;
      for (let i = 0; i < n; i++) {
        let r = p + <usize>i * stride;
        let v0 = v128.load(r), v1 = v128.load(r, 16), v2 = v128.load(r, 32), v3 = v128.load(r, 48);
        s0 = f32x4.add(s0, v0); q0 = f32x4.add(q0, f32x4.mul(v0, v0));
        s1 = f32x4.add(s1, v1); q1 = f32x4.add(q1, f32x4.mul(v1, v1));
        s2 = f32x4.add(s2, v2); q2 = f32x4.add(q2, f32x4.mul(v2, v2));
        s3 = f32x4.add(s3, v3); q3 = f32x4.add(q3, f32x4.mul(v3, v3));
      }
      let o = pk + (<usize>ch << 2);
      v128.store(o, farMask(s0, q0, ratio1, rn));
      v128.store(o, farMask(s1, q1, ratio1, rn), 16);
      v128.store(o, farMask(s2, q2, ratio1, rn), 32);
      v128.store(o, farMask(s3, q3, ratio1, rn), 48);
    }
    for (; ch < c4; ch += 4) {
      let p = x + (<usize>ch << 2);
      let s = f32x4.splat(0), q = f32x4.splat(0);
      for (let i = 0; i < n; i++) {
        let v = v128.load(p + <usize>i * stride);
        s = f32x4.add(s, v); q = f32x4.add(q, f32x4.mul(v, v));
      }
      v128.store(pk + (<usize>ch << 2), farMask(s, q, ratio1, rn));
    }
    // ...and their shifts, 2 a step in f64 (where either is shifted)
    let cnt = f64x2.splat(<f64>k);
    for (let j = 0; j < c4; j += 2) {
      let p = x + (<usize>j << 2), o = pk + (<usize>j << 2);
      let mask = v128.load64_zero(o);
      if (!v128.any_true(mask)) continue;
      let t = f64x2.splat(0);
      for (let i = 0; i < k; i++) t = f64x2.add(t, f32pair(p + <usize>i * stride));
      v128.store64_lane(o, v128.and(f32x4.demote_f64x2_zero(f64x2.div(t, cnt)), mask), 0);
    }
  }
  for (; ch < c; ch++) store<f32>(pk + (<usize>ch << 2), rowShift(x + (<usize>ch << 2), m, stride));
}

/**
 * Mean, biased variance and invstd (f64 at mean, vari, invstd) of channels 0..c from their shifts
 * (f32 at pk) and shifted sums (f64 at s1, s2), as finishStats; true when any mean is far from its
 * shift (RESHIFT).
 */
export function finishChannels(c: i32, pk: usize, s1: usize, s2: usize, count: f64, eps: f64, mean: usize, vari: usize, invstd: usize): bool {
  let ch = 0, far = false;
  if (ASC_FEATURE_SIMD) {
    let cnt = f64x2.splat(count), e = f64x2.splat(eps), one = f64x2.splat(1), zero = f64x2.splat(0);
    let r = f64x2.splat(RESHIFT), anyFar = zero;
    for (; ch + 2 <= c; ch += 2) {
      let o = <usize>ch << 3;
      let a = v128.load(s1 + o), b = v128.load(s2 + o);
      let m2 = f64x2.sub(b, f64x2.div(f64x2.mul(a, a), cnt));
      let v = f64x2.div(v128.bitselect(zero, m2, f64x2.lt(m2, zero)), cnt);
      let d = f64x2.div(a, cnt);
      v128.store(mean + o, f64x2.add(f32pair(pk + (<usize>ch << 2)), d));
      v128.store(vari + o, v);
      v128.store(invstd + o, f64x2.div(one, f64x2.sqrt(f64x2.add(v, e))));
      anyFar = v128.or(anyFar, f64x2.gt(f64x2.mul(d, d), f64x2.mul(r, v)));
    }
    far = v128.any_true(anyFar);
  }
  for (; ch < c; ch++) {
    let o = <usize>ch << 3;
    if (finishStats(load<f32>(pk + (<usize>ch << 2)), load<f64>(s1 + o), load<f64>(s2 + o), count, eps, mean + o, vari + o, invstd + o)) far = true;
  }
  return far;
}

/** Shifts (f32 at pk) of channels 0..c from their batch means (f64 at mean), for statistics taken again. */
export function meanShifts(c: i32, mean: usize, pk: usize): void {
  for (let ch = 0; ch < c; ch++) store<f32>(pk + (<usize>ch << 2), <f32>load<f64>(mean + (<usize>ch << 3)));
}

/** kS, kA, kB (f32 at ps, pa, pb) of channels 0..c for the normalize pass, as setNormalize. */
export function normalizeConstants(c: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, ps: usize, pa: usize, pb: usize): void {
  let ch = 0;
  if (ASC_FEATURE_SIMD) {
    let one = f64x2.splat(1), zero = f64x2.splat(0), lim = f64x2.splat(FOLD_LIMIT), hi = f64x2.splat(F32_MAX), lo = f64x2.splat(-F32_MAX);
    for (; ch + 2 <= c; ch += 2) {
      let o4 = <usize>ch << 2, o8 = <usize>ch << 3;
      let g = gamma ? f32pair(gamma + o4) : one, b = beta ? f32pair(beta + o4) : zero;
      let mu = v128.load(mean + o8);
      let a = f64x2.mul(g, v128.load(invstd + o8));
      let fold = f64x2.le(f64x2.abs(f64x2.mul(mu, a)), lim);
      let s = v128.andnot(f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(mu)), fold);
      storePair(ps + o4, s);
      // as finiteScale: pmin/pmax keep a NaN in a (their first operand)
      storePair(pa + o4, f64x2.pmax(f64x2.pmin(a, hi), lo));
      storePair(pb + o4, f64x2.sub(b, f64x2.mul(f64x2.sub(mu, s), a)));
    }
  }
  for (; ch < c; ch++) {
    let o4 = <usize>ch << 2;
    setNormalize(ch, gamma, beta, load<f64>(mean + (<usize>ch << 3)), load<f64>(invstd + (<usize>ch << 3)));
    store<f32>(ps + o4, kS); store<f32>(pa + o4, kA); store<f32>(pb + o4, kB);
  }
}

/** Shifts of the backward sums (f32 at pk) of channels 0..c, as backwardShift. */
export function backwardShifts(c: i32, mean: usize, invstd: usize, pk: usize): void {
  for (let ch = 0; ch < c; ch++) {
    let o = <usize>ch << 3;
    store<f32>(pk + (<usize>ch << 2), backwardShift(load<f64>(mean + o), load<f64>(invstd + o)));
  }
}

/**
 * kS, kA, kB, kC (f32 at ps, pa, pb, pc) of channels 0..c for the dx pass from Σdy and Σdy·(x − K)
 * (f64 at s1, s2; K from backwardShifts), and dgamma, dbeta added to: as setBackward.
 */
export function backwardConstants(c: i32, m: f64, gamma: usize, mean: usize, invstd: usize, s1: usize, s2: usize, dgamma: usize, dbeta: usize, train: i32, ps: usize, pa: usize, pb: usize, pc: usize): void {
  let ch = 0;
  if (ASC_FEATURE_SIMD) {
    let one = f64x2.splat(1), zero = f64x2.splat(0), mm = f64x2.splat(m), lim = f64x2.splat(FOLD_LIMIT);
    for (; ch + 2 <= c; ch += 2) {
      let o4 = <usize>ch << 2, o8 = <usize>ch << 3;
      let mu = v128.load(mean + o8), inv = v128.load(invstd + o8);
      let sdy = v128.load(s1 + o8), sdyd = v128.load(s2 + o8);
      let hi = f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(mu));
      let kb = v128.andnot(hi, f64x2.le(f64x2.mul(f64x2.abs(mu), inv), one));
      let dg = f64x2.mul(f64x2.sub(sdyd, f64x2.mul(f64x2.sub(mu, kb), sdy)), inv);
      if (dgamma) v128.store64_lane(dgamma + o4, f32x4.add(v128.load64_zero(dgamma + o4), f32x4.demote_f64x2_zero(dg)), 0);
      if (dbeta) v128.store64_lane(dbeta + o4, f32x4.add(v128.load64_zero(dbeta + o4), f32x4.demote_f64x2_zero(sdy)), 0);
      let a = f64x2.mul(gamma ? f32pair(gamma + o4) : one, inv);
      storePair(pa + o4, a);
      if (train) {
        let b = f64x2.div(f64x2.mul(f64x2.mul(a, inv), dg), mm);
        let s = v128.andnot(hi, f64x2.le(f64x2.mul(f64x2.abs(mu), inv), lim));
        storePair(ps + o4, s);
        storePair(pb + o4, b);
        storePair(pc + o4, f64x2.sub(f64x2.div(f64x2.mul(a, sdy), mm), f64x2.mul(b, f64x2.sub(mu, s))));
      } else {
        storePair(ps + o4, zero); storePair(pb + o4, zero); storePair(pc + o4, zero);
      }
    }
  }
  for (; ch < c; ch++) {
    let o4 = <usize>ch << 2, o8 = <usize>ch << 3;
    setBackward(ch, m, gamma, load<f64>(mean + o8), load<f64>(invstd + o8), load<f64>(s1 + o8), load<f64>(s2 + o8), dgamma, dbeta, train);
    store<f32>(ps + o4, kS); store<f32>(pa + o4, kA); store<f32>(pb + o4, kB); store<f32>(pc + o4, kC);
  }
}
