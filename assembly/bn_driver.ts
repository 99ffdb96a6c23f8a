// The one training forward, normalize and backward of every BatchNorm kernel, for x[n][c][l]
// (channels-last x[m][c] is n = m, l = 1). The sequence is the same for every layout; a path
// constant picks how its passes walk memory:
//   RUNS   channel-first, a run of l values at a time (ncl_runs.ts);
//   SHORT  channel-first with short runs: the channels-last passes over c·l virtual channels;
//   ROWS   channels-last, rows of c channels (nhwc_passes.ts);
//   FOLD   channels-last with few channels: k rows folded into one row of k·c virtual channels.
// Per-channel values live in a workspace area w of c channels (the WS_* units); the virtual paths
// have a second area of v virtual channels before it, filled from w (spread) and summed into w
// (merged per channel in f64, in order).
// see: Ioffe & Szegedy, "Batch Normalization", 2015, https://arxiv.org/abs/1502.03167 (Alg. 1 and
//      the backward in §3); PyTorch aten/src/ATen/native/cpu/batch_norm_kernel.cpp
import { shiftOf } from './stats';
import { rowShifts, finishChannels, meanShifts, normalizeConstants, backwardShifts, backwardConstants } from './constants';
import { at, rowSums, normalizePass, dxPass, streams, shortRuns, foldRows, repeatChannels, WS_UNITS, WS_S1, WS_S2, WS_K, WS_KS, WS_KA, WS_KB, WS_KC, WS_FS, WS_FA, WS_FB } from './nhwc_passes';
import { runShifts, runSums, runDots, runNormalize, runDx } from './ncl_runs';

/** Channel-first, a run at a time. */
export const RUNS: i32 = 0;
/** Channel-first short runs as c·l virtual channels. */
export const SHORT: i32 = 1;
/** Channels-last rows. */
export const ROWS: i32 = 2;
/** Channels-last, k rows folded into k·c virtual channels. */
export const FOLD: i32 = 3;

/** The path of channel-first x[n][c][l] (RUNS or SHORT) or of channels-last x[n][c] (ROWS or FOLD). */
export function pathOf(channelsLast: bool, n: i32, c: i32, l: i32): i32 {
  if (channelsLast) return foldRows(n, c) > 1 ? FOLD : ROWS;
  return shortRuns(n, c, l) ? SHORT : RUNS;
}

/** Virtual channels of a path (c where there are none). */
// @ts-ignore: decorator
@inline function virtualChannels(path: i32, n: i32, c: i32, l: i32): i32 {
  return path == SHORT ? c * l : path == FOLD ? foldRows(n, c) * c : c;
}

/** Workspace bytes of a path. */
export function workspaceBytes(path: i32, n: i32, c: i32, l: i32): i32 {
  return WS_UNITS * (path == SHORT || path == FOLD ? virtualChannels(path, n, c, l) + c : c);
}

/** The area of c channels in ws. */
// @ts-ignore: decorator
@inline function channelArea(path: i32, n: i32, c: i32, l: i32, ws: usize): usize {
  return path == SHORT || path == FOLD ? ws + <usize>WS_UNITS * <usize>virtualChannels(path, n, c, l) : ws;
}

/** Copies the per-channel f32 values at `unit` of w to the same unit of each virtual channel. */
function spread(path: i32, n: i32, c: i32, l: i32, ws: usize, unit: i32): void {
  let v = virtualChannels(path, n, c, l), w = channelArea(path, n, c, l, ws);
  let p = at(ws, v, unit), q = at(w, c, unit);
  if (path == FOLD) {
    repeatChannels(q, c, p, v);
    return;
  }
  for (let ch = 0; ch < c; ch++) {
    let val = load<f32>(q + (<usize>ch << 2)), end = p + (<usize>l << 2);
    if (ASC_FEATURE_SIMD) {
      let vv = f32x4.splat(val);
      for (; p + 16 <= end; p += 16) v128.store(p, vv);
    }
    for (; p < end; p += 4) store<f32>(p, val);
  }
}

