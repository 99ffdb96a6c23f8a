// BatchNorm kernels for channels-last layouts: x[m][c] with m = N (NC), N·L, N·H·W or N·D·H·W.
// Vectorized across channels, walking memory in order, rows a few at a time (nhwc_passes.ts), with
// the per-channel work two channels per f64x2 (constants.ts); few channels fold rows together.
// Each export is the one driver of its pass (bn_driver.ts) with l = 1.
// see: PyTorch aten/src/ATen/native/cpu/batch_norm_kernel.cpp (batch_norm_cpu_collect_stats_channels_last)
import { pathOf, workspaceBytes, statsPass, trainPass, normalizeOnly, backwardPass } from './bn_driver';

/** Workspace bytes for channel-first x[n][c][l] (channels-last x[m][c]: n = m, l = 1). */
export function bnWorkspace(n: i32, c: i32, l: i32): i32 {
  return workspaceBytes(pathOf(l == 1, n, c, l), n, c, l);
}

/** Training forward, channels-last: batch mean and biased variance per channel, then y (clamped at 0 when relu = 1). Writes mean, var, invstd (f64[c]). */
export function bnTrainNHWC(x: usize, y: usize, m: i32, c: i32, gamma: usize, beta: usize, eps: f64, mean: usize, vari: usize, invstd: usize, relu: i32, ws: usize): void {
  trainPass(pathOf(true, m, c, 1), x, y, m, c, 1, gamma, beta, eps, mean, vari, invstd, relu != 0, ws);
}

/** Batch mean, biased variance and invstd per channel (f64[c]) of channels-last x alone, as bnTrainNHWC computes them. */
export function bnStatsNHWC(x: usize, m: i32, c: i32, eps: f64, mean: usize, vari: usize, invstd: usize, ws: usize): void {
  statsPass(pathOf(true, m, c, 1), x, m, c, 1, eps, mean, vari, invstd, ws);
}

/** Normalizes channels-last x with given per-channel mean and invstd (f64[c]), then ReLU when relu = 1: inference. */
export function bnNormalizeNHWC(x: usize, y: usize, m: i32, c: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, relu: i32, ws: usize): void {
  normalizeOnly(pathOf(true, m, c, 1), x, y, m, c, 1, gamma, beta, mean, invstd, relu != 0, ws);
}

/** Backward, channels-last (of BN, or BN+ReLU when relu = 1): dx, and dgamma/dbeta (f32[c], added to when non-zero). `train` = 1 for batch statistics. */
export function bnBackwardNHWC(x: usize, dy: usize, dx: usize, m: i32, c: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, dgamma: usize, dbeta: usize, train: i32, relu: i32, ws: usize): void {
  backwardPass(pathOf(true, m, c, 1), x, dy, dx, m, c, 1, gamma, beta, mean, invstd, dgamma, dbeta, train, relu != 0, ws);
}
