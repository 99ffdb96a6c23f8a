// Part kernels of the channel-first BatchNorm passes (RUNS path, bn_driver.ts) for the threaded
// build: part p of a call takes a block of channels, whole (every batch item's runs of them), and
// does for them what the single-threaded pass does, in the same order: the same shift, the same
// sums (two read streams beyond the caches, as runSums), the same constants (blocks start at a
// multiple of 8 channels, so the f64x2 pairs of finishChannels and normalizeConstants pair the same
// channels), the same runs. Channels are independent, except RESHIFT: whether the statistics are
// taken again is decided for all channels at once, so the caller joins between the phases. The
// backward's channels are independent: one phase.
import { shiftedSums, shiftedSums2, dotSums, dotSumsRelu, sumsReset, sum1, sum2 } from './stats';
import { at, STREAM_BYTES, WS_S1, WS_S2, WS_K, WS_KS, WS_KA, WS_KB, WS_KC, WS_FS, WS_FA, WS_FB } from './nhwc_passes';
import { runShifts, normRun, dxRun, dxRunRelu, scaleRun } from './ncl_runs';
import { finishChannels, meanShifts, normalizeConstants, backwardShifts, backwardConstants } from './constants';
import { pathOf, RUNS } from './bn_driver';
import { sliceStart } from './parts';

/** Channels per unit of a block: a multiple of the f64x2 pairs (and of the f32x4 of the constants). */
const UNIT: i32 = 8;

/** 1 when channel-first x[n][c][l] takes the RUNS path, whose passes these parts split (0: another path). */
export function bnRunsNCL(n: i32, c: i32, l: i32): i32 {
  return pathOf(false, n, c, l) == RUNS ? 1 : 0;
}

/** First channel of block `part` of `parts` (blocks of whole units of 8 channels; the last ends at c). */
// @ts-ignore: decorator
@inline function blockStart(part: i32, parts: i32, c: i32): i32 {
  return min(c, sliceStart(part, parts, (c + UNIT - 1) / UNIT) * UNIT);
}

/**
 * Statistics of a block of channels of x[n][c][l] (part `part` of `parts`), as the training
 * forward's first pass (again = 0: shifts from the first values) or its second (again = 1: shifts
 * from the batch means). Writes mean, vari, invstd (f64[c]) and the sums into ws (bnWorkspace(n, c, l)
 * bytes, shared by the parts: each writes its channels); far[part] (i32) = 1 when a mean of the
 * block is far from its shift (RESHIFT).
 */
export function bnStatsNCLPart(part: i32, parts: i32, x: usize, n: i32, c: i32, l: i32, eps: f64, mean: usize, vari: usize, invstd: usize, ws: usize, far: usize, again: i32): void {
  let c0 = blockStart(part, parts, c), c1 = blockStart(part + 1, parts, c), cb = c1 - c0;
  store<i32>(far + (<usize>part << 2), 0);
  if (cb <= 0) return;
  let o4 = <usize>c0 << 2, o8 = <usize>c0 << 3;
  let pk = at(ws, c, WS_K), s1 = at(ws, c, WS_S1), s2 = at(ws, c, WS_S2);
  if (again) meanShifts(cb, mean + o8, pk + o4);
  else runShifts(x + ((<usize>c0 * <usize>l) << 2), cb, l, pk + o4);
  blockSums(x, n, c, l, c0, c1, pk, s1, s2);
  exactBlockSums(x, n, c, l, c0, c1, pk, s1, s2);
  let isFar = finishChannels(cb, pk + o4, s1 + o8, s2 + o8, <f64>n * <f64>l, eps, mean + o8, vari + o8, invstd + o8);
  store<i32>(far + (<usize>part << 2), isFar ? 1 : 0);
}

/** S1, S2 of channels c0..c1 as runSums (ncl_runs.ts) takes them: the same runs, pairs and order. */
function blockSums(x: usize, n: i32, c: i32, l: i32, c0: i32, c1: i32, pk: usize, s1: usize, s2: usize): void {
  memory.fill(s1 + (<usize>c0 << 3), 0, <usize>(c1 - c0) << 3);
  memory.fill(s2 + (<usize>c0 << 3), 0, <usize>(c1 - c0) << 3);
  // the whole tensor's size decides the two read streams, as in runSums
  let item = <usize>c * <usize>l << 2, run = <usize>l << 2;
  let h = ASC_FEATURE_SIMD && <usize>n * item > STREAM_BYTES ? n >> 1 : 0, gap = <usize>h * item;
  for (let b = 0; b < n; b++) {
    if (b == h && h > 0) {
      b = 2 * h;
      if (b == n) break;
    }
    let p = x + <usize>b * item + <usize>c0 * run;
    for (let ch = c0; ch < c1; ch++) {
      let o = <usize>ch << 3, k = load<f32>(pk + (<usize>ch << 2));
      sumsReset();
      if (b < h) shiftedSums2(p, gap, l, k);
      else shiftedSums(p, l, k);
      store<f64>(s1 + o, load<f64>(s1 + o) + sum1);
      store<f64>(s2 + o, load<f64>(s2 + o) + sum2);
      p += run;
    }
  }
}

