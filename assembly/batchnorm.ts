// BatchNorm kernels for channel-first layouts: x[n][c][l] with l = L, H·W or D·H·W (the facade
// sends l = 1 to the channels-last kernels, which is the same memory). A statistics pass, then a
// normalize (or dx) pass, each over the runs of l values in memory order; short runs with enough
// batch items take the channels-last passes instead, over c·l virtual channels (nhwc_passes.ts).
// see: Ioffe & Szegedy, "Batch Normalization", 2015, https://arxiv.org/abs/1502.03167 (Alg. 1 and
//      the backward in §3); PyTorch aten/src/ATen/native/cpu/batch_norm_kernel.cpp (two-reduction backward)
import {
  SHIFT_SAMPLE, shiftOf, shiftedSums, shiftedSums2, dotSums, dotSumsRelu, reluMask, backwardShift, sumsReset, sum1, sum2, finishStats,
  kS, kA, kB, kC, kFloor, setActivation, setNormalize, setBackward,
} from './stats';
import { at, rowSums, normalizePass, dxPass, shortRuns, STREAM_BYTES } from './nhwc_passes';
import { normalizeConstants } from './constants';

/** y = max((x − s0)·a0 + b0, kFloor) over `n` contiguous values (x·a0 + b0 when s0 = 0). */
function normRun(px: usize, py: usize, n: i32, s0: f32, a0: f32, b0: f32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    // pmax(v, floor) = v < floor ? floor : v: one instruction, NaN kept; floor −∞ changes nothing
    let s = f32x4.splat(s0), a = f32x4.splat(a0), b = f32x4.splat(b0), f = f32x4.splat(kFloor);
    if (s0 == 0) {
      for (; i + 16 <= n; i += 16) {
        let o = <usize>i << 2;
        let v0 = v128.load(px + o), v1 = v128.load(px + o, 16), v2 = v128.load(px + o, 32), v3 = v128.load(px + o, 48);
        v128.store(py + o, f32x4.pmax(f32x4.add(f32x4.mul(v0, a), b), f));
        v128.store(py + o, f32x4.pmax(f32x4.add(f32x4.mul(v1, a), b), f), 16);
        v128.store(py + o, f32x4.pmax(f32x4.add(f32x4.mul(v2, a), b), f), 32);
        v128.store(py + o, f32x4.pmax(f32x4.add(f32x4.mul(v3, a), b), f), 48);
      }
    } else {
      for (; i + 16 <= n; i += 16) {
        let o = <usize>i << 2;
        let v0 = v128.load(px + o), v1 = v128.load(px + o, 16), v2 = v128.load(px + o, 32), v3 = v128.load(px + o, 48);
        v128.store(py + o, f32x4.pmax(f32x4.add(f32x4.mul(f32x4.sub(v0, s), a), b), f));
        v128.store(py + o, f32x4.pmax(f32x4.add(f32x4.mul(f32x4.sub(v1, s), a), b), f), 16);
        v128.store(py + o, f32x4.pmax(f32x4.add(f32x4.mul(f32x4.sub(v2, s), a), b), f), 32);
        v128.store(py + o, f32x4.pmax(f32x4.add(f32x4.mul(f32x4.sub(v3, s), a), b), f), 48);
      }
    }
    for (; i + 4 <= n; i += 4) {
      let o = <usize>i << 2;
      v128.store(py + o, f32x4.pmax(f32x4.add(f32x4.mul(f32x4.sub(v128.load(px + o), s), a), b), f));
    }
  }
  let f = kFloor;
  for (; i < n; i++) {
    let o = <usize>i << 2;
    let v = (load<f32>(px + o) - s0) * a0 + b0;
    store<f32>(py + o, v < f ? f : v);
  }
}

// NOTE: every pass walks memory in order (batch item, then channel): jumping between one channel's
// runs, a plane apart, costs each run a hardware-prefetch ramp and measured 2.3× slower.

