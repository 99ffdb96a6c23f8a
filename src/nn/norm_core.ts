// What LayerNorm, GroupNorm and InstanceNorm share. Each is BN's statistics on a view of its input
// as channel-first [1, rows, perRow], one BN "channel" per normalized group (a sample's group, an
// instance's channel, a row of the last dims), so they keep BN's shifted sums in f64 and its
// guarantees at large offsets. InstanceNorm is one BN call each way; GroupNorm's affine joins BN's
// normalize on [1, N·C, L] and its backward is two passes (group_core.ts, kernels/rownorm.ts);
// LayerNorm's rows are contiguous with γ, β per column: the row kernel (kernels/rownorm.ts) takes
// them whole. Without an affine, GroupNorm and InstanceNorm are BN's training forward and backward
// of the view.
// see: Wu & He 2018, Group Normalization, https://arxiv.org/abs/1803.08494 (Fig. 2: the axes);
//      Ba et al. 2016, Layer Normalization, https://arxiv.org/abs/1607.06450;
//      Ulyanov et al. 2016, Instance Normalization, https://arxiv.org/abs/1607.08022
import { Tensor } from '../tensor';
import { runtime } from '../runtime/index';
import { gradSink, record } from '../autograd/functional';
import { bnBackward, bnStats, bnTrain, geometry, type Geometry } from '../kernels/batchnorm';
import * as ew from '../kernels/elementwise';
import { rowNormBackward, rowNormForward, rowNormNormalize } from '../kernels/rownorm';
import { activationBackward } from '../kernels/activations';
import type { Stats } from './bn_core';
import { groupBackward, groupNormalize, perRow, rowBackward } from './group_core';

/** How a norm sees its input: BN's geometry of the statistics view and of the affine. */
export interface NormPlan {
  /** [1, rows, perRow] channel-first: one BN channel per normalized group. */
  view: Geometry;
  /** Where γ and β apply: channels ([N, C, L]) or the last dims ([rows, D] channels-last). */
  affine: Geometry;
  /**
   * Each view row is one channel of one sample (InstanceNorm; GroupNorm with a group per channel):
   * then γ, β repeated per row are BN's own per-channel affine of the view, and the norm is one BN
   * call each way, as fast as BN; else the affine takes its own pass.
   */
  rowAffine: boolean;
  /**
   * GroupNorm's input as [1, N·C, L], one row per channel of a sample, and the rows per group: γ, β
   * and the group's statistics are constants along a row there, so the affine joins BN's normalize
   * and dx's pass (two passes each way, as BN). Null for LayerNorm (its γ varies along a row).
   */
  fine: Geometry | null;
  /** Rows of `fine` per row of `view` (channels per group). */
  per: number;
  /**
   * LayerNorm: each view row is contiguous with γ, β per column, so the row kernel
   * (kernels/rownorm.ts) takes it whole, its statistics and normalize while the row is in L1.
   */
  rowwise: boolean;
}

const prod = (a: readonly number[]) => a.reduce((p, v) => p * v, 1);

/** GroupNorm's (and InstanceNorm's, groups = C) plan for a checked [N, C, *] shape. */
export function groupPlan(shape: readonly number[], groups: number): NormPlan {
  const n = shape[0],
    c = shape[1],
    l = prod(shape.slice(2));
  return {
    view: geometry('NCL', [1, n * groups, (c / groups) * l]),
    affine: geometry('NCL', [n, c, l]),
    rowAffine: groups === c,
    fine: geometry('NCL', [1, n * c, l]),
    per: c / groups,
    rowwise: false,
  };
}

/** LayerNorm's plan: the last `k` dims of a checked shape are one group per row. */
export function layerPlan(shape: readonly number[], k: number): NormPlan {
  const rows = prod(shape.slice(0, shape.length - k)),
    d = prod(shape.slice(shape.length - k));
  return {
    view: geometry('NCL', [1, rows, d]),
    affine: geometry('NC', [rows, d]),
    rowAffine: false,
    fine: null,
    per: 1,
    rowwise: true,
  };
}

/**
 * Training forward of a norm: statistics per group into `stats` (f64[rows]), then y = x̂·γ + β (then
 * ReLU in the same pass when `relu`, as BN's fused kernel).
 */
export function normForward(
  p: NormPlan,
  x: Tensor,
  y: Tensor,
  w: Tensor | null,
  b: Tensor | null,
  eps: number,
  stats: Stats,
  relu = false,
): void {
  if (p.view.size === 0) return;
  const v = p.view;
  if (p.rowwise)
    return rowNormForward(x.ptr, y.ptr, v.c, v.l, w ? w.ptr : 0, b ? b.ptr : 0, eps, stats.mean, stats.vari, stats.invstd, relu);
  if (p.rowAffine && (w || b)) {
    const rw = perRow(p, w);
    let rb: Tensor | null = null;
    try {
      rb = perRow(p, b);
      bnTrain(p.view, x.ptr, y.ptr, rw ? rw.ptr : 0, rb ? rb.ptr : 0, eps, stats.mean, stats.vari, stats.invstd, relu);
    } finally {
      rw?.dispose();
      rb?.dispose();
    }
    return;
  }
  if (p.fine && (w || b)) {
    bnStats(p.view, x.ptr, eps, stats.mean, stats.vari, stats.invstd);
    return groupNormalize(p, x, y, w, b, stats, relu);
  }
  // no affine: BN's training forward of the view
  bnTrain(p.view, x.ptr, y.ptr, 0, 0, eps, stats.mean, stats.vari, stats.invstd, relu);
}

