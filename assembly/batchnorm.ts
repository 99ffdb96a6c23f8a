// BatchNorm kernels for channel-first layouts: x[n][c][l] with l = L, H·W or D·H·W (the facade
// sends l = 1 to the channels-last kernels, which is the same memory). Each export is the one
// driver of its pass (bn_driver.ts) on the path of its shape: runs of l values in memory order, or
// for short runs with enough batch items the channels-last passes over c·l virtual channels.
import { pathOf, statsPass, trainPass, normalizeOnly, backwardPass } from './bn_driver';

/** Training forward: batch mean and biased variance per channel, then y (clamped at 0 when relu = 1). Writes mean, var, invstd (f64[c]). */
export function bnTrainNCL(x: usize, y: usize, n: i32, c: i32, l: i32, gamma: usize, beta: usize, eps: f64, mean: usize, vari: usize, invstd: usize, relu: i32, ws: usize): void {
  trainPass(pathOf(false, n, c, l), x, y, n, c, l, gamma, beta, eps, mean, vari, invstd, relu != 0, ws);
}

/** Batch mean, biased variance and invstd per channel (f64[c]) alone, as bnTrainNCL computes them (Batch Renorm needs them before y). */
export function bnStatsNCL(x: usize, n: i32, c: i32, l: i32, eps: f64, mean: usize, vari: usize, invstd: usize, ws: usize): void {
  statsPass(pathOf(false, n, c, l), x, n, c, l, eps, mean, vari, invstd, ws);
}

/** Normalizes with given per-channel mean and invstd (f64[c]), then ReLU when relu = 1: inference with running statistics. */
export function bnNormalizeNCL(x: usize, y: usize, n: i32, c: i32, l: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, relu: i32, ws: usize): void {
  normalizeOnly(pathOf(false, n, c, l), x, y, n, c, l, gamma, beta, mean, invstd, relu != 0, ws);
}

/** Backward (of BN, or BN+ReLU when relu = 1): dx, and dgamma/dbeta (f32[c], added to when non-zero). `train` = 1 for batch statistics. */
export function bnBackwardNCL(x: usize, dy: usize, dx: usize, n: i32, c: i32, l: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, dgamma: usize, dbeta: usize, train: i32, relu: i32, ws: usize): void {
  backwardPass(pathOf(false, n, c, l), x, dy, dx, n, c, l, gamma, beta, mean, invstd, dgamma, dbeta, train, relu != 0, ws);
}

/**
 * The running-statistics update in one call: rm = f·mean + (1 − f)·rm, rv = f·vari·unbias + (1 − f)·rv
 * over c channels (mean, vari f64[c]; rm, rv f32[c]), in f64 rounded once to f32, as the facade's JS did.
 */
export function bnUpdateRunning(mean: usize, vari: usize, rm: usize, rv: usize, c: i32, factor: f64, unbias: f64): void {
  const keep = 1 - factor;
  for (let i = 0; i < c; i++) {
    const o8 = (<usize>i) << 3,
      o4 = (<usize>i) << 2;
    store<f32>(rm + o4, <f32>(factor * load<f64>(mean + o8) + keep * <f64>load<f32>(rm + o4)));
    store<f32>(rv + o4, <f32>(factor * load<f64>(vari + o8) * unbias + keep * <f64>load<f32>(rv + o4)));
  }
}
