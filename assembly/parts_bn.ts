// Part kernels of the channel-first BatchNorm passes (RUNS path, bn_driver.ts) for the threaded
// build: part p of a call takes a block of channels, whole (every batch item's runs of them), and
// does for them what the single-threaded pass does, in the same order: the same shift, the same
// sums (two read streams beyond the caches, as runSums), the same constants (blocks start at a
// multiple of 8 channels, so the f64x2 pairs of finishChannels and normalizeConstants pair the same
// channels), the same runs. Channels are independent, except RESHIFT: whether the statistics are
// taken again is decided for all channels at once, so the caller joins between the phases. The
// backward's channels are independent: one phase.
import { at, WS_S1, WS_S2, WS_K, WS_KS, WS_KA, WS_KB, WS_KC, WS_FS, WS_FA, WS_FB } from './nhwc_passes';
import { runShifts, runSums, runDots, runNormalize, runDx } from './ncl_runs';
import { finishChannels, meanShifts, normalizeConstants, backwardShifts, backwardConstants } from './constants';
import { pathOf, exactSums, RUNS } from './bn_driver';
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
  runSums(x, n, c, l, ws, c0, c1);
  exactSums(x, 0, n, c, l, ws, false, false, c0, c1);
  let isFar = finishChannels(cb, pk + o4, s1 + o8, s2 + o8, <f64>n * <f64>l, eps, mean + o8, vari + o8, invstd + o8);
  store<i32>(far + (<usize>part << 2), isFar ? 1 : 0);
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
  runNormalize(x, y, n, c, l, ws, relu != 0, c0, c1);
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
  runDots(x, dy, n, c, l, ws, relu != 0, c0, c1);
  exactSums(x, dy, n, c, l, ws, true, relu != 0, c0, c1);
  let ps = at(ws, c, WS_KS), pa = at(ws, c, WS_KA), pb = at(ws, c, WS_KB), pc = at(ws, c, WS_KC);
  backwardConstants(cb, <f64>n * <f64>l, g, mean + o8, invstd + o8, s1 + o8, s2 + o8, dgamma != 0 ? dgamma + o4 : 0, dbeta != 0 ? dbeta + o4 : 0, train, ps + o4, pa + o4, pb + o4, pc + o4);
  runDx(x, dy, dx, n, c, l, ws, train, relu != 0, c0, c1);
}
