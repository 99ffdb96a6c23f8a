// Part kernels of the channels-last BatchNorm passes (ROWS path, bn_driver.ts) for the threaded
// build. The sums over rows are taken in row blocks that depend on the shape alone (rowBlocks in
// nhwc_passes.ts), each from zero into its own area, and added in block order after the join, as
// the one-thread rowSums adds them: part b of the sums is block b. Normalize and dx compute each
// element from its channel's constants alone, so their parts are any slices of whole rows; a slice
// takes the loops of the whole pass (a slice of a tensor beyond the caches is not in cache either). The
// per-channel steps between the passes (shifts, combining the blocks, constants) run on the calling
// thread, through the exports below, with the single-threaded code. The virtual-channel paths take
// the same parts over their virtual rows (parts_bn_virtual.ts).
import { at, rowBlocks, rowBlockSums, addSums, normalizePass, dxPass, streams, WS_S1, WS_S2, WS_K, WS_KS, WS_KA, WS_KB, WS_KC, WS_FS, WS_FA, WS_FB } from './nhwc_passes';
import { rowShifts, finishChannels, meanShifts, normalizeConstants, backwardShifts, backwardConstants } from './constants';
import { pathOf, exactSums, ROWS } from './bn_driver';
import { sliceStart } from './parts';

/** Rows per unit of a slice of normalize or dx (a step of their widest loop). */
const UNIT: i32 = 16;

/** Row blocks of the sums of channels-last x[m][c] when it takes the ROWS path (0: another path): the parts of bnRowSumsPart. */
export function bnRowBlocksNHWC(m: i32, c: i32): i32 {
  return pathOf(true, m, c, 1) == ROWS ? rowBlocks(m, c) : 0;
}

/** Bytes of one block's area for bnRowSumsPart (f32 partial sums, f64 sums, two each per channel). */
export function bnRowBlockBytes(c: i32): i32 {
  return 24 * c;
}

/** Shifts K of the statistics into ws: from the first rows of x[m][c] (again = 0) or from the batch means (again = 1). */
export function bnRowsShifts(x: usize, m: i32, c: i32, mean: usize, ws: usize, again: i32): void {
  if (again) meanShifts(c, mean, at(ws, c, WS_K));
  else rowShifts(x, m, c, at(ws, c, WS_K));
}

/** Shifts K of the backward's sums into ws, and (relu = 1) the forward's constants kS, kA, kB to recompute where its output was positive. */
export function bnRowsBackwardShifts(c: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, relu: i32, ws: usize): void {
  if (relu) normalizeConstants(c, gamma, beta, mean, invstd, at(ws, c, WS_FS), at(ws, c, WS_FA), at(ws, c, WS_FB));
  backwardShifts(c, mean, invstd, at(ws, c, WS_K));
}

/**
 * Block `part` of the sums over the rows of x[m][c] (parts = bnRowBlocksNHWC(m, c)): the statistics
 * (dot = 0) or the backward's (dot = 1, of BN+ReLU when relu = 1), with the shifts of ws, into the
 * block's area at blocks + part·bnRowBlockBytes(c).
 */
export function bnRowSumsPart(part: i32, parts: i32, x: usize, dy: usize, m: i32, c: i32, ws: usize, blocks: usize, dot: i32, relu: i32): void {
  let area = blocks + <usize>part * <usize>bnRowBlockBytes(c), f = <usize>c << 2;
  rowBlockSums(x, dy, m, c, ws, part, parts, area, area + f, area + 2 * f, area + 4 * f, dot != 0, relu != 0);
}

/** S1, S2 of ws (c channels) = the nb blocks' sums added in block order, as rowSums adds them. */
export function addBlocks(c: i32, ws: usize, blocks: usize, nb: i32): void {
  let f = <usize>c << 2, bytes = <usize>bnRowBlockBytes(c), s1 = at(ws, c, WS_S1), s2 = at(ws, c, WS_S2);
  memory.copy(s1, blocks + 2 * f, f << 1);
  memory.copy(s2, blocks + 4 * f, f << 1);
  for (let b = 1; b < nb; b++) {
    let area = blocks + <usize>b * bytes;
    addSums(c, area + 2 * f, area + 4 * f, s1, s2);
  }
}

