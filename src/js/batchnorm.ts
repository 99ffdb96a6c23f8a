// Pure-JS BatchNorm kernels: the same entry points as assembly/batchnorm.ts and
// assembly/batchnorm_nhwc.ts, for runtimes without WebAssembly. Storage is f32; arithmetic is
// JS's f64, so statistics are a plain exact two-pass mean and variance.
// see: Ioffe & Szegedy 2015, https://arxiv.org/abs/1502.03167
import { f32, f64 } from './memory';

/**
 * How one channel's elements are laid out: `runs` runs of `len`, `step` apart inside a run; the sums
 * over a run are taken in blocks ending at `ends` (each from zero, added in order).
 */
interface Walk {
  runs: number;
  len: number;
  runStride: number;
  step: number;
  chanStride: number;
  ends: number[];
}

const ncl = (n: number, c: number, l: number): Walk => ({ runs: n, len: l, runStride: c * l, step: 1, chanStride: l, ends: [l] });
const nhwc = (m: number, c: number): Walk => ({ runs: 1, len: m, runStride: 0, step: c, chanStride: 1, ends: rowBlockEnds(m, c) });

/**
 * Ends of the row blocks of channels-last x[m][c], as the WASM builds sum them
 * (assembly/nhwc_passes.ts's rowBlocks: one per 2^15 elements, at most 64, whole units of 4 rows).
 */
function rowBlockEnds(m: number, c: number): number[] {
  const units = Math.ceil(m / 4),
    nb = Math.max(1, Math.min(Math.floor((m * c) / 2 ** 15), 64, units));
  return Array.from({ length: nb }, (_, b) => Math.min(m, Math.floor(((b + 1) * units) / nb) * 4));
}

/** Σ f(p) over one channel's elements (p from `first`): each run's blocks summed from zero and added in order (one block: in element order). */
function channelSum(w: Walk, first: number, f: (p: number) => number): number {
  let s = 0;
  for (let r = 0; r < w.runs; r++) {
    let i = 0,
      p = first + r * w.runStride;
    if (w.ends.length === 1) {
      for (; i < w.len; i++, p += w.step) s += f(p);
      continue;
    }
    for (const end of w.ends) {
      let part = 0;
      for (; i < end; i++, p += w.step) part += f(p);
      s += part;
    }
  }
  return s;
}

function train(
  w: Walk,
  c: number,
  size: number,
  x: number,
  y: number,
  gamma: number,
  beta: number,
  eps: number,
  mean: number,
  vari: number,
  invstd: number,
  relu: number,
): void {
  stats(w, c, size, x, eps, mean, vari, invstd);
  normalize(w, c, size, x, y, gamma, beta, mean, invstd, relu);
}

function stats(w: Walk, c: number, size: number, x: number, eps: number, mean: number, vari: number, invstd: number): void {
  const X = f32(x, size),
    M = f64(mean, c),
    V = f64(vari, c),
    I = f64(invstd, c);
  const count = w.runs * w.len;
  for (let ch = 0; ch < c; ch++) {
    const mu = channelSum(w, ch * w.chanStride, (p) => X[p]) / count;
    const q = channelSum(w, ch * w.chanStride, (p) => (X[p] - mu) ** 2);
    M[ch] = mu;
    V[ch] = q / count;
    I[ch] = 1 / Math.sqrt(V[ch] + eps);
  }
}

function normalize(
  w: Walk,
  c: number,
  size: number,
  x: number,
  y: number,
  gamma: number,
  beta: number,
  mean: number,
  invstd: number,
  relu: number,
): void {
  const X = f32(x, size),
    Y = f32(y, size),
    M = f64(mean, c),
    I = f64(invstd, c);
  const G = gamma ? f32(gamma, c) : null,
    B = beta ? f32(beta, c) : null;
  for (let ch = 0; ch < c; ch++) {
    const a = (G ? G[ch] : 1) * I[ch],
      b = B ? B[ch] : 0,
      mu = M[ch];
    for (let r = 0; r < w.runs; r++) {
      for (let i = 0, p = ch * w.chanStride + r * w.runStride; i < w.len; i++, p += w.step) {
        const v = (X[p] - mu) * a + b;
        Y[p] = relu && v < 0 ? 0 : v;
      }
    }
  }
}

