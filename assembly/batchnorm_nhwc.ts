// BatchNorm kernels for channels-last layouts: x[m][c] with m = N (NC), N·L, N·H·W or N·D·H·W.
// Vectorized across channels, four per f32x4, walking memory strictly in order: four rows at a
// time, each row left to right. Per-channel accumulators and constants sit in the workspace (L1);
// reading them once per four rows keeps loads below the FP work. Channels beyond a multiple of
// four (all of them in the scalar build) take a scalar path in the same order.
// see: Ioffe & Szegedy 2015, https://arxiv.org/abs/1502.03167; PyTorch
//      aten/src/ATen/native/cpu/batch_norm_kernel.cpp (batch_norm_cpu_collect_stats_channels_last)
import { FLUSH, shiftOf, backwardShift, flush4, finishStats, kS, kA, kB, kC, setNormalize, setBackward } from './stats';
import { blockRows, block16Normalize } from './nhwc_blocks';

/** Workspace bytes the backward (both layouts) and the channels-last kernels need for `c` channels. */
export function bnWorkspace(c: i32): i32 {
  return c * 48;
}

// Workspace, in units of c bytes: f64 sums S1 [0, 8) and S2 [8, 16); f32 partial sums A1 [16, 20)
// and A2 [20, 24); f32 shift K [24, 28); f32 constants kS [28, 32), kA [32, 36), kB [36, 40), kC [40, 44).
/** Above this many bytes of x, the normalize pass streams rows one at a time. */
const STREAM_BYTES: usize = 8 << 20;

// @ts-ignore: decorator
@inline function at(ws: usize, c: i32, unit: i32): usize {
  return ws + <usize>c * <usize>unit;
}

/** Stores the current kS, kA, kB, kC for channel `ch`. */
// @ts-ignore: decorator
@inline function saveConstants(ws: usize, c: i32, ch: i32): void {
  let o = <usize>ch << 2;
  store<f32>(at(ws, c, 28) + o, kS); store<f32>(at(ws, c, 32) + o, kA);
  store<f32>(at(ws, c, 36) + o, kB); store<f32>(at(ws, c, 40) + o, kC);
}

/**
 * S1 += Σa, S2 += Σb per channel over all rows, where (dot = 0) a = x − K, b = (x − K)², or
 * (dot = 1) a = dy, b = dy·(x − K). f32 partial sums are flushed to f64 every FLUSH·4 rows.
 */
