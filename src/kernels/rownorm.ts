// Thin wrappers over the row normalization kernels (assembly/rownorm.ts, src/js/rownorm.ts):
// LayerNorm over contiguous rows of `d` values, with its workspace.
import { runtime } from '../runtime/index';

/** Training forward over `rows` rows of `d` values: per-row mean/vari/invstd (f64[rows]), then y (then ReLU when `relu`); γ, β (f32[d]) may be 0. */
export function rowNormForward(
  x: number,
  y: number,
  rows: number,
  d: number,
  gamma: number,
  beta: number,
  eps: number,
  mean: number,
  vari: number,
  invstd: number,
  relu = false,
): void {
  runtime().k.rowNormForward(x, y, rows, d, gamma, beta, eps, mean, vari, invstd, relu ? 1 : 0);
}

/** y from given per-row mean and invstd (f64[rows]) (then ReLU when `relu`): rowNormForward's normalize alone. */
export function rowNormNormalize(
  x: number,
  y: number,
  rows: number,
  d: number,
  gamma: number,
  beta: number,
  mean: number,
  invstd: number,
  relu = false,
): void {
  runtime().k.rowNormNormalize(x, y, rows, d, gamma, beta, mean, invstd, relu ? 1 : 0);
}

/** Backward of rowNormForward: dx, and dγ, dβ (f32[d], 0 = not wanted) added to. */
export function rowNormBackward(
  x: number,
  dy: number,
  dx: number,
  rows: number,
  d: number,
  gamma: number,
  mean: number,
  invstd: number,
  dgamma: number,
  dbeta: number,
): void {
  const k = runtime().k,
    ws = k.alloc(k.rowNormWorkspace(d));
  try {
    k.rowNormBackward(x, dy, dx, rows, d, gamma, mean, invstd, dgamma, dbeta, ws);
  } finally {
    k.free(ws);
  }
}

/**
 * GroupNorm's backward for x[n][c][l] in groups of `per` channels (`rows` = n·c/per groups of
 * samples, mean and invstd f64[rows]): dx, and dγ, dβ (f32[c], 0 = not wanted) added to.
 */
export function groupNormBackward(
  x: number,
  dy: number,
  dx: number,
  rows: number,
  c: number,
  per: number,
  l: number,
  gamma: number,
  mean: number,
  invstd: number,
  dgamma: number,
  dbeta: number,
): void {
  const k = runtime().k,
    ws = k.alloc(k.groupNormWorkspace(c));
  try {
    k.groupNormBackward(x, dy, dx, rows, c, per, l, gamma, mean, invstd, dgamma, dbeta, ws);
  } finally {
    k.free(ws);
  }
}