function backward(
  w: Walk,
  c: number,
  size: number,
  x: number,
  dy: number,
  dx: number,
  gamma: number,
  beta: number,
  mean: number,
  invstd: number,
  dgamma: number,
  dbeta: number,
  isTrain: number,
  relu: number,
): void {
  const X = f32(x, size),
    M = f64(mean, c),
    I = f64(invstd, c);
  const G = gamma ? f32(gamma, c) : null,
    BE = beta ? f32(beta, c) : null;
  // BN+ReLU: dy counts only where the forward's output (recomputed as it computed it) was positive
  const DY = relu ? Float32Array.from(f32(dy, size)) : f32(dy, size),
    DX = f32(dx, size);
  if (relu) {
    for (let ch = 0; ch < c; ch++) {
      const a = (G ? G[ch] : 1) * I[ch],
        b = BE ? BE[ch] : 0;
      for (let r = 0; r < w.runs; r++) {
        for (let i = 0, p = ch * w.chanStride + r * w.runStride; i < w.len; i++, p += w.step) {
          if (!(Math.fround((X[p] - M[ch]) * a + b) > 0)) DY[p] = 0;
        }
      }
    }
  }
  const DG = dgamma ? f32(dgamma, c) : null,
    DB = dbeta ? f32(dbeta, c) : null;
  const count = w.runs * w.len;
  for (let ch = 0; ch < c; ch++) {
    const mu = M[ch],
      inv = I[ch];
    const sdy = channelSum(w, ch * w.chanStride, (p) => DY[p]),
      dot = channelSum(w, ch * w.chanStride, (p) => DY[p] * (X[p] - mu));
    const dg = dot * inv;
    if (DG) DG[ch] += dg;
    if (DB) DB[ch] += sdy;
    const a = (G ? G[ch] : 1) * inv;
    const k = isTrain ? (a * inv * dg) / count : 0,
      k0 = isTrain ? (a * sdy) / count : 0;
    for (let r = 0; r < w.runs; r++) {
      for (let i = 0, p = ch * w.chanStride + r * w.runStride; i < w.len; i++, p += w.step) {
        DX[p] = DY[p] * a - (X[p] - mu) * k - k0;
      }
    }
  }
}

/** Training forward, channel-first x[n][c][l]. */
export function bnTrainNCL(
  x: number,
  y: number,
  n: number,
  c: number,
  l: number,
  gamma: number,
  beta: number,
  eps: number,
  mean: number,
  vari: number,
  invstd: number,
  relu: number,
  _ws: number,
): void {
  train(ncl(n, c, l), c, n * c * l, x, y, gamma, beta, eps, mean, vari, invstd, relu);
}

/** Batch statistics alone, channel-first. */
export function bnStatsNCL(
  x: number,
  n: number,
  c: number,
  l: number,
  eps: number,
  mean: number,
  vari: number,
  invstd: number,
  _ws: number,
): void {
  stats(ncl(n, c, l), c, n * c * l, x, eps, mean, vari, invstd);
}

/** Normalize channel-first x with given mean and invstd. */
export function bnNormalizeNCL(
  x: number,
  y: number,
  n: number,
  c: number,
  l: number,
  gamma: number,
  beta: number,
  mean: number,
  invstd: number,
  relu: number,
  _ws: number,
): void {
  normalize(ncl(n, c, l), c, n * c * l, x, y, gamma, beta, mean, invstd, relu);
}

/** Backward, channel-first. */
export function bnBackwardNCL(
  x: number,
  dy: number,
  dx: number,
  n: number,
  c: number,
  l: number,
  gamma: number,
  beta: number,
  mean: number,
  invstd: number,
  dgamma: number,
  dbeta: number,
  isTrain: number,
  relu: number,
  _ws: number,
): void {
  backward(ncl(n, c, l), c, n * c * l, x, dy, dx, gamma, beta, mean, invstd, dgamma, dbeta, isTrain, relu);
}

/** The JS kernels need no workspace; 16 bytes keeps the allocation non-empty. */
export function bnWorkspace(_n: number, _c: number, _l: number): number {
  return 16;
}

/** Training forward, channels-last x[m][c]. */
export function bnTrainNHWC(
  x: number,
  y: number,
  m: number,
  c: number,
  gamma: number,
  beta: number,
  eps: number,
  mean: number,
  vari: number,
  invstd: number,
  relu: number,
  _ws: number,
): void {
  train(nhwc(m, c), c, m * c, x, y, gamma, beta, eps, mean, vari, invstd, relu);
}

/** Batch statistics alone, channels-last. */
export function bnStatsNHWC(x: number, m: number, c: number, eps: number, mean: number, vari: number, invstd: number, _ws: number): void {
  stats(nhwc(m, c), c, m * c, x, eps, mean, vari, invstd);
}

/** Normalize channels-last x with given mean and invstd. */
export function bnNormalizeNHWC(
  x: number,
  y: number,
  m: number,
  c: number,
  gamma: number,
  beta: number,
  mean: number,
  invstd: number,
  relu: number,
  _ws: number,
): void {
  normalize(nhwc(m, c), c, m * c, x, y, gamma, beta, mean, invstd, relu);
}

/** Backward, channels-last. */
export function bnBackwardNHWC(
  x: number,
  dy: number,
  dx: number,
  m: number,
  c: number,
  gamma: number,
  beta: number,
  mean: number,
  invstd: number,
  dgamma: number,
  dbeta: number,
  isTrain: number,
  relu: number,
  _ws: number,
): void {
  backward(nhwc(m, c), c, m * c, x, dy, dx, gamma, beta, mean, invstd, dgamma, dbeta, isTrain, relu);
}

/** The running-statistics update, as assembly/batchnorm.ts's (f64 arithmetic rounded once to f32). */
export function bnUpdateRunning(mean: number, vari: number, rm: number, rv: number, c: number, factor: number, unbias: number): void {
  const mu = f64(mean, c),
    va = f64(vari, c),
    m = f32(rm, c),
    v = f32(rv, c);
  const keep = 1 - factor;
  for (let i = 0; i < c; i++) {
    m[i] = factor * mu[i] + keep * m[i];
    v[i] = factor * va[i] * unbias + keep * v[i];
  }
}