/**
 * Runs `compute(tw, tb)` with dγ and dβ (c values each, f32, 0 = not wanted) going to zeroed
 * temporaries, then adds them to dw and db: a backward of several kernel calls, each of which may
 * fail to allocate its workspace, then adds to no gradient unless all of them ran.
 */
export function addingWhenDone(c: number, dw: number, db: number, compute: (tw: number, tb: number) => void): void {
  if (dw === 0 && db === 0) return compute(0, 0);
  const tw = Tensor.full([c], 0);
  let tb: Tensor | null = null;
  try {
    tb = Tensor.full([c], 0);
    compute(dw ? tw.ptr : 0, db ? tb.ptr : 0);
    if (dw) ew.binary('add', dw, tw.ptr, dw, 1, c);
    if (db) ew.binary('add', db, tb.ptr, db, 1, c);
  } finally {
    tw.dispose();
    tb?.dispose();
  }
}

/** What a norm's backward takes: normBackward's arguments. */
export interface NormGrad {
  p: NormPlan;
  x: Tensor;
  dy: Tensor;
  dx: Tensor;
  w: Tensor | null;
  b: Tensor | null;
  stats: Stats;
  /** f32 dγ, dβ to add to (0 = not wanted). */
  dw: number;
  db: number;
  relu: boolean;
}

/**
 * Backward of normForward (with its fused ReLU when `relu`): dx, and Σ dy·x̂ into dw, Σ dy into db
 * (f32, added to; 0 = not wanted).
 */
export function normBackward(
  p: NormPlan,
  x: Tensor,
  dy: Tensor,
  dx: Tensor,
  w: Tensor | null,
  b: Tensor | null,
  stats: Stats,
  dw: number,
  db: number,
  relu = false,
): void {
  if (p.view.size === 0) return;
  if (p.rowwise) return rowwiseBackward(p, x, dy, dx, w, b, stats, dw, db, relu);
  if (w === null && b === null) {
    bnBackward(p.view, x.ptr, dy.ptr, dx.ptr, 0, stats.mean, stats.invstd, 0, 0, true, relu);
    return;
  }
  if (p.rowAffine) return rowBackward({ p, x, dy, dx, w, b, stats, dw, db, relu });
  return groupBackward({ p, x, dy, dx, w, b, stats, dw, db, relu });
}

/**
 * LayerNorm's backward by the row kernel; with the fused ReLU, dy is first masked (into dx) where
 * the forward's output, made again with the same kernel, was positive: then the same sums as the
 * norm then ReLU, bit for bit (the kernel reads each dy before it writes that dx).
 */
function rowwiseBackward(
  p: NormPlan,
  x: Tensor,
  dy: Tensor,
  dx: Tensor,
  w: Tensor | null,
  b: Tensor | null,
  stats: Stats,
  dw: number,
  db: number,
  relu: boolean,
): void {
  const v = p.view,
    g = w ? w.ptr : 0;
  if (!relu) return rowNormBackward(x.ptr, dy.ptr, dx.ptr, v.c, v.l, g, stats.mean, stats.invstd, dw, db);
  const y = Tensor.empty(x.shape);
  try {
    rowNormNormalize(x.ptr, y.ptr, v.c, v.l, g, b ? b.ptr : 0, stats.mean, stats.invstd, true);
    activationBackward('relu', y.ptr, dy.ptr, dx.ptr, x.size);
    rowNormBackward(x.ptr, dx.ptr, dx.ptr, v.c, v.l, g, stats.mean, stats.invstd, dw, db);
  } finally {
    y.dispose();
  }
}

/**
 * Records normForward's backward on y (the tape then owns `stats`); γ's and β's gradients go
 * straight into their .grad when they are leaves, as recordBatchNorm does.
 */
export function recordNorm(
  name: string,
  y: Tensor,
  x: Tensor,
  p: NormPlan,
  stats: Stats,
  w: Tensor | null,
  b: Tensor | null,
  relu = false,
): Tensor {
  const inputs = [x, ...(w ? [w] : []), ...(b ? [b] : [])];
  return record(
    y,
    name,
    inputs,
    (gy) => {
      const gx = Tensor.empty(x.shape);
      const gw = gradSink(w),
        gb = gradSink(b);
      normBackward(p, x, gy, gx, w, b, stats, gw ? gw.into.ptr : 0, gb ? gb.into.ptr : 0, relu);
      return [gx, ...(gw ? [gw.give] : []), ...(gb ? [gb.give] : [])];
    },
    () => stats.block.dispose(),
  );
}

/**
 * InstanceNorm's running update from per-(sample, channel) statistics (rows n·c + ch): PyTorch
 * updates a copy per sample and keeps their mean, i.e. running = (1 − f)·running + f·mean over the
 * batch of the instance means (and unbiased variances, l values each).
 * see: https://github.com/pytorch/pytorch/blob/main/aten/src/ATen/native/Normalization.cpp (instance_norm)
 */
export function updateRunningInstances(
  n: number,
  c: number,
  l: number,
  stats: Stats,
  factor: number,
  runMean: Tensor,
  runVar: Tensor,
): void {
  if (n * c * l === 0) return;
  const rt = runtime();
  const mean = rt.f64(stats.mean, n * c),
    vari = rt.f64(stats.vari, n * c);
  const rm = runMean.view(),
    rv = runVar.view();
  const unbias = l / (l - 1);
  for (let ch = 0; ch < c; ch++) {
    let s = 0,
      q = 0;
    for (let i = 0; i < n; i++) {
      s += mean[i * c + ch];
      q += vari[i * c + ch] * unbias;
    }
    rm[ch] = factor * (s / n) + (1 - factor) * rm[ch];
    rv[ch] = factor * (q / n) + (1 - factor) * rv[ch];
  }
}