/** S1, S2 of w += those of each channel's virtual channels (f64, in order). */
function merge(path: i32, n: i32, c: i32, l: i32, ws: usize): void {
  let v = virtualChannels(path, n, c, l), w = channelArea(path, n, c, l, ws);
  // virtual channel i of channel ch: ch·l + i (SHORT, i < l) or ch + i·c (FOLD, i < k)
  let count = path == SHORT ? l : v / c, first: usize = path == SHORT ? <usize>l << 3 : 8, step: usize = path == SHORT ? 8 : <usize>c << 3;
  let v1 = at(ws, v, WS_S1), v2 = at(ws, v, WS_S2), s1 = at(w, c, WS_S1), s2 = at(w, c, WS_S2);
  for (let ch = 0; ch < c; ch++) {
    let o = <usize>ch << 3, a = load<f64>(s1 + o), b = load<f64>(s2 + o);
    let j = <usize>ch * first;
    for (let i = 0; i < count; i++, j += step) {
      a += load<f64>(v1 + j); b += load<f64>(v2 + j);
    }
    store<f64>(s1 + o, a); store<f64>(s2 + o, b);
  }
}

/** FOLD: rows folded (n / k rows of k·c), the rows left over (n mod k) and their byte offset. */
// @ts-ignore: decorator
@inline function foldedRows(n: i32, c: i32): i32 {
  return n / foldRows(n, c);
}
// @ts-ignore: decorator
@inline function leftOverRows(n: i32, c: i32): i32 {
  return n - foldedRows(n, c) * foldRows(n, c);
}
// @ts-ignore: decorator
@inline function leftOver(n: i32, c: i32): usize {
  return <usize>(n - leftOverRows(n, c)) * (<usize>c << 2);
}

/** Each channel's shift K (f32 at WS_K of w) from a first sample of its values. */
function shifts(path: i32, x: usize, n: i32, c: i32, l: i32, w: usize): void {
  let pk = at(w, c, WS_K);
  if (path == RUNS) runShifts(x, c, l, pk);
  else if (path == SHORT) {
    for (let ch = 0; ch < c; ch++) store<f32>(pk + (<usize>ch << 2), shiftOf(x + (<usize>ch * <usize>l << 2), l, 4));
  } else rowShifts(x, n, c, pk);
}

/**
 * S1, S2 per channel (f64 in w) around the shifts K of w: (dot = false) Σ(x − K), Σ(x − K)², or
 * (dot = true) Σg, Σg·(x − K) with g = dy, for BN+ReLU masked where the forward's output was ≤ 0.
 */
function sums(path: i32, x: usize, dy: usize, n: i32, c: i32, l: i32, ws: usize, dot: bool, relu: bool): void {
  pathSums(path, x, dy, n, c, l, ws, dot, relu);
  exactSums(x, dy, n, c, l, channelArea(path, n, c, l, ws), dot, relu, 0, c);
}

/** `sums` as each path takes them (f32 partial sums in the SIMD build). */
function pathSums(path: i32, x: usize, dy: usize, n: i32, c: i32, l: i32, ws: usize, dot: bool, relu: bool): void {
  let w = channelArea(path, n, c, l, ws);
  if (path == RUNS) {
    if (dot) runDots(x, dy, n, c, l, w, relu, 0, c);
    else runSums(x, n, c, l, w, 0, c);
    return;
  }
  if (path == ROWS) {
    rowSums(x, dy, n, c, ws, dot, relu);
    return;
  }
  let v = virtualChannels(path, n, c, l);
  spread(path, n, c, l, ws, WS_K);
  if (path == SHORT) {
    rowSums(x, dy, n, v, ws, dot, relu);
    memory.fill(at(w, c, WS_S1), 0, <usize>c << 4);
  } else {
    let rows = foldedRows(n, c), off = leftOver(n, c), rem = leftOverRows(n, c);
    rowSums(x, dy, rows, v, ws, dot, relu);
    if (rem > 0) rowSums(x + off, dot ? dy + off : 0, rem, c, w, dot, relu);
    else memory.fill(at(w, c, WS_S1), 0, <usize>c << 4);
  }
  merge(path, n, c, l, ws);
}

