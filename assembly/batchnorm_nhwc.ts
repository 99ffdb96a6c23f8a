// BatchNorm kernels for channels-last layouts: x[m][c] with m = N (NC), N·L, N·H·W or N·D·H·W.
// Vectorized across channels, four per f32x4, walking memory strictly in order: four rows at a
// time, each row left to right. Per-channel accumulators and constants sit in the workspace (L1);
// reading them once per four rows keeps loads below the FP work. Channels beyond a multiple of
// four (all of them in the scalar build) take a scalar path in the same order.
// see: Ioffe & Szegedy 2015, https://arxiv.org/abs/1502.03167; PyTorch
//      aten/src/ATen/native/cpu/batch_norm_kernel.cpp (batch_norm_cpu_collect_stats_channels_last)
import { FLUSH, flush4, kFloor, reluMask, setActivation } from './stats';
import { rowShifts, finishChannels, normalizeConstants, backwardShifts, backwardConstants } from './constants';
import { rowsDx, columnsDx } from './nhwc_dx';
import { rowsSums } from './nhwc_sums';
import { On, Off } from './stats';
import { BLOCK_ROWS, block16Normalize, rowsNormalize, columnsNormalize } from './nhwc_normalize';

/** Workspace bytes the backward (both layouts) and the channels-last kernels need for `c` channels. */
export function bnWorkspace(c: i32): i32 {
  return c * 56;
}

// Workspace, in units of c bytes: f64 sums S1 [0, 8) and S2 [8, 16); f32 partial sums A1 [16, 20)
// and A2 [20, 24); f32 shift K [24, 28); f32 constants kS [28, 32), kA [32, 36), kB [36, 40), kC [40, 44);
// for the backward of BN+ReLU, the forward's constants fS [44, 48), fA [48, 52), fB [52, 56).
/** Rows a step of the reductions: measured 1.2–1.4× faster than 4 beyond the caches, equal in them. */
const SUM_ROWS: i32 = 2;
/** Above this many bytes of x, the normalize and dx passes take 2 rows a step instead of 4. */
const STREAM_BYTES: usize = 8 << 20;

// @ts-ignore: decorator
@inline function at(ws: usize, c: i32, unit: i32): usize {
  return ws + <usize>c * <usize>unit;
}

/**
 * S1 += Σa, S2 += Σb per channel over all rows, where (dot = 0) a = x − K, b = (x − K)², or
 * (dot = 1) a = dy, b = dy·(x − K). f32 partial sums take FLUSH terms (of SUM_ROWS rows each)
 * before they are flushed to f64.
 */
function rowSums(x: usize, dy: usize, m: i32, c: i32, ws: usize, dot: bool, relu: bool): void {
  // one compiled copy of the loops per mode (flags as type arguments, resolved at compile time): the
  // inner loop has no branches (measured 1.8× faster than testing them per group), and no
  // subtraction where every K = 0
  let shifted = !allZero(at(ws, c, 24), c);
  if (!dot) {
    if (shifted) rowSumsMode<Off, On, Off>(x, dy, m, c, ws);
    else rowSumsMode<Off, Off, Off>(x, dy, m, c, ws);
  } else if (!relu) {
    if (shifted) rowSumsMode<On, On, Off>(x, dy, m, c, ws);
    else rowSumsMode<On, Off, Off>(x, dy, m, c, ws);
  } else {
    if (shifted) rowSumsMode<On, On, On>(x, dy, m, c, ws);
    else rowSumsMode<On, Off, On>(x, dy, m, c, ws);
  }
}