/** S1, S2 again in f64 for the channels of c0..c1 whose sums are not finite, as exactSums (bn_driver.ts) for the statistics. */
function exactBlockSums(x: usize, n: i32, c: i32, l: i32, c0: i32, c1: i32, pk: usize, s1: usize, s2: usize): void {
  for (let ch = c0; ch < c1; ch++) {
    let o = <usize>ch << 3;
    if (Math.abs(load<f64>(s1 + o)) < Infinity && Math.abs(load<f64>(s2 + o)) < Infinity) continue;
    let k = <f64>load<f32>(pk + (<usize>ch << 2)), a: f64 = 0, b: f64 = 0;
    for (let i = 0; i < n; i++) {
      let p = x + ((<usize>i * <usize>c + <usize>ch) * <usize>l << 2);
      for (let j = 0; j < l; j++) {
        let e = <f64>load<f32>(p + (<usize>j << 2)) - k;
        a += e; b += e * e;
      }
    }
    store<f64>(s1 + o, a); store<f64>(s2 + o, b);
  }
}

/**
 * y of a block of channels of x[n][c][l] (part `part` of `parts`) from mean and invstd (f64[c]),
 * clamped at 0 when relu = 1: the normalize pass of the training forward and of inference. Its
 * constants go to ws (bnWorkspace(n, c, l) bytes, shared by the parts: each writes its channels).
 */
export function bnNormalizeNCLPart(part: i32, parts: i32, x: usize, y: usize, n: i32, c: i32, l: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, relu: i32, ws: usize): void {
  let c0 = blockStart(part, parts, c), c1 = blockStart(part + 1, parts, c), cb = c1 - c0;
  if (cb <= 0) return;
  let o4 = <usize>c0 << 2, o8 = <usize>c0 << 3;
  let ps = at(ws, c, WS_KS), pa = at(ws, c, WS_KA), pb = at(ws, c, WS_KB);
  normalizeConstants(cb, gamma != 0 ? gamma + o4 : 0, beta != 0 ? beta + o4 : 0, mean + o8, invstd + o8, ps + o4, pa + o4, pb + o4);
  let floor: f32 = relu ? 0 : -Infinity;
  let item = <usize>c * <usize>l << 2, run = <usize>l << 2;
  for (let b = 0; b < n; b++) {
    let p = <usize>b * item + <usize>c0 * run;
    for (let ch = c0; ch < c1; ch++) {
      let q = <usize>ch << 2;
      normRun(x + p, y + p, l, load<f32>(ps + q), load<f32>(pa + q), load<f32>(pb + q), floor);
      p += run;
    }
  }
}

/**
 * The backward (of BN, or BN+ReLU when relu = 1) of a block of channels of x[n][c][l] (part `part`
 * of `parts`), as bnBackwardNCL's path of long runs: the same shifts, sums (runDots, then exactSums
 * for sums that are not finite), constants and dx runs; dgamma, dbeta (f32[c], 0: none) added to
 * for the block's channels. ws: bnWorkspace(n, c, l) bytes, shared by the parts (each writes its channels).
 */
