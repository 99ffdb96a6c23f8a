// Thin wrappers over the row normalization kernels (assembly/rownorm.ts, src/js/rownorm.ts):
// LayerNorm over contiguous rows of `d` values, with its workspace.
import { runtime } from '../runtime/index';

/** Training forward over `rows` rows of `d` values: per-row mean/vari/invstd (f64[rows]), then y; γ, β (f32[d]) may be 0. */
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
): void {
  runtime().k.rowNormForward(x, y, rows, d, gamma, beta, eps, mean, vari, invstd);
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
