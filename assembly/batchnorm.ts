// BatchNorm kernels for channel-first layouts: x[n][c][l] with l = 1 (NC as [n][c][1] is better
// served by the channels-last kernels), L, H·W or D·H·W. Each channel's n runs of l values are
// handled together, so the second pass over a channel finds it in cache.
// see: Ioffe & Szegedy, "Batch Normalization", 2015, https://arxiv.org/abs/1502.03167 (Alg. 1 and
//      the backward in §3); PyTorch aten/src/ATen/native/cpu/batch_norm_kernel.cpp (two-reduction backward)
import {
  CHUNK, chunkStats, mergeInto,
  chunkDots, dotsReset, dotA, dotB, kS, kA, kB, kC, setNormalize, setBackward,
} from './stats';

/** y = (x − kS)·kA + kB over `n` contiguous values. */
function normRun(px: usize, py: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let s = f32x4.splat(kS), a = f32x4.splat(kA), b = f32x4.splat(kB);
    for (; i + 16 <= n; i += 16) {
      let o = <usize>i << 2;
      let v0 = v128.load(px + o), v1 = v128.load(px + o, 16), v2 = v128.load(px + o, 32), v3 = v128.load(px + o, 48);
      v128.store(py + o, f32x4.add(f32x4.mul(f32x4.sub(v0, s), a), b));
      v128.store(py + o, f32x4.add(f32x4.mul(f32x4.sub(v1, s), a), b), 16);
      v128.store(py + o, f32x4.add(f32x4.mul(f32x4.sub(v2, s), a), b), 32);
      v128.store(py + o, f32x4.add(f32x4.mul(f32x4.sub(v3, s), a), b), 48);
    }
    for (; i + 4 <= n; i += 4) {
      let o = <usize>i << 2;
      v128.store(py + o, f32x4.add(f32x4.mul(f32x4.sub(v128.load(px + o), s), a), b));
    }
  }
  let s = kS, a = kA, b = kB;
  for (; i < n; i++) {
    let o = <usize>i << 2;
    store<f32>(py + o, (load<f32>(px + o) - s) * a + b);
  }
}

/** Training forward: batch mean and biased variance per channel, then y. Writes mean, var, invstd (f64[c]). */
export function bnTrainNCL(x: usize, y: usize, n: i32, c: i32, l: i32, gamma: usize, beta: usize, eps: f64, mean: usize, vari: usize, invstd: usize): void {
  let plane = <usize>c * <usize>l << 2;
  for (let ch = 0; ch < c; ch++) {
    let base = <usize>ch * <usize>l << 2;
    let pm = mean + (<usize>ch << 3), pv = vari + (<usize>ch << 3);
    let count: f64 = 0;
    for (let b = 0; b < n; b++) {
      let p = x + base + <usize>b * plane;
      for (let off = 0; off < l; off += CHUNK) {
        let len = min(CHUNK, l - off);
        chunkStats(p + (<usize>off << 2), len);
        mergeInto(pm, pv, count, <f64>len);
        count += <f64>len;
      }
    }
    let m = load<f64>(pm);
    let v = load<f64>(pv) / count; // biased: M2 / M
    let inv = 1 / Math.sqrt(v + eps);
    store<f64>(pv, v);
    store<f64>(invstd + (<usize>ch << 3), inv);
    setNormalize(ch, gamma, beta, m, inv);
    for (let b = 0; b < n; b++) {
      let o = base + <usize>b * plane;
      normRun(x + o, y + o, l);
    }
  }
}

/** Normalizes with given per-channel mean and invstd (f64[c]): inference with running statistics. */
export function bnNormalizeNCL(x: usize, y: usize, n: i32, c: i32, l: i32, gamma: usize, beta: usize, mean: usize, invstd: usize): void {
  let plane = <usize>c * <usize>l << 2;
  for (let ch = 0; ch < c; ch++) {
    let base = <usize>ch * <usize>l << 2;
    setNormalize(ch, gamma, beta, load<f64>(mean + (<usize>ch << 3)), load<f64>(invstd + (<usize>ch << 3)));
    for (let b = 0; b < n; b++) {
      let o = base + <usize>b * plane;
      normRun(x + o, y + o, l);
    }
  }
}

/** dx = kA·dy − kB·(x − kS) − kC over `n` contiguous values. */
function dxRun(px: usize, pdy: usize, pdx: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let s = f32x4.splat(kS), a = f32x4.splat(kA), b = f32x4.splat(kB), k = f32x4.splat(kC);
    for (; i + 8 <= n; i += 8) {
      let o = <usize>i << 2;
      let t0 = f32x4.sub(f32x4.mul(v128.load(pdy + o), a), f32x4.mul(f32x4.sub(v128.load(px + o), s), b));
      let t1 = f32x4.sub(f32x4.mul(v128.load(pdy + o, 16), a), f32x4.mul(f32x4.sub(v128.load(px + o, 16), s), b));
      v128.store(pdx + o, f32x4.sub(t0, k));
      v128.store(pdx + o, f32x4.sub(t1, k), 16);
    }
  }
  let s = kS, a = kA, b = kB, k = kC;
  for (; i < n; i++) {
    let o = <usize>i << 2;
    store<f32>(pdx + o, (load<f32>(pdy + o) * a - (load<f32>(px + o) - s) * b) - k);
  }
}

/** dx = kA·dy over `n` contiguous values (backward through fixed statistics). */
function scaleRun(pdy: usize, pdx: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let a = f32x4.splat(kA);
    for (; i + 8 <= n; i += 8) {
      let o = <usize>i << 2;
      v128.store(pdx + o, f32x4.mul(v128.load(pdy + o), a));
      v128.store(pdx + o, f32x4.mul(v128.load(pdy + o, 16), a), 16);
    }
  }
  let a = kA;
  for (; i < n; i++) {
    let o = <usize>i << 2;
    store<f32>(pdx + o, load<f32>(pdy + o) * a);
  }
}

/** Backward: dx, and dgamma/dbeta (f32[c], added to when non-zero). `train` = 1 for batch statistics. */
export function bnBackwardNCL(x: usize, dy: usize, dx: usize, n: i32, c: i32, l: i32, gamma: usize, mean: usize, invstd: usize, dgamma: usize, dbeta: usize, train: i32): void {
  let plane = <usize>c * <usize>l << 2;
  let m = <f64>n * <f64>l;
  for (let ch = 0; ch < c; ch++) {
    let base = <usize>ch * <usize>l << 2;
    let mu = load<f64>(mean + (<usize>ch << 3));
    let inv = load<f64>(invstd + (<usize>ch << 3));
    let hi = <f32>mu;
    dotsReset();
    for (let b = 0; b < n; b++) {
      let o = base + <usize>b * plane;
      for (let off = 0; off < l; off += CHUNK) {
        let q = o + (<usize>off << 2);
        chunkDots(x + q, dy + q, min(CHUNK, l - off), hi);
      }
    }
    setBackward(ch, m, gamma, mu, inv, dotA, dotB, dgamma, dbeta, train);
    for (let b = 0; b < n; b++) {
      let o = base + <usize>b * plane;
      if (train) dxRun(x + o, dy + o, dx + o, l);
      else scaleRun(dy + o, dx + o, l);
    }
  }
}