function rowSums(x: usize, dy: usize, m: i32, c: i32, ws: usize, dot: bool): void {
  let stride = <usize>c << 2;
  let s1 = at(ws, c, 0), s2 = at(ws, c, 8), a1 = at(ws, c, 16), a2 = at(ws, c, 20), pk = at(ws, c, 24);
  let c4 = ASC_FEATURE_SIMD ? c & ~3 : 0;
  memory.fill(s1, 0, <usize>c << 4);
  for (let r0 = 0; r0 < m; r0 += FLUSH * 4) {
    let end = min(m, r0 + FLUSH * 4);
    let r = r0;
    if (ASC_FEATURE_SIMD) {
      memory.fill(a1, 0, <usize>c << 3);
      for (; r < end; r += 4) {
        let rows = min(4, end - r);
        let p = <usize>r * stride;
        for (let g = 0; g < c4; g += 4) {
          let o = <usize>g << 2;
          let k = v128.load(pk + o);
          let px = x + p + o, pdy = dy + p + o;
          let sa = f32x4.splat(0), sb = f32x4.splat(0);
          if (rows == 4) {
            let e0 = v128.load(px), e1 = v128.load(px + stride), e2 = v128.load(px + 2 * stride), e3 = v128.load(px + 3 * stride);
            if (v128.any_true(k)) {
              e0 = f32x4.sub(e0, k); e1 = f32x4.sub(e1, k); e2 = f32x4.sub(e2, k); e3 = f32x4.sub(e3, k);
            }
            if (dot) {
              let g0 = v128.load(pdy), g1 = v128.load(pdy + stride), g2 = v128.load(pdy + 2 * stride), g3 = v128.load(pdy + 3 * stride);
              sa = f32x4.add(f32x4.add(g0, g1), f32x4.add(g2, g3));
              sb = f32x4.add(f32x4.add(f32x4.mul(g0, e0), f32x4.mul(g1, e1)), f32x4.add(f32x4.mul(g2, e2), f32x4.mul(g3, e3)));
            } else {
              sa = f32x4.add(f32x4.add(e0, e1), f32x4.add(e2, e3));
              sb = f32x4.add(f32x4.add(f32x4.mul(e0, e0), f32x4.mul(e1, e1)), f32x4.add(f32x4.mul(e2, e2), f32x4.mul(e3, e3)));
            }
          } else {
            for (let i = 0; i < rows; i++) {
              let e = f32x4.sub(v128.load(px + <usize>i * stride), k);
              let gg = dot ? v128.load(pdy + <usize>i * stride) : e;
              sa = f32x4.add(sa, gg);
              sb = f32x4.add(sb, f32x4.mul(gg, e));
            }
          }
          v128.store(a1 + o, f32x4.add(v128.load(a1 + o), sa));
          v128.store(a2 + o, f32x4.add(v128.load(a2 + o), sb));
        }
      }
      for (let g = 0; g < c4; g += 4) {
        flush4(s1 + (<usize>g << 3), v128.load(a1 + (<usize>g << 2)));
        flush4(s2 + (<usize>g << 3), v128.load(a2 + (<usize>g << 2)));
      }
    }
    // remaining channels: scalar, f64
    for (let rr = r0; rr < end; rr++) {
      let p = <usize>rr * stride;
      for (let ch = c4; ch < c; ch++) {
        let o = <usize>ch << 2, o8 = <usize>ch << 3;
        let e = <f64>(load<f32>(x + p + o) - load<f32>(pk + o));
        let gg = dot ? <f64>load<f32>(dy + p + o) : e;
        store<f64>(s1 + o8, load<f64>(s1 + o8) + gg);
        store<f64>(s2 + o8, load<f64>(s2 + o8) + gg * e);
      }
    }
  }
}

/** Training forward, channels-last: batch mean and biased variance per channel, then y. Writes mean, var, invstd (f64[c]). */
export function bnTrainNHWC(x: usize, y: usize, m: i32, c: i32, gamma: usize, beta: usize, eps: f64, mean: usize, vari: usize, invstd: usize, ws: usize): void {
  let stride = <usize>c << 2, pk = at(ws, c, 24);
  let sample = min(m, 16);
  for (let ch = 0; ch < c; ch++) store<f32>(pk + (<usize>ch << 2), shiftOf(x + (<usize>ch << 2), sample, stride));
  rowSums(x, 0, m, c, ws, false);
  for (let ch = 0; ch < c; ch++) {
    let o = <usize>ch << 3;
    finishStats(load<f32>(pk + (<usize>ch << 2)), load<f64>(at(ws, c, 0) + o), load<f64>(at(ws, c, 8) + o), <f64>m, eps, mean + o, vari + o, invstd + o);
    setNormalize(ch, gamma, beta, load<f64>(mean + o), load<f64>(invstd + o));
    saveConstants(ws, c, ch);
  }
  normalizePass(x, y, m, c, ws);
}

/** Normalizes channels-last x with given per-channel mean and invstd (f64[c]): inference. */
export function bnNormalizeNHWC(x: usize, y: usize, m: i32, c: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, ws: usize): void {
  for (let ch = 0; ch < c; ch++) {
    setNormalize(ch, gamma, beta, load<f64>(mean + (<usize>ch << 3)), load<f64>(invstd + (<usize>ch << 3)));
    saveConstants(ws, c, ch);
  }
  normalizePass(x, y, m, c, ws);
}

/** True when every kS is 0 (all channels folded): the passes skip the subtraction. */
function allFolded(ps: usize, c: i32): bool {
  for (let ch = 0; ch < c; ch++) if (load<f32>(ps + (<usize>ch << 2)) != 0) return false;
  return true;
}