/** Training forward: batch mean and biased variance per channel, then y (clamped at 0 when relu = 1). Writes mean, var, invstd (f64[c]). */
export function bnTrainNCL(x: usize, y: usize, n: i32, c: i32, l: i32, gamma: usize, beta: usize, eps: f64, mean: usize, vari: usize, invstd: usize, relu: i32, ws: usize): void {
  if (shortRuns(n, c, l)) {
    trainShort(x, y, n, c, l, gamma, beta, eps, mean, vari, invstd, relu, ws);
    return;
  }
  let count = <f64>n * <f64>l;
  // the shift of each channel (kept in invstd until the end) from its first run; sums in mean/vari
  for (let ch = 0; ch < c; ch++) {
    store<f64>(invstd + (<usize>ch << 3), <f64>shiftOf(x + (<usize>ch * <usize>l << 2), min(l, SHIFT_SAMPLE), 4));
  }
  runSums(x, n, c, l, mean, vari, invstd);
  if (finishRuns(c, count, eps, mean, vari, invstd)) {
    // some first runs unlike the rest (see RESHIFT): again, shifted by the batch means
    for (let ch = 0; ch < c; ch++) store<f64>(invstd + (<usize>ch << 3), <f64><f32>load<f64>(mean + (<usize>ch << 3)));
    runSums(x, n, c, l, mean, vari, invstd);
    finishRuns(c, count, eps, mean, vari, invstd);
  }
  normalizeRuns(x, y, n, c, l, gamma, beta, mean, invstd, relu, ws);
}

/** Σ(x − K) into mean, Σ(x − K)² into vari per channel (f64), K the shifts held in invstd. */
function runSums(x: usize, n: i32, c: i32, l: i32, mean: usize, vari: usize, invstd: usize): void {
  memory.fill(mean, 0, <usize>c << 3);
  memory.fill(vari, 0, <usize>c << 3);
  // beyond the caches (SIMD build) batch items b and b + n/2 side by side: two read streams
  let item = <usize>c * <usize>l << 2;
  let h = ASC_FEATURE_SIMD && <usize>n * item > STREAM_BYTES ? n >> 1 : 0, gap = <usize>h * item;
  let p = x;
  for (let b = 0; b < n; b++) {
    if (b == h && h > 0) { b = 2 * h; p = x + gap * 2; if (b == n) break; }
    for (let ch = 0; ch < c; ch++) {
      let o = <usize>ch << 3;
      sumsReset();
      if (b < h) shiftedSums2(p, gap, l, <f32>load<f64>(invstd + o));
      else shiftedSums(p, l, <f32>load<f64>(invstd + o));
      store<f64>(mean + o, load<f64>(mean + o) + sum1);
      store<f64>(vari + o, load<f64>(vari + o) + sum2);
      p += <usize>l << 2;
    }
  }
}

/** finishStats for every channel (sums in mean/vari, shifts in invstd); true when any mean is far from its shift. */
function finishRuns(c: i32, count: f64, eps: f64, mean: usize, vari: usize, invstd: usize): bool {
  let far = false;
  for (let ch = 0; ch < c; ch++) {
    let o = <usize>ch << 3;
    if (finishStats(<f32>load<f64>(invstd + o), load<f64>(mean + o), load<f64>(vari + o), count, eps, mean + o, vari + o, invstd + o)) far = true;
  }
  return far;
}

/** Normalizes with given per-channel mean and invstd (f64[c]), then ReLU when relu = 1: inference with running statistics. */
export function bnNormalizeNCL(x: usize, y: usize, n: i32, c: i32, l: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, relu: i32, ws: usize): void {
  if (shortRuns(n, c, l)) {
    setActivation(relu);
    spreadNormalize(c, l, gamma, beta, mean, invstd, at(ws, c * l, 28), at(ws, c * l, 32), at(ws, c * l, 36));
    normalizePass(x, y, n, c * l, ws);
    return;
  }
  normalizeRuns(x, y, n, c, l, gamma, beta, mean, invstd, relu, ws);
}