// NOTE: the SIMD build sums (x − K)² and dy·(x − K) in f32 before the f64 flush: |x − K| ≳ 1.8e19
// overflows there (and x − K itself past ±3.4e38 in every build). A channel whose sums came out ±∞
// or NaN takes them again in f64 (a NaN or ±∞ in the data gives the same result as before).
/** S1, S2 of each channel of c0..c1 of w whose sums are not finite, again in f64 (as `sums`, x − K in f64 too). */
export function exactSums(x: usize, dy: usize, n: i32, c: i32, l: i32, w: usize, dot: bool, relu: bool, c0: i32, c1: i32): void {
  let s1 = at(w, c, WS_S1), s2 = at(w, c, WS_S2), pk = at(w, c, WS_K);
  for (let ch = c0; ch < c1; ch++) {
    let o = <usize>ch << 3, o4 = <usize>ch << 2;
    if (Math.abs(load<f64>(s1 + o)) < Infinity && Math.abs(load<f64>(s2 + o)) < Infinity) continue;
    let k = <f64>load<f32>(pk + o4), a: f64 = 0, b: f64 = 0;
    let fs = load<f32>(at(w, c, WS_FS) + o4), fa = load<f32>(at(w, c, WS_FA) + o4), fb = load<f32>(at(w, c, WS_FB) + o4);
    for (let i = 0; i < n; i++) {
      let p = (<usize>i * <usize>c + <usize>ch) * <usize>l << 2;
      for (let j = 0; j < l; j++) {
        let q = p + (<usize>j << 2), xv = load<f32>(x + q), e = <f64>xv - k;
        let g = dot ? <f64>load<f32>(dy + q) : e;
        if (relu && !((xv - fs) * fa + fb > 0)) g = 0;
        a += g; b += g * e;
      }
    }
    store<f64>(s1 + o, a); store<f64>(s2 + o, b);
  }
}

/** Mean, var and invstd (f64[c]) from the sums around the shifts of w; true when any mean lies far from its shift (RESHIFT). */
function statistics(path: i32, x: usize, n: i32, c: i32, l: i32, eps: f64, mean: usize, vari: usize, invstd: usize, ws: usize): bool {
  let w = channelArea(path, n, c, l, ws);
  sums(path, x, 0, n, c, l, ws, false, false);
  return finishChannels(c, at(w, c, WS_K), at(w, c, WS_S1), at(w, c, WS_S2), <f64>n * <f64>l, eps, mean, vari, invstd);
}

/** y from the normalize constants kS, kA, kB of w, clamped at 0 when relu. */
function normalizeWith(path: i32, x: usize, y: usize, n: i32, c: i32, l: i32, ws: usize, relu: bool): void {
  let w = channelArea(path, n, c, l, ws);
  if (path == RUNS) runNormalize(x, y, n, c, l, w, relu, 0, c);
  else if (path == ROWS) normalizePass(x, y, n, c, ws, relu, streams(n, c));
  else {
    let v = virtualChannels(path, n, c, l);
    spread(path, n, c, l, ws, WS_KS); spread(path, n, c, l, ws, WS_KA); spread(path, n, c, l, ws, WS_KB);
    if (path == SHORT) normalizePass(x, y, n, v, ws, relu, streams(n, v));
    else {
      let rows = foldedRows(n, c), off = leftOver(n, c), rem = leftOverRows(n, c);
      normalizePass(x, y, rows, v, ws, relu, streams(rows, v));
      if (rem > 0) normalizePass(x + off, y + off, rem, c, w, relu, streams(rem, c));
    }
  }
}

/**
 * What normalizeWith does on a virtual-channel path (SHORT, FOLD) before its passes: the normalize
 * constants from gamma, beta, mean, invstd, spread to the virtual channels. The threaded build then
 * splits the pass over the virtual rows (parts_bn_rows.ts) and runs virtualRest.
 */
export function virtualConstants(path: i32, n: i32, c: i32, l: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, ws: usize): void {
  let w = channelArea(path, n, c, l, ws);
  normalizeConstants(c, gamma, beta, mean, invstd, at(w, c, WS_KS), at(w, c, WS_KA), at(w, c, WS_KB));
  spread(path, n, c, l, ws, WS_KS); spread(path, n, c, l, ws, WS_KA); spread(path, n, c, l, ws, WS_KB);
}

/** normalizeWith's rows left over after the folded ones on FOLD (none on SHORT), with the c channels' constants. */
export function virtualRest(path: i32, x: usize, y: usize, n: i32, c: i32, l: i32, ws: usize, relu: bool): void {
  if (path != FOLD) return;
  let rem = leftOverRows(n, c), off = leftOver(n, c);
  if (rem > 0) normalizePass(x + off, y + off, rem, c, channelArea(path, n, c, l, ws), relu, streams(rem, c));
}

