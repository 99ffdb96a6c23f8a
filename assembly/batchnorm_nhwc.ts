// BatchNorm kernels for channels-last layouts: x[m][c] with m = N (NC), N·L, N·H·W or N·D·H·W.
// Vectorized across channels, walking memory in order, rows a few at a time (nhwc_passes.ts), with
// the per-channel work two channels per f64x2 (constants.ts). Channels beyond a multiple of four
// (all of them in the scalar build) take a scalar path in the same order.
// see: Ioffe & Szegedy 2015, https://arxiv.org/abs/1502.03167; PyTorch
//      aten/src/ATen/native/cpu/batch_norm_kernel.cpp (batch_norm_cpu_collect_stats_channels_last)
import { setActivation } from './stats';
import { rowShifts, finishChannels, normalizeConstants, backwardShifts, backwardConstants } from './constants';
import { WS_UNITS, at, rowSums, normalizePass, dxPass, shortRuns } from './nhwc_passes';

/**
 * Workspace bytes for channel-first x[n][c][l] (channels-last: l = 1): WS_UNITS bytes a channel,
 * or a virtual channel where short runs take the channels-last passes.
 */
export function bnWorkspace(n: i32, c: i32, l: i32): i32 {
  return WS_UNITS * c * (shortRuns(n, c, l) ? l : 1);
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

/** Backward, channels-last (of BN, or BN+ReLU when relu = 1): dx, and dgamma/dbeta (f32[c], added to when non-zero). `train` = 1 for batch statistics. */
export function bnBackwardNHWC(x: usize, dy: usize, dx: usize, m: i32, c: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, dgamma: usize, dbeta: usize, train: i32, relu: i32, ws: usize): void {
  if (relu) normalizeConstants(c, gamma, beta, mean, invstd, at(ws, c, 44), at(ws, c, 48), at(ws, c, 52));
  backwardShifts(c, mean, invstd, at(ws, c, 24));
  rowSums(x, dy, m, c, ws, true, relu != 0);
  backwardConstants(c, <f64>m, gamma, mean, invstd, at(ws, c, 0), at(ws, c, 8), dgamma, dbeta, train, at(ws, c, 28), at(ws, c, 32), at(ws, c, 36), at(ws, c, 40));
  dxPass(x, dy, dx, m, c, ws, train, relu != 0);
}

