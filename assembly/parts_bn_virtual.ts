// The threaded build's exports for BatchNorm's virtual-channel paths (bn_driver.ts): SHORT
// (channel-first short runs as n rows of c·l virtual channels) and FOLD (channels-last with few
// channels, k rows folded into one of k·c). Their sums, normalize and dx take the ROWS path's part
// kernels (parts_bn_rows.ts) over the virtual rows; the steps between, on the calling thread, are
// the one-thread driver's (shifts and constants spread to the virtual channels, the blocks added in
// block order, FOLD's rows left over, the merge per channel), so every thread count gives its bits.
import { foldRows, rowBlocks } from './nhwc_passes';
import { pathOf, virtualConstants, virtualRest, virtualRows, virtualWidth, virtualStatsShifts, virtualBackwardShifts, virtualSumsFinish, virtualStatsFinish, virtualBackwardConstants, virtualDxRest } from './bn_driver';
import { addBlocks } from './parts_bn_rows';

/** The BatchNorm path of x (channelsLast ≠ 0: x[n][c] with l = 1; else x[n][c][l]): bn_driver.ts's RUNS 0, SHORT 1, ROWS 2, FOLD 3. */
export function bnPathOf(channelsLast: i32, n: i32, c: i32, l: i32): i32 {
  return pathOf(channelsLast != 0, n, c, l);
}

/** Rows folded into one virtual row on the FOLD path of x[m][c] (1: none). */
export function bnFoldRows(m: i32, c: i32): i32 {
  return foldRows(m, c);
}

/** The normalize constants of x's virtual-channel path, spread to its virtual channels in ws (then bnRowsNormalizePart over the virtual rows). */
export function bnVirtualConstants(channelsLast: i32, n: i32, c: i32, l: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, ws: usize): void {
  virtualConstants(pathOf(channelsLast != 0, n, c, l), n, c, l, gamma, beta, mean, invstd, ws);
}

/** The rows of channels-last x[n][c] left over after the folded ones (FOLD; nothing on SHORT), normalized with ws's constants. */
export function bnVirtualRest(channelsLast: i32, x: usize, y: usize, n: i32, c: i32, l: i32, ws: usize, relu: i32): void {
  virtualRest(pathOf(channelsLast != 0, n, c, l), x, y, n, c, l, ws, relu != 0);
}

/** Rows of x's virtual path (SHORT, FOLD): the m of its parts (bnRowSumsPart, bnRowsNormalizePart, bnRowsDxPart). */
export function bnVirtualRows(channelsLast: i32, n: i32, c: i32, l: i32): i32 {
  return virtualRows(pathOf(channelsLast != 0, n, c, l), n, c);
}

/** Virtual channels of x's virtual path: the c of its parts. */
export function bnVirtualWidth(channelsLast: i32, n: i32, c: i32, l: i32): i32 {
  return virtualWidth(pathOf(channelsLast != 0, n, c, l), n, c, l);
}

/** Row blocks of the sums over x's virtual rows (the parts of bnRowSumsPart). */
export function bnVirtualRowBlocks(channelsLast: i32, n: i32, c: i32, l: i32): i32 {
  let path = pathOf(channelsLast != 0, n, c, l);
  return rowBlocks(virtualRows(path, n, c), virtualWidth(path, n, c, l));
}

/** Shifts of the statistics, from x (again = 0) or the batch means (again = 1), spread to the virtual channels of ws. */
export function bnVirtualStatsShifts(channelsLast: i32, x: usize, n: i32, c: i32, l: i32, mean: usize, ws: usize, again: i32): void {
  virtualStatsShifts(pathOf(channelsLast != 0, n, c, l), x, n, c, l, mean, ws, again != 0);
}

/** Mean, var, invstd (f64[c]) from the nb blocks' statistics sums; 1 on RESHIFT (the caller takes them again). */
export function bnVirtualStatsFinish(channelsLast: i32, x: usize, n: i32, c: i32, l: i32, eps: f64, mean: usize, vari: usize, invstd: usize, ws: usize, blocks: usize, nb: i32): i32 {
  let path = pathOf(channelsLast != 0, n, c, l);
  addBlocks(virtualWidth(path, n, c, l), ws, blocks, nb);
  virtualSumsFinish(path, x, 0, n, c, l, ws, false, false);
  return virtualStatsFinish(path, n, c, l, eps, mean, vari, invstd, ws) ? 1 : 0;
}

/** Shifts of the backward's sums and (relu = 1) the forward's constants, spread to the virtual channels of ws. */
export function bnVirtualBackwardShifts(channelsLast: i32, n: i32, c: i32, l: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, relu: i32, ws: usize): void {
  virtualBackwardShifts(pathOf(channelsLast != 0, n, c, l), n, c, l, gamma, beta, mean, invstd, relu != 0, ws);
}

/** The dx constants (spread to the virtual channels) from the nb blocks' backward sums; dgamma, dbeta (f32[c], 0: none) added to. */
export function bnVirtualBackwardFinish(channelsLast: i32, x: usize, dy: usize, n: i32, c: i32, l: i32, gamma: usize, mean: usize, invstd: usize, dgamma: usize, dbeta: usize, train: i32, relu: i32, ws: usize, blocks: usize, nb: i32): void {
  let path = pathOf(channelsLast != 0, n, c, l);
  addBlocks(virtualWidth(path, n, c, l), ws, blocks, nb);
  virtualSumsFinish(path, x, dy, n, c, l, ws, true, relu != 0);
  virtualBackwardConstants(path, n, c, l, gamma, mean, invstd, dgamma, dbeta, train, ws);
}

/** dx of the rows of channels-last x[n][c] left over after the folded ones (FOLD; nothing on SHORT). */
export function bnVirtualDxRest(channelsLast: i32, x: usize, dy: usize, dx: usize, n: i32, c: i32, l: i32, ws: usize, train: i32, relu: i32): void {
  virtualDxRest(pathOf(channelsLast != 0, n, c, l), x, dy, dx, n, c, l, ws, train, relu != 0);
}