/** y = (x − kS)·kA + kB per channel, constants from the workspace, rows in order. */
function normalizePass(x: usize, y: usize, m: i32, c: i32, ws: usize): void {
  let stride = <usize>c << 2;
  let ps = at(ws, c, 28), pa = at(ws, c, 32), pb = at(ws, c, 36);
  let c4 = ASC_FEATURE_SIMD ? c & ~3 : 0;
  let folded = allFolded(ps, c);
  let r = 0;
  if (ASC_FEATURE_SIMD && folded && c4 == c && <usize>m * stride > STREAM_BYTES) {
    // beyond the caches, one sequential stream with the constants read from L1 measured 1.5× faster
    // than four rows at a time (whose interleaved stores stall the write-back of y)
    for (let p: usize = 0, end = <usize>m * stride; p < end; p += stride) {
      let px = x + p, py = y + p;
      for (let o: usize = 0; o < stride; o += 16) {
        v128.store(py + o, f32x4.add(f32x4.mul(v128.load(px + o), v128.load(pa + o)), v128.load(pb + o)));
      }
    }
    return;
  }
  if (ASC_FEATURE_SIMD && c4 == c && (c & 15) == 0) {
    // in cache: blocks of 16 channels with their constants in registers, a few rows at a time
    // (measured 95 % of copy at 6 MiB against 60 % for four rows across all channels)
    let sub = blockRows(stride);
    for (let rs = 0; rs < m; rs += sub) {
      let q = <usize>rs * stride, rr = min(sub, m - rs);
      for (let g = 0; g < c; g += 16) {
        let o = <usize>g << 2;
        block16Normalize(x + q + o, y + q + o, rr, stride, ps + o, pa + o, pb + o, folded);
      }
    }
    return;
  }
  if (ASC_FEATURE_SIMD) {
    for (; r + 4 <= m; r += 4) {
      let p = <usize>r * stride;
      for (let g = 0; g < c4; g += 4) {
        let o = <usize>g << 2;
        let a = v128.load(pa + o), b = v128.load(pb + o);
        let px = x + p + o, py = y + p + o;
        if (folded) {
          v128.store(py, f32x4.add(f32x4.mul(v128.load(px), a), b));
          v128.store(py + stride, f32x4.add(f32x4.mul(v128.load(px + stride), a), b));
          v128.store(py + 2 * stride, f32x4.add(f32x4.mul(v128.load(px + 2 * stride), a), b));
          v128.store(py + 3 * stride, f32x4.add(f32x4.mul(v128.load(px + 3 * stride), a), b));
        } else {
          let s = v128.load(ps + o);
          v128.store(py, f32x4.add(f32x4.mul(f32x4.sub(v128.load(px), s), a), b));
          v128.store(py + stride, f32x4.add(f32x4.mul(f32x4.sub(v128.load(px + stride), s), a), b));
          v128.store(py + 2 * stride, f32x4.add(f32x4.mul(f32x4.sub(v128.load(px + 2 * stride), s), a), b));
          v128.store(py + 3 * stride, f32x4.add(f32x4.mul(f32x4.sub(v128.load(px + 3 * stride), s), a), b));
        }
      }
      for (let i: usize = 0; i < 4; i++) normalizeScalar(x, y, p + i * stride, c4, c, ps, pa, pb);
    }
  }
  for (; r < m; r++) {
    let p = <usize>r * stride;
    if (ASC_FEATURE_SIMD) {
      for (let g = 0; g < c4; g += 4) {
        let o = <usize>g << 2;
        v128.store(y + p + o, f32x4.add(f32x4.mul(f32x4.sub(v128.load(x + p + o), v128.load(ps + o)), v128.load(pa + o)), v128.load(pb + o)));
      }
    }
    normalizeScalar(x, y, p, c4, c, ps, pa, pb);
  }
}

/** Channels from..c of the row at byte offset p, scalar. */
// @ts-ignore: decorator
@inline function normalizeScalar(x: usize, y: usize, p: usize, from: i32, c: i32, ps: usize, pa: usize, pb: usize): void {
  for (let ch = from; ch < c; ch++) {
    let o = <usize>ch << 2;
    store<f32>(y + p + o, (load<f32>(x + p + o) - load<f32>(ps + o)) * load<f32>(pa + o) + load<f32>(pb + o));
  }
}