/** y over every run, its channel's constants set per run. */
function normalizeRuns(x: usize, y: usize, n: i32, c: i32, l: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, relu: i32, ws: usize): void {
  setActivation(relu);
  // each channel's constants once (f32 kS, kA, kB at ws), not once per run
  let fc = <usize>c << 2;
  normalizeConstants(c, gamma, beta, mean, invstd, ws, ws + fc, ws + 2 * fc);
  let run = <usize>l << 2, o: usize = 0;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      let p = ws + (<usize>ch << 2);
      normRun(x + o, y + o, l, load<f32>(p), load<f32>(p + fc), load<f32>(p + 2 * fc));
      o += run;
    }
  }
}

/** dx = a·dy − b·(x − s) − k over `n` contiguous values (no subtraction when s = 0). */
function dxRun(px: usize, pdy: usize, pdx: usize, n: i32, s0: f32, a0: f32, b0: f32, k0: f32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let s = f32x4.splat(s0), a = f32x4.splat(a0), b = f32x4.splat(b0), k = f32x4.splat(k0);
    if (s0 == 0) {
      for (; i + 8 <= n; i += 8) {
        let o = <usize>i << 2;
        let t0 = f32x4.sub(f32x4.mul(v128.load(pdy + o), a), f32x4.mul(v128.load(px + o), b));
        let t1 = f32x4.sub(f32x4.mul(v128.load(pdy + o, 16), a), f32x4.mul(v128.load(px + o, 16), b));
        v128.store(pdx + o, f32x4.sub(t0, k));
        v128.store(pdx + o, f32x4.sub(t1, k), 16);
      }
    } else {
      for (; i + 8 <= n; i += 8) {
        let o = <usize>i << 2;
        let t0 = f32x4.sub(f32x4.mul(v128.load(pdy + o), a), f32x4.mul(f32x4.sub(v128.load(px + o), s), b));
        let t1 = f32x4.sub(f32x4.mul(v128.load(pdy + o, 16), a), f32x4.mul(f32x4.sub(v128.load(px + o, 16), s), b));
        v128.store(pdx + o, f32x4.sub(t0, k));
        v128.store(pdx + o, f32x4.sub(t1, k), 16);
      }
    }
  }
  for (; i < n; i++) {
    let o = <usize>i << 2;
    store<f32>(pdx + o, (load<f32>(pdy + o) * a0 - (load<f32>(px + o) - s0) * b0) - k0);
  }
}

/** dxRun for BN+ReLU: dy counts only where the forward's output (constants fs, fa, fb) was positive. */
function dxRunRelu(px: usize, pdy: usize, pdx: usize, n: i32, s0: f32, a0: f32, b0: f32, k0: f32, fs: f32, fa: f32, fb: f32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let s = f32x4.splat(s0), a = f32x4.splat(a0), b = f32x4.splat(b0), k = f32x4.splat(k0);
    let sv = f32x4.splat(fs), av = f32x4.splat(fa), bv = f32x4.splat(fb);
    for (; i + 4 <= n; i += 4) {
      let o = <usize>i << 2;
      let x = v128.load(px + o);
      let g = v128.and(v128.load(pdy + o), reluMask(x, sv, av, bv));
      v128.store(pdx + o, f32x4.sub(f32x4.sub(f32x4.mul(g, a), f32x4.mul(f32x4.sub(x, s), b)), k));
    }
  }
  for (; i < n; i++) {
    let o = <usize>i << 2;
    let x = load<f32>(px + o);
    let g: f32 = (x - fs) * fa + fb > 0 ? load<f32>(pdy + o) : 0;
    store<f32>(pdx + o, (g * a0 - (x - s0) * b0) - k0);
  }
}

/** dx = a·dy over `n` contiguous values (backward through fixed statistics). */
function scaleRun(pdy: usize, pdx: usize, n: i32, a0: f32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let a = f32x4.splat(a0);
    for (; i + 8 <= n; i += 8) {
      let o = <usize>i << 2;
      v128.store(pdx + o, f32x4.mul(v128.load(pdy + o), a));
      v128.store(pdx + o, f32x4.mul(v128.load(pdy + o, 16), a), 16);
    }
  }
  for (; i < n; i++) {
    let o = <usize>i << 2;
    store<f32>(pdx + o, load<f32>(pdy + o) * a0);
  }
}