/** Batch mean, biased variance and invstd per channel (f64[c]), without y. */
export function statsPass(path: i32, x: usize, n: i32, c: i32, l: i32, eps: f64, mean: usize, vari: usize, invstd: usize, ws: usize): void {
  let w = channelArea(path, n, c, l, ws);
  // a shift near the mean is all it takes: (mean − K)²/var only scales rounding
  shifts(path, x, n, c, l, w);
  if (statistics(path, x, n, c, l, eps, mean, vari, invstd, ws)) {
    // some first values unlike the rest (see RESHIFT): again, shifted by the batch means
    meanShifts(c, mean, at(w, c, WS_K));
    statistics(path, x, n, c, l, eps, mean, vari, invstd, ws);
  }
}

/** Training forward: batch mean and biased variance per channel, then y (clamped at 0 when relu). */
export function trainPass(path: i32, x: usize, y: usize, n: i32, c: i32, l: i32, gamma: usize, beta: usize, eps: f64, mean: usize, vari: usize, invstd: usize, relu: bool, ws: usize): void {
  statsPass(path, x, n, c, l, eps, mean, vari, invstd, ws);
  let w = channelArea(path, n, c, l, ws);
  normalizeConstants(c, gamma, beta, mean, invstd, at(w, c, WS_KS), at(w, c, WS_KA), at(w, c, WS_KB));
  normalizeWith(path, x, y, n, c, l, ws, relu);
}

/** Normalize with given mean and invstd (f64[c]), then ReLU when relu: inference. */
export function normalizeOnly(path: i32, x: usize, y: usize, n: i32, c: i32, l: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, relu: bool, ws: usize): void {
  let w = channelArea(path, n, c, l, ws);
  normalizeConstants(c, gamma, beta, mean, invstd, at(w, c, WS_KS), at(w, c, WS_KA), at(w, c, WS_KB));
  normalizeWith(path, x, y, n, c, l, ws, relu);
}

/** Backward (of BN, or BN+ReLU when relu): dx, and dgamma/dbeta (f32[c], added to when non-zero); train for batch statistics. */
export function backwardPass(path: i32, x: usize, dy: usize, dx: usize, n: i32, c: i32, l: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, dgamma: usize, dbeta: usize, train: i32, relu: bool, ws: usize): void {
  let w = channelArea(path, n, c, l, ws), virtual = path == SHORT || path == FOLD;
  if (relu) {
    // the forward's constants, to recompute where its output was positive
    normalizeConstants(c, gamma, beta, mean, invstd, at(w, c, WS_FS), at(w, c, WS_FA), at(w, c, WS_FB));
    if (virtual) { spread(path, n, c, l, ws, WS_FS); spread(path, n, c, l, ws, WS_FA); spread(path, n, c, l, ws, WS_FB); }
  }
  backwardShifts(c, mean, invstd, at(w, c, WS_K));
  sums(path, x, dy, n, c, l, ws, true, relu);
  backwardConstants(c, <f64>n * <f64>l, gamma, mean, invstd, at(w, c, WS_S1), at(w, c, WS_S2), dgamma, dbeta, train, at(w, c, WS_KS), at(w, c, WS_KA), at(w, c, WS_KB), at(w, c, WS_KC));
  if (path == RUNS) {
    runDx(x, dy, dx, n, c, l, w, train, relu, 0, c);
    return;
  }
  if (path == ROWS) {
    dxPass(x, dy, dx, n, c, ws, train, relu, streams(n, c));
    return;
  }
  let v = virtualChannels(path, n, c, l);
  spread(path, n, c, l, ws, WS_KS); spread(path, n, c, l, ws, WS_KA); spread(path, n, c, l, ws, WS_KB); spread(path, n, c, l, ws, WS_KC);
  if (path == SHORT) dxPass(x, dy, dx, n, v, ws, train, relu, streams(n, v));
  else {
    let rows = foldedRows(n, c), off = leftOver(n, c), rem = leftOverRows(n, c);
    dxPass(x, dy, dx, rows, v, ws, train, relu, streams(rows, v));
    if (rem > 0) dxPass(x + off, dy + off, dx + off, rem, c, w, train, relu, streams(rem, c));
  }
}

