// BatchNorm kernels for channels-last layouts: x[m][c] with m = N (NC), N·L, N·H·W or N·D·H·W.
// Vectorized across channels, walking memory in order, rows a few at a time (nhwc_passes.ts), with
// the per-channel work two channels per f64x2 (constants.ts). Channels beyond a multiple of four
// (all of them in the scalar build) take a scalar path in the same order.
// see: Ioffe & Szegedy 2015, https://arxiv.org/abs/1502.03167; PyTorch
//      aten/src/ATen/native/cpu/batch_norm_kernel.cpp (batch_norm_cpu_collect_stats_channels_last)
import { setActivation } from './stats';
import { rowShifts, finishChannels, meanShifts, normalizeConstants, backwardShifts, backwardConstants } from './constants';
import { WS_UNITS, at, rowSums, normalizePass, dxPass, shortRuns, foldRows, repeatChannels } from './nhwc_passes';

/**
 * Workspace bytes for channel-first x[n][c][l] (channels-last x[n][c]: l = 1): WS_UNITS bytes a
 * channel, and a virtual channel where short runs or few channels take the channels-last passes
 * over virtual channels (nhwc_passes.ts).
 */
export function bnWorkspace(n: i32, c: i32, l: i32): i32 {
  if (l > 1) return WS_UNITS * c * (shortRuns(n, c, l) ? l : 1);
  let k = foldRows(n, c);
  return WS_UNITS * (k > 1 ? k * c + c : c);
}

/** Training forward, channels-last: batch mean and biased variance per channel, then y (clamped at 0 when relu = 1). Writes mean, var, invstd (f64[c]). */
export function bnTrainNHWC(x: usize, y: usize, m: i32, c: i32, gamma: usize, beta: usize, eps: f64, mean: usize, vari: usize, invstd: usize, relu: i32, ws: usize): void {
  setActivation(relu);
  let k = foldRows(m, c);
  if (k > 1) {
    trainFolded(x, y, m, c, k, gamma, beta, eps, mean, vari, invstd, ws);
    return;
  }
  // a shift near the mean is all it takes: (mean − K)²/var only scales rounding
  let pk = at(ws, c, 24);
  rowShifts(x, m, c, pk);
  rowSums(x, 0, m, c, ws, false, false);
  if (finishChannels(c, pk, at(ws, c, 0), at(ws, c, 8), <f64>m, eps, mean, vari, invstd)) {
    // some first rows unlike the rest (see RESHIFT): again, shifted by the batch means
    meanShifts(c, mean, pk);
    rowSums(x, 0, m, c, ws, false, false);
    finishChannels(c, pk, at(ws, c, 0), at(ws, c, 8), <f64>m, eps, mean, vari, invstd);
  }
  normalizeConstants(c, gamma, beta, mean, invstd, at(ws, c, 28), at(ws, c, 32), at(ws, c, 36));
  normalizePass(x, y, m, c, ws);
}

/** Normalizes channels-last x with given per-channel mean and invstd (f64[c]), then ReLU when relu = 1: inference. */
export function bnNormalizeNHWC(x: usize, y: usize, m: i32, c: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, relu: i32, ws: usize): void {
  setActivation(relu);
  let k = foldRows(m, c);
  if (k > 1) {
    let f = Folded.of(m, c, k, ws);
    normalizeConstants(c, gamma, beta, mean, invstd, at(f.ws2, c, 28), at(f.ws2, c, 32), at(f.ws2, c, 36));
    f.normalize(x, y);
    return;
  }
  normalizeConstants(c, gamma, beta, mean, invstd, at(ws, c, 28), at(ws, c, 32), at(ws, c, 36));
  normalizePass(x, y, m, c, ws);
}

/** Backward, channels-last (of BN, or BN+ReLU when relu = 1): dx, and dgamma/dbeta (f32[c], added to when non-zero). `train` = 1 for batch statistics. */
export function bnBackwardNHWC(x: usize, dy: usize, dx: usize, m: i32, c: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, dgamma: usize, dbeta: usize, train: i32, relu: i32, ws: usize): void {
  let k = foldRows(m, c);
  if (k > 1) {
    backwardFolded(x, dy, dx, m, c, k, gamma, beta, mean, invstd, dgamma, dbeta, train, relu, ws);
    return;
  }
  if (relu) normalizeConstants(c, gamma, beta, mean, invstd, at(ws, c, 44), at(ws, c, 48), at(ws, c, 52));
  backwardShifts(c, mean, invstd, at(ws, c, 24));
  rowSums(x, dy, m, c, ws, true, relu != 0);
  backwardConstants(c, <f64>m, gamma, mean, invstd, at(ws, c, 0), at(ws, c, 8), dgamma, dbeta, train, at(ws, c, 28), at(ws, c, 32), at(ws, c, 36), at(ws, c, 40));
  dxPass(x, dy, dx, m, c, ws, train, relu != 0);
}