/** Backward (of BN, or BN+ReLU when relu = 1): dx, and dgamma/dbeta (f32[c], added to when non-zero). `train` = 1 for batch statistics. */
export function bnBackwardNCL(x: usize, dy: usize, dx: usize, n: i32, c: i32, l: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, dgamma: usize, dbeta: usize, train: i32, relu: i32, ws: usize): void {
  if (shortRuns(n, c, l)) {
    backwardShort(x, dy, dx, n, c, l, gamma, beta, mean, invstd, dgamma, dbeta, train, relu, ws);
    return;
  }
  // ws: f64 Σdy [0, 8c), Σdy·(x − hi) [8c, 16c), then f32 kS, kA, kB, kC per channel, and for
  // BN+ReLU the forward's constants fS, fA, fB per channel (to recompute where its output was > 0)
  let p1 = ws, p2 = ws + (<usize>c << 3), pk = ws + (<usize>c << 4), fc = <usize>c << 2, pf = pk + 4 * fc;
  let run = <usize>l << 2;
  memory.fill(ws, 0, <usize>c << 4);
  if (relu) {
    for (let ch = 0; ch < c; ch++) {
      setNormalize(ch, gamma, beta, load<f64>(mean + (<usize>ch << 3)), load<f64>(invstd + (<usize>ch << 3)));
      let p = pf + (<usize>ch << 2);
      store<f32>(p, kS); store<f32>(p + fc, kA); store<f32>(p + 2 * fc, kB);
    }
  }
  let o: usize = 0;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      let q = <usize>ch << 3;
      sumsReset();
      let k = backwardShift(load<f64>(mean + q), load<f64>(invstd + q));
      if (relu) {
        let p = pf + (<usize>ch << 2);
        dotSumsRelu(x + o, dy + o, l, k, load<f32>(p), load<f32>(p + fc), load<f32>(p + 2 * fc));
      } else {
        dotSums(x + o, dy + o, l, k);
      }
      store<f64>(p1 + q, load<f64>(p1 + q) + sum1);
      store<f64>(p2 + q, load<f64>(p2 + q) + sum2);
      o += run;
    }
  }
  let m = <f64>n * <f64>l;
  for (let ch = 0; ch < c; ch++) {
    let q = <usize>ch << 3;
    setBackward(ch, m, gamma, load<f64>(mean + q), load<f64>(invstd + q), load<f64>(p1 + q), load<f64>(p2 + q), dgamma, dbeta, train);
    let pc = pk + (<usize>ch << 2);
    store<f32>(pc, kS); store<f32>(pc + fc, kA); store<f32>(pc + 2 * fc, kB); store<f32>(pc + 3 * fc, kC);
  }
  o = 0;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      let pc = pk + (<usize>ch << 2);
      if (relu) {
        let p = pf + (<usize>ch << 2);
        dxRunRelu(x + o, dy + o, dx + o, l, load<f32>(pc), load<f32>(pc + fc), load<f32>(pc + 2 * fc), load<f32>(pc + 3 * fc), load<f32>(p), load<f32>(p + fc), load<f32>(p + 2 * fc));
      } else if (train) {
        dxRun(x + o, dy + o, dx + o, l, load<f32>(pc), load<f32>(pc + fc), load<f32>(pc + 2 * fc), load<f32>(pc + 3 * fc));
      } else {
        scaleRun(dy + o, dx + o, l, load<f32>(pc + fc));
      }
      o += run;
    }
  }
}

// Short runs: x[n][c][l] as channels-last x[n][c·l], l virtual channels per channel (see
// nhwc_passes.ts). A channel's sums are its virtual channels' sums added in f64, in order.

/** Stores kS, kA, kB of every channel (from setNormalize) at its l virtual channels. */
function spreadNormalize(c: i32, l: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, ps: usize, pa: usize, pb: usize): void {
  for (let ch = 0; ch < c; ch++) {
    setNormalize(ch, gamma, beta, load<f64>(mean + (<usize>ch << 3)), load<f64>(invstd + (<usize>ch << 3)));
    spread(ps, ch, l, kS); spread(pa, ch, l, kA); spread(pb, ch, l, kB);
  }
}