/** S1, S2 of ws = the nb blocks' sums, then again in f64 where they are not finite (as bn_driver.ts's sums). */
function combine(x: usize, dy: usize, m: i32, c: i32, ws: usize, blocks: usize, nb: i32, dot: bool, relu: bool): void {
  addBlocks(c, ws, blocks, nb);
  exactSums(x, dy, m, c, 1, ws, dot, relu, 0, c);
}

/** Mean, var, invstd (f64[c]) from the nb blocks' statistics sums; 1 when a mean is far from its shift (RESHIFT: the caller takes them again). */
export function bnRowsStatsFinish(x: usize, m: i32, c: i32, eps: f64, mean: usize, vari: usize, invstd: usize, ws: usize, blocks: usize, nb: i32): i32 {
  combine(x, 0, m, c, ws, blocks, nb, false, false);
  return finishChannels(c, at(ws, c, WS_K), at(ws, c, WS_S1), at(ws, c, WS_S2), <f64>m, eps, mean, vari, invstd) ? 1 : 0;
}

/** The normalize constants kS, kA, kB of ws from mean and invstd (f64[c]). */
export function bnRowsNormalizeConstants(c: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, ws: usize): void {
  normalizeConstants(c, gamma, beta, mean, invstd, at(ws, c, WS_KS), at(ws, c, WS_KA), at(ws, c, WS_KB));
}

/** The dx constants of ws from the nb blocks' backward sums, and dgamma, dbeta (f32[c], 0: none) added to. */
export function bnRowsBackwardFinish(x: usize, dy: usize, m: i32, c: i32, gamma: usize, mean: usize, invstd: usize, dgamma: usize, dbeta: usize, train: i32, relu: i32, ws: usize, blocks: usize, nb: i32): void {
  combine(x, dy, m, c, ws, blocks, nb, true, relu != 0);
  backwardConstants(c, <f64>m, gamma, mean, invstd, at(ws, c, WS_S1), at(ws, c, WS_S2), dgamma, dbeta, train, at(ws, c, WS_KS), at(ws, c, WS_KA), at(ws, c, WS_KB), at(ws, c, WS_KC));
}

/** First row of slice `part` of `parts` of m rows (whole units; the last ends at m). */
// @ts-ignore: decorator
@inline function rowStart(part: i32, parts: i32, m: i32): i32 {
  return min(m, sliceStart(part, parts, (m + UNIT - 1) / UNIT) * UNIT);
}

/** y of slice `part` of `parts` of the rows of x[m][c] with the constants of ws, clamped at 0 when relu = 1. */
export function bnRowsNormalizePart(part: i32, parts: i32, x: usize, y: usize, m: i32, c: i32, ws: usize, relu: i32): void {
  let r0 = rowStart(part, parts, m), r1 = rowStart(part + 1, parts, m);
  if (r1 <= r0) return;
  let o = <usize>r0 * (<usize>c << 2);
  normalizePass(x + o, y + o, r1 - r0, c, ws, relu != 0, streams(m, c));
}

/** dx of slice `part` of `parts` of the rows of x[m][c] with the constants of ws (train, relu as bnBackwardNHWC). */
export function bnRowsDxPart(part: i32, parts: i32, x: usize, dy: usize, dx: usize, m: i32, c: i32, ws: usize, train: i32, relu: i32): void {
  let r0 = rowStart(part, parts, m), r1 = rowStart(part + 1, parts, m);
  if (r1 <= r0) return;
  let o = <usize>r0 * (<usize>c << 2);
  dxPass(x + o, dy + o, dx + o, r1 - r0, c, ws, train, relu != 0, streams(m, c));
}
