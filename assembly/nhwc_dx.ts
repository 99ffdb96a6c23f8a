// Channels-last inner loops of the backward's dx pass: dx = a·g − b·(x − s) − k per channel
// (a·g through fixed statistics), g = dy, or for BN+ReLU dy where the forward's output was positive.
// `train`, `folded` (every s = 0) and `relu` are literals at each call site, so every copy of the
// loop is branch-free (see: docs/performance.md#mode-flags). As in nhwc_normalize.ts, rows share
// each load of the constants: V8 spends about one instruction per address.
import { reluMask } from './stats';

// @ts-ignore: decorator
@inline function dxOf(x: v128, g: v128, s: v128, a: v128, b: v128, k: v128, fs: v128, fa: v128, fb: v128, train: bool, folded: bool, relu: bool): v128 {
  if (relu) g = v128.and(g, reluMask(x, fs, fa, fb));
  if (!train) return f32x4.mul(g, a);
  return f32x4.sub(f32x4.sub(f32x4.mul(g, a), f32x4.mul(folded ? x : f32x4.sub(x, s), b)), k);
}

/**
 * Rows 0..m − m % R (R = 1, 2 or 4), channels 0..c8 (a multiple of 8), 8 channels a step; constants
 * f32[c] at ps, pa, pb, pk, and the forward's at fs, fa, fb (relu). Returns the first row not done.
 */
// @ts-ignore: decorator
@inline export function rowsDx(x: usize, dy: usize, dx: usize, m: i32, stride: usize, c8: i32, ps: usize, pa: usize, pb: usize, pk: usize, fs: usize, fa: usize, fb: usize, R: i32, train: bool, folded: bool, relu: bool): i32 {
  let ddy = dy - x, ddx = dx - x, w = <usize>c8 << 2;
  let z = f32x4.splat(0);
  let r = 0;
  for (; r + R <= m; r += R) {
    let px = x + <usize>r * stride;
    for (let o: usize = 0; o < w; o += 32) {
      let a0 = v128.load(pa + o), a1 = v128.load(pa + o, 16);
      let s0 = z, s1 = z, b0 = z, b1 = z, k0 = z, k1 = z, fs0 = z, fs1 = z, fa0 = z, fa1 = z, fb0 = z, fb1 = z;
      if (train) {
        b0 = v128.load(pb + o); b1 = v128.load(pb + o, 16); k0 = v128.load(pk + o); k1 = v128.load(pk + o, 16);
        if (!folded) {
          s0 = v128.load(ps + o); s1 = v128.load(ps + o, 16);
        }
      }
      if (relu) {
        fs0 = v128.load(fs + o); fs1 = v128.load(fs + o, 16); fa0 = v128.load(fa + o); fa1 = v128.load(fa + o, 16);
        fb0 = v128.load(fb + o); fb1 = v128.load(fb + o, 16);
      }
      let p = px + o;
      let x0 = v128.load(p), x1 = v128.load(p, 16), g0 = v128.load(p + ddy), g1 = v128.load(p + ddy, 16);
      v128.store(p + ddx, dxOf(x0, g0, s0, a0, b0, k0, fs0, fa0, fb0, train, folded, relu));
      v128.store(p + ddx, dxOf(x1, g1, s1, a1, b1, k1, fs1, fa1, fb1, train, folded, relu), 16);
      for (let i = 1; i < R; i++) {
        let q = p + <usize>i * stride;
        let x2 = v128.load(q), x3 = v128.load(q, 16), g2 = v128.load(q + ddy), g3 = v128.load(q + ddy, 16);
        v128.store(q + ddx, dxOf(x2, g2, s0, a0, b0, k0, fs0, fa0, fb0, train, folded, relu));
        v128.store(q + ddx, dxOf(x3, g3, s1, a1, b1, k1, fs1, fa1, fb1, train, folded, relu), 16);
      }
    }
  }
  return r;
}

/** Channels from..c of every row: four at a time, then one at a time (tails, and the scalar build). */
// @ts-ignore: decorator
@inline export function columnsDx(x: usize, dy: usize, dx: usize, m: i32, stride: usize, from: i32, c: i32, ps: usize, pa: usize, pb: usize, pk: usize, fs: usize, fa: usize, fb: usize, train: bool, folded: bool, relu: bool): void {
  if (from >= c) return;
  if (ASC_FEATURE_SIMD && c - from >= 4 && c - from < 8) {
    // a row's last 4–7 channels: the 4-channel group's constants loaded once for all rows
    let o = <usize>from << 2, z = f32x4.splat(0);
    let s = folded || !train ? z : v128.load(ps + o), a = v128.load(pa + o);
    let b = train ? v128.load(pb + o) : z, k = train ? v128.load(pk + o) : z;
    let vs = relu ? v128.load(fs + o) : z, va = relu ? v128.load(fa + o) : z, vb = relu ? v128.load(fb + o) : z;
    for (let p = o, end = o + <usize>m * stride; p < end; p += stride) {
      v128.store(dx + p, dxOf(v128.load(x + p), v128.load(dy + p), s, a, b, k, vs, va, vb, train, folded, relu));
    }
    from += 4;
  }
  for (let r = 0; r < m; r++) {
    let p = <usize>r * stride;
    let ch = from;
    if (ASC_FEATURE_SIMD) {
      let z = f32x4.splat(0);
      for (; ch + 4 <= c; ch += 4) {
        let o = <usize>ch << 2;
        let s = folded || !train ? z : v128.load(ps + o);
        let b = train ? v128.load(pb + o) : z, k = train ? v128.load(pk + o) : z;
        let vs = relu ? v128.load(fs + o) : z, va = relu ? v128.load(fa + o) : z, vb = relu ? v128.load(fb + o) : z;
        v128.store(dx + p + o, dxOf(v128.load(x + p + o), v128.load(dy + p + o), s, v128.load(pa + o), b, k, vs, va, vb, train, folded, relu));
      }
    }
    for (; ch < c; ch++) {
      let o = <usize>ch << 2;
      let xv = load<f32>(x + p + o);
      let g = load<f32>(dy + p + o);
      if (relu && !((xv - load<f32>(fs + o)) * load<f32>(fa + o) + load<f32>(fb + o) > 0)) g = 0;
      let t = g * load<f32>(pa + o);
      if (train) t = (t - (folded ? xv : xv - load<f32>(ps + o)) * load<f32>(pb + o)) - load<f32>(pk + o);
      store<f32>(dx + p + o, t);
    }
  }
}