/** Stores v at the l virtual channels of channel ch (f32 at p). */
// @ts-ignore: decorator
@inline function spread(p: usize, ch: i32, l: i32, v: f32): void {
  let q = p + (<usize>ch * <usize>l << 2);
  for (let j = 0; j < l; j++) store<f32>(q + (<usize>j << 2), v);
}

/** Σ of channel ch's l virtual channels of the f64 sums at p. */
// @ts-ignore: decorator
@inline function merged(p: usize, ch: i32, l: i32): f64 {
  let q = p + (<usize>ch * <usize>l << 3), s: f64 = 0;
  for (let j = 0; j < l; j++) s += load<f64>(q + (<usize>j << 3));
  return s;
}

/** Statistics over the virtual channels, shifts at unit 24 of ws, merged per channel; true when any mean is far from its shift. */
function shortStats(x: usize, n: i32, c: i32, l: i32, eps: f64, mean: usize, vari: usize, invstd: usize, ws: usize): bool {
  let v = c * l, pk = at(ws, v, 24), count = <f64>n * <f64>l, far = false;
  rowSums(x, 0, n, v, ws, false, false);
  for (let ch = 0; ch < c; ch++) {
    let o = <usize>ch << 3;
    if (finishStats(load<f32>(pk + (<usize>ch * <usize>l << 2)), merged(at(ws, v, 0), ch, l), merged(at(ws, v, 8), ch, l), count, eps, mean + o, vari + o, invstd + o)) far = true;
  }
  return far;
}

function trainShort(x: usize, y: usize, n: i32, c: i32, l: i32, gamma: usize, beta: usize, eps: f64, mean: usize, vari: usize, invstd: usize, relu: i32, ws: usize): void {
  let v = c * l, pk = at(ws, v, 24);
  setActivation(relu);
  // each channel's shift from its first run (a value near the mean is all it takes)
  for (let ch = 0; ch < c; ch++) spread(pk, ch, l, shiftOf(x + (<usize>ch * <usize>l << 2), l, 4));
  if (shortStats(x, n, c, l, eps, mean, vari, invstd, ws)) {
    // some first runs unlike the rest (see RESHIFT): again, shifted by the batch means
    for (let ch = 0; ch < c; ch++) spread(pk, ch, l, <f32>load<f64>(mean + (<usize>ch << 3)));
    shortStats(x, n, c, l, eps, mean, vari, invstd, ws);
  }
  spreadNormalize(c, l, gamma, beta, mean, invstd, at(ws, v, 28), at(ws, v, 32), at(ws, v, 36));
  normalizePass(x, y, n, v, ws);
}

function backwardShort(x: usize, dy: usize, dx: usize, n: i32, c: i32, l: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, dgamma: usize, dbeta: usize, train: i32, relu: i32, ws: usize): void {
  let v = c * l;
  if (relu) spreadNormalize(c, l, gamma, beta, mean, invstd, at(ws, v, 44), at(ws, v, 48), at(ws, v, 52));
  for (let ch = 0; ch < c; ch++) {
    spread(at(ws, v, 24), ch, l, backwardShift(load<f64>(mean + (<usize>ch << 3)), load<f64>(invstd + (<usize>ch << 3))));
  }
  rowSums(x, dy, n, v, ws, true, relu != 0);
  let m = <f64>n * <f64>l;
  for (let ch = 0; ch < c; ch++) {
    let o = <usize>ch << 3;
    setBackward(ch, m, gamma, load<f64>(mean + o), load<f64>(invstd + o), merged(at(ws, v, 0), ch, l), merged(at(ws, v, 8), ch, l), dgamma, dbeta, train);
    spread(at(ws, v, 28), ch, l, kS); spread(at(ws, v, 32), ch, l, kA); spread(at(ws, v, 36), ch, l, kB); spread(at(ws, v, 40), ch, l, kC);
  }
  dxPass(x, dy, dx, n, v, ws, train, relu != 0);
}