// The threaded build splits the virtual paths' sums as the ROWS path's (parts_bn_rows.ts): the
// shifts spread before the parts, each part a row block of the virtual rows (rowBlockSums), and
// after the join the blocks added in block order, then the one-thread pathSums's remaining steps.
/** Rows and virtual channels of the virtual rows a path's sums take in row blocks (SHORT, FOLD). */
export function virtualRows(path: i32, n: i32, c: i32): i32 {
  return path == FOLD ? foldedRows(n, c) : n;
}
export function virtualWidth(path: i32, n: i32, c: i32, l: i32): i32 {
  return virtualChannels(path, n, c, l);
}

/** The shifts of the statistics (again: from the batch means) spread to the virtual channels. */
export function virtualStatsShifts(path: i32, x: usize, n: i32, c: i32, l: i32, mean: usize, ws: usize, again: bool): void {
  let w = channelArea(path, n, c, l, ws);
  if (again) meanShifts(c, mean, at(w, c, WS_K));
  else shifts(path, x, n, c, l, w);
  spread(path, n, c, l, ws, WS_K);
}

/** backwardPass's steps before its sums: the forward's constants (relu) and the shifts, spread to the virtual channels. */
export function virtualBackwardShifts(path: i32, n: i32, c: i32, l: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, relu: bool, ws: usize): void {
  let w = channelArea(path, n, c, l, ws);
  if (relu) {
    normalizeConstants(c, gamma, beta, mean, invstd, at(w, c, WS_FS), at(w, c, WS_FA), at(w, c, WS_FB));
    spread(path, n, c, l, ws, WS_FS); spread(path, n, c, l, ws, WS_FA); spread(path, n, c, l, ws, WS_FB);
  }
  backwardShifts(c, mean, invstd, at(w, c, WS_K));
  spread(path, n, c, l, ws, WS_K);
}

/** pathSums after its virtual rows' sums (in S1, S2 of the virtual area): FOLD's rows left over, the merge per channel, exactSums. */
export function virtualSumsFinish(path: i32, x: usize, dy: usize, n: i32, c: i32, l: i32, ws: usize, dot: bool, relu: bool): void {
  let w = channelArea(path, n, c, l, ws), rem = path == FOLD ? leftOverRows(n, c) : 0, off = path == FOLD ? leftOver(n, c) : 0;
  if (rem > 0) rowSums(x + off, dot ? dy + off : 0, rem, c, w, dot, relu);
  else memory.fill(at(w, c, WS_S1), 0, <usize>c << 4);
  merge(path, n, c, l, ws);
  exactSums(x, dy, n, c, l, w, dot, relu, 0, c);
}

/** Mean, var, invstd from the finished sums; true on RESHIFT (as `statistics`). */
export function virtualStatsFinish(path: i32, n: i32, c: i32, l: i32, eps: f64, mean: usize, vari: usize, invstd: usize, ws: usize): bool {
  let w = channelArea(path, n, c, l, ws);
  return finishChannels(c, at(w, c, WS_K), at(w, c, WS_S1), at(w, c, WS_S2), <f64>n * <f64>l, eps, mean, vari, invstd);
}

/** backwardPass's constants from the finished sums (dgamma, dbeta added to), spread to the virtual channels for the dx parts. */
export function virtualBackwardConstants(path: i32, n: i32, c: i32, l: i32, gamma: usize, mean: usize, invstd: usize, dgamma: usize, dbeta: usize, train: i32, ws: usize): void {
  let w = channelArea(path, n, c, l, ws);
  backwardConstants(c, <f64>n * <f64>l, gamma, mean, invstd, at(w, c, WS_S1), at(w, c, WS_S2), dgamma, dbeta, train, at(w, c, WS_KS), at(w, c, WS_KA), at(w, c, WS_KB), at(w, c, WS_KC));
  spread(path, n, c, l, ws, WS_KS); spread(path, n, c, l, ws, WS_KA); spread(path, n, c, l, ws, WS_KB); spread(path, n, c, l, ws, WS_KC);
}

/** backwardPass's dx of FOLD's rows left over (nothing on SHORT), with the c channels' constants. */
export function virtualDxRest(path: i32, x: usize, dy: usize, dx: usize, n: i32, c: i32, l: i32, ws: usize, train: i32, relu: bool): void {
  if (path != FOLD) return;
  let rem = leftOverRows(n, c), off = leftOver(n, c);
  if (rem > 0) dxPass(x + off, dy + off, dx + off, rem, c, channelArea(path, n, c, l, ws), train, relu, streams(rem, c));
}
