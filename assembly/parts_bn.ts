// Part kernels of the channel-first BatchNorm passes (RUNS path, bn_driver.ts) for the threaded
// build: part p of a call takes a block of channels, whole (every batch item's runs of them), and
// does for them what the single-threaded pass does, in the same order: the same shift, the same
// sums (two read streams beyond the caches, as runSums), the same constants (blocks start at a
// multiple of 8 channels, so the f64x2 pairs of finishChannels and normalizeConstants pair the same
// channels), the same runs. Channels are independent, except RESHIFT: whether the statistics are
// taken again is decided for all channels at once, so the caller joins between the phases.
import { shiftedSums, shiftedSums2, sumsReset, sum1, sum2 } from './stats';
import { at, STREAM_BYTES, WS_S1, WS_S2, WS_K, WS_KS, WS_KA, WS_KB } from './nhwc_passes';
import { runShifts, normRun } from './ncl_runs';
import { finishChannels, meanShifts, normalizeConstants } from './constants';
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