/** Backward, channels-last: dx, and dgamma/dbeta (f32[c], added to when non-zero). `train` = 1 for batch statistics. */
export function bnBackwardNHWC(x: usize, dy: usize, dx: usize, m: i32, c: i32, gamma: usize, mean: usize, invstd: usize, dgamma: usize, dbeta: usize, train: i32, ws: usize): void {
  let pk = at(ws, c, 24);
  for (let ch = 0; ch < c; ch++) {
    store<f32>(pk + (<usize>ch << 2), backwardShift(load<f64>(mean + (<usize>ch << 3)), load<f64>(invstd + (<usize>ch << 3))));
  }
  rowSums(x, dy, m, c, ws, true);
  for (let ch = 0; ch < c; ch++) {
    let o = <usize>ch << 3;
    setBackward(ch, <f64>m, gamma, load<f64>(mean + o), load<f64>(invstd + o), load<f64>(at(ws, c, 0) + o), load<f64>(at(ws, c, 8) + o), dgamma, dbeta, train);
    saveConstants(ws, c, ch);
  }
  dxPass(x, dy, dx, m, c, ws, train);
}

/** dx = kA·dy − kB·(x − kS) − kC per channel (kA·dy when !train), constants from the workspace, rows in order. */
function dxPass(x: usize, dy: usize, dx: usize, m: i32, c: i32, ws: usize, train: i32): void {
  let stride = <usize>c << 2;
  let ps = at(ws, c, 28), pa = at(ws, c, 32), pb = at(ws, c, 36), pk = at(ws, c, 40);
  let c4 = ASC_FEATURE_SIMD ? c & ~3 : 0;
  let folded = allFolded(ps, c);
  let r = 0;
  if (ASC_FEATURE_SIMD) {
    for (; r + 2 <= m; r += 2) {
      let p = <usize>r * stride;
      for (let g = 0; g < c4; g += 4) {
        let o = <usize>g << 2;
        let a = v128.load(pa + o);
        let px = x + p + o, pdy = dy + p + o, pdx = dx + p + o;
        if (train) {
          let b = v128.load(pb + o), k = v128.load(pk + o);
          let x0 = v128.load(px), x1 = v128.load(px + stride);
          if (!folded) {
            let s = v128.load(ps + o);
            x0 = f32x4.sub(x0, s); x1 = f32x4.sub(x1, s);
          }
          v128.store(pdx, f32x4.sub(f32x4.sub(f32x4.mul(v128.load(pdy), a), f32x4.mul(x0, b)), k));
          v128.store(pdx + stride, f32x4.sub(f32x4.sub(f32x4.mul(v128.load(pdy + stride), a), f32x4.mul(x1, b)), k));
        } else {
          v128.store(pdx, f32x4.mul(v128.load(pdy), a));
          v128.store(pdx + stride, f32x4.mul(v128.load(pdy + stride), a));
        }
      }
      dxScalar(x, dy, dx, p, c4, c, ws, train);
      dxScalar(x, dy, dx, p + stride, c4, c, ws, train);
    }
  }
  for (; r < m; r++) dxScalar(x, dy, dx, <usize>r * stride, 0, c, ws, train);
}

/** Channels from..c of the row at byte offset p, scalar. */
function dxScalar(x: usize, dy: usize, dx: usize, p: usize, from: i32, c: i32, ws: usize, train: i32): void {
  let ps = at(ws, c, 28), pa = at(ws, c, 32), pb = at(ws, c, 36), pk = at(ws, c, 40);
  for (let ch = from; ch < c; ch++) {
    let o = <usize>ch << 2;
    let t = load<f32>(dy + p + o) * load<f32>(pa + o);
    if (train) t = (t - (load<f32>(x + p + o) - load<f32>(ps + o)) * load<f32>(pb + o)) - load<f32>(pk + o);
    store<f32>(dx + p + o, t);
  }
}