function rowSumsMode<DOT, SHIFTED, RELU>(x: usize, dy: usize, m: i32, c: i32, ws: usize): void {
  const dot = isInteger<DOT>(), shifted = isInteger<SHIFTED>(), relu = isInteger<RELU>();
  let stride = <usize>c << 2;
  let s1 = at(ws, c, 0), s2 = at(ws, c, 8), a1 = at(ws, c, 16), a2 = at(ws, c, 20), pk = at(ws, c, 24);
  let fs = at(ws, c, 44), fa = at(ws, c, 48), fb = at(ws, c, 52);
  let c4 = ASC_FEATURE_SIMD ? c & ~3 : 0;
  memory.fill(s1, 0, <usize>c << 4);
  for (let r0 = 0; r0 < m; r0 += FLUSH * SUM_ROWS) {
    let end = min(m, r0 + FLUSH * SUM_ROWS);
    if (ASC_FEATURE_SIMD && c4 > 0) {
      memory.fill(a1, 0, <usize>c << 3);
      let o = <usize>r0 * stride;
      let r = r0 + rowsSums(x + o, dy + o, end - r0, stride, c4, pk, a1, a2, fs, fa, fb, SUM_ROWS, dot, shifted, relu);
      // the last row of a chunk
      o = <usize>r * stride;
      rowsSums(x + o, dy + o, end - r, stride, c4, pk, a1, a2, fs, fa, fb, 1, dot, shifted, relu);
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
        let xv = load<f32>(x + p + o);
        let e = <f64>(xv - load<f32>(pk + o));
        let gg = dot ? <f64>load<f32>(dy + p + o) : e;
        if (relu && !((xv - load<f32>(fs + o)) * load<f32>(fa + o) + load<f32>(fb + o) > 0)) gg = 0;
        store<f64>(s1 + o8, load<f64>(s1 + o8) + gg);
        store<f64>(s2 + o8, load<f64>(s2 + o8) + gg * e);
      }
    }
  }
}

/** Training forward, channels-last: batch mean and biased variance per channel, then y (clamped at 0 when relu = 1). Writes mean, var, invstd (f64[c]). */
export function bnTrainNHWC(x: usize, y: usize, m: i32, c: i32, gamma: usize, beta: usize, eps: f64, mean: usize, vari: usize, invstd: usize, relu: i32, ws: usize): void {
  setActivation(relu);
  // a shift near the mean is all it takes: (mean − K)²/var only scales rounding
  rowShifts(x, min(m, 4), c, at(ws, c, 24));
  rowSums(x, 0, m, c, ws, false, false);
  finishChannels(c, at(ws, c, 24), at(ws, c, 0), at(ws, c, 8), <f64>m, eps, mean, vari, invstd);
  normalizeConstants(c, gamma, beta, mean, invstd, at(ws, c, 28), at(ws, c, 32), at(ws, c, 36));
  normalizePass(x, y, m, c, ws);
}

/** Normalizes channels-last x with given per-channel mean and invstd (f64[c]), then ReLU when relu = 1: inference. */
export function bnNormalizeNHWC(x: usize, y: usize, m: i32, c: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, relu: i32, ws: usize): void {
  setActivation(relu);
  normalizeConstants(c, gamma, beta, mean, invstd, at(ws, c, 28), at(ws, c, 32), at(ws, c, 36));
  normalizePass(x, y, m, c, ws);
}

/** True when the c f32 values at p are all 0 (every kS, or K): the loops skip the subtraction. */
function allZero(p: usize, c: i32): bool {
  for (let ch = 0; ch < c; ch++) if (load<f32>(p + (<usize>ch << 2)) != 0) return false;
  return true;
}

/** y = (x − kS)·kA + kB per channel (then max(·, 0) for BN+ReLU), constants from the workspace. */
function normalizePass(x: usize, y: usize, m: i32, c: i32, ws: usize): void {
  // one constant-folded copy of the loops per mode
  let relu = kFloor == 0;
  if (allZero(at(ws, c, 28), c)) {
    if (relu) normalizeMode(x, y, m, c, ws, true, true);
    else normalizeMode(x, y, m, c, ws, true, false);
  } else {
    if (relu) normalizeMode(x, y, m, c, ws, false, true);
    else normalizeMode(x, y, m, c, ws, false, false);
  }
}