export function bnBackwardNCLPart(part: i32, parts: i32, x: usize, dy: usize, dx: usize, n: i32, c: i32, l: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, dgamma: usize, dbeta: usize, train: i32, relu: i32, ws: usize): void {
  let c0 = blockStart(part, parts, c), c1 = blockStart(part + 1, parts, c), cb = c1 - c0;
  if (cb <= 0) return;
  let o4 = <usize>c0 << 2, o8 = <usize>c0 << 3;
  let g = gamma != 0 ? gamma + o4 : 0;
  let fs = at(ws, c, WS_FS), fa = at(ws, c, WS_FA), fb = at(ws, c, WS_FB), pk = at(ws, c, WS_K);
  let s1 = at(ws, c, WS_S1), s2 = at(ws, c, WS_S2);
  if (relu) normalizeConstants(cb, g, beta != 0 ? beta + o4 : 0, mean + o8, invstd + o8, fs + o4, fa + o4, fb + o4);
  backwardShifts(cb, mean + o8, invstd + o8, pk + o4);
  blockDots(x, dy, n, c, l, c0, c1, pk, s1, s2, fs, fa, fb, relu != 0);
  exactBlockDots(x, dy, n, c, l, c0, c1, pk, s1, s2, fs, fa, fb, relu != 0);
  let ps = at(ws, c, WS_KS), pa = at(ws, c, WS_KA), pb = at(ws, c, WS_KB), pc = at(ws, c, WS_KC);
  backwardConstants(cb, <f64>n * <f64>l, g, mean + o8, invstd + o8, s1 + o8, s2 + o8, dgamma != 0 ? dgamma + o4 : 0, dbeta != 0 ? dbeta + o4 : 0, train, ps + o4, pa + o4, pb + o4, pc + o4);
  let item = <usize>c * <usize>l << 2, run = <usize>l << 2;
  for (let b = 0; b < n; b++) {
    let o = <usize>b * item + <usize>c0 * run;
    for (let ch = c0; ch < c1; ch++) {
      let p = <usize>ch << 2;
      if (relu) {
        dxRunRelu(x + o, dy + o, dx + o, l, load<f32>(ps + p), load<f32>(pa + p), load<f32>(pb + p), load<f32>(pc + p), load<f32>(fs + p), load<f32>(fa + p), load<f32>(fb + p));
      } else if (train) {
        dxRun(x + o, dy + o, dx + o, l, load<f32>(ps + p), load<f32>(pa + p), load<f32>(pb + p), load<f32>(pc + p));
      } else {
        scaleRun(dy + o, dx + o, l, load<f32>(pa + p));
      }
      o += run;
    }
  }
}

/** Σg, Σg·(x − K) of channels c0..c1 as runDots (ncl_runs.ts) takes them: the same runs and order. */
function blockDots(x: usize, dy: usize, n: i32, c: i32, l: i32, c0: i32, c1: i32, pk: usize, s1: usize, s2: usize, fs: usize, fa: usize, fb: usize, relu: bool): void {
  memory.fill(s1 + (<usize>c0 << 3), 0, <usize>(c1 - c0) << 3);
  memory.fill(s2 + (<usize>c0 << 3), 0, <usize>(c1 - c0) << 3);
  let item = <usize>c * <usize>l << 2, run = <usize>l << 2;
  for (let b = 0; b < n; b++) {
    let o = <usize>b * item + <usize>c0 * run;
    for (let ch = c0; ch < c1; ch++) {
      let q = <usize>ch << 3, p = <usize>ch << 2, k = load<f32>(pk + p);
      sumsReset();
      if (relu) dotSumsRelu(x + o, dy + o, l, k, load<f32>(fs + p), load<f32>(fa + p), load<f32>(fb + p));
      else dotSums(x + o, dy + o, l, k);
      store<f64>(s1 + q, load<f64>(s1 + q) + sum1);
      store<f64>(s2 + q, load<f64>(s2 + q) + sum2);
      o += run;
    }
  }
}

/** Σg, Σg·(x − K) again in f64 for the channels of c0..c1 whose sums are not finite, as exactSums (bn_driver.ts) for the backward. */
function exactBlockDots(x: usize, dy: usize, n: i32, c: i32, l: i32, c0: i32, c1: i32, pk: usize, s1: usize, s2: usize, pfs: usize, pfa: usize, pfb: usize, relu: bool): void {
  for (let ch = c0; ch < c1; ch++) {
    let o = <usize>ch << 3, o4 = <usize>ch << 2;
    if (Math.abs(load<f64>(s1 + o)) < Infinity && Math.abs(load<f64>(s2 + o)) < Infinity) continue;
    let k = <f64>load<f32>(pk + o4), a: f64 = 0, b: f64 = 0;
    let fs = load<f32>(pfs + o4), fa = load<f32>(pfa + o4), fb = load<f32>(pfb + o4);
    for (let i = 0; i < n; i++) {
      let p = (<usize>i * <usize>c + <usize>ch) * <usize>l << 2;
      for (let j = 0; j < l; j++) {
        let q = p + (<usize>j << 2), xv = load<f32>(x + q), e = <f64>xv - k;
        let gv = <f64>load<f32>(dy + q);
        if (relu && !((xv - fs) * fa + fb > 0)) gv = 0;
        a += gv; b += gv * e;
      }
    }
    store<f64>(s1 + o, a); store<f64>(s2 + o, b);
  }
}