// Few channels: k rows folded into one row of v = k·c virtual channels (see foldRows). The workspace
// holds v channels' worth (ws) and then c channels' (ws2): per-channel values are made in ws2,
// repeated into ws for the folded rows, and ws2 also serves the m mod k rows left over.
class Folded {
  rows: i32 = 0; // folded rows
  v: i32 = 0;
  rem: i32 = 0; // rows left over
  off: usize = 0; // byte offset of the rows left over
  ws: usize = 0;
  ws2: usize = 0;
  c: i32 = 0;

  /** The one instance, set for x[m][c] with k rows folded (kernel calls never overlap). */
  static of(m: i32, c: i32, k: i32, ws: usize): Folded {
    let f = FOLDED;
    f.rows = m / k; f.v = k * c; f.rem = m - f.rows * k; f.off = <usize>(f.rows * k) * (<usize>c << 2);
    f.ws = ws; f.ws2 = ws + <usize>WS_UNITS * <usize>f.v; f.c = c;
    return f;
  }

  /** Repeats the c values at unit `unit` of ws2 into the v virtual channels at the same unit of ws. */
  spread(unit: i32): void {
    repeatChannels(at(this.ws2, this.c, unit), this.c, at(this.ws, this.v, unit), this.v);
  }

  /** S1, S2 of ws2 = the sums of the rows left over plus, per channel, those of its virtual channels (f64, in order). */
  sums(x: usize, dy: usize, dot: bool, relu: bool): void {
    let c = this.c, s1 = at(this.ws2, c, 0), s2 = at(this.ws2, c, 8);
    rowSums(x, dy, this.rows, this.v, this.ws, dot, relu);
    if (this.rem > 0) rowSums(x + this.off, dot ? dy + this.off : 0, this.rem, c, this.ws2, dot, relu);
    else memory.fill(s1, 0, <usize>c << 4);
    let v1 = at(this.ws, this.v, 0), v2 = at(this.ws, this.v, 8);
    for (let ch = 0; ch < c; ch++) {
      let a = load<f64>(s1 + (<usize>ch << 3)), b = load<f64>(s2 + (<usize>ch << 3));
      for (let j = ch; j < this.v; j += c) {
        a += load<f64>(v1 + (<usize>j << 3)); b += load<f64>(v2 + (<usize>j << 3));
      }
      store<f64>(s1 + (<usize>ch << 3), a); store<f64>(s2 + (<usize>ch << 3), b);
    }
  }

  /** y from the constants kS, kA, kB in ws2 (with kFloor set). */
  normalize(x: usize, y: usize): void {
    this.spread(28); this.spread(32); this.spread(36);
    normalizePass(x, y, this.rows, this.v, this.ws);
    if (this.rem > 0) normalizePass(x + this.off, y + this.off, this.rem, this.c, this.ws2);
  }
}
const FOLDED = new Folded();

function trainFolded(x: usize, y: usize, m: i32, c: i32, k: i32, gamma: usize, beta: usize, eps: f64, mean: usize, vari: usize, invstd: usize, ws: usize): void {
  let f = Folded.of(m, c, k, ws), w = f.ws2;
  rowShifts(x, m, c, at(w, c, 24));
  f.spread(24);
  f.sums(x, 0, false, false);
  if (finishChannels(c, at(w, c, 24), at(w, c, 0), at(w, c, 8), <f64>m, eps, mean, vari, invstd)) {
    meanShifts(c, mean, at(w, c, 24));
    f.spread(24);
    f.sums(x, 0, false, false);
    finishChannels(c, at(w, c, 24), at(w, c, 0), at(w, c, 8), <f64>m, eps, mean, vari, invstd);
  }
  normalizeConstants(c, gamma, beta, mean, invstd, at(w, c, 28), at(w, c, 32), at(w, c, 36));
  f.normalize(x, y);
}

function backwardFolded(x: usize, dy: usize, dx: usize, m: i32, c: i32, k: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, dgamma: usize, dbeta: usize, train: i32, relu: i32, ws: usize): void {
  let f = Folded.of(m, c, k, ws), w = f.ws2;
  if (relu) {
    normalizeConstants(c, gamma, beta, mean, invstd, at(w, c, 44), at(w, c, 48), at(w, c, 52));
    f.spread(44); f.spread(48); f.spread(52);
  }
  backwardShifts(c, mean, invstd, at(w, c, 24));
  f.spread(24);
  f.sums(x, dy, true, relu != 0);
  backwardConstants(c, <f64>m, gamma, mean, invstd, at(w, c, 0), at(w, c, 8), dgamma, dbeta, train, at(w, c, 28), at(w, c, 32), at(w, c, 36), at(w, c, 40));
  f.spread(28); f.spread(32); f.spread(36); f.spread(40);
  dxPass(x, dy, dx, f.rows, f.v, ws, train, relu != 0);
  if (f.rem > 0) dxPass(x + f.off, dy + f.off, dx + f.off, f.rem, c, w, train, relu != 0);
}