// @ts-ignore: decorator
@inline function normalizeMode(x: usize, y: usize, m: i32, c: i32, ws: usize, folded: bool, relu: bool): void {
  let stride = <usize>c << 2;
  let ps = at(ws, c, 28), pa = at(ws, c, 32), pb = at(ws, c, 36);
  let c8 = ASC_FEATURE_SIMD ? c & ~7 : 0;
  if (ASC_FEATURE_SIMD && c8 > 0) {
    let big = <usize>m * stride > STREAM_BYTES;
    if (!big && (c & 15) == 0 && (stride & 4095) != 0) {
      // in cache: blocks of 16 channels with their constants in registers, BLOCK_ROWS rows at a time
      // (measured 95–100 % of copy at 6 MiB); not when rows are a multiple of 4 KiB apart (4K aliasing)
      for (let rs = 0; rs < m; rs += BLOCK_ROWS) {
        let q = <usize>rs * stride, rr = min(BLOCK_ROWS, m - rs);
        for (let g = 0; g < c; g += 16) {
          let o = <usize>g << 2;
          block16Normalize(x + q + o, y + q + o, rr, stride, ps + o, pa + o, pb + o, folded, relu);
        }
      }
      return;
    }
    let r = big ? rowsNormalize(x, y, m, stride, c8, ps, pa, pb, 2, folded, relu) : rowsNormalize(x, y, m, stride, c8, ps, pa, pb, 4, folded, relu);
    if (r < m) {
      let o = <usize>r * stride;
      rowsNormalize(x + o, y + o, m - r, stride, c8, ps, pa, pb, 1, folded, relu);
    }
  }
  columnsNormalize(x, y, m, stride, c8, c, ps, pa, pb, folded, relu);
}

/** Backward, channels-last (of BN, or BN+ReLU when relu = 1): dx, and dgamma/dbeta (f32[c], added to when non-zero). `train` = 1 for batch statistics. */
export function bnBackwardNHWC(x: usize, dy: usize, dx: usize, m: i32, c: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, dgamma: usize, dbeta: usize, train: i32, relu: i32, ws: usize): void {
  if (relu) normalizeConstants(c, gamma, beta, mean, invstd, at(ws, c, 44), at(ws, c, 48), at(ws, c, 52));
  backwardShifts(c, mean, invstd, at(ws, c, 24));
  rowSums(x, dy, m, c, ws, true, relu != 0);
  backwardConstants(c, <f64>m, gamma, mean, invstd, at(ws, c, 0), at(ws, c, 8), dgamma, dbeta, train, at(ws, c, 28), at(ws, c, 32), at(ws, c, 36), at(ws, c, 40));
  dxPass(x, dy, dx, m, c, ws, train, relu != 0);
}

/**
 * dx = kA·g − kB·(x − kS) − kC per channel (kA·g when !train), g = dy, or for BN+ReLU dy where the
 * forward's output was positive; constants from the workspace.
 */
function dxPass(x: usize, dy: usize, dx: usize, m: i32, c: i32, ws: usize, train: i32, relu: bool): void {
  // one constant-folded copy of the loops per mode
  if (!train) {
    if (relu) dxMode(x, dy, dx, m, c, ws, false, true, true);
    else dxMode(x, dy, dx, m, c, ws, false, true, false);
  } else if (allZero(at(ws, c, 28), c)) {
    if (relu) dxMode(x, dy, dx, m, c, ws, true, true, true);
    else dxMode(x, dy, dx, m, c, ws, true, true, false);
  } else {
    if (relu) dxMode(x, dy, dx, m, c, ws, true, false, true);
    else dxMode(x, dy, dx, m, c, ws, true, false, false);
  }
}

// @ts-ignore: decorator
@inline function dxMode(x: usize, dy: usize, dx: usize, m: i32, c: i32, ws: usize, train: bool, folded: bool, relu: bool): void {
  let stride = <usize>c << 2;
  let ps = at(ws, c, 28), pa = at(ws, c, 32), pb = at(ws, c, 36), pk = at(ws, c, 40);
  let fs = at(ws, c, 44), fa = at(ws, c, 48), fb = at(ws, c, 52);
  let c8 = ASC_FEATURE_SIMD ? c & ~7 : 0;
  if (ASC_FEATURE_SIMD && c8 > 0) {
    // 4 rows a step in cache, 2 beyond (as the normalize pass: measured 0.8× and 1.2× the time of 2)
    let r = <usize>m * stride > STREAM_BYTES
      ? rowsDx(x, dy, dx, m, stride, c8, ps, pa, pb, pk, fs, fa, fb, 2, train, folded, relu)
      : rowsDx(x, dy, dx, m, stride, c8, ps, pa, pb, pk, fs, fa, fb, 4, train, folded, relu);
    if (r < m) {
      let o = <usize>r * stride;
      rowsDx(x + o, dy + o, dx + o, m - r, stride, c8, ps, pa, pb, pk, fs, fa, fb, 1, train, folded, relu);
    }
  }
  columnsDx(x, dy, dx, m, stride, c8, c, ps, pa, pb, pk, fs, fa, fb, train, folded, relu);
}
