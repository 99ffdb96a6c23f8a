// Thin wrappers over the BatchNorm kernels (assembly/batchnorm.ts, assembly/batchnorm_nhwc.ts,
// src/js/batchnorm.ts): pick the channel-first or channels-last entry and manage the workspace.
import { runtime } from '../runtime/index';

/** Memory layout of a BatchNorm input: N batch, C channels, L/H/W/D spatial; channels first (PyTorch's) or last. */
export type Layout = 'NC' | 'NCL' | 'NLC' | 'NCHW' | 'NHWC' | 'NCDHW' | 'NDHWC';
export const LAYOUT_RANK: Record<Layout, number> = { NC: 2, NCL: 3, NLC: 3, NCHW: 4, NHWC: 4, NCDHW: 5, NDHWC: 5 };
export const CHANNELS_LAST: Record<Layout, boolean> = {
  NC: true,
  NCL: false,
  NLC: true,
  NCHW: false,
  NHWC: true,
  NCDHW: false,
  NDHWC: true,
};

/** A tensor's shape seen by the kernels: n·l (channel-first) or m rows of c (channels-last). */
export interface Geometry {
  channelsLast: boolean;
  n: number;
  c: number;
  l: number;
  /** Elements per channel (n·l). */
  m: number;
  size: number;
}

/** The channel axis of a layout. */
export function channelAxis(layout: Layout): number {
  return CHANNELS_LAST[layout] ? LAYOUT_RANK[layout] - 1 : 1;
}

/** Geometry of `shape` (already checked against `layout`). */
export function geometry(layout: Layout, shape: readonly number[]): Geometry {
  const ax = channelAxis(layout);
  const n = shape[0],
    c = shape[ax];
  let l = 1;
  for (let i = 1; i < shape.length; i++) if (i !== ax) l *= shape[i];
  // channel-first with one element per run is the same memory as channels-last [n][c]
  const channelsLast = CHANNELS_LAST[layout] || l === 1;
  return { channelsLast, n, c, l, m: n * l, size: n * c * l };
}

/** A workspace for the kernels of geometry `g` (the caller frees it). */
function workspace(g: Geometry): number {
  const k = runtime().k;
  return k.alloc(g.channelsLast ? k.bnWorkspace(g.m, g.c, 1) : k.bnWorkspace(g.n, g.c, g.l));
}

/** Training forward: batch statistics into mean/vari/invstd (f64[c]), then y (then ReLU when `relu`). */
export function bnTrain(
  g: Geometry,
  x: number,
  y: number,
  gamma: number,
  beta: number,
  eps: number,
  mean: number,
  vari: number,
  invstd: number,
  relu = false,
): void {
  const k = runtime().k,
    r = relu ? 1 : 0,
    ws = workspace(g);
  try {
    if (g.channelsLast) k.bnTrainNHWC(x, y, g.m, g.c, gamma, beta, eps, mean, vari, invstd, r, ws);
    else k.bnTrainNCL(x, y, g.n, g.c, g.l, gamma, beta, eps, mean, vari, invstd, r, ws);
  } finally {
    k.free(ws);
  }
}

/** Batch statistics alone into mean/vari/invstd (f64[c]), the same values as bnTrain's. */
export function bnStats(g: Geometry, x: number, eps: number, mean: number, vari: number, invstd: number): void {
  const k = runtime().k,
    ws = workspace(g);
  try {
    if (g.channelsLast) k.bnStatsNHWC(x, g.m, g.c, eps, mean, vari, invstd, ws);
    else k.bnStatsNCL(x, g.n, g.c, g.l, eps, mean, vari, invstd, ws);
  } finally {
    k.free(ws);
  }
}

/** Normalize with given mean and invstd (f64[c]) (then ReLU when `relu`). */
export function bnNormalize(
  g: Geometry,
  x: number,
  y: number,
  gamma: number,
  beta: number,
  mean: number,
  invstd: number,
  relu = false,
): void {
  const k = runtime().k,
    r = relu ? 1 : 0,
    ws = workspace(g);
  try {
    if (g.channelsLast) k.bnNormalizeNHWC(x, y, g.m, g.c, gamma, beta, mean, invstd, r, ws);
    else k.bnNormalizeNCL(x, y, g.n, g.c, g.l, gamma, beta, mean, invstd, r, ws);
  } finally {
    k.free(ws);
  }
}

/**
 * Backward: dx; dgamma/dbeta (f32[c]) are added to when non-zero. With `relu`, the backward of BN
 * followed by ReLU (beta is then needed to recompute where the output was positive).
 */
export function bnBackward(
  g: Geometry,
  x: number,
  dy: number,
  dx: number,
  gamma: number,
  mean: number,
  invstd: number,
  dgamma: number,
  dbeta: number,
  train: boolean,
  relu = false,
  beta = 0,
): void {
  const k = runtime().k,
    r = relu ? 1 : 0,
    t = train ? 1 : 0,
    ws = workspace(g);
  try {
    if (g.channelsLast) k.bnBackwardNHWC(x, dy, dx, g.m, g.c, gamma, beta, mean, invstd, dgamma, dbeta, t, r, ws);
    else k.bnBackwardNCL(x, dy, dx, g.n, g.c, g.l, gamma, beta, mean, invstd, dgamma, dbeta, t, r, ws);
  } finally {
    k.free(ws);
  }
}

/** running = (1 − factor)·running + factor·batch over c channels (mean, vari f64[c]; rm, rv f32[c]), one call. */
export function bnUpdateRunning(c: number, mean: number, vari: number, rm: number, rv: number, factor: number, unbias: number): void {
  runtime().k.bnUpdateRunning(mean, vari, rm, rv, c, factor, unbias);
}
